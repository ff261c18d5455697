import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from api.parsers import ExactJSONParser
from api.serializers import LeadCreateSerializer
from leads.models import CustomFieldDefinition, Lead, Stage, StageChange
from tests.api.clients import token_client
from tests.factories import CampaignFactory, LeadFactory, LeadSourceFactory, UserFactory, manager, marketer, rep

pytestmark = pytest.mark.django_db

LIST = "/api/v1/leads/"


def detail(lead_id: int) -> str:
    return f"/api/v1/leads/{lead_id}/"


# ---- list ----------------------------------------------------------------------------------


def test_a_rep_lists_their_own_leads_and_the_pool_but_not_another_reps():
    me, other = rep(), rep()
    mine = LeadFactory(owner=me, score=50)
    pool = LeadFactory(owner=None, score=40)
    LeadFactory(owner=other, score=90)

    client = token_client(me)
    response = client.get(LIST)

    assert response.status_code == 200
    assert [lead["id"] for lead in response.json()["results"]] == [mine.id, pool.id]
    assert response.json()["next"] is None


@pytest.mark.parametrize("make_user", [manager, marketer])
def test_managers_and_marketers_list_every_lead(make_user):
    leads = [LeadFactory(owner=rep(), score=score) for score in (30, 20, 10)]

    response = token_client(make_user()).get(LIST)

    assert [lead["id"] for lead in response.json()["results"]] == [lead.id for lead in leads]


def test_lead_json_carries_the_contract_fields():
    owner = rep(username="rita")
    source = LeadSourceFactory(name="Website")
    lead = LeadFactory(
        owner=owner,
        source=source,
        email="ada@example.com",
        stage=Stage.MQL,
        temperature="warm",
        first_touch_utm={"utm_source": "google"},
        last_touch_utm={"utm_source": "newsletter"},
        attributes={"seats": 3},
    )

    body = token_client(owner).get(detail(lead.id)).json()

    assert {
        "id",
        "email",
        "first_name",
        "last_name",
        "company",
        "title",
        "phone",
        "source",
        "owner",
        "stage",
        "temperature",
        "score",
        "fit_score",
        "engagement_score",
        "created_at",
        "stage_entered_at",
        "last_engaged_at",
        "first_touched_at",
        "utm",
        "attributes",
        "unsubscribed",
    } <= set(body)
    assert body["owner"] == "rita"
    assert body["source"] == "Website"
    assert (body["stage"], body["temperature"]) == ("mql", "warm")
    assert body["utm"] == {"first_touch": {"utm_source": "google"}, "last_touch": {"utm_source": "newsletter"}}
    assert body["attributes"] == {"seats": 3}


def test_list_filters_by_stage_temperature_owner_source_text_and_min_score():
    boss = manager()
    alice = rep(username="alice")
    web = LeadSourceFactory(name="Web")
    match = LeadFactory(owner=alice, source=web, stage=Stage.SQL, temperature="hot", score=80, company="Acme Robotics")
    LeadFactory(owner=alice, source=web, stage=Stage.SQL, temperature="hot", score=60, company="Acme Robotics")
    LeadFactory(owner=alice, source=web, stage=Stage.MQL, temperature="hot", score=80, company="Acme Robotics")
    LeadFactory(owner=None, source=web, stage=Stage.SQL, temperature="hot", score=80, company="Acme Robotics")
    LeadFactory(owner=alice, source=None, stage=Stage.SQL, temperature="hot", score=80, company="Acme Robotics")
    LeadFactory(owner=alice, source=web, stage=Stage.SQL, temperature="cold", score=80, company="Acme Robotics")
    LeadFactory(owner=alice, source=web, stage=Stage.SQL, temperature="hot", score=80, company="Globex")
    client = token_client(boss)

    for owner, source in (("alice", "Web"), (str(alice.id), str(web.id))):
        response = client.get(
            LIST,
            {"stage": "sql", "temperature": "hot", "owner": owner, "source": source, "q": "acme", "min_score": 70},
        )
        assert response.status_code == 200
        assert [lead["id"] for lead in response.json()["results"]] == [match.id]


def test_owner_me_and_none_filters():
    me = rep()
    mine = LeadFactory(owner=me)
    pool = LeadFactory(owner=None)
    client = token_client(me)

    assert [row["id"] for row in client.get(LIST, {"owner": "me"}).json()["results"]] == [mine.id]
    assert [row["id"] for row in client.get(LIST, {"owner": "none"}).json()["results"]] == [pool.id]


def test_cursor_pagination_walks_every_lead_once_in_order():
    boss = manager()
    leads = [LeadFactory(score=score) for score in (90, 80, 80, 70, 60)]
    client = token_client(boss)

    seen = []
    url = f"{LIST}?ordering=-score&page_size=2"
    pages = 0
    while url:
        body = client.get(url).json()
        seen += [lead["id"] for lead in body["results"]]
        url = body["next"]
        pages += 1

    assert pages == 3
    assert seen == [leads[0].id, leads[2].id, leads[1].id, leads[3].id, leads[4].id]


def test_ascending_ordering_by_created_at():
    boss = manager()
    first, second = LeadFactory(), LeadFactory()

    body = token_client(boss).get(LIST, {"ordering": "created_at"}).json()

    assert [lead["id"] for lead in body["results"]] == [first.id, second.id]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"stage": "hot"}, "stage"),
        ({"temperature": "boiling"}, "temperature"),
        ({"min_score": "lots"}, "min_score"),
        ({"min_score": "101"}, "min_score"),
        ({"min_score": "1.0"}, "min_score"),
        ({"stage": ""}, "stage"),
        ({"ordering": "email"}, "ordering"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "201"}, "page_size"),
    ],
)
def test_bad_list_filters_answer_400_naming_the_parameter(params, field):
    response = token_client(manager()).get(LIST, params)

    assert response.status_code == 400
    assert list(response.json()) == [field]


@pytest.mark.parametrize("count", [10, 1000])
def test_the_list_costs_the_same_few_queries_whatever_the_number_of_leads(count):
    boss = manager()
    owners = [rep() for _ in range(3)]
    source, campaign = LeadSourceFactory(), CampaignFactory()
    Lead.objects.bulk_create(
        [
            LeadFactory.build(owner=owners[i % 3], source=source, campaign=campaign, email=f"bulk{i}@example.org")
            for i in range(count)
        ]
    )
    client = token_client(boss)

    with CaptureQueriesContext(connection) as queries:
        response = client.get(LIST, {"page_size": 200})

    assert response.status_code == 200
    assert len(response.json()["results"]) == min(count, 200)
    # token, the user's permissions (user and group), one page of leads with owner, source, campaign
    assert len(queries) <= 4, [query["sql"] for query in queries]


# ---- read ----------------------------------------------------------------------------------


def test_another_reps_lead_is_404_for_read_update_transition_and_timeline():
    me, other = rep(), rep()
    theirs = LeadFactory(owner=other, first_name="Theirs")
    client = token_client(me)

    assert client.get(detail(theirs.id)).status_code == 404
    assert client.patch(detail(theirs.id), {"first_name": "Mine"}, format="json").status_code == 404
    assert client.post(f"{detail(theirs.id)}transition/", {"stage": "mql"}, format="json").status_code == 404
    assert client.get(f"{detail(theirs.id)}timeline/").status_code == 404
    theirs.refresh_from_db()
    assert (theirs.first_name, theirs.stage) == ("Theirs", "raw")


def test_a_missing_lead_is_404():
    client = token_client(manager())

    assert client.get(detail(999999)).status_code == 404
    assert client.get(detail(2**70)).status_code == 404


def test_a_user_without_a_role_gets_403():
    nobody = UserFactory()
    lead = LeadFactory(owner=None)

    client = token_client(nobody)

    assert client.get(LIST).status_code == 403
    assert client.get(detail(lead.id)).status_code == 403


# ---- create --------------------------------------------------------------------------------


def test_a_rep_creates_a_lead_that_they_own():
    me = rep(username="rita")
    LeadSourceFactory(name="Website")

    response = token_client(me).post(
        LIST,
        {
            "email": " Ada@Example.com ",
            "first_name": "Ada",
            "company": "Analytical Engines",
            "source": "Website",
            "utm": {"utm_source": "google", "utm_campaign": "spring"},
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    lead = Lead.objects.get()
    assert body["id"] == lead.id
    assert (body["email"], body["owner"], body["source"], body["stage"]) == (
        "ada@example.com",
        "rita",
        "Website",
        "raw",
    )
    assert body["utm"]["first_touch"] == {"utm_source": "google", "utm_campaign": "spring"}
    assert list(StageChange.objects.filter(lead=lead).values_list("to_stage", flat=True)) == ["raw"]


def test_a_manager_creates_a_lead_for_a_rep_or_for_the_pool():
    boss = manager()
    rep(username="rita")
    client = token_client(boss)

    assigned = client.post(LIST, {"email": "a@example.com", "owner": "rita"}, format="json")
    pooled = client.post(LIST, {"email": "b@example.com"}, format="json")

    assert (assigned.status_code, assigned.json()["owner"]) == (201, "rita")
    assert (pooled.status_code, pooled.json()["owner"]) == (201, None)


def test_a_lead_an_integration_creates_goes_to_the_pool_where_reps_see_it():
    integration = marketer(username="website-sync")  # the role README gives an integration's user

    created = token_client(integration).post(LIST, {"email": "new@example.com"}, format="json")

    assert (created.status_code, created.json()["owner"]) == (201, None)
    assert token_client(rep()).get(detail(created.json()["id"])).status_code == 200


def test_duplicate_email_answers_409_with_the_existing_lead():
    existing = LeadFactory(email="ada@example.com", owner=None)

    response = token_client(rep()).post(LIST, {"email": "ADA@example.com"}, format="json")

    assert response.status_code == 409
    assert response.json() == {"detail": "A lead with this e-mail already exists.", "lead_id": existing.id}
    assert Lead.objects.count() == 1


def test_a_duplicate_of_another_reps_lead_answers_409_without_its_id():
    me, other = rep(), rep()
    theirs = LeadFactory(email="ada@example.com", owner=other)
    mine = LeadFactory(email="mine@example.com", owner=me)
    client = token_client(me)
    said = {
        "detail": "A lead with this e-mail already exists. It belongs to another rep: "
        "ask a manager if this person should be yours."
    }

    created = client.post(LIST, {"email": "Ada@example.com"}, format="json")
    changed = client.patch(detail(mine.id), {"email": "ada@example.com"}, format="json")

    assert client.get(detail(theirs.id)).status_code == 404
    assert (created.status_code, created.json()) == (409, said)
    assert (changed.status_code, changed.json()) == (409, said)
    mine.refresh_from_db()
    assert (Lead.objects.count(), mine.email) == (2, "mine@example.com")


def test_a_duplicate_of_a_lead_the_user_may_see_answers_409_with_its_id():
    theirs = LeadFactory(email="ada@example.com", owner=rep())

    response = token_client(manager()).post(LIST, {"email": "ada@example.com"}, format="json")

    assert (response.status_code, response.json()) == (
        409,
        {"detail": "A lead with this e-mail already exists.", "lead_id": theirs.id},
    )


def test_bad_fields_answer_400_field_by_field_and_create_nothing():
    response = token_client(rep()).post(
        LIST,
        {
            "email": "not-an-email",
            "company_size": -3,
            "source": "Nowhere",
            "utm": {"colour": "red"},
            "timezone": "Mars/Olympus",
        },
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()) == {"email", "company_size", "source", "utm", "timezone"}
    assert Lead.objects.count() == 0


@pytest.mark.parametrize(
    ("utm", "messages"),
    [
        ("google", ['Send an object of UTM parameters, e.g. {"utm_source": "google"}.']),
        (["google"], ['Send an object of UTM parameters, e.g. {"utm_source": "google"}.']),
        (None, ["This field may not be null."]),
        (
            {"utm_source": 7, "utm_medium": "x" * 501, "colour": "red"},
            [
                "Unknown keys: colour. Known: utm_source, utm_medium, utm_campaign, utm_term, utm_content, gclid, "
                "fbclid, referrer, landing_page.",
                "utm_source: Send text (a JSON string).",
                "utm_medium: Ensure this field has no more than 500 characters.",
            ],
        ),
        ({"gclid": "a\x00b"}, ["gclid: Null characters are not allowed."]),
    ],
)
def test_bad_utm_answers_a_flat_list_of_messages_like_other_fields(utm, messages):
    response = token_client(rep()).post(LIST, {"email": "a@example.com", "utm": utm}, format="json")

    assert (response.status_code, response.json()) == (400, {"utm": messages})
    assert Lead.objects.count() == 0


def test_utm_values_are_trimmed_and_blank_ones_left_out():
    response = token_client(rep()).post(
        LIST, {"email": "a@example.com", "utm": {"utm_source": " google ", "utm_medium": ""}}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["utm"] == {"first_touch": {"utm_source": "google"}, "last_touch": {"utm_source": "google"}}


def test_values_of_another_json_type_than_the_schema_names_are_refused():
    lead = LeadFactory(owner=None, country="DE", company_size=10, email_opt_in=False)
    client = token_client(manager())

    created = client.post(LIST, {"email": "typed@example.com", "country": 7, "annual_revenue": True}, format="json")
    patched = client.patch(
        f"{LIST}{lead.pk}/", {"company_size": "50", "email_opt_in": 1, "title": ["VP"]}, format="json"
    )

    assert created.status_code == 400
    assert created.json() == {
        "country": ["Send text (a JSON string)."],
        "annual_revenue": ['Send the amount as a number or as text, e.g. 12500 or "12500.00".'],
    }
    assert patched.status_code == 400
    assert set(patched.json()) == {"company_size", "email_opt_in", "title"}
    lead.refresh_from_db()
    assert (lead.country, lead.company_size, lead.email_opt_in) == ("DE", 10, False)
    assert not Lead.objects.filter(email="typed@example.com").exists()


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("12500.00", "12500.00"),
        ("12500", "12500.00"),
        (12500, "12500.00"),
        (12500.5, "12500.50"),
        (0.1, "0.10"),
        (0, "0.00"),
        (None, None),
    ],
)
def test_an_amount_is_taken_as_text_or_as_a_json_number(sent, stored):
    response = token_client(rep()).post(LIST, {"email": "a@example.com", "annual_revenue": sent}, format="json")

    assert (response.status_code, response.json()["annual_revenue"]) == (201, stored)
    assert Lead.objects.get().annual_revenue == (None if stored is None else Decimal(stored))


def test_a_json_number_amount_is_read_exactly_as_written():
    # As a binary float, 9999999999999.99 would not be exact. (Checked up to the service:
    # SQLite itself keeps 15 digits of a decimal; PostgreSQL keeps them all.)
    body = io.BytesIO(b'{"email": "a@example.com", "annual_revenue": 9999999999999.99}')

    data = ExactJSONParser().parse(body, "application/json", {})
    serializer = LeadCreateSerializer(data=data)

    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data["annual_revenue"] == Decimal("9999999999999.99")


def test_an_amount_changed_by_a_json_number_is_stored_and_answered_as_text():
    me = rep()
    lead = LeadFactory(owner=me)

    response = token_client(me).generic(
        "PATCH", detail(lead.id), '{"annual_revenue": 0.30}', content_type="application/json"
    )

    assert (response.status_code, response.json()["annual_revenue"]) == (200, "0.30")
    lead.refresh_from_db()
    assert lead.annual_revenue == Decimal("0.30")


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        ("12.345", "Ensure that there are no more than 2 decimal places."),
        ("1e13", "Ensure that there are no more than 13 digits before the decimal point."),
        ("10000000000000", "Ensure that there are no more than 13 digits before the decimal point."),
        ("12500.001", "Ensure that there are no more than 2 decimal places."),
        ("12500.10000000000000000001", "Ensure that there are no more than 15 digits in total."),
        ("-5", "Ensure this value is greater than or equal to 0."),
        ('"lots"', "A valid number is required."),
        ("true", 'Send the amount as a number or as text, e.g. 12500 or "12500.00".'),
        ('["12500"]', 'Send the amount as a number or as text, e.g. 12500 or "12500.00".'),
    ],
)
def test_an_amount_that_does_not_fit_is_refused_as_number_or_text_alike(sent, message):
    body = f'{{"email": "a@example.com", "annual_revenue": {sent}}}'

    response = token_client(rep()).generic("POST", LIST, body, content_type="application/json")

    assert (response.status_code, response.json()) == (400, {"annual_revenue": [message]})
    assert Lead.objects.count() == 0


@pytest.mark.parametrize("sent", ["NaN", "Infinity", "-Infinity"])
def test_an_amount_that_is_no_json_number_is_a_parse_error(sent):
    body = f'{{"email": "a@example.com", "annual_revenue": {sent}}}'

    response = token_client(rep()).generic("POST", LIST, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")
    assert Lead.objects.count() == 0


def test_custom_attributes_take_numbers_with_a_fraction_as_before():
    CustomFieldDefinition.objects.create(key="seats", label="Seats", field_type="number")
    CustomFieldDefinition.objects.create(key="code", label="Code", field_type="text")
    CustomFieldDefinition.objects.create(key="since", label="Since", field_type="date")

    response = token_client(rep()).post(
        LIST, {"email": "a@example.com", "attributes": {"seats": 12.5, "code": 1.5, "since": 2.5}}, format="json"
    )
    fitting = token_client(rep()).post(
        LIST, {"email": "b@example.com", "attributes": {"seats": 12.5, "code": 1.5}}, format="json"
    )

    assert (response.status_code, response.json()) == (400, {"attributes": ["Since must be a date as YYYY-MM-DD"]})
    assert (fitting.status_code, fitting.json()["attributes"]) == (201, {"seats": 12.5, "code": "1.5"})
    assert Lead.objects.get().attributes == {"seats": 12.5, "code": "1.5"}


def test_missing_email_answers_400():
    response = token_client(rep()).post(LIST, {"first_name": "Ada"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"email": ["This field is required."]}


def test_service_rules_come_back_as_field_errors():
    # custom attributes are checked by the service against the admin's definitions
    response = token_client(rep()).post(
        LIST, {"email": "a@example.com", "attributes": {"colour": "red"}}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"attributes": ["'colour' is not a defined custom field"]}
    assert Lead.objects.count() == 0


@pytest.mark.parametrize(
    "field",
    ["score", "stage", "temperature", "fit_score", "engagement_score", "created_at", "stage_entered_at", "id"],
)
def test_read_only_fields_are_refused_on_create(field):
    value = "2020-01-01T00:00:00Z" if field.endswith("_at") else ("won" if field == "stage" else 99)

    response = token_client(manager()).post(LIST, {"email": "a@example.com", field: value}, format="json")

    assert response.status_code == 400
    assert response.json() == {field: ["This field is read-only."]}
    assert Lead.objects.count() == 0


def test_every_problem_of_a_new_lead_is_named_at_once():
    CustomFieldDefinition.objects.create(key="seats", label="Seats", field_type="number")

    response = token_client(manager()).post(
        LIST,
        {
            "email": "a@example.com",
            "score": 99,
            "stage": "won",
            "shoe_size": 44,
            "company_size": -3,
            "website": "no web address",
            "attributes": {"seats": "many", "colour": "red"},
        },
        format="json",
    )

    assert (response.status_code, response.json()) == (
        400,
        {
            "score": ["This field is read-only."],
            "stage": ["This field is read-only."],
            "shoe_size": ["Unknown field."],
            "company_size": ["Ensure this value is greater than or equal to 0."],
            "website": ["Enter a web address such as acme.example or https://acme.example."],
            "attributes": ["Seats must be a number", "'colour' is not a defined custom field"],
        },
    )
    assert Lead.objects.count() == 0


def test_a_marketer_who_sets_the_owner_hears_of_the_other_bad_fields_too():
    rep(username="rita")

    response = token_client(marketer()).post(
        LIST,
        {"email": "not-an-email", "owner": "rita", "company_size": "40", "attributes": {"colour": "red"}},
        format="json",
    )

    assert (response.status_code, response.json()) == (
        400,
        {
            "owner": ["Only a user who may assign leads can set the owner."],
            "email": ["Enter a valid email address."],
            "company_size": ["Send a whole number (a JSON number)."],
            "attributes": ["'colour' is not a defined custom field"],
        },
    )
    assert Lead.objects.count() == 0


def test_every_problem_of_a_change_is_named_at_once_and_nothing_changes():
    CustomFieldDefinition.objects.create(key="seats", label="Seats", field_type="number", required=True)
    me = rep()
    rep(username="other")
    lead = LeadFactory(owner=me, company="Old", attributes={"seats": 3})

    response = token_client(me).patch(
        detail(lead.id),
        {"company": "New", "owner": "other", "temperature": "hot", "title": 7, "attributes": {"seats": None}},
        format="json",
    )

    assert (response.status_code, response.json()) == (
        400,
        {
            "owner": ["Only a user who may assign leads can set the owner."],
            "temperature": ["This field is read-only."],
            "title": ["Send text (a JSON string)."],
            "attributes": ["Seats is required"],
        },
    )
    lead.refresh_from_db()
    assert (lead.company, lead.owner, lead.attributes) == ("Old", me, {"seats": 3})


def test_a_rep_cannot_set_the_owner_on_create():
    me = rep()
    rep(username="other")

    response = token_client(me).post(LIST, {"email": "a@example.com", "owner": "other"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"owner": ["Only a user who may assign leads can set the owner."]}
    assert Lead.objects.count() == 0


def test_unknown_fields_and_non_objects_are_refused():
    client = token_client(rep())

    unknown = client.post(LIST, {"email": "a@example.com", "shoe_size": 44}, format="json")
    listed = client.post(LIST, [{"email": "a@example.com"}], format="json")

    assert (unknown.status_code, unknown.json()) == (400, {"shoe_size": ["Unknown field."]})
    assert (listed.status_code, listed.json()) == (400, {"detail": "Send a JSON object."})
    assert Lead.objects.count() == 0


def test_null_characters_are_refused():
    response = token_client(rep()).post(LIST, {"email": "a@example.com", "first_name": "A\x00da"}, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"first_name"}
    assert Lead.objects.count() == 0


# ---- update --------------------------------------------------------------------------------


def test_a_rep_updates_fields_of_their_lead():
    me = rep()
    lead = LeadFactory(owner=me, company="Old", title="CTO")

    response = token_client(me).patch(detail(lead.id), {"company": "New", "company_size": 40}, format="json")

    assert response.status_code == 200
    assert (response.json()["company"], response.json()["company_size"]) == ("New", 40)
    lead.refresh_from_db()
    assert (lead.company, lead.company_size, lead.title) == ("New", 40, "CTO")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stage", "won"),
        ("score", 99),
        ("temperature", "hot"),
        ("engagement_score", 50),
        ("last_engaged_at", "2020-01-01T00:00:00Z"),
        ("first_touched_at", "2020-01-01T00:00:00Z"),
        ("utm", {"utm_source": "x"}),
        ("unsubscribed", True),
    ],
)
def test_read_only_fields_are_refused_on_update_and_nothing_changes(field, value):
    me = rep()
    lead = LeadFactory(owner=me, company="Old", score=10)

    response = token_client(me).patch(detail(lead.id), {"company": "New", field: value}, format="json")

    assert response.status_code == 400
    assert response.json() == {field: ["This field is read-only."]}
    lead.refresh_from_db()
    assert (lead.company, lead.stage, lead.score, lead.temperature) == ("Old", "raw", 10, "cold")


def test_a_rep_cannot_reassign_a_lead():
    me = rep()
    rep(username="other")
    lead = LeadFactory(owner=me)

    response = token_client(me).patch(detail(lead.id), {"owner": "other"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["owner"]
    lead.refresh_from_db()
    assert lead.owner == me


def test_a_manager_reassigns_and_releases_a_lead():
    boss = manager()
    first, second = rep(username="first"), rep(username="second")
    lead = LeadFactory(owner=first)
    client = token_client(boss)

    moved = client.patch(detail(lead.id), {"owner": "second"}, format="json")
    lead.refresh_from_db()
    assert (moved.status_code, moved.json()["owner"], lead.owner) == (200, "second", second)

    released = client.patch(detail(lead.id), {"owner": None}, format="json")
    lead.refresh_from_db()
    assert (released.status_code, released.json()["owner"], lead.owner) == (200, None, None)


def test_changing_the_email_to_a_taken_one_answers_409_and_keeps_the_lead():
    me = rep()
    taken = LeadFactory(email="taken@example.com")
    lead = LeadFactory(owner=me, email="mine@example.com")

    response = token_client(me).patch(detail(lead.id), {"email": "Taken@example.com"}, format="json")

    assert response.status_code == 409
    assert response.json()["lead_id"] == taken.id
    lead.refresh_from_db()
    assert lead.email == "mine@example.com"


def test_a_failing_update_leaves_the_owner_unchanged_too():
    boss = manager()
    first = rep(username="first")
    rep(username="second")
    LeadFactory(email="taken@example.com")
    lead = LeadFactory(owner=first, email="mine@example.com")

    response = token_client(boss).patch(
        detail(lead.id), {"owner": "second", "email": "taken@example.com"}, format="json"
    )

    assert response.status_code == 409
    lead.refresh_from_db()
    assert (lead.owner, lead.email) == (first, "mine@example.com")


@pytest.mark.parametrize(
    "cursor",
    ["0", "WyJ4IiwgMV0", "WzEuNSwgMV0", "WzEsIDk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5XQ", "W3siZHQiOiAieCJ9LCAxXQ"],
)
def test_a_cursor_that_is_not_a_position_of_the_ordering_answers_400(cursor):
    LeadFactory()

    response = token_client(manager()).get(LIST, {"cursor": cursor, "ordering": "-score"})

    assert (response.status_code, list(response.json())) == (400, ["cursor"])


def test_a_score_cursor_does_not_fit_a_date_ordering():
    boss = manager()
    LeadFactory.create_batch(3)
    client = token_client(boss)
    next_url = client.get(LIST, {"ordering": "-score", "page_size": 1}).json()["next"]
    cursor = next_url.split("cursor=")[1]

    response = client.get(LIST, {"ordering": "-created_at", "cursor": cursor})

    assert (response.status_code, list(response.json())) == (400, ["cursor"])


@pytest.mark.parametrize("value", ["³", "99999999999999999999"])
def test_an_owner_or_source_filter_that_is_no_plain_number_answers_an_empty_page(value):
    LeadFactory()

    response = token_client(manager()).get(LIST, {"owner": value, "source": value})

    assert (response.status_code, response.json()["results"]) == (200, [])


def test_the_largest_amount_is_stored_and_answered_as_sent_on_every_database():
    client = token_client(manager())

    created = client.post(LIST, {"email": "big@example.com", "annual_revenue": "9999999999999.99"}, format="json")

    assert (created.status_code, created.json()["annual_revenue"]) == (201, "9999999999999.99")
    assert client.get(detail(created.json()["id"])).json()["annual_revenue"] == "9999999999999.99"
