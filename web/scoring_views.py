"""The lead page's scoring parts: the score explanation panel, its history chart, and the
form with which a rep logs an engagement event by hand (through ``scoring.services.event_log``)."""

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.errors import LeadErased
from leads import selectors as lead_selectors
from leads.models import Lead
from scoring import selectors as scoring_selectors
from scoring import services as scoring_services
from scoring.models import ScoreChange
from web.actions import lead_action

CHART_WIDTH, CHART_HEIGHT, CHART_POINTS = 280, 64, 30


class EventLogForm(forms.Form):
    event_type = forms.ChoiceField(label="What did the lead do?")
    note = forms.CharField(label="Note", max_length=500, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["event_type"]).choices = scoring_selectors.event_type_choices(
            loggable_by_reps=True
        )


def score_chart(changes: list[ScoreChange]) -> dict[str, Any]:
    """An inline SVG polyline of the last scores, oldest left (0-100 bottom to top)."""
    recent = list(reversed(changes[:CHART_POINTS]))
    if not recent:
        return {"points": "", "width": CHART_WIDTH, "height": CHART_HEIGHT, "count": 0}
    step = CHART_WIDTH / max(len(recent) - 1, 1)
    points = [
        (round(i * step, 1), round(CHART_HEIGHT - 2 - (CHART_HEIGHT - 4) * change.score / 100, 1))
        for i, change in enumerate(recent)
    ]
    return {
        "points": " ".join(f"{x},{y}" for x, y in points),
        "last": points[-1],
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "count": len(recent),
        "first_at": recent[0].changed_at,
        "last_at": recent[-1].changed_at,
        "low": min(change.score for change in recent),
        "high": max(change.score for change in recent),
    }


def score_panel_context(request: HttpRequest, lead: Lead, *, event_form: EventLogForm | None = None) -> dict[str, Any]:
    changes = scoring_selectors.lead_score_changes(lead=lead, limit=CHART_POINTS)
    return {
        "score_explanation": scoring_selectors.lead_score_explanation(lead=lead),
        "score_chart": score_chart(changes),
        "event_form": event_form or EventLogForm(),
        "can_log_event": request.user.has_perm("scoring.add_engagementevent") and not lead.is_erased,
    }


@login_required
@permission_required("scoring.add_engagementevent", raise_exception=True)
@require_POST
@lead_action
def lead_event_create(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = lead_selectors.lead_get_for_user(user=request.user, lead_id=lead_id)
    form = EventLogForm(request.POST)
    if form.is_valid():
        note = form.cleaned_data["note"].strip()
        try:
            result = scoring_services.event_log(
                lead=lead,
                event_type=form.cleaned_data["event_type"],
                properties={"note": note} if note else {},
                source="rep",
                actor=request.user,
            )
        except LeadErased:
            # The page no longer offers the form: say it above the page.
            messages.error(request, LeadErased.MESSAGE)
            return redirect("lead_detail", lead_id=lead.pk)
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error("event_type" if field == "type" else None, errors)
        else:
            choices = cast(forms.ChoiceField, form.fields["event_type"]).choices
            assert isinstance(choices, list)  # ChoiceField stores the choices it is given as a list
            label = dict(choices)[form.cleaned_data["event_type"]]
            moved = f" {result.stage_rule} moved it to {result.lead.get_stage_display()}." if result.stage_rule else ""
            messages.success(
                request, f"{label} logged: score {result.lead.score}, {result.lead.get_temperature_display()}.{moved}"
            )
            return redirect("lead_detail", lead_id=lead.pk)
    from web.views import _detail_context

    return render(request, "leads/detail.html", _detail_context(request, lead, event_form=form), status=400)
