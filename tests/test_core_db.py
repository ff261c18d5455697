"""core.db: prepared statements on PostgreSQL, and COPY values."""

import datetime
import decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.db import copy_value, execute_prepared
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
@pytest.mark.django_db(transaction=True)
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
    assert copy_value({"a": "b\\c"}) == '{"a": "b\\\\\\\\c"}'
    assert copy_value(datetime.timedelta(minutes=1)) == "60.0 seconds"
    assert copy_value(NOW) == "2026-11-02T10:00:00+00:00"
