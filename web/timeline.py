"""A lead's timeline: entries from each domain app, merged newest first.

Every entry is a dict ``{"kind", "at", "obj"}``: ``kind`` names the template that shows it
(``templates/leads/timeline/<kind>.html``, which receives ``entry`` and ``lead``), ``at`` is
an aware datetime, ``obj`` is the record. Each source is a function
``(*, lead, limit) -> list[entry]`` that reads through its app's selectors; to add a kind
(engagement events, score changes, nurture messages), add a source to ``SOURCES`` and its
template. Every source costs a bounded number of queries, whatever the lead's history.
"""

import datetime
from collections.abc import Callable
from typing import Any, TypedDict

from leads import selectors as lead_selectors
from leads.models import Lead
from scoring import selectors as scoring_selectors


class TimelineEntry(TypedDict):
    kind: str
    at: datetime.datetime
    obj: Any


TimelineSource = Callable[..., list[TimelineEntry]]


def activity_entries(*, lead: Lead, limit: int) -> list[TimelineEntry]:
    return [
        {"kind": "activity", "at": activity.occurred_at, "obj": activity}
        for activity in lead_selectors.lead_activities(lead=lead, limit=limit)
    ]


def stage_change_entries(*, lead: Lead, limit: int) -> list[TimelineEntry]:
    return [
        {"kind": "stage_change", "at": change.changed_at, "obj": change}
        for change in lead_selectors.lead_stage_changes(lead=lead, limit=limit)
    ]


def owner_change_entries(*, lead: Lead, limit: int) -> list[TimelineEntry]:
    return [
        {"kind": "owner_change", "at": change.changed_at, "obj": change}
        for change in lead_selectors.lead_owner_changes(lead=lead, limit=limit)
    ]


def event_entries(*, lead: Lead, limit: int) -> list[TimelineEntry]:
    return [
        {"kind": "event", "at": event.occurred_at, "obj": event}
        for event in scoring_selectors.lead_events(lead=lead, limit=limit)
    ]


def score_change_entries(*, lead: Lead, limit: int) -> list[TimelineEntry]:
    """Cooling and model changes (a change made by an event shows on the event's entry).

    Not in the page's default sources: the score panel's chart shows the history already."""
    return [
        {"kind": "score_change", "at": change.changed_at, "obj": change}
        for change in scoring_selectors.lead_score_changes(lead=lead, limit=limit)
        if change.cause != "event"
    ]


SOURCES: list[TimelineSource] = [activity_entries, stage_change_entries, owner_change_entries, event_entries]


def lead_timeline(*, lead: Lead, limit: int = 100, sources: list[TimelineSource] | None = None) -> list[TimelineEntry]:
    """The newest ``limit`` entries of every source, newest first."""
    entries: list[TimelineEntry] = []
    for source in SOURCES if sources is None else sources:
        entries.extend(source(lead=lead, limit=limit))
    entries.sort(key=lambda entry: entry["at"], reverse=True)
    return entries[:limit]
