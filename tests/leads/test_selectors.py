import pytest
from django.http import Http404

from leads.selectors import LeadFilters, lead_get_for_user, lead_list_page, lead_visible_to
from tests.factories import LeadFactory, manager, marketer, rep

pytestmark = pytest.mark.django_db


@pytest.fixture
def book():
    me, other = rep(), rep()
    return {
        "me": me,
        "other": other,
        "mine": LeadFactory(owner=me),
        "theirs": LeadFactory(owner=other),
        "pool": LeadFactory(owner=None),
    }


def test_rep_sees_own_leads_and_the_pool_only(book):
    visible = set(lead_visible_to(book["me"]))

    assert visible == {book["mine"], book["pool"]}


@pytest.mark.parametrize("make_user", [manager, marketer])
def test_managers_and_marketers_see_every_lead(book, make_user):
    assert lead_visible_to(make_user()).count() == 3


def test_another_reps_lead_is_not_found(book):
    with pytest.raises(Http404):
        lead_get_for_user(user=book["me"], lead_id=book["theirs"].id)
    assert lead_get_for_user(user=book["me"], lead_id=book["pool"].id) == book["pool"]


def test_unknown_or_malformed_id_is_not_found(book):
    for bad in (999999, "abc", None):
        with pytest.raises(Http404):
            lead_get_for_user(user=book["me"], lead_id=bad)


def test_list_pages_by_score_with_a_cursor_and_no_overlap():
    user = manager()
    for score in [5, 50, 50, 50, 90, 0]:
        LeadFactory(score=score)

    first = lead_list_page(user=user, filters=LeadFilters(sort="score"), cursor=None, size=4)
    second = lead_list_page(user=user, filters=LeadFilters(sort="score"), cursor=first.next_cursor, size=4)

    scores = [lead.score for lead in first.items + second.items]
    assert scores == [90, 50, 50, 50, 5, 0]
    assert len({lead.id for lead in first.items + second.items}) == 6
    assert second.next_cursor is None


def test_list_paging_by_last_engaged_puts_never_engaged_last():
    from django.utils import timezone

    user = manager()
    now = timezone.now()
    never = [LeadFactory(last_engaged_at=None) for _ in range(3)]
    recent = LeadFactory(last_engaged_at=now)
    older = LeadFactory(last_engaged_at=now.replace(year=now.year - 1))

    seen, cursor = [], None
    while True:
        page = lead_list_page(user=user, filters=LeadFilters(sort="engaged"), cursor=cursor, size=2)
        seen += page.items
        cursor = page.next_cursor
        if not cursor:
            break

    assert seen[:2] == [recent, older]
    assert set(seen[2:]) == set(never) and len(seen) == 5


def test_search_matches_name_email_and_company():
    user = manager()
    ada = LeadFactory(first_name="Ada", last_name="Lovelace", company="Engines Ltd", email="ada@engines.test")
    LeadFactory(first_name="Bob", last_name="Stone", company="Rocks", email="bob@rocks.test")

    for text in ("ada lovelace", "engines", "ADA@ENG", "Lovelace"):
        page = lead_list_page(user=user, filters=LeadFilters(q=text), cursor=None)
        assert page.items == [ada], text


def test_search_takes_names_in_any_order_with_the_company_and_phones_however_written():
    user = manager()
    grace = LeadFactory(
        first_name="Grace", last_name="Weber", company="Clearwater", email="gw@clear.test", phone="+1 (555) 327-3898"
    )
    LeadFactory(first_name="Grace", last_name="Hopper", company="Navy", email="gh@navy.test", phone="+1 555 111 2222")

    for text in ("Weber Grace", "Grace Weber Clearwater", "+1 555 327 3898", "555 327 3898", "5553273898", "327-3898"):
        page = lead_list_page(user=user, filters=LeadFilters(q=text), cursor=None)
        assert page.items == [grace], text


def test_a_tampered_cursor_starts_over_instead_of_failing():
    import base64
    import json

    user = manager()
    LeadFactory(score=7)
    for forged in (["x", 1], [{"dt": "not-a-date"}, 1], [None, 1]):
        cursor = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode()
        for sort in ("score", "engaged"):
            page = lead_list_page(user=user, filters=LeadFilters(sort=sort), cursor=cursor)
            assert isinstance(page.items, list)

    page = lead_list_page(user=user, filters=LeadFilters(sort="score"), cursor="WyJ4IiwgMV0")
    assert [lead.score for lead in page.items] == [7]


def test_a_task_due_earlier_today_is_overdue_and_one_due_later_today_is_due_today():
    import datetime

    from django.utils import timezone

    from leads.selectors import tasks_for_user
    from tests.factories import ActivityFactory

    me = rep()
    lead = LeadFactory(owner=me)
    now = timezone.localtime(timezone.now()).replace(hour=16, minute=19)
    morning = ActivityFactory(lead=lead, kind="task", actor=me, due_at=now.replace(hour=9, minute=0))
    evening = ActivityFactory(lead=lead, kind="task", actor=me, due_at=now.replace(hour=18, minute=0))
    ActivityFactory(lead=lead, kind="task", actor=me, due_at=now + datetime.timedelta(days=1))

    tasks = tasks_for_user(user=me, now=now)

    assert tasks["overdue"] == [morning]
    assert tasks["today"] == [evening]


@pytest.mark.postgres
@pytest.mark.parametrize("who", ["manager", "rep"])
@pytest.mark.parametrize("sort", ["score", "created", "engaged"])
def test_every_list_order_is_read_from_an_index_not_sorted(who, sort):
    """With 100,000 leads a page that sorts the table took 100-150 ms; one read in index order
    takes about 1 ms. PostgreSQL is told not to sort, so the plan shows whether it has to."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    user = manager() if who == "manager" else rep()
    LeadFactory.create_batch(5, owner=user)
    with CaptureQueriesContext(connection) as captured:
        lead_list_page(user=user, filters=LeadFilters(sort=sort), cursor=None)
    sql = next(q["sql"] for q in reversed(captured.captured_queries) if 'FROM "leads_lead"' in q["sql"])

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Sort" not in plan, plan
