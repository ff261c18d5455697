"""Pure rules for capture forms: which fields a form may ask for, and the tracking it records. No ORM."""

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

# Lead fields a public form may fill, with the input type the page uses.
FORM_LEAD_FIELDS: dict[str, str] = {
    "email": "email",
    "first_name": "text",
    "last_name": "text",
    "phone": "tel",
    "title": "text",
    "company": "text",
    "website": "text",
    "company_size": "number",
    "industry": "text",
    "country": "text",
    "city": "text",
    "need": "textarea",
    "email_opt_in": "checkbox",
}
ATTRIBUTE_PREFIX = "attributes."
TRACKING_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "gclid", "fbclid")
HONEYPOT_FIELD = "fax_number"
TOKEN_FIELD = "form_token"  # noqa: S105 - a form field name
MAX_VALUE_LENGTH = 5000


@dataclass(frozen=True)
class FieldSpec:
    key: str
    label: str
    required: bool
    input_type: str  # email, text, tel, number, textarea, checkbox, date, select
    choices: tuple[str, ...] = ()

    @property
    def is_attribute(self) -> bool:
        return self.key.startswith(ATTRIBUTE_PREFIX)

    @property
    def attribute_key(self) -> str:
        return self.key[len(ATTRIBUTE_PREFIX) :]

    @property
    def html_name(self) -> str:
        return self.key.replace(".", "__")


ATTRIBUTE_INPUT_TYPES = {"text": "text", "number": "number", "boolean": "checkbox", "date": "date", "choice": "select"}


def parse_field_specs(
    raw_fields: Any,
    attribute_types: dict[str, tuple[str, tuple[str, ...]]],
    *,
    skip_deleted_attributes: bool = False,
    numbers: list[int] | None = None,
) -> tuple[list[FieldSpec], list[str]]:
    """Turn a form's ``fields`` JSON into specs; return ``(specs, problems)``.

    ``attribute_types`` maps a custom field key to ``(field_type, choices)``. With
    ``skip_deleted_attributes`` a field asking for a custom field that no longer exists is left
    out without a problem (a live form keeps working after a marketer deletes a custom field).
    Problems name a field by its place in the list, or by ``numbers[i]`` when given (the
    admin's row numbers, deleted rows included).
    """
    problems: list[str] = []
    specs: list[FieldSpec] = []
    if not isinstance(raw_fields, list):
        return [], ["fields must be a list of objects with key, label and required"]
    seen: set[str] = set()
    for position, item in enumerate(raw_fields):
        number = numbers[position] if numbers else position + 1
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            problems.append(f"field {number}: needs a 'key'")
            continue
        key = item["key"].strip()
        label = str(item.get("label") or key.replace("attributes.", "").replace("_", " ").capitalize())
        named = f"field {number} ({label})"
        if not key:
            problems.append(f"{named}: choose what it asks for")
            continue
        required = bool(item.get("required", False))
        if key in seen:
            problems.append(f"{named}: '{key}' is asked for twice")
            continue
        seen.add(key)
        if key.startswith(ATTRIBUTE_PREFIX):
            attr = key[len(ATTRIBUTE_PREFIX) :]
            if attr not in attribute_types:
                if not skip_deleted_attributes:
                    problems.append(f"{named}: '{attr}' is not a defined custom field")
                continue
            field_type, choices = attribute_types[attr]
            specs.append(FieldSpec(key, label, required, ATTRIBUTE_INPUT_TYPES.get(field_type, "text"), choices))
        elif key in FORM_LEAD_FIELDS:
            specs.append(FieldSpec(key, label, required or key == "email", FORM_LEAD_FIELDS[key]))
        else:
            problems.append(f"{named}: '{key}' is not a lead field a form may set")
    if "email" not in seen:
        problems.append("a form must ask for the e-mail address")
    return specs, problems


def tracking_from(params: dict[str, Any], *, referrer: str = "", landing_page: str = "") -> dict[str, str]:
    """The attribution a submission carries: UTM parameters, click ids, referrer and landing page.

    Values come from the submitted params first; missing UTM values are read from the
    landing page's query string (an embed's host page often carries them).
    """
    tracking: dict[str, str] = {}
    landing_query = dict(parse_qsl(urlsplit(landing_page).query)) if landing_page else {}
    for key in TRACKING_KEYS:
        value = params.get(key) or landing_query.get(key) or ""
        if isinstance(value, str) and value.strip():
            tracking[key] = value.strip()[:500]
    submitted_referrer = params.get("referrer")
    if isinstance(submitted_referrer, str) and submitted_referrer.strip():
        referrer = submitted_referrer
    referrer = (referrer or "").strip()
    if referrer:
        tracking["referrer"] = referrer[:500]
    landing_page = (landing_page or "").strip()
    if landing_page:
        tracking["landing_page"] = landing_page[:500]
    return tracking


def is_truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on", "y"}
