"""Display helpers for lead pages: badges, score bars, initials. Display only, no queries."""

import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html

from leads.models import Activity, Stage, Temperature

register = template.Library()

STAGE_STYLES: dict[str, str] = {
    Stage.RAW: "stage-raw",
    Stage.MQL: "stage-mql",
    Stage.PQL: "stage-pql",
    Stage.SQL: "stage-sql",
    Stage.WON: "stage-won",
    Stage.LOST: "stage-lost",
}
TEMPERATURE_ICONS: dict[str, str] = {
    Temperature.COLD: "bi-snow",
    Temperature.WARM: "bi-thermometer-half",
    Temperature.HOT: "bi-fire",
}
ACTIVITY_ICONS: dict[str, str] = {
    Activity.Kind.CALL: "bi-telephone",
    Activity.Kind.EMAIL: "bi-envelope",
    Activity.Kind.MEETING: "bi-people",
    Activity.Kind.NOTE: "bi-sticky",
    Activity.Kind.TASK: "bi-check2-square",
}


@register.simple_tag
def stage_badge(stage: str) -> str:
    label = Stage(stage).label if stage in Stage.values else stage
    return format_html('<span class="badge badge-stage {}">{}</span>', STAGE_STYLES.get(stage, "stage-raw"), label)


@register.simple_tag
def temperature_badge(temperature: str) -> str:
    label = Temperature(temperature).label if temperature in Temperature.values else temperature
    return format_html(
        '<span class="badge badge-temp temp-{}"><i class="bi {}" aria-hidden="true"></i> {}</span>',
        temperature,
        TEMPERATURE_ICONS.get(temperature, "bi-thermometer"),
        label,
    )


@register.simple_tag
def score_bar(score: int | float | None) -> str:
    value = max(0, min(100, round(score or 0)))
    level = "high" if value >= 70 else "mid" if value >= 40 else "low"
    return format_html(
        '<div class="score-bar score-{}" title="Score {} of 100">'
        '<span class="score-value">{}</span>'
        '<span class="score-track" role="progressbar" aria-label="Score" aria-valuenow="{}" aria-valuemin="0" '
        'aria-valuemax="100"><span class="score-fill" style="width: {}%"></span></span></div>',
        level,
        value,
        value,
        value,
        value,
    )


@register.filter
def activity_icon(kind: str) -> str:
    return ACTIVITY_ICONS.get(kind, "bi-dot")


@register.filter
def initials(name: str) -> str:
    words = "".join(char if char.isalnum() else " " for char in (name or "").split("@")[0]).split()
    return "".join(word[0] for word in words[:2]).upper() or "?"


@register.filter
def tel_href(phone: str) -> str:
    """A phone number as a tel: link takes it: digits, with a leading + kept ("+1 (555) 010-2000" -> "+15550102000")."""
    text = (phone or "").strip()
    digits = "".join(c for c in text if c.isascii() and c.isdigit())
    return f"+{digits}" if text.startswith("+") else digits


@register.filter
def user_label(user) -> str:  # noqa: ANN001 - a User or None
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


@register.filter
def timesince_duration(duration: datetime.timedelta | None) -> str:
    """A rough, readable length of time: "3 days", "5 hours", "less than a minute"."""
    if duration is None:
        return ""
    seconds = int(duration.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return "less than a minute"


@register.filter
def ago(moment: datetime.datetime | None, now: datetime.datetime | None = None) -> str:
    """A compact relative time for dense tables: "5m ago", "3d ago", "in 2h"."""
    if moment is None:
        return ""
    now = now or timezone.now()
    seconds = int((now - moment).total_seconds())
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        return "just now"
    for unit, size in (("y", 365 * 86400), ("mo", 30 * 86400), ("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and not (unit == "w" and seconds >= 8 * 7 * 86400):
            text = f"{seconds // size}{unit}"
            return f"in {text}" if future else f"{text} ago"
    return "just now"


@register.filter
def short_date(moment: datetime.datetime | None) -> str:
    """ "Nov 21" this year, "Nov 21, 2025" before."""
    if moment is None:
        return ""
    local = timezone.localtime(moment)
    if local.year == timezone.localtime().year:
        return f"{local:%b} {local.day}"
    return f"{local:%b} {local.day}, {local.year}"
