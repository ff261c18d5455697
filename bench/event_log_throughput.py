"""``event_log`` throughput on PostgreSQL, from one process and from four.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadcrm_scoring_bench \\
        .venv/bin/python bench/event_log_throughput.py [--events 6000] [--leads 2000]

Each process logs events (page views, pricing views, e-mail clicks, demo requests...) on
random bench leads through ``scoring.services.event_log``, each in its own transaction with
the full re-score. Targets: >= 500 events/s from one process, >= 800 events/s from four.
"""

import argparse
import multiprocessing
import random
import time

import scoring_common  # noqa: F401  (sets up Django)
from django.db import connections

from scoring import services
from scoring.models import EngagementEvent

TARGETS = {1: 500, 4: 800}
EVENT_MIX = [
    ("page_view", {"url": "/blog/post", "seconds": 40}),
    ("page_view", {"url": "/features", "seconds": 200}),
    ("pricing_page_view", {"url": "/pricing"}),
    ("email_open", {}),
    ("email_click", {"url": "/offer"}),
    ("content_download", {"asset": "whitepaper"}),
    ("webinar_attended", {}),
    ("product_usage", {"feature": "reports"}),
    ("demo_request", {}),
]


def worker(lead_ids: list[int], count: int, seed: int, queue: multiprocessing.Queue) -> None:
    connections.close_all()
    services.clear_caches()
    rng = random.Random(seed)
    services.event_log(lead=None, email=f"warmup{seed}@{scoring_common.DOMAIN}", event_type="page_view")
    latencies = []
    started = time.perf_counter()
    for i in range(count):
        lead_id = rng.choice(lead_ids)
        event_type, properties = rng.choice(EVENT_MIX)
        t0 = time.perf_counter()
        services.event_log(
            lead_id=lead_id,
            event_type=event_type,
            properties=properties,
            source="bench",
            idempotency_key=f"{seed}-{i}",
        )
        latencies.append(time.perf_counter() - t0)
    queue.put((started, time.perf_counter(), latencies))


def run(processes: int, lead_ids: list[int], events: int) -> float:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    connections.close_all()
    per_process = events // processes
    seed_base = int(time.time() * 1000) % 10_000_000
    jobs = [
        multiprocessing.Process(target=worker, args=(lead_ids, per_process, seed_base + n, queue))
        for n in range(processes)
    ]
    for job in jobs:
        job.start()
    results = [queue.get() for _ in jobs]
    for job in jobs:
        job.join()
    start = min(r[0] for r in results)
    end = max(r[1] for r in results)
    latencies = [lat for r in results for lat in r[2]]
    rate = per_process * processes / (end - start)
    target = TARGETS.get(processes)
    verdict = "" if target is None else (f"target >= {target}: " + ("met" if rate >= target else "MISSED"))
    print(
        f"{processes} process(es): {per_process * processes} events in {end - start:.2f} s = {rate:.0f} events/s; "
        f"p50 {1000 * scoring_common.percentile(latencies, 0.5):.2f} ms, "
        f"p95 {1000 * scoring_common.percentile(latencies, 0.95):.2f} ms  {verdict}",
        flush=True,
    )
    return rate


def postgres_baseline(transactions: int = 1000, *, lock: bool = True) -> float:
    """Plain psycopg2, no Django: (lock a row,) insert a row, update the row, commit. Tells how
    fast this machine's PostgreSQL is right now; without the lock it is the "insert an event
    and update its lead" transaction that the targets were set against (about 1,900/s)."""
    connection = connections["default"]
    connection.ensure_connection()
    raw = connection.connection
    with raw.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_baseline_lead (id int PRIMARY KEY, score int)")
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_baseline_event (id serial PRIMARY KEY, lead_id int, kind text)"
        )
        cursor.execute(
            "INSERT INTO bench_baseline_lead SELECT g, 0 FROM generate_series(1, 1000) g ON CONFLICT DO NOTHING"
        )
    raw.commit()
    started = time.perf_counter()
    with raw.cursor() as cursor:
        for i in range(transactions):
            lead_id = i % 1000 + 1
            if lock:
                cursor.execute("SELECT score FROM bench_baseline_lead WHERE id = %s FOR UPDATE", [lead_id])
            cursor.execute("INSERT INTO bench_baseline_event (lead_id, kind) VALUES (%s, 'page_view')", [lead_id])
            cursor.execute("UPDATE bench_baseline_lead SET score = score + 1 WHERE id = %s", [lead_id])
            raw.commit()
    rate = transactions / (time.perf_counter() - started)
    with raw.cursor() as cursor:
        cursor.execute("DROP TABLE bench_baseline_lead, bench_baseline_event")
    raw.commit()
    connections.close_all()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description="event_log throughput")
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--leads", type=int, default=2000)
    args = parser.parse_args()
    scoring_common.ensure_database()
    scoring_common.remove_bench_leads()
    lead_ids = scoring_common.make_leads(args.leads)
    try:
        print(
            "PostgreSQL baseline now (plain psycopg2): insert + update "
            f"{postgres_baseline(2000, lock=False):.0f} transactions/s (the targets assume about 1,900); "
            f"lock + insert + update {postgres_baseline():.0f} transactions/s"
        )
        for processes in (1, 4):
            run(processes, lead_ids, args.events)
        print(f"events stored: {EngagementEvent.objects.filter(source='bench').count()}")
    finally:
        scoring_common.remove_bench_leads()


if __name__ == "__main__":
    main()
