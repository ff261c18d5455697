"""Reads of the intake app, with the same visibility rules as the lead pages."""

import datetime
import functools
import operator
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import F, Q, QuerySet
from django.forms.models import model_to_dict
from django.http import Http404
from django.utils import timezone
from django.utils.duration import duration_iso_string
from django.utils.text import capfirst, slugify

from intake.capture import ATTRIBUTE_PREFIX, FORM_LEAD_FIELDS
from intake.export import safe_cell
from intake.models import CsvImport, FormSubmission, MergeRecord
from leads.models import CustomFieldDefinition, Lead
from leads.selectors import SORTS, LeadFilters, lead_filter, lead_visible_to, sees_all_leads

User = AbstractBaseUser | AnonymousUser

EXPORT_COLUMNS = [
    ("id", "id"), ("email", "email"), ("first_name", "first_name"), ("last_name", "last_name"),
    ("company", "company"), ("title", "title"), ("phone", "phone"), ("website", "website"),
    ("company_size", "company_size"), ("annual_revenue", "annual_revenue"), ("industry", "industry"),
    ("country", "country"), ("city", "city"), ("timezone", "timezone"),
    ("stage", "stage"), ("lost_reason", "lost_reason"), ("temperature", "temperature"), ("score", "score"),
    ("fit_score", "fit_score"), ("engagement_score", "engagement_score"), ("source", "source__name"),
    ("campaign", "campaign__name"), ("owner", "owner__username"), ("email_opt_in", "email_opt_in"),
    ("unsubscribed", "unsubscribed"), ("do_not_call", "do_not_call"),
    ("budget", "budget"), ("authority", "authority"), ("need", "need"), ("timeline", "timeline"),
    ("created_at", "created_at"), ("stage_entered_at", "stage_entered_at"),
    ("last_engaged_at", "last_engaged_at"), ("first_touched_at", "first_touched_at"),
]  # fmt: skip
EXPORT_UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign")


# --- imports -------------------------------------------------------------------------------


def csv_imports_for_user(*, user: User, limit: int = 20) -> list[CsvImport]:
    imports = CsvImport.objects.select_related("created_by")
    if not sees_all_leads(user):
        imports = imports.filter(created_by_id=user.pk)
    return list(imports.defer("content")[:limit])


def csv_import_mapped_like(*, user: User, headers: list[str]) -> CsvImport | None:
    """The user's latest started import (anyone's, for a user who sees every lead) of a file
    with these very columns: its mapping is the best guess for the next such file."""
    imports = CsvImport.objects.filter(headers=headers).exclude(status=CsvImport.Status.UPLOADED)
    if not sees_all_leads(user):
        imports = imports.filter(created_by_id=user.pk)
    return imports.defer("content").order_by("-created_at", "-id").first()


def csv_import_get_for_user(*, user: User, import_id: Any) -> CsvImport:
    """An import its creator (or someone who sees every lead) may look at; 404 otherwise."""
    if not user.is_authenticated or not user.has_perm("intake.import_leads"):  # type: ignore[attr-defined]
        raise Http404("No such import.")
    try:
        csv_import = CsvImport.objects.select_related("created_by").get(pk=int(import_id))
    except (CsvImport.DoesNotExist, TypeError, ValueError):
        raise Http404("No such import.") from None
    if csv_import.created_by_id != user.pk and not sees_all_leads(user):
        raise Http404("No such import.")
    return csv_import


# --- export --------------------------------------------------------------------------------


def lead_export_rows(*, user: User, filters: LeadFilters) -> Iterator[list[str]]:
    """The user's filtered leads as CSV rows (header first), in the list's order, formula cells
    neutralised; streams. Times are local ("2026-06-03 14:05:11", which spreadsheets read as a
    date and time); each custom field and the first and last touch's UTM source, medium and
    campaign get a column of their own."""
    attribute_keys = list(CustomFieldDefinition.objects.order_by("key").values_list("key", flat=True))
    utm = [(touch, key) for touch in ("first_touch", "last_touch") for key in EXPORT_UTM_KEYS]
    yield [name for name, _ in EXPORT_COLUMNS] + attribute_keys + [f"{touch}_{key}" for touch, key in utm]
    paths = [path for _, path in EXPORT_COLUMNS]
    field, _ = SORTS.get(filters.sort, SORTS["score"])
    leads = (
        lead_filter(user=user, filters=filters)
        .order_by(F(field).desc(nulls_last=True), "-id")
        .values_list(*paths, "attributes", "first_touch_utm", "last_touch_utm")
    )
    for *values, attributes, first_touch, last_touch in leads.iterator(chunk_size=2000):
        touches = {"first_touch": first_touch or {}, "last_touch": last_touch or {}}
        cells = [_cell(value) for value in values]
        cells += [_cell((attributes or {}).get(key)) for key in attribute_keys]
        cells += [_cell(touches[touch].get(key)) for touch, key in utm]
        yield [safe_cell(cell) for cell in cells]


def _cell(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


# --- duplicates ----------------------------------------------------------------------------

GMAIL_DOMAINS = {"gmail.com", "googlemail.com"}
FREE_MAIL_DOMAINS = GMAIL_DOMAINS | {
    "yahoo.com", "hotmail.com", "outlook.com", "live.com", "icloud.com", "me.com", "aol.com", "gmx.de", "gmx.net",
    "web.de", "proton.me", "protonmail.com", "mail.com", "yandex.ru",
}  # fmt: skip


def canonical_email(email: str) -> str:
    """The address a mailbox really is: lower case, no +tag; Gmail also ignores dots."""
    local, _, domain = (email or "").strip().lower().partition("@")
    local = local.split("+", 1)[0]
    if domain in GMAIL_DOMAINS:
        local = local.replace(".", "")
        domain = "gmail.com"
    return f"{local}@{domain}"


def phone_digits(phone: str) -> str:
    digits = re.sub(r"\D", "", phone or "")
    # Compare the last 9 digits so +49 30 1234567 and 030 1234567 meet; short numbers are not compared.
    return digits[-9:] if len(digits) >= 7 else ""


def company_domain(lead_email: str, website: str) -> str:
    site = re.sub(r"^https?://", "", (website or "").strip().lower()).split("/", 1)[0].removeprefix("www.")
    if site:
        return site
    domain = (lead_email or "").rpartition("@")[2].lower()
    return "" if domain in FREE_MAIL_DOMAINS else domain


@dataclass
class DuplicateGroup:
    reason: str  # "same mailbox", "same phone", "same name and company"
    key: str
    leads: list[Lead]


def lead_duplicate_groups(*, user: User, limit: int = 50) -> list[DuplicateGroup]:
    """Likely duplicates among the leads the user can see, by mailbox, phone, and name + company domain.

    Reads only the columns it compares, in one query, so it stays cheap for tens of thousands of leads.
    """
    rows = lead_visible_to(user).values_list("id", "email", "phone", "first_name", "last_name", "website")
    buckets: dict[tuple[str, str], set[int]] = defaultdict(set)
    for lead_id, email, phone, first, last, website in rows.iterator(chunk_size=5000):
        buckets[("same mailbox", canonical_email(email))].add(lead_id)
        digits = phone_digits(phone)
        if digits:
            buckets[("same phone", digits)].add(lead_id)
        name = f"{first} {last}".strip().lower()
        domain = company_domain(email, website)
        if name and domain:
            buckets[("same name and company", f"{name} @ {domain}")].add(lead_id)
    groups = [(reason, key, sorted(ids)) for (reason, key), ids in buckets.items() if len(ids) > 1]
    seen: set[tuple[int, ...]] = set()
    unique = []
    for reason, key, ids in sorted(groups, key=lambda g: (g[2][0], g[0])):
        if tuple(ids) in seen:
            continue
        seen.add(tuple(ids))
        unique.append((reason, key, ids))
        if len(unique) >= limit:
            break
    by_id = Lead.objects.select_related("owner", "source").in_bulk([i for _, _, ids in unique for i in ids])
    return [DuplicateGroup(reason, key, [by_id[i] for i in ids if i in by_id]) for reason, key, ids in unique]


def likely_duplicates(
    *,
    user: User,
    email: str = "",
    phone: str = "",
    first_name: str = "",
    last_name: str = "",
    website: str = "",
    limit: int = 5,
) -> list[tuple[Lead, str]]:
    """Leads the user can see that look like the person described, each with why: the same
    mailbox written otherwise (a +tag, Gmail's dots), the same phone, or the same name at the
    same company domain. The same address exactly is not here: creating it is refused anyway.
    A few narrow queries (the lead form asks before creating), compared as the duplicates page does."""
    visible = lead_visible_to(user).only("id", "email", "phone", "first_name", "last_name", "website", "company")
    found: dict[int, tuple[Lead, str]] = {}
    address = (email or "").strip().lower()
    mailbox = canonical_email(address) if "@" in address else ""
    if mailbox:
        local, _, domain = mailbox.partition("@")
        domains = sorted(GMAIL_DOMAINS) if domain == "gmail.com" else [domain]
        candidates = visible.filter(functools.reduce(operator.or_, (Q(email__iendswith=f"@{d}") for d in domains)))
        if domain != "gmail.com":  # a Gmail mailbox may have dots anywhere: compare them all
            candidates = candidates.filter(email__istartswith=local)
        for lead in candidates.exclude(email__iexact=address)[:500]:
            if canonical_email(lead.email) == mailbox:
                found.setdefault(lead.pk, (lead, "same mailbox"))
    digits = phone_digits(phone)
    if digits:
        for lead in visible.filter(phone__contains=digits[-4:])[:500]:
            if phone_digits(lead.phone) == digits:
                found.setdefault(lead.pk, (lead, "same phone"))
    company = company_domain(address, website)
    if first_name.strip() and last_name.strip() and company:
        named = visible.filter(first_name__iexact=first_name.strip(), last_name__iexact=last_name.strip())
        for lead in named.exclude(email__iexact=address)[:500]:
            if company_domain(lead.email, lead.website) == company:
                found.setdefault(lead.pk, (lead, "same name and company"))
    return sorted(found.values(), key=lambda pair: pair[0].pk)[:limit]


def merged_into(*, user: User, lead_id: int) -> Lead | None:
    """The lead that a lead merged away lives on in (through later merges too), when the user
    can see it: an old link to the merged lead can lead there."""
    seen: set[int] = set()
    while lead_id not in seen:
        seen.add(lead_id)
        survivor_id = (
            MergeRecord.objects.filter(merged_lead_id=lead_id)
            .order_by("-merged_at")
            .values_list("survivor_id", flat=True)
            .first()
        )
        if survivor_id is None:
            break
        survivor = lead_visible_to(user).filter(pk=survivor_id).first()
        if survivor is not None:
            return survivor
        lead_id = survivor_id
    return None


def merge_records(*, user: User, limit: int = 20) -> list[MergeRecord]:
    return list(
        MergeRecord.objects.filter(survivor__in=lead_visible_to(user)).select_related("survivor", "actor")[:limit]
    )


# --- data requests -------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime.timedelta):
        return duration_iso_string(value)  # "P36DT00H00M00S"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, dict | list | str | int | float | bool) or value is None:
        return value
    return str(value)


def _rows_of(queryset: QuerySet, exclude: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Every stored column of each row, as a person reads it: a linked record by its name (the
    event type's label, the user's username), not its id; the lead itself left out."""
    fields = [f for f in queryset.model._meta.concrete_fields if f.name not in exclude]
    linked = [f.name for f in fields if f.is_relation and f.related_model is not Lead]
    rows = []
    for obj in queryset.select_related(*linked):
        row: dict[str, Any] = {}
        for f in fields:
            if f.is_relation:
                if f.related_model is Lead:
                    continue
                related = getattr(obj, f.name)
                row[f.name] = _readable(related)
            else:
                row[f.name] = _plain(getattr(obj, f.attname))
        rows.append(row)
    return rows


def _readable(related: Any) -> Any:
    if related is None:
        return None
    if isinstance(related, AbstractBaseUser):
        return related.get_username()
    if related._meta.model_name == "engagementevent":  # listed under its own key: named by id
        return related.pk
    return str(related)


def lead_data_export(*, user: User, lead_id: Any) -> dict[str, Any]:
    """Everything stored about one lead, as JSON-ready data (a subject-access request)."""
    from django.apps import apps

    from leads.selectors import lead_get_for_user

    lead = lead_get_for_user(user=user, lead_id=lead_id)
    data: dict[str, Any] = {
        "export": {
            "about": f"Everything LeadCRM stores about lead #{lead.pk}, for a data request.",
            "generated_at": _plain(timezone.now()),
            "generated_by": user.get_username(),
        },
        "lead": {key: _plain(value) for key, value in model_to_dict(lead).items()}
        | {
            "created_at": _plain(lead.created_at),
            "updated_at": _plain(lead.updated_at),
            "owner": lead.owner.get_username() if lead.owner else None,
            "source": str(lead.source) if lead.source else None,
            "campaign": str(lead.campaign) if lead.campaign else None,
        },
        "activities": _rows_of(lead.activities.order_by("occurred_at", "id")),
        "stage_changes": _rows_of(lead.stage_changes.order_by("changed_at", "id")),
        "owner_changes": _rows_of(lead.owner_changes.order_by("changed_at", "id")),
        "form_submissions": _rows_of(FormSubmission.objects.filter(lead=lead).order_by("submitted_at")),
        # Leads merged into this one: what each held (addresses, names) before it was removed.
        "merged_leads": _rows_of(MergeRecord.objects.filter(survivor=lead).order_by("merged_at", "id")),
    }
    # Apps above leads keep their own rows about the lead; include every model with a lead link.
    for model in apps.get_models():
        if model._meta.app_label in ("leads", "intake") or model is Lead:
            continue
        lead_fields = [
            f.name for f in model._meta.concrete_fields if getattr(f, "related_model", None) is Lead and f.many_to_one
        ]
        for name in lead_fields:
            key = slugify(str(model._meta.verbose_name_plural)).replace("-", "_")  # "engagement_events"
            data.setdefault(key, []).extend(_rows_of(model._default_manager.filter(**{name: lead}).order_by("pk")))
    return data


def merge_record_of(*, user: User, lead_id: Any) -> MergeRecord | None:
    """The record of the lead ``lead_id`` merged into a lead that ``user`` may see, if it was."""
    if not isinstance(lead_id, int) and not (isinstance(lead_id, str) and lead_id.isascii() and lead_id.isdigit()):
        return None
    return (
        MergeRecord.objects.filter(merged_lead_id=int(lead_id), survivor__in=lead_visible_to(user))
        .select_related("survivor", "actor")
        .first()
    )


def capture_field_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """What a capture form's field may ask for, grouped: the lead's own fields, then the custom
    fields (as ``attributes.<key>``), each with the name a marketer knows it by."""
    named = {"email": "E-mail address"}  # the model's field is plain "email"
    lead_fields = [
        (key, named.get(key) or str(capfirst(getattr(Lead._meta.get_field(key), "verbose_name", key))))
        for key in FORM_LEAD_FIELDS
    ]
    custom = [
        (f"{ATTRIBUTE_PREFIX}{key}", label)
        for key, label in CustomFieldDefinition.objects.order_by("label").values_list("key", "label")
    ]
    return [("Lead fields", lead_fields), ("Custom fields", custom)] if custom else [("Lead fields", lead_fields)]
