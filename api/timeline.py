"""A lead's timeline as the API answers it: ``[{"kind", "at", ...}]``, newest first.

Entries are merged by ``web.timeline.lead_timeline`` (the same merge as the lead page) from
the sources below, each reading through its app's selectors with a bounded number of queries.
"""

from collections.abc import Callable
from typing import Any

from leads.models import Activity, Lead, OwnerChange, StageChange
from scoring import selectors as scoring_selectors
from scoring.models import EngagementEvent, ScoreChange
from web import timeline as web_timeline


def event_entries(*, lead: Lead, limit: int) -> list[web_timeline.TimelineEntry]:
    return [
        {"kind": "event", "at": event.occurred_at, "obj": event}
        for event in scoring_selectors.lead_events(lead=lead, limit=limit)
    ]


def score_change_entries(*, lead: Lead, limit: int) -> list[web_timeline.TimelineEntry]:
    return [
        {"kind": "score_change", "at": change.changed_at, "obj": change}
        for change in scoring_selectors.lead_score_changes(lead=lead, limit=limit)
    ]


SOURCES: list[web_timeline.TimelineSource] = [
    web_timeline.activity_entries,
    web_timeline.stage_change_entries,
    web_timeline.owner_change_entries,
    event_entries,
    score_change_entries,
]


def _actor(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def _activity(activity: Activity) -> dict[str, Any]:
    return {
        "id": activity.id,
        "activity_kind": activity.kind,
        "subject": activity.subject,
        "body": activity.body,
        "actor": _actor(activity.actor),
        "due_at": activity.due_at,
        "done": activity.done,
    }


def _stage_change(change: StageChange) -> dict[str, Any]:
    return {
        "id": change.id,
        "from_stage": change.from_stage or None,
        "to_stage": change.to_stage,
        "transition": change.transition,
        "reason": change.reason,
        "by": change.by,
        "actor": _actor(change.actor),
        "rule": change.rule,
    }


def _owner_change(change: OwnerChange) -> dict[str, Any]:
    return {
        "id": change.id,
        "from_owner": _actor(change.from_owner),
        "to_owner": _actor(change.to_owner),
        "actor": _actor(change.actor),
        "via": change.via,
    }


def _event(event: EngagementEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.event_type.key,
        "label": event.event_type.label,
        "properties": event.properties,
        "source": event.source,
        "points": event.points,
        "actor": _actor(event.actor),
    }


def _score_change(change: ScoreChange) -> dict[str, Any]:
    return {
        "id": change.id,
        "cause": change.cause,
        "score": change.score,
        "previous_score": change.previous_score,
        "fit_score": change.fit_score,
        "engagement_score": change.engagement_score,
        "temperature": change.temperature,
        "previous_temperature": change.previous_temperature,
        "model_version": change.model_version,
        "event_id": change.event_id,
    }


SHAPES: dict[str, Callable[[Any], dict[str, Any]]] = {
    "activity": _activity,
    "stage_change": _stage_change,
    "owner_change": _owner_change,
    "event": _event,
    "score_change": _score_change,
}


def timeline_entry_json(entry: web_timeline.TimelineEntry) -> dict[str, Any]:
    """``{"kind", "at", ...}`` with the fields of the entry's record."""
    shape = SHAPES.get(entry["kind"])
    fields = shape(entry["obj"]) if shape else {"id": getattr(entry["obj"], "pk", None)}
    return {"kind": entry["kind"], "at": entry["at"].isoformat(), **fields}


def lead_timeline_json(*, lead: Lead, limit: int) -> list[dict[str, Any]]:
    return [timeline_entry_json(entry) for entry in web_timeline.lead_timeline(lead=lead, limit=limit, sources=SOURCES)]
