import pytest
from django.urls import reverse
from django.utils import timezone

from leads.models import Lead, LeadSource
from tests.factories import LeadFactory, LeadSourceFactory, rep

pytestmark = pytest.mark.django_db

LIST_QUERY_BOUND = 10


def names(response) -> list[str]:
    return [lead.display_name for lead in response.context["leads"]]


def test_anonymous_user_is_sent_to_login(client):
    response = client.get(reverse("lead_list"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_rep_sees_own_leads_and_the_pool_hottest_first(team, login):
    response = login(team["me"]).get(reverse("lead_list"))

    assert response.status_code == 200
    assert names(response) == ["Pool Lead", "Mine Lead"]
    assert "Theirs Lead" not in response.content.decode()


@pytest.mark.parametrize("role", ["manager", "marketer"])
def test_managers_and_marketers_see_every_lead(team, login, role):
    response = login(team[role]).get(reverse("lead_list"))

    assert names(response) == ["Pool Lead", "Theirs Lead", "Mine Lead"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("pool", ["Pool Lead"]),  # first or last name
        ("Mine Co", ["Mine Lead"]),  # company
        ("Pool Lead", ["Pool Lead"]),  # full name
        ("nobody-matches", []),
    ],
)
def test_search_matches_name_email_and_company(team, login, query, expected):
    response = login(team["manager"]).get(reverse("lead_list"), {"q": query})

    assert names(response) == expected


def test_search_by_email(team, login):
    response = login(team["manager"]).get(reverse("lead_list"), {"q": team["theirs"].email.upper()})

    assert names(response) == ["Theirs Lead"]


def test_filters_by_stage_temperature_owner_and_source(team, login):
    webinar = LeadSourceFactory(name="Webinar")
    LeadFactory(first_name="Hot", last_name="Sql", stage="sql", temperature="hot", source=webinar, owner=team["me"])
    client = login(team["manager"])

    assert names(client.get(reverse("lead_list"), {"stage": "sql"})) == ["Hot Sql"]
    assert names(client.get(reverse("lead_list"), {"temperature": "hot"})) == ["Hot Sql"]
    assert names(client.get(reverse("lead_list"), {"source": str(webinar.pk)})) == ["Hot Sql"]
    assert names(client.get(reverse("lead_list"), {"owner": str(team["me"].pk)})) == ["Mine Lead", "Hot Sql"]
    assert names(client.get(reverse("lead_list"), {"owner": "none"})) == ["Pool Lead"]


def test_owner_filter_offers_only_me_and_pool_to_a_rep(team, login):
    response = login(team["me"]).get(reverse("lead_list"))

    owner_choices = [value for value, _label in response.context["form"].fields["owner"].choices]
    assert owner_choices == ["", "me", "none"]


def test_sorts_by_created_and_last_engaged(team, login):
    now = timezone.now()
    Lead.objects.filter(pk=team["mine"].pk).update(last_engaged_at=now, created_at=now - timezone.timedelta(days=9))
    Lead.objects.filter(pk=team["theirs"].pk).update(created_at=now - timezone.timedelta(days=1))
    Lead.objects.filter(pk=team["pool"].pk).update(created_at=now - timezone.timedelta(days=5))
    client = login(team["manager"])

    by_created = client.get(reverse("lead_list"), {"sort": "created"})
    assert names(by_created) == ["Theirs Lead", "Pool Lead", "Mine Lead"]
    assert "newest first." in by_created.content.decode()  # the subtitle says the order shown
    by_engaged = client.get(reverse("lead_list"), {"sort": "engaged"})
    assert names(by_engaged)[0] == "Mine Lead"
    assert "most recently engaged first." in by_engaged.content.decode()
    assert "hottest first." in client.get(reverse("lead_list")).content.decode()


def test_cursor_pages_through_every_lead_once(login):
    user = rep()
    LeadFactory.create_batch(120, owner=user)
    client = login(user)

    first = client.get(reverse("lead_list"))
    second = client.get(first.context["next_url"])
    third = client.get(second.context["next_url"])

    seen = [lead.pk for page in (first, second, third) for lead in page.context["leads"]]
    assert len(seen) == 120 == len(set(seen))
    assert third.context["next_url"] is None


def test_htmx_request_gets_only_the_results(team, login):
    response = login(team["manager"]).get(reverse("lead_list"), {"q": "pool"}, headers={"HX-Request": "true"})

    body = response.content.decode()
    assert "<html" not in body
    assert 'id="lead-filters"' not in body
    assert "Pool Lead" in body
    assert "Theirs Lead" not in body


def test_load_more_gets_only_rows(login):
    user = rep()
    LeadFactory.create_batch(60, owner=user)
    client = login(user)
    next_url = client.get(reverse("lead_list")).context["next_url"]

    response = client.get(next_url, headers={"HX-Request": "true", "HX-Target": "lead-load-more"})

    body = response.content.decode()
    assert "<table" not in body
    assert body.count("<tr") == 10
    assert 'id="lead-load-more"' not in body


def test_empty_results_say_so(team, login):
    response = login(team["me"]).get(reverse("lead_list"), {"q": "zzz-nothing"})

    assert "No leads match these filters" in response.content.decode()


def test_lead_supplied_markup_is_escaped(login):
    user = rep()
    LeadFactory(owner=user, first_name="<script>alert(1)</script>", company="<b>Evil</b>")

    body = login(user).get(reverse("lead_list")).content.decode()

    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "&lt;b&gt;Evil&lt;/b&gt;" in body


def _bulk_leads(count: int, owner) -> None:
    sources = [LeadSource.objects.get_or_create(name=f"Source {i}")[0] for i in range(3)]
    now = timezone.now()
    Lead.objects.bulk_create(
        [
            Lead(
                email=f"bulk{i}@example.org",
                first_name=f"Bulk{i}",
                owner=owner if i % 2 else None,
                source=sources[i % 3],
                score=i % 101,
                stage_entered_at=now,
                last_engaged_at=now if i % 3 else None,
            )
            for i in range(count)
        ]
    )


@pytest.mark.parametrize("count", [10, 1000])
@pytest.mark.parametrize("role", ["me", "manager"])
@pytest.mark.parametrize("params", [{}, {"q": "bulk", "sort": "engaged", "stage": "raw", "temperature": "cold"}])
def test_list_query_count_does_not_grow_with_leads(team, login, django_assert_max_num_queries, count, role, params):
    _bulk_leads(count, owner=team["me"])
    client = login(team[role])

    with django_assert_max_num_queries(LIST_QUERY_BOUND):
        response = client.get(reverse("lead_list"), params)
    assert response.status_code == 200
    if count == 1000:
        assert len(response.context["leads"]) == 50  # a full page, rendered with the same queries


def test_a_tampered_filter_is_dropped_and_the_others_still_apply(team, login):
    response = login(team["manager"]).get(reverse("lead_list"), {"q": "pool", "stage": "bogus", "sort": "nope"})

    assert response.status_code == 200
    assert names(response) == ["Pool Lead"]


@pytest.mark.parametrize("number", ["³", "٣", "99999999999999999999999"])
def test_an_owner_or_source_that_is_no_plain_number_is_no_server_error(team, login, number):
    client = login(team["manager"])

    listed = client.get(reverse("lead_list"), {"owner": number, "source": number})
    exported = client.get(reverse("lead_export_csv"), {"owner": number, "source": number})

    assert listed.status_code == 200 and exported.status_code == 200


def test_export_link_carries_the_current_filters(team, login):
    body = login(team["manager"]).get(reverse("lead_list"), {"q": "pool", "stage": "raw"}).content.decode()

    assert f'href="{reverse("lead_export_csv")}?q=pool&amp;stage=raw"' in body
    assert reverse("import_upload") in body


def test_reps_get_no_import_button(team, login):
    body = login(team["me"]).get(reverse("lead_list")).content.decode()

    assert reverse("import_upload") not in body


def test_column_headers_link_to_the_same_filters_sorted_another_way(team, login):
    body = login(team["manager"]).get(reverse("lead_list"), {"q": "pool", "cursor": "abc"}).content.decode()

    assert 'href="?q=pool&amp;sort=created" data-sort="created"' in body
    assert 'href="?q=pool&amp;sort=engaged" data-sort="engaged"' in body


def test_a_forged_cursor_shows_the_first_page_instead_of_an_error(team, login):
    client = login(team["manager"])

    response = client.get(reverse("lead_list"), {"cursor": "WyJ4IiwgMV0", "sort": "score"})

    assert response.status_code == 200
    assert [lead.pk for lead in response.context["leads"]] == [team["pool"].pk, team["theirs"].pk, team["mine"].pk]
