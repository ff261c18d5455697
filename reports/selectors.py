"""Report queries over leads and their stage history. Reads only, with the reader's visibility."""

import datetime
from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from leads.models import Stage, StageChange
from leads.selectors import lead_visible_to

User = AbstractBaseUser | AnonymousUser

FUNNEL_STAGES = [Stage.RAW, Stage.MQL, Stage.PQL, Stage.SQL, Stage.WON, Stage.LOST]
# A lead counts in a stage when it reached that stage or any later stage of the main path
# raw -> mql -> sql -> won (a won lead that came the PQL way still counts as MQL).
# PQL and lost count only the leads that really reached them.
REACHED_BY = {
    Stage.MQL: [Stage.MQL, Stage.SQL, Stage.WON],
    Stage.PQL: [Stage.PQL],
    Stage.SQL: [Stage.SQL, Stage.WON],
    Stage.WON: [Stage.WON],
    Stage.LOST: [Stage.LOST],
}
FUNNEL_RATES = [
    ("raw_mql", Stage.RAW, Stage.MQL),
    ("mql_sql", Stage.MQL, Stage.SQL),
    ("sql_won", Stage.SQL, Stage.WON),
    ("raw_pql", Stage.RAW, Stage.PQL),
    ("raw_won", Stage.RAW, Stage.WON),
]
FUNNEL_GROUPS = {"source": "source__name", "campaign": "campaign__name", "owner": "owner__username"}


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _reached(stages: Sequence[str]) -> Q:
    history = StageChange.objects.filter(lead_id=OuterRef("pk"), to_stage__in=stages)
    return Q(stage__in=stages) | Q(Exists(history))


def funnel_report(
    *,
    user: User,
    start: datetime.date | None = None,
    end: datetime.date | None = None,
    group_by: str | None = None,
) -> dict[str, Any]:
    """Leads created from ``start`` to ``end`` (days inclusive, in the site's time zone) that the
    user may see, counted per stage reached, with the conversion rates between stages.

    One aggregate query, whatever the number of leads: ``{"start", "end", "group_by", "stages",
    "rows": [{"group", "counts", "rates"}]}``; without ``group_by`` one row whose group is None.
    """
    if group_by is not None and group_by not in FUNNEL_GROUPS:
        raise ValueError(f"group_by must be one of {', '.join(FUNNEL_GROUPS)}")
    leads = lead_visible_to(user)
    if start is not None:
        leads = leads.filter(created_at__gte=_day_start(start))
    if end is not None:
        leads = leads.filter(created_at__lt=_day_start(end + datetime.timedelta(days=1)))
    counters = {Stage.RAW.value: Count("id")}
    counters.update({stage.value: Count("id", filter=_reached(reached)) for stage, reached in REACHED_BY.items()})
    if group_by is None:
        found = [{"group": None, **leads.aggregate(**counters)}]
    else:
        column = FUNNEL_GROUPS[group_by]
        grouped = leads.values(column).annotate(**counters).order_by(column)
        found = [{"group": row.pop(column), **row} for row in grouped]
    rows = []
    for row in found:
        counts = {stage.value: row[stage.value] for stage in FUNNEL_STAGES}
        rates = {
            name: round(counts[to_stage] / counts[from_stage], 4) if counts[from_stage] else None
            for name, from_stage, to_stage in FUNNEL_RATES
        }
        rows.append({"group": row["group"], "counts": counts, "rates": rates})
    rows.sort(key=lambda row: (row["group"] is None, str(row["group"] or "")))
    return {
        "start": start,
        "end": end,
        "group_by": group_by,
        "stages": [stage.value for stage in FUNNEL_STAGES],
        "rows": rows,
    }
