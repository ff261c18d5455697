"""The Celery app and the beat schedule."""

import os
from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_process_init

from core.process import settle_long_lived_objects

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadcrm.settings.base")

app = Celery("leadcrm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@worker_process_init.connect
def _settle_loaded_objects(**_: Any) -> None:
    """What a worker has loaded when it starts lives as long as it: keep it out of the garbage
    collector's full passes (a CSV import allocates enough to set them off every few chunks)."""
    settle_long_lived_objects()


# Periodic work. Each entry is a thin task that claims due rows from the database.
app.conf.beat_schedule = {}
app.conf.beat_schedule.update(
    {
        # Scoring: cool the leads whose decayed engagement crossed a threshold (indexed, due rows only).
        "scoring-cool-leads": {"task": "scoring.cool_leads", "schedule": 60.0},
        # Scoring: pick up a model re-score left behind by a crashed worker (it resumes from its last chunk).
        "scoring-resume-rescore-runs": {"task": "scoring.resume_rescore_runs", "schedule": 300.0},
    }
)
app.conf.beat_schedule.update(
    {
        # Intake: outbound webhooks for new stage changes and newly hot leads (reads past a cursor).
        "intake-webhooks-scan": {"task": "intake.webhooks_scan", "schedule": 60.0},
    }
)
