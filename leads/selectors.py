"""Reads of leads with their visibility rules, for pages and the API alike.

A rep reaches their own leads and the unassigned pool; users with the
``leads.view_all_leads`` permission (managers, marketers) reach every lead.
Anything outside one's reach is reported as not found.
"""

import datetime
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, PermissionsMixin
from django.db.models import Count, F, Q, QuerySet, Value
from django.db.models.functions import Replace
from django.http import Http404
from django.utils import timezone

from core.pagination import KeysetPage, keyset_page
from core.text import is_whole_number
from leads.models import (
    Activity,
    CustomFieldDefinition,
    Lead,
    LeadQuerySet,
    OwnerChange,
    Stage,
    StageChange,
    Temperature,
    erased_address,
)

User = AbstractBaseUser | AnonymousUser

SORTS = {
    "score": ("score", True),
    "-score": ("score", True),
    "created": ("created_at", True),
    "-created": ("created_at", True),
    "engaged": ("last_engaged_at", True),
    "-engaged": ("last_engaged_at", True),
}


def sees_all_leads(user: User) -> bool:
    # A signed-in user is an instance of the user model, which has Django's permission fields.
    return bool(
        user.is_authenticated
        and isinstance(user, PermissionsMixin)
        and (user.is_superuser or user.has_perm("leads.view_all_leads"))
    )


def lead_visible_to(user: User) -> LeadQuerySet:
    """Every lead the user may see; the single place where lead visibility is decided."""
    if not user.is_authenticated:
        return Lead.objects.none()
    if sees_all_leads(user):
        return Lead.objects.all()
    return Lead.objects.filter(Q(owner_id=user.pk) | Q(owner__isnull=True))


def lead_get_for_user(*, user: User, lead_id: Any) -> Lead:
    try:
        lead_id = int(lead_id)
    except (TypeError, ValueError):
        raise Http404("No such lead.") from None
    lead = lead_visible_to(user).select_related("owner", "source", "campaign").filter(pk=lead_id).first()
    if lead is None:
        raise Http404("No such lead.")
    return lead


@dataclass
class LeadFilters:
    q: str = ""
    stage: str = ""
    temperature: str = ""
    owner: str = ""  # a user id, "me" or "none"
    source: str = ""  # a source id
    min_score: int | None = None
    sort: str = "score"


def lead_filter(*, user: User, filters: LeadFilters) -> QuerySet[Lead]:
    """The leads a user works with, filtered: erased leads are left out (reports still count them)."""
    leads = _with_phone_digits(lead_visible_to(user).not_erased())
    text = filters.q.strip()
    if text:
        leads = leads.filter(_search(text))
    if filters.stage in Stage.values:
        leads = leads.filter(stage=filters.stage)
    if filters.temperature in Temperature.values:
        leads = leads.filter(temperature=filters.temperature)
    if filters.owner == "me":
        leads = leads.filter(owner_id=user.pk)
    elif filters.owner == "none":
        leads = leads.filter(owner__isnull=True)
    elif is_whole_number(filters.owner):
        leads = leads.filter(owner_id=int(filters.owner))
    if is_whole_number(filters.source):
        leads = leads.filter(source_id=int(filters.source))
    if filters.min_score is not None:
        leads = leads.filter(score__gte=filters.min_score)
    return leads


PHONE_PUNCTUATION = " +-()."


def _search(text: str) -> Q:
    """Every word of ``text`` in the name, e-mail or company, in any order ("Weber Grace",
    "Grace Weber Clearwater"); or a phone number however it is written ("+1 555 327 3898",
    "5553273898")."""
    search = Q()
    for word in text.split()[:8]:
        search &= (
            Q(first_name__icontains=word)
            | Q(last_name__icontains=word)
            | Q(email__icontains=word)
            | Q(company__icontains=word)
        )
    digits = "".join(c for c in text if c not in PHONE_PUNCTUATION)
    if len(digits) >= 6 and digits.isascii() and digits.isdigit():
        search |= Q(phone_digits__contains=digits.lstrip("0"))
    return search


def _with_phone_digits(leads: QuerySet[Lead]) -> QuerySet[Lead]:
    phone: Any = F("phone")
    for mark in PHONE_PUNCTUATION:
        phone = Replace(phone, Value(mark), Value(""))
    return leads.alias(phone_digits=phone)


def lead_list_page(*, user: User, filters: LeadFilters, cursor: str | None, size: int = 50) -> KeysetPage:
    """One page of the user's leads, with owner and source loaded: two queries at most."""
    field, descending = SORTS.get(filters.sort, SORTS["score"])
    leads = lead_filter(user=user, filters=filters).select_related("owner", "source")
    return keyset_page(leads, field=field, descending=descending, cursor=cursor, size=size)


def lead_activities(*, lead: Lead, limit: int = 100) -> list[Activity]:
    return list(lead.activities.select_related("actor", "assignee").order_by("-occurred_at", "-id")[:limit])


def lead_owner_changes(*, lead: Lead, limit: int = 100) -> list[OwnerChange]:
    return list(
        lead.owner_changes.select_related("from_owner", "to_owner", "actor").order_by("-changed_at", "-id")[:limit]
    )


def lead_stage_changes(*, lead: Lead, limit: int = 100) -> list[StageChange]:
    return list(lead.stage_changes.select_related("actor").order_by("-changed_at", "-id")[:limit])


def tasks_for_user(*, user: User, now: datetime.datetime | None = None) -> dict[str, list[Activity]]:
    """The user's open tasks past their due time (overdue), and those still due later today."""
    now = now or timezone.now()
    end_of_day = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0) + datetime.timedelta(days=1)
    tasks = (
        Activity.objects.filter(
            kind=Activity.Kind.TASK, done=False, assignee_id=user.pk, lead__in=lead_visible_to(user).not_erased()
        )
        .select_related("lead")
        .order_by("due_at", "id")
    )
    return {
        "overdue": list(tasks.filter(due_at__lt=now)[:50]),
        "today": list(tasks.filter(due_at__gte=now, due_at__lt=end_of_day)[:50]),
    }


def leads_untouched(*, user: User, limit: int = 10) -> list[Lead]:
    """New open leads that nobody has contacted yet, oldest first (speed to lead)."""
    leads = lead_visible_to(user).not_erased().open().untouched()
    return list(leads.select_related("owner").order_by("created_at", "id")[:limit])


def leads_hottest(*, user: User, limit: int = 10, mine_only: bool = True) -> list[Lead]:
    leads = lead_visible_to(user).not_erased().open()
    if mine_only and not sees_all_leads(user):
        leads = leads.filter(owner_id=user.pk)
    return list(leads.select_related("owner").order_by("-score", "-id")[:limit])


def stage_counts(*, user: User) -> dict[str, int]:
    rows = lead_visible_to(user).values("stage").annotate(n=Count("id"))
    counts = dict.fromkeys(Stage.values, 0)
    counts.update({row["stage"]: row["n"] for row in rows})
    return counts


def custom_field_labels() -> dict[str, str]:
    """Each custom field's key and the label people know it by."""
    return dict(CustomFieldDefinition.objects.values_list("key", "label"))


def lead_is_erased(*, user: User, lead_id: int) -> bool:
    """Whether a lead within the user's reach had its personal data erased (``Lead.is_erased``);
    of a lead out of reach nothing is told."""
    return lead_visible_to(user).filter(pk=lead_id, email=erased_address(lead_id)).exists()
