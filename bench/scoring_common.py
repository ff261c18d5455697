"""Shared set-up for the scoring benchmarks: a PostgreSQL database with many bench leads.

Every scoring bench reads ``DATABASE_URL`` (default: a ``leadcrm_scoring_bench`` database on the
local PostgreSQL), migrates it and makes its leads under the ``bench-scoring.example`` domain,
which it deletes again at the end.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/leadcrm_scoring_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadcrm.settings.base")
os.environ.setdefault("DJANGO_DEBUG", "false")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from leads.models import Lead  # noqa: E402

DOMAIN = "bench-scoring.example"


def ensure_database() -> None:
    """Create the bench database if it is missing, then migrate it."""
    import psycopg2

    settings_dict = connection.settings_dict
    if connection.vendor != "postgresql":
        raise SystemExit("The scoring benchmarks run on PostgreSQL: set DATABASE_URL=postgres://...")
    admin = psycopg2.connect(
        dbname="postgres",
        user=settings_dict["USER"],
        host=settings_dict["HOST"],
        port=settings_dict["PORT"] or 5432,
        password=settings_dict["PASSWORD"] or None,
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [settings_dict["NAME"]])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{settings_dict["NAME"]}"')
    admin.close()
    call_command("migrate", verbosity=0)


def remove_bench_leads() -> None:
    """Delete the bench leads: the big history tables in SQL first, the rest through the ORM."""
    bench = "SELECT id FROM leads_lead WHERE email LIKE %s"
    with connection.cursor() as cursor:
        for table in (
            "scoring_scorechange",
            "scoring_engagementevent",
            "scoring_leadscoringstate",
            "leads_stagechange",
            "leads_activity",
        ):
            cursor.execute(f"DELETE FROM {table} WHERE lead_id IN ({bench})", [f"%@{DOMAIN}"])  # noqa: S608
    Lead.objects.filter(email__endswith=f"@{DOMAIN}").delete()


def make_leads(count: int, *, start: int = 0) -> list[int]:
    """Insert ``count`` raw leads in bulk (fit attributes varied) and return their ids."""
    now = timezone.now()
    titles = ["VP Sales", "Director of IT", "Engineer", "Office manager", "Head of Marketing"]
    batch = [
        Lead(
            email=f"lead{start + i}@{DOMAIN}",
            first_name=f"First{i}",
            last_name=f"Last{i}",
            title=titles[i % len(titles)],
            company_size=(i * 37) % 900,
            attributes={"lead_origin": "Lead Add Form"} if i % 7 == 0 else {},
            stage_entered_at=now,
        )
        for i in range(count)
    ]
    created = Lead.objects.bulk_create(batch, batch_size=5000)
    return [lead.pk for lead in created]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0
