"""core.db: prepared statements on PostgreSQL, and COPY values."""

import datetime
import decimal
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.db import any_array, array_literal, copy_value, execute_prepared, instances_from_rows, unnest_params
from leads.models import Lead
from leads.services import lead_create
from scoring import services
from scoring.models import EngagementEvent

NOW = datetime.datetime(2026, 11, 2, 10, 0, tzinfo=datetime.UTC)


def _sql(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries]


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_statement_is_prepared_once_per_connection():
    def run() -> list[str]:
        with CaptureQueriesContext(connection) as captured, connection.cursor() as cursor:
            execute_prepared(cursor, "SELECT %s::int + %s::int", [2, 3])
            assert cursor.fetchone() == (5,)
        return _sql(captured)

    first, second = run(), run()
    assert [sql.split()[0] for sql in first] == ["PREPARE", "EXECUTE"]
    assert [sql.split()[0] for sql in second] == ["EXECUTE"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_new_connection_prepares_again():
    with connection.cursor() as cursor:
        execute_prepared(cursor, "SELECT %s::int * 2", [21])
    connection.close()
    with CaptureQueriesContext(connection) as captured, connection.cursor() as cursor:
        execute_prepared(cursor, "SELECT %s::int * 2", [21])
        assert cursor.fetchone() == (42,)
    assert [sql.split()[0] for sql in _sql(captured)] == ["PREPARE", "EXECUTE"]


@pytest.mark.postgres
@pytest.mark.django_db
def test_with_prepared_statements_off_the_event_path_sends_plain_statements(settings):
    settings.DATABASE_PREPARED_STATEMENTS = False
    lead = lead_create(email="plain@acme.example", now=NOW)

    with CaptureQueriesContext(connection) as captured:
        result = services.event_log(lead=lead, event_type="pricing_page_view", now=NOW)

    assert not any(sql.startswith(("PREPARE", "EXECUTE")) for sql in _sql(captured))
    assert EngagementEvent.objects.filter(pk=result.event.pk, lead=lead).exists()
    lead.refresh_from_db()
    assert lead.score == result.lead.score > 0


def test_copy_values_are_escaped_for_postgresqls_text_format():
    assert copy_value("tab\there\\ and\nnew line\r") == "tab\\there\\\\ and\\nnew line\\r"
    assert copy_value(None) == "\\N"
    assert copy_value(True) == "t"
    assert copy_value(decimal.Decimal("12.50")) == "12.50"
    assert copy_value({"a": "b\\c"}) == '{"a":"b\\\\\\\\c"}'
    assert copy_value(datetime.timedelta(minutes=1)) == "60.0 seconds"
    assert copy_value(NOW) == "2026-11-02T10:00:00+00:00"


TRICKY_TEXT = ['a "quoted" word', "back\\slash", "comma, {brace}", "  spaced  ", "NULL", "", "tab\tline\n", "ü €"]


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("values", "cast"),
    [
        (TRICKY_TEXT, "text[]"),
        (["plain", None, 'with "quote"'], "varchar(50)[]"),
        ([1, -2, 2**62, None], "bigint[]"),
        ([0.5, -1e-9, 100.0], "float8[]"),
        ([1, 2.5], "float8[]"),
        ([True, False, None], "boolean[]"),
        ([NOW, NOW - datetime.timedelta(days=400, microseconds=7), None], "timestamptz[]"),
        ([datetime.timedelta(days=2, seconds=5), None], "interval[]"),
        ([{"say": 'he said "hi"', "path": "C:\\dir", "n": [1, {"b": None}]}, {}, None], "jsonb[]"),
        ([], "bigint[]"),
    ],
)
def test_array_literals_reach_postgresql_value_for_value(values, cast):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT %s::{cast}", [array_literal(values)])
        (stored,) = cursor.fetchone()
    if cast == "jsonb[]":  # Django reads JSON as text; decode to compare
        import json

        stored = [None if v is None else json.loads(v) for v in stored]
    assert stored == values


@pytest.mark.postgres
@pytest.mark.django_db
def test_rows_go_in_as_one_array_per_column():
    rows = [(1, "one", NOW), (2, 'two "2"', None)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM unnest(%s::int[], %s::text[], %s::timestamptz[])", unnest_params(rows, 3))
        assert cursor.fetchall() == rows
        cursor.execute("SELECT count(*) FROM unnest(%s::int[], %s::text[])", unnest_params([], 2))
        assert cursor.fetchone() == (0,)


@pytest.mark.postgres
@pytest.mark.django_db
def test_any_array_matches_the_values_of_its_array_parameter():
    Lead.objects.bulk_create([Lead(email=f"Lead{i}@Example.com", stage_entered_at=NOW) for i in range(300)])
    asked = [f"lead{i}@example.com" for i in range(0, 600, 2)]  # half of them stored
    by_address = "SELECT lower(email) FROM leads_lead WHERE lower(email) = " + any_array("text[]")  # noqa: S608 - fixed text
    by_id = "SELECT count(*) FROM leads_lead WHERE id = " + any_array("bigint[]")  # noqa: S608 - fixed text
    with connection.cursor() as cursor:
        cursor.execute(by_address, [array_literal(asked)])
        found = {address for (address,) in cursor.fetchall()}
        cursor.execute(by_id, [array_literal([])])
        assert cursor.fetchone() == (0,)
    assert found == {f"lead{i}@example.com" for i in range(0, 300, 2)}


@pytest.mark.django_db
def test_instances_from_rows_equal_what_the_orm_reads():
    lead = lead_create(email="rows@acme.example", first_name="Ann", now=NOW)
    Lead.objects.filter(pk=lead.pk).update(attributes={"plan": "pro", "seats": 12}, first_touch_utm={"source": "g"})
    columns = ", ".join(connection.ops.quote_name(f.column) for f in Lead._meta.concrete_fields)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns}, 'extra' FROM leads_lead WHERE id = %s", [lead.pk])  # noqa: S608
        (built,) = instances_from_rows(Lead, cursor.fetchall())
    read = Lead.objects.get(pk=lead.pk)

    for field in Lead._meta.concrete_fields:
        assert getattr(built, field.attname) == getattr(read, field.attname), field.name
    assert built.attributes == {"plan": "pro", "seats": 12}
    assert not built._state.adding
    assert built._state.db == "default"
    built.first_name = "Anne"
    built.save(update_fields=["first_name"])  # a saved instance: an UPDATE, not a second lead
    assert Lead.objects.get(pk=lead.pk).first_name == "Anne"


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _on_every_side_thread() -> list:
    """The backend pid of each side thread (or the error it met): one call held on each thread."""
    import threading

    from core.db import SIDE_THREADS, run_beside

    everyone = threading.Barrier(SIDE_THREADS)

    def call():
        everyone.wait(timeout=10)
        try:
            return _backend_pid()
        except Exception as error:  # noqa: BLE001 - a connection found gone
            return type(error).__name__

    return [future.result() for future in [run_beside(call) for _ in range(SIDE_THREADS)]]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_side_thread_keeps_its_connection_between_calls_as_a_request_thread_does(settings):
    from core.db import SIDE_THREADS, close_side_connections

    settings.DATABASES["default"]["CONN_MAX_AGE"] = 60
    first = _on_every_side_thread()

    assert len(set(first)) == SIDE_THREADS and _backend_pid() not in first  # a session of its own each
    assert set(_on_every_side_thread()) == set(first)  # kept for the next calls

    close_side_connections()
    # A session's server process ends a moment after its client hangs up: wait for that.
    deadline = time.monotonic() + 5
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [first])
            left = cursor.fetchone()[0]
        if left == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert left == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_side_threads_connection_goes_when_its_age_is_up_or_it_broke(settings):
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0  # a new connection for each call
    first = _on_every_side_thread()
    assert not set(_on_every_side_thread()) & set(first)

    settings.DATABASES["default"]["CONN_MAX_AGE"] = 60
    kept = _on_every_side_thread()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) pid", [kept])  # a server restart

    _on_every_side_thread()  # each thread's first call may meet its closed connection
    again = _on_every_side_thread()

    assert all(isinstance(pid, int) and pid not in kept for pid in again)  # new sessions, all working
