"""How domain errors become HTTP answers, the same for every endpoint.

- a service's ``ValidationError`` -> 400 with its field errors (``{"field": ["message", ...]}``);
- ``DuplicateLeadError`` -> 409 ``{"detail", "lead_id"}`` (``lead_id`` only when the user may see that lead);
- ``IdempotencyKeyConflict`` -> 409 ``{"detail", "event_id"}``;
- ``LeadErased`` (a write to a lead whose personal data was erased) -> 409 ``{"detail"}``;
- a body over ``API_MAX_BODY_BYTES`` -> 413.
"""

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler

from core.errors import DuplicateLeadError, IdempotencyKeyConflict, LeadErased
from leads import selectors as lead_selectors


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"

    def __init__(self) -> None:
        limit = settings.API_MAX_BODY_BYTES
        size = f"{limit / (1024 * 1024):g} MiB" if limit >= 1024 * 1024 else f"{limit:,} bytes"
        super().__init__(f"The request body is too large: at most {size}.")


class BadRequest(APIException):
    """A body of the wrong shape as a whole (not field by field): 400 ``{"detail": "..."}``."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"


# Where a list of field errors puts what concerns no single field (DRF's own key).
NON_FIELD_ERRORS = api_settings.NON_FIELD_ERRORS_KEY


def field_errors(error: DjangoValidationError) -> dict[str, list[str]]:
    """A service's ValidationError as ``{"field": ["message", ...]}`` (``non_field_errors`` when not per field)."""
    if hasattr(error, "error_dict"):
        return {field: [str(message) for message in messages] for field, messages in error.message_dict.items()}
    return {NON_FIELD_ERRORS: [str(message) for message in error.messages]}


def duplicate_lead_json(exc: DuplicateLeadError, context: dict[str, Any]) -> dict[str, Any]:
    """The lead that has the e-mail: its id when the user may open it; else only that it is
    another rep's (its id would tell what the user may not see), as the new-lead page says."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is not None and lead_selectors.lead_visible_to(user).filter(pk=exc.lead_id).exists():
        return {"detail": "A lead with this e-mail already exists.", "lead_id": exc.lead_id}
    return {
        "detail": "A lead with this e-mail already exists. It belongs to another rep: "
        "ask a manager if this person should be yours."
    }


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DuplicateLeadError):
        return Response(duplicate_lead_json(exc, context), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, IdempotencyKeyConflict):
        return Response(
            {"detail": exc.messages[0], "event_id": exc.event_id},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, LeadErased):
        return Response({"detail": LeadErased.MESSAGE}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            return Response(field_errors(exc), status=status.HTTP_400_BAD_REQUEST)
        # Not about one field: the request as a whole, answered as every such error is.
        return Response({"detail": " ".join(exc.messages)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    return exception_handler(exc, context)
