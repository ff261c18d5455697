import datetime
import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from intake.models import MergeRecord
from intake.selectors import canonical_email, company_domain, lead_duplicate_groups, phone_digits
from intake.services import lead_merge
from leads.models import Activity, Lead, StageChange
from leads.services import activity_log
from scoring.models import EngagementEvent
from scoring.services import event_log
from tests.factories import LeadFactory, StageChangeFactory, manager, marketer, rep

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("email", "canonical"),
    [
        ("John.Smith+crm@Gmail.com", "johnsmith@gmail.com"),
        ("j.o.h.n.smith@googlemail.com", "johnsmith@gmail.com"),
        ("john.smith+x@acme.com", "john.smith@acme.com"),
    ],
)
def test_canonical_email(email, canonical):
    assert canonical_email(email) == canonical


def test_phone_and_domain_keys():
    assert phone_digits("+49 (30) 123-4567") == phone_digits("030 1234567") == "301234567"
    assert phone_digits("112") == ""
    assert company_domain("ann@acme.com", "") == "acme.com"
    assert company_domain("ann@gmail.com", "https://www.Acme.com/about") == "acme.com"
    assert company_domain("ann@gmail.com", "") == ""


def test_duplicate_groups_by_mailbox_phone_and_name_at_company():
    a = LeadFactory(email="john.smith@gmail.com", first_name="John", last_name="Smith", phone="")
    b = LeadFactory(email="johnsmith+news@gmail.com", first_name="J", last_name="S", phone="")
    c = LeadFactory(email="ann@acme.com", first_name="Ann", last_name="Lee", phone="+1 555 010 9999")
    d = LeadFactory(email="ann.lee@acme.com", first_name="Ann", last_name="Lee", phone="")
    e = LeadFactory(email="other@beta.com", first_name="Bo", last_name="Ng", phone="1-555-010-9999")
    LeadFactory(email="alone@zeta.com", first_name="Solo", last_name="One", phone="")

    groups = lead_duplicate_groups(user=manager())

    assert [(g.reason, [lead.pk for lead in g.leads]) for g in groups] == [
        ("same mailbox", [a.pk, b.pk]),
        ("same name and company", [c.pk, d.pk]),
        ("same phone", [c.pk, e.pk]),
    ]


def test_duplicates_only_among_leads_in_reach():
    me = rep()
    LeadFactory(email="x@gmail.com", owner=me)
    LeadFactory(email="x+1@gmail.com", owner=rep())

    assert lead_duplicate_groups(user=me) == []


def test_merge_moves_everything_and_records_it():
    old_time = timezone.now() - datetime.timedelta(days=30)
    keep = LeadFactory(email="ann@acme.com", first_name="Ann", phone="", company="Acme", stage="mql")
    gone = LeadFactory(email="ann.lee@acme.com", first_name="Annie", phone="555-1234", company="ACME Inc")
    Lead.objects.filter(pk=gone.pk).update(
        created_at=old_time, first_touch_utm={"utm_source": "google"}, unsubscribed=True, attributes={"x": 1}
    )
    gone.refresh_from_db()
    activity_log(lead=gone, kind="call", body="Called Annie")
    StageChangeFactory(lead=gone, from_stage="", to_stage="raw", transition="create", reason="Lead created")
    StageChangeFactory(lead=keep, from_stage="", to_stage="raw", transition="create", reason="Lead created")
    StageChangeFactory(lead=gone, from_stage="raw", to_stage="mql")
    event_log(event_type="pricing_page_view", lead=gone)
    event_log(event_type="page_view", lead=keep)
    actor = manager()

    record = lead_merge(survivor=keep, other=gone, choices={"phone": "other", "email": "other"}, actor=actor)

    assert not Lead.objects.filter(pk=gone.pk).exists()
    keep.refresh_from_db()
    assert (keep.email, keep.first_name, keep.phone, keep.company) == ("ann.lee@acme.com", "Ann", "555-1234", "Acme")
    assert keep.first_touch_utm == {"utm_source": "google"}  # the older lead's first touch
    assert keep.unsubscribed is True  # an opt-out on either side stays
    assert keep.email_opt_in is False
    assert keep.stage == "mql"
    assert Activity.objects.filter(lead=keep, kind="call", body="Called Annie").count() == 1
    assert StageChange.objects.filter(lead=keep, to_stage="mql").count() == 1
    created = sorted(StageChange.objects.filter(lead=keep, from_stage="").values_list("reason", flat=True))
    assert created == [f"Created as lead #{gone.pk} (ann.lee@acme.com), merged into this one", "Lead created"]
    assert sorted(EngagementEvent.objects.filter(lead=keep).values_list("event_type__key", flat=True)) == [
        "page_view", "pricing_page_view",
    ]  # fmt: skip
    assert record.merged_lead_id == gone.pk
    assert record.merged_snapshot["email"] == "ann.lee@acme.com"
    assert record.chosen_fields["phone"] == "other"
    assert record.moved["activities"] == 1
    assert record.moved["scoring.engagementevent"] == 1
    assert record.actor == actor
    assert Activity.objects.filter(lead=keep, kind="note", subject=f"Merged lead #{gone.pk} into this one").exists()


def test_merge_refuses_bad_choices_and_the_same_lead():
    a, b = LeadFactory(), LeadFactory()

    with pytest.raises(ValidationError) as exc:
        lead_merge(survivor=a, other=b, choices={"score": "other", "phone": "both"})
    assert exc.value.message_dict == {
        "choices": ["These fields cannot be chosen: score.", "Choose survivor or other for: phone."]
    }
    with pytest.raises(ValidationError):
        lead_merge(survivor=a, other=a)
    assert Lead.objects.count() == 2
    assert MergeRecord.objects.count() == 0


def test_merge_pages(client):
    seller = rep()
    seller.first_name, seller.last_name = "Sam", "Ortega"
    seller.save()
    a = LeadFactory(
        email="x@gmail.com", phone="", annual_revenue=Decimal("378000000.00"), owner=seller, company_size=1300, need=""
    )
    b = LeadFactory(email="x+promo@gmail.com", phone="0301234567", need="")
    client.force_login(marketer())

    listing = client.get(reverse("lead_duplicates")).content.decode()
    assert f"?survivor={a.pk}&amp;other={b.pk}" in listing
    active = re.findall(r'class="nav-link active"[^>]*>.*?</i> (\w+)</a>', listing)
    assert active == ["Duplicates"]  # not "Leads" as well

    page = client.get(reverse("lead_merge") + f"?survivor={a.pk}&other={b.pk}")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="o_phone" value="other" checked' in html  # an empty value defaults to the filled one
    assert 'for="s_annual_revenue">378,000,000</label>' in html  # as the lead page shows it
    assert 'for="s_owner">Sam Ortega</label>' in html
    assert 'for="s_company_size">1,300</label>' in html
    # only two different values are a choice to make: shaded; an empty side takes the other
    shaded = re.findall(r'<tr class="table-warning">\s*<th scope="row">([^<]+)</th>', html)
    assert "Email" in shaded and "Phone" not in shaded
    assert 'id="s_need"' not in html and "Empty on both leads:" in html and "need" in html.split("Empty on both")[1]

    response = client.post(
        reverse("lead_merge"), {"survivor": a.pk, "other": b.pk, "choose_phone": "other", "choose_email": "survivor"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("lead_detail", args=[a.pk])
    a.refresh_from_db()
    assert (a.email, a.phone) == ("x@gmail.com", "0301234567")


def test_reps_cannot_merge(client):
    me = rep()
    a, b = LeadFactory(owner=me), LeadFactory(owner=me)
    client.force_login(me)

    response = client.post(reverse("lead_merge"), {"survivor": a.pk, "other": b.pk})

    assert response.status_code == 403
    assert Lead.objects.count() == 2


def test_an_old_link_to_a_merged_lead_leads_to_the_lead_it_was_merged_into(client):
    user = manager()
    first, second, third = (LeadFactory(email=f"m{i}@acme.example") for i in range(3))
    first_id = first.pk  # a deleted instance forgets its id
    lead_merge(survivor=second, other=first, choices={}, actor=user)
    lead_merge(survivor=third, other=second, choices={}, actor=user)  # merged on: first lives in third
    client.force_login(user)

    response = client.get(reverse("lead_detail", args=[first_id]), follow=True)

    assert response.redirect_chain == [(reverse("lead_detail", args=[third.pk]), 302)]
    assert f"Lead #{first_id} was merged into this lead." in response.content.decode()
    Lead.objects.filter(pk=third.pk).update(owner=rep(username="owner-rep"))
    client.force_login(rep(username="other-rep"))  # a rep who cannot see the survivor gets the plain 404
    assert client.get(reverse("lead_detail", args=[first_id])).status_code == 404


def _merge_form(html: str) -> dict[str, str]:
    """The merge page's form as a browser would send it: hidden fields and the checked radios."""
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
    fields.pop("csrfmiddlewaretoken", None)
    fields.update(re.findall(r'type="radio" name="(\w+)" id="\w+" value="(\w+)" checked', html))
    return fields


def test_a_merge_chosen_before_the_other_lead_was_erased_is_refused(client):
    from intake.services import lead_erase

    keep = LeadFactory(email="dana@acme.example", company="Acme Dup", do_not_call=False)
    other = LeadFactory(email="d.whitfield@acme.example", company="Elsewhere Inc")
    client.force_login(manager())
    form = _merge_form(client.get(reverse("lead_merge") + f"?survivor={keep.pk}&other={other.pk}").content.decode())
    form["choose_company"] = "other"
    lead_erase(lead=other)  # meanwhile, in another tab

    response = client.post(reverse("lead_merge"), form)

    assert response.status_code == 400
    assert f"Lead #{other.pk} was erased on request; it cannot be merged." in response.content.decode()
    keep.refresh_from_db()
    assert (keep.company, keep.do_not_call, keep.unsubscribed) == ("Acme Dup", False, False)
    assert Lead.objects.filter(pk=other.pk).exists() and not MergeRecord.objects.exists()
    # Opened afresh, the page says so and offers no merge.
    page = client.get(reverse("lead_merge") + f"?survivor={keep.pk}&other={other.pk}").content.decode()
    assert "cannot be merged" in page and 'type="submit"' not in page.split("</nav>", 1)[1].split("<footer")[0]


def test_a_merge_chosen_on_values_that_changed_since_is_shown_again(client):
    from leads.services import lead_update

    keep = LeadFactory(email="ann@acme.example", company="Acme")
    other = LeadFactory(email="ann.b@acme.example", company="Acme Ltd")
    client.force_login(manager())
    form = _merge_form(client.get(reverse("lead_merge") + f"?survivor={keep.pk}&other={other.pk}").content.decode())
    form["choose_company"] = "other"
    lead_update(lead=Lead.objects.get(pk=other.pk), company="Acme Holdings")  # someone edits it meanwhile

    stale = client.post(reverse("lead_merge"), form)

    assert stale.status_code == 400
    html = stale.content.decode()
    assert f"Lead #{other.pk} changed since this page was opened." in html
    assert 'for="o_company">Acme Holdings</label>' in html  # the page shows the new values
    assert not MergeRecord.objects.exists()
    # Sent again from the page as it is now, the merge goes through.
    again = client.post(reverse("lead_merge"), {**_merge_form(html), "choose_company": "other"})
    assert again.status_code == 302
    keep.refresh_from_db()
    assert keep.company == "Acme Holdings"


def test_merging_a_lead_with_itself_or_one_merged_already_says_so(client):
    keep, other = LeadFactory(), LeadFactory()
    client.force_login(manager())

    itself = client.get(reverse("lead_merge") + f"?survivor={keep.pk}&other={keep.pk}")
    assert itself.status_code == 400 and "Choose two different leads." in itself.content.decode()
    assert '<form method="post">' not in itself.content.decode()

    lead_merge(survivor=keep, other=other, actor=manager(username="morgan", first_name="Morgan", last_name="Hale"))
    again = client.get(reverse("lead_merge") + f"?survivor={keep.pk}&other={other.pk}")
    assert again.status_code == 404
    assert (
        f'It was merged into <a href="/leads/{keep.pk}/">lead #{keep.pk}</a> by Morgan Hale' in again.content.decode()
    )


def test_new_events_on_a_lead_do_not_hold_up_its_merge(client):
    keep, other = LeadFactory(), LeadFactory()
    client.force_login(manager())
    form = _merge_form(client.get(reverse("lead_merge") + f"?survivor={keep.pk}&other={other.pk}").content.decode())
    event_log(lead=Lead.objects.get(pk=other.pk), event_type="pricing_page_view")  # re-scored meanwhile

    assert client.post(reverse("lead_merge"), form).status_code == 302


@pytest.mark.parametrize(
    ("kept", "merged", "after"),
    [
        ("mql", "sql", "sql"),
        ("sql", "mql", "sql"),
        ("mql", "won", "won"),
        ("mql", "lost", "mql"),
        ("lost", "pql", "pql"),
        ("lost", "raw", "lost"),
    ],
)
def test_the_survivor_takes_the_further_stage_of_the_two(client, kept, merged, after):
    keep = LeadFactory(stage=kept, lost_reason="competitor" if kept == "lost" else "")
    other = LeadFactory(stage=merged, lost_reason="budget" if merged == "lost" else "")
    client.force_login(manager())

    page = client.get(reverse("lead_merge") + f"?survivor={keep.pk}&other={other.pk}").content.decode()
    lead_merge(survivor=keep, other=other)

    keep.refresh_from_db()
    assert keep.stage == after
    if after != kept:  # the page said so, and the history explains the move
        assert "moves to <strong>" in page or "reopens at <strong>" in page
        last = StageChange.objects.filter(lead=keep).latest("changed_at", "id")
        assert (last.from_stage, last.to_stage) == (kept, after)
        assert "merged into this one" in last.reason
    else:
        assert "keeps its stage" in page


def test_the_merged_lead_s_open_tasks_go_to_the_survivor_s_owner():
    sam, jordan = rep(), rep()
    keep, other = LeadFactory(owner=sam), LeadFactory(owner=jordan)
    due = timezone.now() + datetime.timedelta(hours=2)
    task = activity_log(lead=other, actor=manager(), kind="task", subject="Send the deck", due_at=due)
    assert task.assignee == jordan

    lead_merge(survivor=keep, other=other)

    task.refresh_from_db()
    assert (task.lead_id, task.assignee) == (keep.pk, sam)


def test_the_merge_page_says_what_it_decides_without_asking(client):
    from leads.models import CustomFieldDefinition

    CustomFieldDefinition.objects.create(key="plan", label="Plan", field_type="text")
    keep = LeadFactory(email="jo@acme.example", attributes={"plan": "Starter"}, email_opt_in=True)
    other = LeadFactory(
        email="jo.old@acme.example", attributes={"plan": "Pro", "seats": 12}, unsubscribed=True, do_not_call=True
    )
    client.force_login(manager())

    page = client.get(reverse("lead_merge") + f"?survivor={keep.pk}&other={other.pk}").content.decode()
    kept = re.search(r'<div id="merge-kept">(.*?)</div>', page, re.S)[1]

    assert f"Unsubscribed (on #{other.pk}): kept. An opt-out on either lead stays." in kept
    assert f"Do not call (on #{other.pk}): kept." in kept
    assert "Marketing e-mail consent: withdrawn, as the merged lead is unsubscribed." in kept
    assert f"Plan: Starter, #{keep.pk}&#x27;s (#{other.pk} has Pro)." in kept
    assert f"Seats: 12, from #{other.pk} (#{keep.pk} has none)." in kept

    # And the merge does what the page said.
    form = _merge_form(page)
    client.post(reverse("lead_merge"), form)
    keep.refresh_from_db()
    assert (keep.unsubscribed, keep.do_not_call, keep.email_opt_in) == (True, True, False)
    assert keep.attributes == {"plan": "Starter", "seats": 12}


def test_marketing_consent_goes_with_the_address_the_merge_keeps(client):
    consented = timezone.now() - datetime.timedelta(days=30)
    keep = LeadFactory(email="lena.park@gmail.com", email_opt_in=True, consent_at=consented)
    other = LeadFactory(email="lenapark@gmail.com", email_opt_in=False)
    client.force_login(manager())

    page = client.get(reverse("lead_merge") + f"?survivor={keep.pk}&other={other.pk}").content.decode()
    assert (
        "Marketing e-mail consent goes with the e-mail address kept: "
        f"given with #{keep.pk}&#x27;s, not given with #{other.pk}&#x27;s."
    ) in page

    form = _merge_form(page) | {"choose_email": "other"}
    client.post(reverse("lead_merge"), form)

    keep.refresh_from_db()
    assert (keep.email, keep.email_opt_in, keep.consent_at) == ("lenapark@gmail.com", False, None)
