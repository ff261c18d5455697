"""Thin Celery tasks over the scoring services."""

import datetime

from celery import shared_task

from leads.models import Lead
from scoring import services
from scoring.models import RescoreRun


@shared_task(name="scoring.lead_rescore")
def lead_rescore_task(lead_id: int) -> int:
    """Score a lead from its attributes and event log, e.g. after it was created or its fit fields changed.

    Apps below scoring send it by name after commit: ``current_app.send_task("scoring.lead_rescore", args=[id])``.
    """
    lead = Lead.objects.filter(pk=lead_id).first()
    if lead is None:
        return 0
    return services.lead_rescore(lead=lead).score


@shared_task(name="bulk.score_unscored_leads")  # bulk work: the bulk queue
def score_unscored_leads_task(first_id: int, last_id: int) -> int:
    """Score the leads of an id range that were written without scoring (a CSV import's new rows)."""
    return services.leads_score_unscored(first_id=first_id, last_id=last_id)


@shared_task(name="bulk.rescore_updated_leads")  # bulk work: the bulk queue
def rescore_updated_leads_task(updated_at: str, before_id: int) -> int:
    """Re-score the known leads a CSV import updated (their fit fields may have changed)."""
    return services.leads_rescore_updated(updated_at=datetime.datetime.fromisoformat(updated_at), before_id=before_id)


@shared_task(name="scoring.cool_leads")
def cool_leads_task() -> int:
    """Every minute: cool the leads whose decayed engagement crossed a threshold."""
    return services.leads_cool()


@shared_task(name="scoring.rescore_run", acks_late=True)
def rescore_run_task(run_id: int) -> str:
    """Re-score all leads for a published model; re-running it resumes where it stopped."""
    run = RescoreRun.objects.select_related("model").get(pk=run_id)
    return services.rescore_run_execute(run=run).state


@shared_task(name="scoring.resume_rescore_runs")
def resume_rescore_runs_task() -> int:
    """Pick up re-score runs left pending or running by a crashed worker."""
    from django.db.models import Q
    from django.utils import timezone

    stale = timezone.now() - datetime.timedelta(minutes=10)
    runs = RescoreRun.objects.filter(
        Q(state=RescoreRun.State.PENDING, created_at__lt=stale) | Q(state=RescoreRun.State.RUNNING)
    ).values_list("id", flat=True)
    count = 0
    for run_id in runs:
        rescore_run_task.delay(run_id)
        count += 1
    return count
