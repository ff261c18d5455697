"""Scoring quality: ROC AUC of the default model's score against the known outcome.

    python bench/scoring_quality.py PATH/TO/xeducation_leads.csv [--limit N]

Maps each row into a lead and its engagement events through the product's own services
(``leads.services.lead_create`` and ``scoring.services.event_log_batch``) in a throwaway
SQLite database, scores with the default model (migration ``scoring/0003``) and prints
``AUC 0.xxx`` as its last line. Only columns known before sales contact are used; the
mapping is documented in docs/scoring.md.
"""

import argparse
import csv
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Columns filled in by sales after talking to the lead: never read.
LEAKING = ("Tags", "Lead Quality", "Lead Profile", "Asymmetrique")

LAST_ACTIVITY_EVENTS = {
    "Email Opened": "email_open",
    "Email Link Clicked": "email_click",
    "View in browser link Clicked": "email_click",
    "SMS Sent": "sms_sent",
    "Olark Chat Conversation": "chat_conversation",
    "Page Visited on Website": "page_view",
    "Converted to Lead": "form_submission",
    "Form Submitted on Website": "form_submission",
    "Email Bounced": "email_bounced",
    "Unsubscribed": "unsubscribe",
    "Had a Phone Conversation": "phone_conversation",
    "Approached upfront": "contact_sales",
}
MAX_VISITS = 20
SLICE = 40  # rows per transaction: at most 22 events a row keeps a batch under 1,000 events


def _clean(value: str | None) -> str:
    value = (value or "").strip()
    return "" if value in ("Select", "unknown", "Unknown") else value


def _number(value: str | None) -> float:
    try:
        return float(value or 0)
    except ValueError:
        return 0.0


def lead_fields(row: dict[str, str]) -> dict:
    """Lead fields and custom attributes from a row."""
    attributes = {}
    if _clean(row.get("Lead Origin")):
        attributes["lead_origin"] = _clean(row["Lead Origin"])
    if _clean(row.get("What is your current occupation")):
        attributes["occupation"] = _clean(row["What is your current occupation"])
    return {
        "email": f"lead{row['Lead Number']}@example.org",
        "country": _clean(row.get("Country"))[:100],
        "city": _clean(row.get("City"))[:100],
        "attributes": attributes,
    }


def lead_events(row: dict[str, str], at: datetime.datetime) -> list[dict]:
    """Engagement events of a row, oldest first, all before ``at``."""
    events = []
    visits = int(_number(row.get("TotalVisits")))
    seconds = _number(row.get("Total Time Spent on Website"))
    pages = _number(row.get("Page Views Per Visit"))
    per_visit = round(seconds / visits) if visits else 0
    for i in range(min(visits, MAX_VISITS)):
        events.append(
            {
                "type": "page_view",
                "occurred_at": at - datetime.timedelta(minutes=120 - i),
                "properties": {"seconds": per_visit, "pages": pages},
            }
        )
    if row.get("Do Not Email") == "Yes":
        events.append({"type": "unsubscribe", "occurred_at": at - datetime.timedelta(minutes=30)})
    last = LAST_ACTIVITY_EVENTS.get(_clean(row.get("Last Activity")))
    if last:
        events.append({"type": last, "occurred_at": at - datetime.timedelta(minutes=10)})
    return events


def roc_auc(scores: list[float], outcomes: list[int]) -> float:
    """Mann-Whitney AUC with ties counted half."""
    ranked = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(ranked):
        j = i
        while j + 1 < len(ranked) and scores[ranked[j + 1]] == scores[ranked[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[ranked[k]] = (i + j) / 2 + 1
        i = j + 1
    positives = sum(outcomes)
    negatives = len(outcomes) - positives
    rank_sum = sum(rank for rank, outcome in zip(ranks, outcomes, strict=True) if outcome)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="a CSV shaped like xeducation_leads.csv")
    parser.add_argument("--limit", type=int, default=0, help="only the first N rows")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="leadcrm-quality-")
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir}/quality.sqlite3"
    os.environ["LEADCRM_VAR_DIR"] = workdir
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ["DJANGO_SETTINGS_MODULE"] = "leadcrm.settings.base"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction

    from leads.models import Lead, LeadSource
    from leads.services import lead_create, lead_source_save
    from scoring.services import event_log_batch, lead_rescore

    call_command("migrate", verbosity=0)
    with open(args.path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if args.limit:
        rows = rows[: args.limit]
    now = datetime.datetime(2026, 1, 15, 12, 0, tzinfo=datetime.UTC)
    sources: dict[str, LeadSource] = {}
    started = time.perf_counter()
    lead_ids: list[int] = []
    outcomes: list[int] = []
    pending: list[dict] = []
    unscored: list[int] = []
    for start in range(0, len(rows), SLICE):
        # One transaction per slice of rows: the bench measures scores, not commits.
        with transaction.atomic():
            for row in rows[start : start + SLICE]:
                lead_id = _map_row(row, sources, now, lead_create, lead_source_save, LeadSource)
                lead_ids.append(lead_id)
                outcomes.append(int(row["Converted"]))
                events = lead_events(row, now)
                pending += [{**event, "lead_id": lead_id} for event in events]
                if not events:
                    unscored.append(lead_id)
            results = event_log_batch(items=pending, source="import", now=now)
            # A lead with no events is scored on fit alone, as the lead_rescore task does for new leads.
            for lead_id in unscored:
                lead_rescore(lead=Lead(pk=lead_id), now=now)
            unscored = []
        errors = [r for r in results if isinstance(r, Exception)]
        if errors:
            raise SystemExit(f"refused events: {errors[:3]}")
        pending = []
        if (start + SLICE) % 1000 == 0:
            print(f"{start + SLICE} leads mapped ({time.perf_counter() - started:.0f} s)", flush=True)
    scores = dict(Lead.objects.filter(pk__in=lead_ids).values_list("id", "score"))
    values = [float(scores[pk]) for pk in lead_ids]
    print(f"{len(values)} leads, {sum(outcomes)} converted, {time.perf_counter() - started:.0f} s")
    print(f"AUC {roc_auc(values, outcomes):.3f}")


def _map_row(row, sources, now, lead_create, lead_source_save, LeadSource) -> int:  # noqa: N803
    fields = lead_fields(row)
    source_name = _clean(row.get("Lead Source"))
    if source_name and source_name not in sources:
        sources[source_name] = lead_source_save(source=LeadSource(name=source_name))
    return lead_create(
        email=fields["email"],
        country=fields["country"],
        city=fields["city"],
        attributes=fields["attributes"],
        source=sources.get(source_name),
        now=now - datetime.timedelta(hours=3),
    ).pk


if __name__ == "__main__":
    main()
