"""Time zone names (IANA), shared by the lead model's check and the CSV import. No ORM here."""

import functools
import zoneinfo

from django.core.exceptions import ValidationError


@functools.cache
def time_zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_time_zone(value: str) -> None:
    """A lead's time zone is blank or an IANA name such as Europe/Berlin."""
    if value and value not in time_zone_names():
        raise ValidationError(
            "'%(value)s' is not a time zone name such as Europe/Berlin.", code="invalid", params={"value": value[:60]}
        )
