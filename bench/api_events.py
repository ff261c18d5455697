"""API event ingest: gunicorn serving the app on PostgreSQL, events posted over HTTP with a token.

Run on PostgreSQL and Redis, e.g.:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadcrm_bench REDIS_URL=redis://127.0.0.1:6379/1 \\
      .venv/bin/python bench/api_events.py --seconds 20

It migrates the database, makes an integration user (Marketer role) with a token and
``--leads`` leads, starts gunicorn with production settings on a free local port, then:

1. singles: ``--connections`` keep-alive connections each post one event per request
   (``POST /api/v1/events/``, a random lead, a random event type, a unique idempotency key)
   for ``--seconds``; prints events/s, latency percentiles and every non-201 answer;
2. batches: ``--batches`` lists of 1,000 events, one after the other on one connection (or
   shared among ``--list-connections`` connections); prints events/s.

Targets (DESIGN section 7): singles >= 300 events/s with p95 <= 30 ms and no errors;
batches >= 5,000 events/s. The leads it made (and their events) are deleted at the end.
"""

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadcrm.settings.base")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from leads import roles  # noqa: E402
from leads.models import Lead  # noqa: E402

DOMAIN = "bench-events.example"
EVENT_TYPES = ["page_view", "pricing_page_view", "content_download", "email_open", "email_click", "product_usage"]


def prepare(lead_count: int) -> tuple[str, list[int]]:
    call_command("migrate", verbosity=0)
    Lead.objects.filter(email__endswith=f"@{DOMAIN}").delete()
    user, _ = get_user_model().objects.get_or_create(username="bench-integration")
    user.groups.add(Group.objects.get(name=roles.MARKETER))
    token, _ = Token.objects.get_or_create(user=user)
    now = timezone.now()
    Lead.objects.bulk_create(
        [
            Lead(email=f"lead{i}@{DOMAIN}", first_name=f"Lead{i}", title="Head of Growth", stage_entered_at=now)
            for i in range(lead_count)
        ],
        batch_size=1000,
    )
    lead_ids = list(Lead.objects.filter(email__endswith=f"@{DOMAIN}").values_list("id", flat=True))
    return token.key, lead_ids


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int, workers: int, threads: int, worker_class: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "leadcrm.settings.production",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
    }
    command = [
        sys.executable, "-m", "gunicorn", "leadcrm.wsgi",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--worker-class", worker_class, "--threads", str(threads),
        "--keep-alive", "30", "--log-level", "warning",
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            probe.request("GET", "/healthz")
            if probe.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not answer /healthz within 30 s")


def server_cpu_seconds(server: subprocess.Popen) -> float:
    """CPU time used so far by gunicorn's workers (Linux /proc): shows the cost per event even
    when other programs share the machine."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == server.pid:  # parent pid: a worker of this gunicorn
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return total


class Poster:
    """One keep-alive connection posting events; records each request's latency and status."""

    def __init__(self, port: int, token: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def post(self, body: object) -> tuple[int, float, bytes]:
        payload = json.dumps(body)
        started = time.perf_counter()
        self.connection.request("POST", "/api/v1/events/", body=payload, headers=self.headers)
        response = self.connection.getresponse()
        content = response.read()
        return response.status, time.perf_counter() - started, content


def event(lead_ids: list[int], key: str) -> dict:
    return {"lead_id": random.choice(lead_ids), "type": random.choice(EVENT_TYPES), "idempotency_key": key}


def run_singles(
    server: subprocess.Popen,
    port: int,
    token: str,
    lead_ids: list[int],
    connections: int,
    seconds: float,
    rate: float = 0,
) -> None:
    """Post single events for ``seconds``. With ``rate`` 0 each connection posts its next event as
    soon as the last one is answered (the most the server can take). With a ``rate`` the
    connections together offer that many events per second on a fixed schedule, and each
    latency runs from the moment its request was due, so an answer that keeps the next request
    waiting counts against that request too."""
    latencies: list[float] = []
    failures: dict[int, int] = {}
    sample_failure: list[bytes] = []
    lock = threading.Lock()
    warmup_until = time.monotonic() + 2
    stop_at = warmup_until + seconds
    run_id = int(time.time())

    def work(number: int) -> None:
        poster = Poster(port, token)
        mine: list[float] = []
        count = 0
        interval = connections / rate if rate else 0.0
        due = warmup_until - 2 + number / rate if rate else 0.0
        while True:
            now = time.monotonic()
            if rate:
                if due > now:
                    time.sleep(due - now)
                now = due
                due += interval
            if now >= stop_at:
                break
            count += 1
            status, elapsed, content = poster.post(event(lead_ids, f"s{run_id}-{number}-{count}"))
            if rate:
                elapsed = time.monotonic() - now  # from when it was due, not from when it went out
            if now < warmup_until:
                continue
            if status == 201:
                mine.append(elapsed)
            else:
                with lock:
                    failures[status] = failures.get(status, 0) + 1
                    if not sample_failure:
                        sample_failure.append(content[:300])
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, warmup_until - time.monotonic()))
    cpu_before, load_before = server_cpu_seconds(server), os.getloadavg()[0]
    for thread in threads:
        thread.join()
    cpu_used = server_cpu_seconds(server) - cpu_before
    latencies.sort()
    errors = sum(failures.values())
    if not latencies:
        raise SystemExit(f"singles: no event was accepted; answers {failures}: {sample_failure[:1]}")
    offered_rate, rate = rate, len(latencies) / seconds
    p50, p95, p99 = (latencies[int(len(latencies) * q) - 1] * 1000 for q in (0.50, 0.95, 0.99))
    mean = statistics.mean(latencies) * 1000
    offered = f" at {offered_rate:,.0f} offered" if offered_rate else " as fast as answered"
    print(
        f"singles: {connections} connections{offered}, {seconds:.0f} s: {len(latencies)} events = "
        f"{rate:,.0f} events/s; "
        f"latency p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, mean {mean:.1f} ms; "
        f"errors {errors} {failures or ''}"
    )
    print(
        f"  gunicorn CPU {cpu_used * 1000 / max(len(latencies), 1):.2f} ms per event; "
        f"machine load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    if sample_failure:
        print(f"  first error body: {sample_failure[0]!r}")
    if offered_rate:
        kept_up = rate >= offered_rate * 0.98
        verdict = "meets" if kept_up and p95 <= 30 and errors == 0 else "MISSES"
        print(f"  target p95 <= 30 ms and no errors while taking {offered_rate:,.0f} events/s: {verdict}")
    else:
        verdict = "meets" if rate >= 300 and errors == 0 else "MISSES"
        print(f"  target >= 300 events/s, no errors: {verdict}; p95 at this saturation {p95:.1f} ms")


def run_batches(
    server: subprocess.Popen, port: int, token: str, lead_ids: list[int], batches: int, connections: int = 1
) -> None:
    """Post ``batches`` lists of 1,000 events: one after the other on one connection, or with
    ``connections`` > 1 that many connections each posting its share of the lists one after the
    other. Events/s are counted over the time from the first list sent to the last answer."""
    run_id = int(time.time())
    Poster(port, token).post([event(lead_ids, f"w{run_id}-{i}") for i in range(1000)])  # warm-up
    bodies = [[event(lead_ids, f"b{run_id}-{number}-{i}") for i in range(1000)] for number in range(batches)]
    answered: list[tuple[int, int, float, bytes]] = []
    lock = threading.Lock()

    def work(first: int) -> None:
        poster = Poster(port, token)
        for number in range(first, batches, connections):
            status, elapsed, content = poster.post(bodies[number])
            with lock:
                answered.append((number, status, elapsed, content))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(connections)]
    cpu_before = server_cpu_seconds(server)
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = time.perf_counter() - started
    cpu_used = server_cpu_seconds(server) - cpu_before
    stored = 0
    for number, status, _, content in sorted(answered):
        answers = json.loads(content)
        stored += sum(1 for answer in answers if "errors" not in answer and not answer.get("duplicate"))
        if status != 201:
            print(f"  batch {number}: status {status}, first answer {answers[0]!r}")
    timings = [elapsed for _, _, elapsed, _ in answered]
    rate = stored / total
    on = f"on {connections} connections" if connections > 1 else "one after the other on one connection"
    print(
        f"batches: {batches} x 1,000 events {on} in {total:.2f} s = {rate:,.0f} events/s "
        f"(per batch: best {min(timings) * 1000:.0f} ms, median {statistics.median(timings) * 1000:.0f} ms)"
    )
    print(
        f"  target >= 5,000 events/s: {'meets' if rate >= 5000 else 'MISSES'}; "
        f"gunicorn CPU {cpu_used * 1000 / max(batches, 1):.0f} ms per list"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20, help="how long to post single events (0: skip)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--rate",
        type=float,
        default=300,
        help="after the run as fast as answered, a second run offering this many events/s (0: skip it)",
    )
    parser.add_argument("--batches", type=int, default=10, help="how many lists of 1,000 to post (0: skip)")
    parser.add_argument(
        "--list-connections", type=int, default=1, help="connections posting the lists (default 1: one after the other)"
    )
    parser.add_argument("--leads", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=3, help="threads per gunicorn worker")
    parser.add_argument("--worker-class", default="gthread", help="gthread (keep-alive) or sync")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("Run this on PostgreSQL: set DATABASE_URL=postgres://...")
    print(
        f"database: {settings.DATABASES['default']['NAME']} ({connection.vendor}); cache: "
        f"{'redis' if settings.REDIS_URL else 'local memory'}; gunicorn {args.workers} {args.worker_class} workers "
        f"x {args.threads} threads"
    )
    sys.stdout.reconfigure(line_buffering=True)
    token, lead_ids = prepare(args.leads)
    connection.close()
    port = free_port()
    server = start_server(port, args.workers, args.threads, args.worker_class)
    try:
        if args.seconds > 0:
            run_singles(server, port, token, lead_ids, args.connections, args.seconds)
            if args.rate:
                run_singles(server, port, token, lead_ids, args.connections, args.seconds, rate=args.rate)
        if args.batches > 0:
            run_batches(server, port, token, lead_ids, args.batches, args.list_connections)
    finally:
        server.terminate()
        server.wait(timeout=30)
        Lead.objects.filter(email__endswith=f"@{DOMAIN}").delete()


if __name__ == "__main__":
    main()
