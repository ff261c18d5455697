"""Full re-score after a model change, on PostgreSQL: 100k leads with 1M events by default.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadcrm_scoring_bench \\
        .venv/bin/python bench/rescore.py [--leads 100000] [--events-per-lead 10] [--chunk 5000]

Makes the bench leads and their events in bulk SQL, publishes a copy of the active model and
times ``scoring.services.rescore_run_execute`` (the background task's work: events streamed
ordered by lead, scores computed in Python, written with UPDATE ... FROM (VALUES ...)).
Target: <= 60 s. Also times the preview (the same computation without writes).
"""

import argparse
import time

import scoring_common
from django.db import connection
from django.utils import timezone

from scoring import services
from scoring.models import EventType, RescoreRun, ScoringModel

TYPES = ["page_view", "pricing_page_view", "email_open", "email_click", "content_download", "webinar_attended",
         "product_usage", "form_submission", "demo_request", "unsubscribe"]  # fmt: skip


def make_events(lead_ids: list[int], per_lead: int) -> int:
    type_ids = list(EventType.objects.filter(key__in=TYPES).values_list("id", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO scoring_engagementevent (lead_id, event_type_id, occurred_at, recorded_at,
                properties, source, idempotency_key, points, actor_id)
            SELECT l.id, (%s::bigint[])[1 + floor(random() * %s)::int],
                   now() - random() * interval '90 days', now(),
                   jsonb_build_object('url', '/page/' || g, 'seconds', floor(random() * 900)::int),
                   'bench', NULL, 0, NULL
            FROM leads_lead l CROSS JOIN generate_series(1, %s) g
            WHERE l.id BETWEEN %s AND %s AND l.email LIKE %s
            """,
            [type_ids, len(type_ids), per_lead, lead_ids[0], lead_ids[-1], f"%@{scoring_common.DOMAIN}"],
        )
        return cursor.rowcount


def main() -> None:
    parser = argparse.ArgumentParser(description="full re-score")
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--events-per-lead", type=int, default=10)
    parser.add_argument("--chunk", type=int, default=5000)
    parser.add_argument("--profile", action="store_true", help="profile the first chunk")
    parser.add_argument("--keep", action="store_true", help="keep the bench leads (for bench/decay_sweep.py)")
    args = parser.parse_args()
    scoring_common.ensure_database()
    scoring_common.remove_bench_leads()
    started = time.perf_counter()
    lead_ids = scoring_common.make_leads(args.leads)
    events = make_events(lead_ids, args.events_per_lead)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead; ANALYZE scoring_engagementevent")
    print(f"set-up: {len(lead_ids)} leads, {events} events in {time.perf_counter() - started:.1f} s", flush=True)
    total_leads = services.Lead.objects.count()
    try:
        draft = services.model_copy_as_draft(model=services.active_model())
        draft.engagement_rules.filter(event_type__key="page_view").update(half_life_days=20)

        started = time.perf_counter()
        preview = services.model_preview(model=draft, chunk=args.chunk)
        print(
            f"preview: {preview.leads} leads in {time.perf_counter() - started:.1f} s; would change temperature "
            f"{preview.temperature_changes}, stage {preview.stage_changes}, score {preview.score_changes}",
            flush=True,
        )
        services._enqueue_rescore = lambda run_id: None  # the bench does the worker's job itself, below
        run = services.model_publish(model=draft)
        started = time.perf_counter()
        if args.profile:
            import cProfile

            cProfile.runctx(
                "services.rescore_run_execute(run=RescoreRun.objects.get(pk=run.pk), chunk=args.chunk, max_chunks=1)",
                globals(),
                locals(),
                sort="tottime",
            )
        run = services.rescore_run_execute(run=RescoreRun.objects.get(pk=run.pk), chunk=args.chunk)
        elapsed = time.perf_counter() - started
        scaled = elapsed * 100_000 / max(run.processed_leads, 1)
        verdict = (
            ("met" if elapsed <= 60 else "MISSED") if run.processed_leads >= 100_000 else f"~{scaled:.0f} s at 100k"
        )
        print(
            f"re-score: {run.processed_leads} leads ({events} bench events) in {elapsed:.1f} s = "
            f"{run.processed_leads / elapsed:.0f} leads/s; changed temperature {run.changed_temperature}, "
            f"stage {run.changed_stage}; target <= 60 s for 100k leads / 1M events: {verdict}"
        )
        assert run.processed_leads == total_leads
    finally:
        # Leave the default model active again for the next bench.
        ScoringModel.objects.filter(status="published").exclude(version=1).update(status="retired")
        ScoringModel.objects.filter(version=1).update(status="published", updated_at=timezone.now())
        if not args.keep:
            scoring_common.remove_bench_leads()


if __name__ == "__main__":
    main()
