"""The JSON of a lead's timeline entries (merged by ``web.timeline.lead_timeline``)."""

from typing import Any

from leads.models import Activity, StageChange


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


SHAPES = {"activity": _activity, "stage_change": _stage_change}


def timeline_entry_json(entry: dict[str, Any]) -> dict[str, Any]:
    """``{"kind", "at", ...}`` with the fields of the entry's record."""
    shape = SHAPES.get(entry["kind"])
    fields = shape(entry["obj"]) if shape else {"id": getattr(entry["obj"], "pk", None)}
    return {"kind": entry["kind"], "at": entry["at"].isoformat(), **fields}
