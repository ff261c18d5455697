"""The decay sweep on PostgreSQL: 100k scored leads, 1% of them due to cool.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadcrm_scoring_bench \\
        .venv/bin/python bench/decay_sweep.py [--leads 100000] [--due 0.01]

Makes hot bench leads with a demo request and a meeting each (through ``event_log_batch``
for a sample, in bulk SQL for the rest), moves ``next_cooling_at`` of 1% into the past
and times ``scoring.services.leads_cool`` (the beat task's work). Target: <= 2 s.
"""

import argparse
import datetime
import json
import time

import scoring_common
from django.db import connection
from django.utils import timezone

from scoring import services
from scoring.models import LeadScoringState


def main() -> None:
    parser = argparse.ArgumentParser(description="decay sweep")
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--due", type=float, default=0.01)
    args = parser.parse_args()
    scoring_common.ensure_database()
    scoring_common.remove_bench_leads()
    now = timezone.now()
    started = time.perf_counter()
    lead_ids = scoring_common.make_leads(args.leads)
    # One lead scored through the product gives the state every bench lead copies.
    sample = services.event_log_batch(
        items=[{"lead_id": lead_ids[0], "type": "demo_request"}, {"lead_id": lead_ids[0], "type": "meeting_booked"}],
        source="bench",
        now=now - datetime.timedelta(days=30),
    )[-1]
    state = LeadScoringState.objects.get(lead_id=lead_ids[0])
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO scoring_leadscoringstate (lead_id, model_version, engagement_state, next_cooling_at, updated_at)
            SELECT id, %s, %s::jsonb, %s::timestamptz + (random() * interval '30 days'), now()
            FROM leads_lead WHERE email LIKE %s AND id <> %s
            """,
            [state.model_version, json.dumps(state.engagement_state), now, f"%@{scoring_common.DOMAIN}", lead_ids[0]],
        )
        cursor.execute(
            "UPDATE leads_lead SET temperature = 'hot', score = %s, engagement_score = %s WHERE email LIKE %s",
            [sample.lead.score, sample.lead.engagement_score, f"%@{scoring_common.DOMAIN}"],
        )
        due = int(args.leads * args.due)
        cursor.execute(
            """
            UPDATE scoring_leadscoringstate SET next_cooling_at = %s
            WHERE lead_id IN (SELECT id FROM leads_lead WHERE email LIKE %s ORDER BY random() LIMIT %s)
            """,
            [now - datetime.timedelta(minutes=1), f"%@{scoring_common.DOMAIN}", due],
        )
        cursor.execute("ANALYZE scoring_leadscoringstate; ANALYZE leads_lead")
    print(f"set-up: {args.leads} hot leads, {due} due, in {time.perf_counter() - started:.1f} s", flush=True)
    try:
        started = time.perf_counter()
        cooled = services.leads_cool(now=now)
        elapsed = time.perf_counter() - started
        print(
            f"sweep: cooled {cooled} of {args.leads} leads in {elapsed:.2f} s; "
            f"target <= 2 s with 1% of 100k due: {'met' if elapsed <= 2 else 'MISSED'}"
        )
        started = time.perf_counter()
        again = services.leads_cool(now=now)
        print(f"second sweep right after: {again} leads in {time.perf_counter() - started:.3f} s")
    finally:
        scoring_common.remove_bench_leads()


if __name__ == "__main__":
    main()
