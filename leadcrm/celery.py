"""The Celery app and the beat schedule."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadcrm.settings.base")

app = Celery("leadcrm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

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
