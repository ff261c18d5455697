"""Shared by the benchmarks: start each measurement from a vacuumed database.

Every event rewrites its lead's row; the benchmarks make and delete many leads and events.
Where PostgreSQL's autovacuum is off (as on the development machine), dead rows pile up
from run to run and each run measures a more bloated table than the one before. Production
runs with autovacuum on; the benchmarks vacuum the tables they write before they measure.
"""

TABLES = (
    "leads_lead",
    "leads_stagechange",
    "leads_activity",
    "scoring_engagementevent",
    "scoring_scorechange",
    "scoring_leadscoringstate",
)


def vacuum_tables() -> None:
    """VACUUM (ANALYZE) the lead and scoring tables (PostgreSQL; outside any transaction)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(table)}")
