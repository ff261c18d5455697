"""Shape checks of posted events, before the scoring service applies its own rules.

Fast on purpose (a batch holds up to 1,000 items): plain checks, no serializer per item.
"""

import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

MAX_BATCH = 1000
EVENT_FIELDS = frozenset({"lead_id", "email", "type", "occurred_at", "properties", "idempotency_key"})
MAX_ID = 2**63 - 1
NUL_MESSAGE = "Null characters are not allowed."
NOT_AN_OBJECT = "Send each event as a JSON object."


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def parse_event(raw: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """``(item, errors)``: the event as ``scoring.services.event_log_batch`` takes it, or field errors.

    ``raw`` is a JSON object (the caller answers anything else as a whole). A value of the wrong
    JSON type is told which type to send; a value of the right type that does not fit, what fits.
    """
    errors: dict[str, list[str]] = {key: ["Unknown field."] for key in raw if key not in EVENT_FIELDS}
    item: dict[str, Any] = {}
    lead_id, email = raw.get("lead_id"), raw.get("email")
    if lead_id is not None and email is not None:
        errors["lead_id"] = ["Give lead_id or email, not both."]
    elif lead_id is not None:
        if isinstance(lead_id, bool) or not isinstance(lead_id, int):
            errors["lead_id"] = ["Send the lead id as a whole number (a JSON number)."]
        elif not 0 < lead_id <= MAX_ID:
            errors["lead_id"] = ["A lead id is a positive whole number."]
        else:
            item["lead_id"] = lead_id
    elif email is not None:
        if not isinstance(email, str):
            errors["email"] = ["Send the address as text (a JSON string)."]
        elif "\x00" in email:
            errors["email"] = [NUL_MESSAGE]
        elif not email.strip() or len(email) > 254:
            errors["email"] = ["Enter a valid e-mail address."]
        else:
            item["email"] = email
    else:
        errors["lead_id"] = ["Give lead_id or email."]
    event_type = raw.get("type")
    if not isinstance(event_type, str):
        errors["type"] = (
            ["Name the event type (1-50 characters)."]
            if event_type is None
            else ["Send the event type as text of 1-50 characters."]
        )
    elif "\x00" in event_type:
        errors["type"] = [NUL_MESSAGE]
    elif not 0 < len(event_type) <= 50:
        errors["type"] = ["Name the event type (1-50 characters)."]
    else:
        item["type"] = event_type
    occurred_at = raw.get("occurred_at")
    if occurred_at is not None:
        if not isinstance(occurred_at, str):
            errors["occurred_at"] = ["Send the time as text: an ISO 8601 date and time with a time zone."]
        else:
            parsed = _parse_time(occurred_at)
            if parsed is None:
                errors["occurred_at"] = ["Give an ISO 8601 date and time with a time zone."]
            else:
                item["occurred_at"] = parsed
    properties = raw.get("properties")
    if properties is not None:
        if not isinstance(properties, dict):
            errors["properties"] = ["Send the properties as an object of name: value pairs."]
        elif _has_nul(properties):
            errors["properties"] = [NUL_MESSAGE]
        else:
            item["properties"] = properties
    key = raw.get("idempotency_key")
    if key is not None:
        if not isinstance(key, str):
            errors["idempotency_key"] = ["Send the key as text of 1-200 characters."]
        elif "\x00" in key:
            errors["idempotency_key"] = [NUL_MESSAGE]
        elif not 0 < len(key) <= 200:
            errors["idempotency_key"] = ["Use 1-200 characters."]
        else:
            item["idempotency_key"] = key
    return item, errors


def _parse_time(value: str) -> datetime.datetime | None:
    if len(value) > 40:
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return None
    if parsed is None or parsed.tzinfo is None:
        return None
    try:
        parsed.astimezone(datetime.UTC)
    except OverflowError:
        return None
    return parsed
