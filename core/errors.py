"""Errors that services raise and interfaces translate (form errors, HTTP codes)."""

from django.core.exceptions import ValidationError


class DomainError(ValidationError):
    """A business rule refused the action; the message says why."""


class DuplicateLeadError(DomainError):
    """A lead with this e-mail already exists; ``lead_id`` names it."""

    def __init__(self, message: str, *, lead_id: int) -> None:
        super().__init__({"email": [message]}, code="duplicate")
        self.lead_id = lead_id


class LeadErased(DomainError):
    """The lead's personal data was erased: it is kept for reports only, and nothing changes it."""

    MESSAGE = "This lead's personal data was erased: it can no longer be changed or worked."

    def __init__(self, field: str | None = None) -> None:
        super().__init__({field: [self.MESSAGE]} if field else self.MESSAGE, code="erased")


class TransitionNotAllowed(DomainError):
    """A stage move that the lifecycle does not allow."""


class IdempotencyKeyConflict(DomainError):
    """An idempotency key already stored for another event (another lead or type); ``event_id``
    names that event."""

    def __init__(self, message: str, *, event_id: int) -> None:
        super().__init__({"idempotency_key": [message]}, code="conflict")
        self.event_id = event_id
