"""Reads of the scoring app: explanations, events and score history of a lead."""

from typing import Any

from django.utils import timezone

from leads.models import Lead
from scoring import engine, services
from scoring.models import EngagementEvent, EventType, LeadScoringState, ScoreChange


def event_types(*, loggable_by_reps: bool | None = None) -> list[EventType]:
    """The active event types (key, label, category)."""
    types = EventType.objects.filter(active=True)
    if loggable_by_reps is not None:
        types = types.filter(loggable_by_reps=loggable_by_reps)
    return list(types.order_by("category", "label"))


def event_type_choices(*, loggable_by_reps: bool = True) -> list[tuple[str, str]]:
    """(key, label) of the active event types, from the process cache (refreshed every 30 s)."""
    return services.event_type_choices(loggable_by_reps=loggable_by_reps)


def lead_events(*, lead: Lead, limit: int = 100) -> list[EngagementEvent]:
    return list(
        EngagementEvent.objects.filter(lead=lead)
        .select_related("event_type", "actor")
        .order_by("-occurred_at", "-id")[:limit]
    )


def lead_score_changes(*, lead: Lead, limit: int = 100) -> list[ScoreChange]:
    return list(ScoreChange.objects.filter(lead=lead).order_by("-changed_at", "-id")[:limit])


def lead_score_explanation(*, lead: Lead, now: Any = None) -> dict[str, Any]:
    """The lead's score with each contributing rule: fit rules that match, engagement rules with
    how many events they counted, the points awarded and what is left after decay now."""
    now = now or timezone.now()
    # A lead that no model has scored yet has no state: nothing to explain.
    state_row = LeadScoringState.objects.filter(lead=lead).first()
    spec = services.spec_for_version(state_row.model_version) if state_row is not None else None
    contributions: list[dict[str, Any]] = []
    if spec is not None and state_row is not None:
        state = state_row.engagement_state
        scores = engine.evaluate(
            spec, state, services.lead_values(lead), at=now.timestamp(), temperature=lead.temperature
        )
        contributions = [
            {"rule": c.rule, "kind": c.kind, "points": c.points, "events": c.events, "awarded": c.awarded}
            for c in scores.contributions
        ]
        contributions.sort(key=lambda c: (c["kind"] != "fit", -abs(c["points"])))
    return {
        "score": lead.score,
        "fit_score": lead.fit_score,
        "engagement_score": lead.engagement_score,
        "temperature": lead.temperature,
        "model_version": spec.version if spec is not None else None,
        # How the numbers combine, said on the page: the score weighs fit and engagement; the
        # temperature follows engagement alone, with a margin before it drops.
        "fit_percent": round(min(1.0, max(0.0, spec.fit_weight)) * 100) if spec is not None else None,
        "engagement_percent": 100 - round(min(1.0, max(0.0, spec.fit_weight)) * 100) if spec is not None else None,
        "thresholds": spec.thresholds if spec is not None else None,
        "contributions": contributions,
        "next_cooling_at": state_row.next_cooling_at if state_row else None,
    }
