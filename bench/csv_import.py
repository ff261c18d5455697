"""CSV import throughput: plain rows (no outcome, no events) through the real import service.

Run on PostgreSQL, e.g.:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadcrm_bench .venv/bin/python bench/csv_import.py --rows 100000

It migrates the database, imports ``--rows`` new leads, then a file giving every one of them a
new title and head count (every row an update), then that file once more (every row already
up to date: nothing written), prints rows/s for each, then deletes the leads it made. Target: >= 20,000 rows/s.
The import counts as done when its rows are in; what it then queues for the bulk worker (the
fit scores of the new leads, and an ANALYZE) is timed and printed on lines of its own.
"""

import argparse
import csv
import gc
import io
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadcrm.settings.base")
os.environ.setdefault("DJANGO_DEBUG", "false")  # as the worker runs: no query log

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from core.db import parallel_writes  # noqa: E402
from intake import csv_import  # noqa: E402
from intake.models import CsvImport  # noqa: E402
from leads.models import Lead  # noqa: E402
from scoring.services import leads_rescore_updated, leads_score_unscored  # noqa: E402

gc.freeze()  # what the bulk worker does once it has started (leadcrm/celery.py)

DOMAIN = "bench-import.example"


def make_csv(rows: int, version: int = 0) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Email", "First Name", "Last Name", "Company", "Job Title", "Phone", "Country", "Employees"])
    for i in range(rows):
        writer.writerow(
            [f"lead{i}@{DOMAIN}", f"First{i}", f"Last{i}", f"Company {i % 997}",
             "VP Operations" if version else "Head of Operations", f"+49 30 {1000000 + i}", "Germany",
             str(10 + i % 500 + version)]
        )  # fmt: skip
    return out.getvalue().encode()


def run_once(user, raw: bytes, label: str) -> None:
    item = csv_import.csv_import_create(user=user, filename=f"bench-{label}.csv", raw=raw)
    # Run the service in this process (what the bulk worker's task does), not through a broker.
    CsvImport.objects.filter(pk=item.pk).update(status=CsvImport.Status.QUEUED)
    analyze_asked = []
    csv_import._enqueue_analyze = lambda: analyze_asked.append(True)  # the follow-up tasks, timed below
    scoring_asked: list[tuple[int, int, object]] = []
    csv_import._enqueue_scoring = lambda first, last, updated_at: scoring_asked.append((first, last, updated_at))
    started = time.perf_counter()
    done = csv_import.csv_import_run(import_id=item.pk)
    elapsed = time.perf_counter() - started
    rate = done.processed_rows / elapsed
    print(
        f"{label:>7}: {done.processed_rows} rows in {elapsed:.2f} s = {rate:,.0f} rows/s "
        f"(created {done.created_count}, updated {done.updated_count}, up to date {done.unchanged_count}, "
        f"rejected {done.rejected_count}; "
        f"written on {parallel_writes()} connection(s))"
    )
    for first_id, last_id, updated_at in scoring_asked:
        if last_id >= first_id:
            started = time.perf_counter()
            scored = leads_score_unscored(first_id=first_id, last_id=last_id)
            seconds = time.perf_counter() - started
            print(f"         then the new leads are scored (bulk worker): {scored} in {seconds:.2f} s")
        if updated_at is not None:
            started = time.perf_counter()
            scored = leads_rescore_updated(updated_at=updated_at, before_id=first_id)
            seconds = time.perf_counter() - started
            print(f"         then the updated leads are re-scored (bulk worker): {scored} in {seconds:.2f} s")
    if analyze_asked:
        started = time.perf_counter()
        csv_import.leads_analyze()
        seconds = time.perf_counter() - started
        print(f"         then the statistics refresh the import queues (bulk worker): {seconds:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    print(f"database: {connection.vendor}; rows: {args.rows}")
    call_command("migrate", verbosity=0)
    Lead.objects.filter(email__endswith=f"@{DOMAIN}").delete()
    user, _ = get_user_model().objects.get_or_create(username="bench-importer")
    sys.stdout.reconfigure(line_buffering=True)
    try:
        run_once(user, make_csv(args.rows), "create")
        changed = make_csv(args.rows, version=1)
        run_once(user, changed, "update")
        run_once(user, changed, "same")
    finally:
        Lead.objects.filter(email__endswith=f"@{DOMAIN}").delete()


if __name__ == "__main__":
    main()
