import csv
import io

import pytest
from django.urls import reverse

from intake.export import safe_cell, unquoted_cell
from tests.factories import LeadFactory, manager, rep

pytestmark = pytest.mark.django_db


def _rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+2", "'=1+2"),
        ("+49 30 123", "'+49 30 123"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Acme", "Acme"),
        (-2, "-2"),
        (None, ""),
        (True, "yes"),
    ],
)
def test_safe_cell_neutralises_formulas(value, expected):
    assert safe_cell(value) == expected


@pytest.mark.parametrize("text", ["=1+2", "+49 30 123", "-2", "@SUM(A1)", "Acme", "'quoted already", ""])
def test_unquoted_cell_undoes_safe_cell(text):
    assert unquoted_cell(safe_cell(text)) == text


def test_export_respects_filters_and_reach(client):
    me = rep()
    other = rep()
    LeadFactory(email="mine@example.com", owner=me, stage="mql", company='=HYPERLINK("http://x")')
    LeadFactory(email="mine-raw@example.com", owner=me, stage="raw")
    LeadFactory(email="pool@example.com", owner=None, stage="mql")
    LeadFactory(email="theirs@example.com", owner=other, stage="mql")
    client.force_login(me)

    response = client.get(reverse("lead_export_csv") + "?stage=mql")

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="leads-')
    rows = _rows(response)
    header = rows[0]
    assert header[:4] == ["id", "email", "first_name", "last_name"]
    emails = sorted(row[1] for row in rows[1:])
    assert emails == ["mine@example.com", "pool@example.com"]
    mine = next(row for row in rows[1:] if row[1] == "mine@example.com")
    assert mine[header.index("company")] == '\'=HYPERLINK("http://x")'
    assert mine[header.index("owner")] == me.username


def test_manager_exports_everything_and_anonymous_is_sent_to_login(client):
    LeadFactory.create_batch(3)
    assert client.get(reverse("lead_export_csv")).status_code == 302
    client.force_login(manager())

    rows = _rows(client.get(reverse("lead_export_csv")))

    assert len(rows) == 4


def test_export_query_count_does_not_grow(client, django_assert_max_num_queries):
    LeadFactory.create_batch(30)
    client.force_login(manager())
    with django_assert_max_num_queries(8):
        rows = _rows(client.get(reverse("lead_export_csv")))
    assert len(rows) == 31


def test_export_follows_the_lists_order_and_carries_what_a_spreadsheet_needs(client, settings):
    import datetime

    from leads.models import CustomFieldDefinition

    settings.TIME_ZONE = "Europe/Berlin"
    CustomFieldDefinition.objects.create(key="plan", label="Plan")
    boss = manager()
    LeadFactory(email="cold@example.com", score=10)
    hot = LeadFactory(
        email="hot@example.com",
        score=90,
        annual_revenue="1234567.50",
        attributes={"plan": "pro"},
        first_touch_utm={"utm_source": "google", "utm_campaign": "spring"},
    )
    type(hot).objects.filter(pk=hot.pk).update(created_at=datetime.datetime(2026, 6, 3, 12, 5, 11, tzinfo=datetime.UTC))
    client.force_login(boss)

    rows = _rows(client.get(reverse("lead_export_csv")))

    header, first = rows[0], rows[1]
    assert [row[1] for row in rows[1:]] == ["hot@example.com", "cold@example.com"]  # hottest first, as listed
    values = dict(zip(header, first, strict=True))
    assert values["annual_revenue"] == "1234567.50"
    assert values["plan"] == "pro"
    assert (values["first_touch_utm_source"], values["first_touch_utm_campaign"]) == ("google", "spring")
    assert values["created_at"] == "2026-06-03 14:05:11"  # local time, as spreadsheets read a date
    assert {"lost_reason", "need", "timeline", "last_touch_utm_medium"} <= set(header)


def test_a_rep_s_export_reads_a_shared_link_as_the_list_does(client):
    # A manager shares /leads/?owner=<someone else>: a rep's list ignores that owner (it is
    # not one of the rep's choices), and so does the export link on that list.
    me, colleague = rep(), rep()
    mine = LeadFactory(owner=me, email="mine@example.com")
    LeadFactory(owner=colleague, email="theirs@example.com")
    client.force_login(me)

    listing = client.get(f"/leads/?owner={colleague.pk}").content.decode()
    rows = _rows(client.get(reverse("lead_export_csv") + f"?owner={colleague.pk}"))

    assert mine.email in listing
    assert [row[1] for row in rows[1:]] == [mine.email]
