import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.models import Activity, Lead, StageChange
from tests.factories import ActivityFactory, LeadFactory, StageChangeFactory

pytestmark = pytest.mark.django_db

# 10 for the page itself, 3 for the score panel and timeline events (events, score history, scoring state).
DETAIL_QUERY_BOUND = 13


def detail_url(lead) -> str:
    return reverse("lead_detail", args=[lead.pk])


@pytest.mark.parametrize("lead_key", ["mine", "pool"])
def test_rep_opens_own_and_pool_leads(team, login, lead_key):
    response = login(team["me"]).get(detail_url(team[lead_key]))

    assert response.status_code == 200
    assert team[lead_key].display_name in response.content.decode()


def test_another_reps_lead_is_not_found(team, login):
    response = login(team["me"]).get(detail_url(team["theirs"]))

    assert response.status_code == 404


def test_unknown_lead_is_not_found(team, login):
    assert login(team["manager"]).get(reverse("lead_detail", args=[999999])).status_code == 404


@pytest.mark.parametrize("role", ["manager", "marketer"])
def test_managers_and_marketers_open_any_lead(team, login, role):
    assert login(team[role]).get(detail_url(team["theirs"])).status_code == 200


def test_page_shows_header_details_and_timeline(team, login):
    lead = team["mine"]
    Lead.objects.filter(pk=lead.pk).update(
        title="VP Sales",
        score=72,
        temperature="hot",
        budget="40k approved",
        attributes={"crm": "Legacy"},
        first_touch_utm={"utm_source": "google"},
        last_touch_utm={"utm_source": "newsletter"},
    )
    ActivityFactory(lead=lead, kind="call", subject="Discovery call", actor=team["me"])
    StageChangeFactory(lead=lead, from_stage="raw", to_stage="mql", reason="Downloaded the pricing guide")

    body = login(team["me"]).get(detail_url(lead)).content.decode()

    for text in [
        "VP Sales",
        "Mine Co",
        "72",
        "Hot",
        "40k approved",
        "Legacy",
        "google",
        "newsletter",
        "Discovery call",
        "Downloaded the pricing guide",
        'id="score-panel"',
    ]:
        assert text in body, text


def test_transition_control_offers_only_allowed_targets(team, login):
    lead = team["mine"]
    Lead.objects.filter(pk=lead.pk).update(stage="sql")

    response = login(team["me"]).get(detail_url(lead))

    targets = [value for value, _ in response.context["transition_form"].fields["to_stage"].choices if value]
    assert targets == ["raw", "won", "lost"]


def test_lead_supplied_markup_is_escaped_on_the_lead_page(team, login):
    lead = LeadFactory(owner=team["me"], first_name="<script>alert(1)</script>", need="<img src=x onerror=alert(2)>")
    ActivityFactory(lead=lead, kind="note", body="<script>alert(3)</script>")

    body = login(team["me"]).get(detail_url(lead)).content.decode()

    assert "<script>alert(" not in body
    assert "<img src=x" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in body


@pytest.mark.parametrize("history", [1, 60])
def test_lead_page_query_count_does_not_grow_with_history(team, login, django_assert_max_num_queries, history):
    lead = team["mine"]
    ActivityFactory.create_batch(history, lead=lead, actor=team["me"], kind="call")
    StageChangeFactory.create_batch(history, lead=lead, actor=team["me"])
    client = login(team["manager"])

    with django_assert_max_num_queries(DETAIL_QUERY_BOUND):
        response = client.get(detail_url(lead))
    assert response.status_code == 200


# --- log activity --------------------------------------------------------------------------


def test_logging_a_call_records_it_and_marks_the_first_touch(team, login):
    lead = team["pool"]

    response = login(team["me"]).post(
        reverse("lead_activity_create", args=[lead.pk]), {"kind": "call", "subject": "Intro call", "body": "Keen."}
    )

    assert response.status_code == 302
    activity = Activity.objects.get(lead=lead)
    assert (activity.kind, activity.subject, activity.actor) == ("call", "Intro call", team["me"])
    lead.refresh_from_db()
    assert lead.first_touched_at == activity.occurred_at


def test_logging_over_htmx_returns_a_fresh_form_and_the_new_timeline(team, login):
    lead = team["mine"]

    response = login(team["me"]).post(
        reverse("lead_activity_create", args=[lead.pk]),
        {"kind": "note", "body": "Prefers e-mail"},
        headers={"HX-Request": "true"},
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert 'id="timeline" hx-swap-oob="true"' in body
    assert "Prefers e-mail" in body
    assert Activity.objects.filter(lead=lead, kind="note").count() == 1


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"kind": "task", "subject": "Call back"}, "due_at", "A task needs a due date."),
        ({"kind": "call"}, "body", "Write what happened."),
        ({"kind": "fax", "body": "x"}, "kind", "Select a valid choice."),
        ({"kind": "task", "subject": "x", "due_at": "not a date"}, "due_at", "Enter a valid date/time."),
    ],
)
def test_bad_activity_shows_the_error_and_writes_nothing(team, login, data, field, message):
    lead = team["mine"]

    response = login(team["me"]).post(
        reverse("lead_activity_create", args=[lead.pk]), data, headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert any(message in error for error in response.context["activity_form"].errors[field])
    assert message.replace("'", "&#x27;") in response.content.decode()
    assert not Activity.objects.filter(lead=lead).exists()


def test_a_task_with_a_due_date_is_logged(team, login):
    due = (timezone.localtime() + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")

    login(team["me"]).post(
        reverse("lead_activity_create", args=[team["mine"].pk]),
        {"kind": "task", "subject": "Send proposal", "due_at": due},
    )

    task = Activity.objects.get(lead=team["mine"])
    assert task.kind == "task" and task.due_at is not None and not task.done


def test_cannot_log_on_another_reps_lead(team, login):
    response = login(team["me"]).post(
        reverse("lead_activity_create", args=[team["theirs"].pk]), {"kind": "call", "body": "x"}
    )

    assert response.status_code == 404
    assert not Activity.objects.exists()


def test_marketer_cannot_log_activities(team, login):
    response = login(team["marketer"]).post(
        reverse("lead_activity_create", args=[team["pool"].pk]), {"kind": "note", "body": "x"}
    )

    assert response.status_code == 403
    assert "Not something your role can do" in response.content.decode()  # a page of ours, not bare text
    assert not Activity.objects.exists()


def test_completing_a_task(team, login):
    task = ActivityFactory(lead=team["mine"], kind="task", subject="Follow up", due_at=timezone.now(), actor=team["me"])

    response = login(team["me"]).post(reverse("task_complete", args=[team["mine"].pk, task.pk]))

    assert response.status_code == 302
    task.refresh_from_db()
    assert task.done and task.done_at is not None


def test_completing_a_task_of_another_reps_lead_is_not_found(team, login):
    task = ActivityFactory(lead=team["theirs"], kind="task", subject="Theirs", due_at=timezone.now())

    response = login(team["me"]).post(reverse("task_complete", args=[team["theirs"].pk, task.pk]))

    assert response.status_code == 404
    task.refresh_from_db()
    assert not task.done


def test_complete_redirects_only_to_this_site(team, login):
    task = ActivityFactory(lead=team["mine"], kind="task", subject="x", due_at=timezone.now())

    response = login(team["me"]).post(
        reverse("task_complete", args=[team["mine"].pk, task.pk]), {"next": "https://evil.example/"}
    )

    assert response["Location"] == detail_url(team["mine"])


# --- stage moves ---------------------------------------------------------------------------


def transition(client, lead, **data):
    return client.post(reverse("lead_transition", args=[lead.pk]), data)


def test_advancing_a_lead(team, login):
    response = transition(login(team["me"]), team["mine"], to_stage="mql")

    assert response.status_code == 302
    team["mine"].refresh_from_db()
    assert team["mine"].stage == "mql"
    change = StageChange.objects.get(lead=team["mine"], to_stage="mql")
    assert (change.from_stage, change.actor) == ("raw", team["me"])


def test_losing_needs_a_lost_reason(team, login):
    response = transition(login(team["me"]), team["mine"], to_stage="lost")

    assert response.status_code == 200
    assert response.context["transition_form"].errors["lost_reason"] == ["Choose why the lead was lost."]
    team["mine"].refresh_from_db()
    assert team["mine"].stage == "raw"
    assert not StageChange.objects.filter(lead=team["mine"], to_stage="lost").exists()


def test_losing_with_a_reason(team, login):
    transition(login(team["me"]), team["mine"], to_stage="lost", lost_reason="competitor", reason="Chose a rival")

    team["mine"].refresh_from_db()
    assert (team["mine"].stage, team["mine"].lost_reason) == ("lost", "competitor")
    assert StageChange.objects.get(lead=team["mine"], to_stage="lost").reason == "Chose a rival"


def test_a_move_offered_before_the_lead_moved_says_where_it_is_now(team, login):
    client = login(team["me"])
    # The page offered raw -> MQL; meanwhile a colleague won the lead.
    Lead.objects.filter(pk=team["mine"].pk).update(stage="won")

    response = transition(client, team["mine"], to_stage="mql")

    assert response.status_code == 200
    assert response.context["transition_form"].errors["to_stage"] == [
        "This lead is now at the stage \u201cCustomer\u201d: it cannot move to the stage chosen from there. "
        "Choose again from the stages below."
    ]
    assert "This lead is now at the stage" in response.text  # said on the page, even with no moves left
    team["mine"].refresh_from_db()
    assert team["mine"].stage == "won"
    assert not StageChange.objects.filter(lead=team["mine"], to_stage="mql").exists()


def test_recycling_needs_a_written_reason(team, login):
    Lead.objects.filter(pk=team["mine"].pk).update(stage="sql")

    response = transition(login(team["me"]), team["mine"], to_stage="raw")

    assert response.context["transition_form"].errors["reason"] == ["Give a reason to recycle this lead."]
    team["mine"].refresh_from_db()
    assert team["mine"].stage == "sql"


def test_a_stage_that_is_not_allowed_is_refused(team, login):
    Lead.objects.filter(pk=team["mine"].pk).update(stage="won")

    response = transition(login(team["me"]), team["mine"], to_stage="mql")

    assert "to_stage" in response.context["transition_form"].errors
    team["mine"].refresh_from_db()
    assert team["mine"].stage == "won"


def test_cannot_move_another_reps_lead(team, login):
    response = transition(login(team["me"]), team["theirs"], to_stage="mql")

    assert response.status_code == 404
    team["theirs"].refresh_from_db()
    assert team["theirs"].stage == "raw"


# --- owner ---------------------------------------------------------------------------------


def test_rep_claims_a_pool_lead(team, login):
    response = login(team["me"]).post(reverse("lead_assign", args=[team["pool"].pk]), {"owner": "me"})

    assert response.status_code == 302
    team["pool"].refresh_from_db()
    assert team["pool"].owner == team["me"]


def test_rep_cannot_give_a_lead_to_another_rep(team, login):
    client = login(team["me"])

    response = client.post(
        reverse("lead_assign", args=[team["mine"].pk]), {"owner": str(team["other"].pk)}, follow=True
    )

    assert "You can only assign leads to yourself." in response.content.decode()
    team["mine"].refresh_from_db()
    assert team["mine"].owner == team["me"]


def test_manager_assigns_to_a_rep(team, login):
    login(team["manager"]).post(reverse("lead_assign", args=[team["pool"].pk]), {"owner": str(team["other"].pk)})

    team["pool"].refresh_from_db()
    assert team["pool"].owner == team["other"]


def test_rep_sees_claim_button_for_pool_leads_and_manager_sees_assign_select(team, login, client):
    rep_body = login(team["me"]).get(detail_url(team["pool"])).content.decode()
    assert "Claim" in rep_body and 'id="assign-owner"' not in rep_body

    manager_body = login(team["manager"]).get(detail_url(team["pool"])).content.decode()
    assert 'id="assign-owner"' in manager_body


def test_completing_a_task_over_htmx_returns_the_updated_timeline_item(team, login):
    task = ActivityFactory(lead=team["mine"], kind="task", subject="Send deck", due_at=timezone.now(), actor=team["me"])

    response = login(team["me"]).post(
        reverse("task_complete", args=[team["mine"].pk, task.pk]), headers={"HX-Request": "true"}
    )

    body = response.content.decode()
    assert body.strip().startswith(f'<li class="timeline-item kind-task is-done" id="activity-{task.pk}">')
    assert "Mark done" not in body
    task.refresh_from_db()
    assert task.done


def test_a_long_note_is_shown_shortened_with_the_whole_text_one_click_away(db, client):
    from tests.factories import manager

    user = manager()
    lead = LeadFactory()
    ActivityFactory(lead=lead, kind=Activity.Kind.CALL, body="word " * 400 + "THE-END")
    client.force_login(user)

    body = client.get(reverse("lead_detail", args=[lead.pk])).content.decode()

    assert "Show the whole note" in body
    assert body.count("THE-END") == 1  # only inside the collapsed full text


def test_a_note_on_a_lead_given_to_another_rep_meanwhile_is_not_lost_in_a_bare_404(team, login):
    client = login(team["me"])
    Lead.objects.filter(pk=team["mine"].pk).update(owner=team["other"])  # the manager reassigns it

    response = client.post(
        reverse("lead_activity_create", args=[team["mine"].pk]), {"kind": "call", "body": "Talked budgets"}
    )

    # Still "not found" (a lead out of reach is not told to exist), but the page says why that
    # may be and keeps what the rep typed.
    html = response.content.decode()
    assert response.status_code == 404
    assert "it may have gone to another rep while the page was open" in html
    assert ">Talked budgets</textarea>" in html
    assert not Activity.objects.exists()
    # From the page's htmx form, the browser is sent to the list, which says the same.
    partial = client.post(
        reverse("lead_activity_create", args=[team["mine"].pk]),
        {"kind": "note", "body": "Sent the deck"},
        HTTP_HX_REQUEST="true",
    )
    assert (partial.status_code, partial["HX-Redirect"]) == (404, reverse("lead_list"))
    assert "What you wrote: “Sent the deck”" in client.get(reverse("lead_list")).content.decode()


def test_an_action_on_a_lead_that_never_existed_answers_the_same(team, login):
    response = login(team["me"]).post(reverse("lead_transition", args=[999999]), {"to_stage": "mql"})

    assert response.status_code == 404
    assert "it may have gone to another rep while the page was open" in response.content.decode()


def test_who_took_or_handed_off_a_lead_shows_on_its_timeline(team, login):
    client = login(team["me"])
    client.post(reverse("lead_assign", args=[team["pool"].pk]), {"owner": "me"})  # claim
    login(team["manager"]).post(reverse("lead_assign", args=[team["pool"].pk]), {"owner": team["other"].pk})

    page = login(team["manager"]).get(reverse("lead_detail", args=[team["pool"].pk])).content.decode()

    assert "Claimed" in page
    assert f"Assigned to {team['other'].get_full_name() or team['other'].username}" in page
    assert f"was {team['me'].get_full_name() or team['me'].username}'s" in page


def test_the_filtered_list_s_htmx_part_is_never_what_back_shows(team, login):
    client = login(team["me"])

    part = client.get(reverse("lead_list") + "?q=Mine", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="lead-results")
    page = client.get(reverse("lead_list") + "?q=Mine")

    # The same address answers a part to htmx and the whole page otherwise: caches must tell
    # them apart, and the part is not kept at all.
    for response in (part, page):
        assert {"HX-Request", "HX-Target"} <= {v.strip() for v in response["Vary"].split(",")}
    assert part["Cache-Control"] == "no-store"
    assert "<html" in page.content.decode() and "<html" not in part.content.decode()


def test_a_do_not_call_lead_offers_no_dial_link_and_warns_before_logging_a_call(team, login):
    Lead.objects.filter(pk=team["mine"].pk).update(phone="+1 555 010 2000", do_not_call=True)

    page = login(team["me"]).get(reverse("lead_detail", args=[team["mine"].pk])).content.decode()

    assert 'href="tel:' not in page
    assert "Do not call: this person asked not to be phoned." in page
