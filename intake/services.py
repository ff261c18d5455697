"""Writes of the intake app: capture-form submissions, data requests (export, erase) and merges.

Capture forms log a ``form_submission`` event through ``scoring.services.event_log``, which
re-scores the lead in the same transaction. The domain apps below never import intake.
"""

import datetime
import hashlib
import json
from dataclasses import dataclass
from importlib import import_module
from typing import Any, cast

from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import IntegrityError, models, transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from core.errors import DuplicateLeadError
from core.text import is_whole_number
from intake import capture
from intake.models import CaptureForm, FormSubmission, ImportReject, MergeRecord, WebhookDelivery
from leads import lifecycle, roles
from leads import services as lead_services
from leads.attributes import AttributeSpec, clean_attributes
from leads.models import (
    ERASED_EMAIL_DOMAIN,
    Activity,
    CustomFieldDefinition,
    Lead,
    LeadSource,
    OwnerChange,
    Stage,
    StageChange,
    erased_address,
    is_reserved_email,
)
from leads.services import activity_log

User = AbstractBaseUser | AnonymousUser

_email_validator = EmailValidator(message="Enter a valid e-mail address.")

DEMO_CONTACT_FIELDS = [
    {"key": "email", "label": "Work e-mail", "required": True},
    {"key": "first_name", "label": "First name", "required": False},
    {"key": "last_name", "label": "Last name", "required": False},
    {"key": "company", "label": "Company", "required": False},
    {"key": "email_opt_in", "label": "Keep me informed", "required": False},
]


def _log_event(**kwargs: Any) -> Any:
    from scoring.services import event_log

    return event_log(**kwargs)


def attribute_types() -> dict[str, tuple[str, tuple[str, ...]]]:
    return {d.key: (d.field_type, tuple(d.choices or ())) for d in CustomFieldDefinition.objects.all()}


def capture_form_specs(*, form: CaptureForm) -> list[capture.FieldSpec]:
    """The fields a live form shows: a custom field deleted since the form was saved is left out
    (the admin shows the form's row for it as no longer known)."""
    specs, problems = capture.parse_field_specs(form.fields, attribute_types(), skip_deleted_attributes=True)
    if problems:
        raise ValidationError({"fields": problems})
    return specs


def capture_form_save(*, form: CaptureForm) -> CaptureForm:
    """Validate a form definition (its fields must be known lead fields or custom attributes) and save it."""
    _, problems = capture.parse_field_specs(form.fields, attribute_types())
    if problems:
        raise ValidationError({"fields": problems})
    if form.redirect_url and not form.redirect_url.startswith(("https://", "http://")):
        raise ValidationError({"redirect_url": "Use an http(s) address."})
    form.full_clean()
    with transaction.atomic():
        form.save()
    return form


def capture_form_ensure_demo() -> CaptureForm:
    """The demo form ``contact`` (e-mail, names, company, marketing consent; new leads go to the
    sales reps in turn); idempotent. For seed_demo."""
    source, _ = LeadSource.objects.get_or_create(name="Website", defaults={"description": "Forms on our website"})
    form = CaptureForm.objects.filter(slug="contact").first()
    if form is not None:
        return form
    return capture_form_save(
        form=CaptureForm(
            slug="contact",
            name="Contact us",
            title="Talk to us",
            intro="Tell us who you are and we will get back to you within one business day.",
            fields=DEMO_CONTACT_FIELDS,
            consent_text="Yes, send me news and offers by e-mail. I can unsubscribe at any time.",
            source=source,
            assignment=CaptureForm.Assignment.ROUND_ROBIN,
        )
    )


def _clean_submission(specs: list[capture.FieldSpec], values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check submitted values against the form; return ``(lead_fields, attributes)`` or raise field errors."""
    errors: dict[str, str] = {}
    fields: dict[str, Any] = {}
    raw_attributes: dict[str, Any] = {}
    for spec in specs:
        value = values.get(spec.html_name, values.get(spec.key))
        if value is not None and not isinstance(value, str | int | float | bool):
            errors[spec.key] = "Must be a single value."
            continue
        if spec.input_type == "checkbox":
            checked = value is not None and capture.is_truthy(value)
            if spec.required and not checked:
                errors[spec.key] = "Please tick this box."
            elif spec.is_attribute:
                # An unticked box sends nothing: like a blank answer it changes nothing. A "no"
                # that is sent (false in JSON, "no") is an answer.
                if value is not None and (checked or str(value).strip() != ""):
                    raw_attributes[spec.attribute_key] = checked
            elif checked:
                fields[spec.key] = True
            continue
        text = "" if value is None else str(value).strip()
        if len(text) > capture.MAX_VALUE_LENGTH:
            errors[spec.key] = f"Use at most {capture.MAX_VALUE_LENGTH} characters."
            continue
        if not text:
            if spec.required:
                errors[spec.key] = "This field is required."
            continue
        if spec.key == "email":
            try:
                _email_validator(text)
                valid = not is_reserved_email(text)  # a made-up address of an erased lead: not a visitor's
            except ValidationError:
                valid = False
            if not valid:
                errors[spec.key] = "Enter a valid e-mail address."
                continue
        if spec.key == "company_size":
            if not is_whole_number(text):
                errors[spec.key] = "Enter a whole number."
                continue
            fields[spec.key] = int(text)
            continue
        if spec.is_attribute:
            raw_attributes[spec.attribute_key] = text
        else:
            # The lead column's own checks (length, time zone...) now, with the other fields' errors.
            try:
                column = cast(models.Field, Lead._meta.get_field(spec.key))
                fields[spec.key] = column.clean(text, None)
            except ValidationError as exc:
                errors[spec.key] = " ".join(exc.messages)
    definitions = CustomFieldDefinition.objects.filter(key__in=list(raw_attributes)) if raw_attributes else []
    attributes, attribute_errors = clean_attributes(
        raw_attributes,
        [
            AttributeSpec(key=d.key, label=d.label, field_type=d.field_type, choices=tuple(d.choices or ()))
            for d in definitions
        ],
    )
    for key, message in attribute_errors.items():
        errors[f"{capture.ATTRIBUTE_PREFIX}{key}"] = message
    if errors:
        raise ValidationError(errors)
    return fields, attributes


def _record_form_assignment(form: CaptureForm, lead: Lead, now: datetime.datetime) -> None:
    """The lead's timeline says who got it from the form, and how."""
    how = ", taking turns among the sales reps" if form.assignment == CaptureForm.Assignment.ROUND_ROBIN else ""
    OwnerChange.objects.create(
        lead=lead, from_owner=None, to_owner=lead.owner, actor=None, changed_at=now, via=f"the form “{form.name}”{how}"
    )


def _form_owner(form: CaptureForm) -> Any:
    """Who gets the lead this form brings in (``None``: the pool), as the form says. Round robin
    takes the active sales reps in id order, after the one who got the last lead; the form row
    is locked so that two submissions at once do not pick the same rep."""
    if form.assignment == CaptureForm.Assignment.OWNER:
        owner = form.owner
        return owner if owner is not None and owner.is_active else None
    if form.assignment != CaptureForm.Assignment.ROUND_ROBIN:
        return None
    last = CaptureForm.objects.select_for_update().values_list("last_assigned_id", flat=True).get(pk=form.pk)
    reps = get_user_model().objects.filter(is_active=True, groups__name=roles.REP).distinct().order_by("id")
    chosen = reps.filter(id__gt=last or 0).first() or reps.first()
    if chosen is not None:
        CaptureForm.objects.filter(pk=form.pk).update(last_assigned=chosen)
    return chosen


@dataclass
class CaptureResult:
    lead: Lead
    created: bool
    submission: FormSubmission


def capture_form_check(*, form: CaptureForm, values: dict[str, Any]) -> None:
    """Check a submission's fields as ``capture_form_submit`` does, writing nothing: raises its
    ``ValidationError`` (a form refused for another reason still says what is wrong in its fields)."""
    _clean_submission(capture_form_specs(form=form), values)


def capture_form_submit(
    *,
    form: CaptureForm,
    values: dict[str, Any],
    tracking: dict[str, str] | None = None,
    now: datetime.datetime | None = None,
) -> CaptureResult:
    """Create or update the lead a form submission names, then log a ``form_submission`` event.

    A new e-mail creates a lead crediting the form's source and campaign, with the
    tracking as its first- and last-touch attribution, owned as the form's assignment says.
    A known e-mail updates the fields the person filled in (blank ones never erase), keeps
    the first touch, replaces the last touch, keeps its owner (a lead in the pool is
    assigned as a new one would be); an unticked consent box never withdraws consent given before.
    Raises ``ValidationError`` with errors by field key, and then writes nothing.
    """
    now = now or timezone.now()
    if not form.is_active:
        raise ValidationError({"__all__": "This form is closed."})
    specs = capture_form_specs(form=form)
    fields, attributes = _clean_submission(specs, values)
    tracking = {
        key: str(value)[:500] for key, value in (tracking or {}).items() if key in lead_services.UTM_KEYS and value
    }
    email = lead_services.normalize_email(fields.pop("email"))
    with transaction.atomic():
        lead = Lead.objects.select_for_update().filter(email__iexact=email).first()
        created = lead is None
        if lead is None:
            try:
                with transaction.atomic():
                    lead = lead_services.lead_create(
                        email=email,
                        attributes=attributes,
                        utm=tracking,
                        source=form.source,
                        campaign=form.campaign,
                        owner=_form_owner(form),
                        now=now,
                        **fields,
                    )
            except DuplicateLeadError as exc:
                # Someone created the same e-mail a moment ago: update that lead instead.
                lead = Lead.objects.select_for_update().get(pk=exc.lead_id)
                created = False
            else:
                if lead.owner_id is not None:
                    _record_form_assignment(form, lead, now)
        if not created:
            changed = {key: value for key, value in fields.items() if getattr(lead, key) != value}
            if changed or attributes:
                lead_services.lead_update(lead=lead, attributes=attributes or None, **changed)
            update: dict[str, Any] = {}
            if tracking:
                update = {"last_touch_utm": tracking, "updated_at": now}
                if not lead.first_touch_utm:
                    update["first_touch_utm"] = tracking
            if lead.owner_id is None:
                owner = _form_owner(form)
                if owner is not None:
                    update.update(owner=owner, updated_at=now)
                    lead.owner = owner
                    _record_form_assignment(form, lead, now)
            if update:
                Lead.objects.filter(pk=lead.pk).update(**update)
        # The words next to the ticked consent box, as the form showed them (its consent text, else the label).
        box_label = next((spec.label for spec in specs if spec.key == "email_opt_in"), "")
        submission = FormSubmission.objects.create(
            form=form,
            lead=lead,
            submitted_at=now,
            created_lead=created,
            tracking=tracking,
            consent_text=(form.consent_text or box_label) if fields.get("email_opt_in") is True else "",
        )
        properties = {
            "form": form.slug,
            "form_name": form.name,  # for the timeline: which of several forms it was
            **{k: v for k, v in tracking.items() if k.startswith("utm_")},
        }
        result = _log_event(
            event_type="form_submission",
            lead=lead,
            occurred_at=now,
            properties=properties,
            source="form",
            idempotency_key=f"form-submission-{submission.pk}",
            now=now,
        )
    return CaptureResult(lead=result.lead, created=created, submission=submission)


# --- data requests ---------------------------------------------------------------------------

# Lead columns that hold personal data; erasure blanks them. Stage, temperature, score, source,
# campaign, owner and dates stay, so reports keep counting the lead anonymously.
PERSONAL_FIELDS: dict[str, Any] = {
    "first_name": "", "last_name": "", "phone": "", "title": "", "company": "", "website": "", "city": "",
    "timezone": "", "budget": "", "authority": "", "need": "", "timeline": "", "attributes": {},
    "first_touch_utm": {}, "last_touch_utm": {}, "annual_revenue": None, "company_size": None,
}  # fmt: skip
# Text that other apps may keep about a lead (rendered messages, addresses); blanked where present.
PERSONAL_TEXT_FIELDS = (
    "subject", "body", "body_html", "body_text", "rendered_subject", "rendered_body", "to_address", "recipient",
    "email", "headers", "properties", "error", "last_error", "response_body",
)  # fmt: skip


def _lead_linked_models() -> list[tuple[type[models.Model], str]]:
    """Every (model, lookup-to-lead) outside leads and intake that points at a lead, directly or one hop away."""
    direct: list[tuple[type[models.Model], str]] = []
    for model in apps.get_models():
        if model._meta.app_label in ("leads", "intake", "auth", "contenttypes", "admin", "sessions"):
            continue
        for f in model._meta.concrete_fields:
            if f.is_relation and f.related_model is Lead:
                direct.append((model, f.name))
    hops: list[tuple[type[models.Model], str]] = []
    linked = {model for model, _ in direct}
    for model in apps.get_models():
        for f in model._meta.concrete_fields:
            if f.is_relation and f.related_model in linked and model not in linked:
                lead_path = next(path for m, path in direct if m is f.related_model)
                hops.append((model, f"{f.name}__{lead_path}"))
    return direct + hops


def _cancel_pending_touches(lead: Lead, now: datetime.datetime) -> int:
    """Stop future nurture touches: the nurturing service when it offers one, else pending rows -> cancelled."""
    if apps.is_installed("nurturing"):
        try:
            nurture_services = import_module("nurturing.services")
        except ImportError:
            nurture_services = None
        cancel = getattr(nurture_services, "lead_touches_cancel", None)
        if cancel is not None:
            return int(cancel(lead=lead, reason="Personal data erased on request", now=now))
    cancelled = 0
    for model, path in _lead_linked_models():
        names = {f.name for f in model._meta.concrete_fields}
        if "state" in names:
            cancelled += model._default_manager.filter(**{path: lead, "state": "pending"}).update(state="cancelled")
    return cancelled


@dataclass
class ErasureResult:
    lead_id: int
    touches_cancelled: int


def lead_erase(*, lead: Lead, actor: User | None = None, now: datetime.datetime | None = None) -> ErasureResult:
    """Erase a lead's personal data on request, keeping an anonymous row for reports.

    In one transaction: pending nurture touches are cancelled; the lead keeps its stage,
    temperature, score, source, campaign, owner and dates but loses its name, address,
    attributes and attribution, and its e-mail becomes ``erased-<id>@erased.invalid``;
    activity texts, stage-change reasons, event properties, form tracking, merge snapshots,
    webhook payloads and CSV rejects that mention the address are blanked or removed. The
    lead is marked unsubscribed and do-not-call so nothing reaches it again.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = Lead.objects.select_for_update().get(pk=lead.pk)
        old_email = locked.email
        cancelled = _cancel_pending_touches(locked, now)
        Lead.objects.filter(pk=locked.pk).update(
            email=erased_address(locked.pk),
            email_opt_in=False,
            consent_at=None,
            unsubscribed=True,
            unsubscribed_at=locked.unsubscribed_at or now,
            do_not_call=True,
            updated_at=now,
            **PERSONAL_FIELDS,
        )
        Activity.objects.filter(lead=locked).update(subject="", body="")
        # Nobody works an erased lead: its open tasks are closed.
        Activity.objects.filter(lead=locked, kind=Activity.Kind.TASK, done=False).update(done=True, done_at=now)
        StageChange.objects.filter(lead=locked).update(reason="")
        FormSubmission.objects.filter(lead=locked).update(tracking={})
        MergeRecord.objects.filter(survivor=locked).update(merged_snapshot={"erased": True}, chosen_fields={})
        WebhookDelivery.objects.filter(lead_id=locked.pk).update(payload={"erased": True}, response_body="")
        ImportReject.objects.filter(raw__icontains=old_email).delete()
        LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(Lead), object_id=str(locked.pk)).update(
            object_repr=f"Lead {locked.pk} (erased)", change_message=""
        )
        for model, path in _lead_linked_models():
            blank: dict[str, Any] = {}
            for f in model._meta.concrete_fields:
                if f.name in PERSONAL_TEXT_FIELDS:
                    blank[f.name] = {} if isinstance(f, models.JSONField) else ("" if not f.null else None)
            if blank:
                model._default_manager.filter(**{path: locked}).update(**blank)
        # Written here, not by activity_log, which refuses an erased lead: erasing again (to be
        # sure, or after a slip) is allowed and noted too.
        Activity.objects.create(
            lead=locked,
            kind=Activity.Kind.NOTE,
            actor=cast(Any, actor) if actor is not None and actor.is_authenticated else None,
            subject="Personal data erased on request" + (" (again)" if locked.is_erased else ""),
            body="Name, contact details, attributes and attribution were removed.",
            occurred_at=now,
        )
    lead.refresh_from_db()
    return ErasureResult(lead_id=lead.pk, touches_cancelled=cancelled)


# --- merge -----------------------------------------------------------------------------------

MERGE_FIELDS = (
    "email", "first_name", "last_name", "phone", "title", "company", "website", "company_size", "industry",
    "country", "city", "annual_revenue", "timezone", "source", "campaign", "owner", "budget", "authority", "need",
    "timeline",
)  # fmt: skip


MERGE_FLAGS = ("attributes", "unsubscribed", "do_not_call", "bounced", "email_opt_in")


def merge_fingerprint(lead: Lead) -> str:
    """A digest of what a merge takes from a lead (its fields to choose from, attributes and
    opt-outs): it changes when one of them does, not when the lead is scored."""
    relations = ("source", "campaign", "owner")
    values = [getattr(lead, f"{field}_id" if field in relations else field) for field in MERGE_FIELDS]
    values += [getattr(lead, flag) for flag in MERGE_FLAGS]
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _snapshot(lead: Lead) -> dict[str, Any]:
    data = model_to_dict(lead)
    return {key: (value.isoformat() if hasattr(value, "isoformat") else value) for key, value in data.items()} | {
        "id": lead.pk,
        "created_at": lead.created_at.isoformat(),
        "annual_revenue": str(lead.annual_revenue) if lead.annual_revenue is not None else None,
    }


def lead_merge(
    *,
    survivor: Lead,
    other: Lead,
    choices: dict[str, str] | None = None,
    actor: User | None = None,
    now: datetime.datetime | None = None,
    seen: dict[int, str] | None = None,
) -> MergeRecord:
    """Merge ``other`` into ``survivor`` and delete ``other``.

    ``seen`` maps each lead's id to its ``merge_fingerprint`` when the person chose the values:
    a lead whose merged fields changed since (edited or erased in another tab) is refused, so
    that a choice made on old values never overwrites new ones; new events and scores do not
    count. An erased lead is never merged.

    ``choices`` maps a field of ``MERGE_FIELDS`` to ``"other"`` to take the other lead's value
    (the survivor's is kept otherwise). Attributes are combined (the survivor's value wins where
    both have one). The older
    first touch and the newer last touch are kept; marketing consent goes with the e-mail
    address kept; an opt-out on either side (unsubscribed,
    do-not-call, bounced) is kept. Activities, stage history, events, score history, nurture
    enrolments, form submissions and every other row pointing at ``other`` move to the
    survivor (a row that cannot move because the survivor already has its twin, such as the
    same sequence enrolment, stays and goes with ``other``). The survivor takes the further
    stage of the two (``merge_stage_move``) and is re-scored from the combined events. A
    ``MergeRecord`` and a note on the survivor record it.
    """
    now = now or timezone.now()
    choices = choices or {}
    errors: dict[str, list[str]] = {}
    if survivor.pk == other.pk:
        errors["other"] = ["Choose two different leads."]
    unknown = sorted(set(choices) - set(MERGE_FIELDS))
    if unknown:
        errors.setdefault("choices", []).append(f"These fields cannot be chosen: {', '.join(unknown)}.")
    bad_sides = sorted(k for k, v in choices.items() if k in MERGE_FIELDS and v not in ("survivor", "other"))
    if bad_sides:
        errors.setdefault("choices", []).append(f"Choose survivor or other for: {', '.join(bad_sides)}.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        first, second = sorted([survivor.pk, other.pk])
        locked = {lead.pk: lead for lead in Lead.objects.select_for_update().filter(pk__in=[first, second])}
        if len(locked) != 2:
            raise ValidationError({"other": "One of the leads no longer exists."})
        keep, gone = locked[survivor.pk], locked[other.pk]
        for lead in (keep, gone):
            if lead.is_erased:
                raise ValidationError({"__all__": f"Lead #{lead.pk} was erased on request; it cannot be merged."})
        changed = [pk for pk, mark in (seen or {}).items() if pk in locked and merge_fingerprint(locked[pk]) != mark]
        if changed:
            named = " and ".join(f"#{pk}" for pk in sorted(changed))
            raise ValidationError(
                {"__all__": f"Lead {named} changed since this page was opened. Check the values below and merge again."}
            )
        snapshot = _snapshot(gone)
        chosen = {field: choices.get(field, "survivor") for field in MERGE_FIELDS}
        taken = [field for field, side in chosen.items() if side == "other"]
        new_email = gone.email if "email" in taken else None
        if new_email:
            # Free the address first: the e-mail is unique.
            Lead.objects.filter(pk=gone.pk).update(email=f"merged-{gone.pk}@{ERASED_EMAIL_DOMAIN}")
        for field in taken:
            setattr(keep, field, getattr(gone, field))
        if "email" in taken:
            # Consent to marketing e-mail was given for an address: it goes with the address.
            keep.email_opt_in, keep.consent_at = gone.email_opt_in, gone.consent_at
        keep.attributes = {**gone.attributes, **keep.attributes}
        older, newer = sorted([keep, gone], key=lambda lead: lead.created_at)
        keep.first_touch_utm = older.first_touch_utm or newer.first_touch_utm
        keep.last_touch_utm = newer.last_touch_utm or older.last_touch_utm
        keep.unsubscribed = keep.unsubscribed or gone.unsubscribed
        keep.unsubscribed_at = keep.unsubscribed_at or gone.unsubscribed_at
        keep.do_not_call = keep.do_not_call or gone.do_not_call
        keep.bounced = keep.bounced or gone.bounced
        if keep.unsubscribed:
            keep.email_opt_in = False
        keep.first_touched_at = min(
            (t for t in (keep.first_touched_at, gone.first_touched_at) if t is not None), default=None
        )
        keep.last_engaged_at = max(
            (t for t in (keep.last_engaged_at, gone.last_engaged_at) if t is not None), default=None
        )
        stage_move = merge_stage_move(keep, gone)
        if stage_move is not None:
            keep.stage, keep.stage_entered_at = stage_move.to_stage, now
            if stage_move.to_stage != Stage.LOST:
                keep.lost_reason = ""
        keep.save()
        if stage_move is not None:
            stage_move.lead, stage_move.changed_at = keep, now
            stage_move.actor = actor if actor is not None and actor.is_authenticated else None  # type: ignore[assignment]
            stage_move.save()
        # The merged lead's own "created" entry moves too; it says whose it was, or the survivor's
        # history would read as if the lead had been created twice.
        StageChange.objects.filter(lead=gone, from_stage="").update(
            reason=f"Created as lead #{gone.pk} ({gone.email}), merged into this one"[:500]
        )
        moved = {
            "activities": Activity.objects.filter(lead=gone).update(lead=keep),
            "stage_changes": StageChange.objects.filter(lead=gone).update(lead=keep),
            "owner_changes": OwnerChange.objects.filter(lead=gone).update(lead=keep),
            "form_submissions": FormSubmission.objects.filter(lead=gone).update(lead=keep),
            # Leads merged into the merged lead before: their records now name the survivor.
            "earlier_merges": MergeRecord.objects.filter(survivor=gone).update(survivor=keep),
        }
        for model, path in _lead_linked_models():
            if "__" in path:
                continue  # rows one hop away move with the row they belong to
            link = model._meta.get_field(path)
            label = f"{model._meta.app_label}.{model._meta.model_name}"
            if link.one_to_one:
                continue  # per-lead state (e.g. scoring state) is rebuilt by the re-score below
            rows = model._default_manager.filter(**{path: gone})
            try:
                with transaction.atomic():
                    moved[label] = rows.update(**{path: keep})
            except IntegrityError:
                count = 0
                for pk in rows.values_list("pk", flat=True):
                    try:
                        with transaction.atomic():
                            count += model._default_manager.filter(pk=pk).update(**{path: keep})
                    except IntegrityError:
                        continue
                moved[label] = count
        if keep.owner_id is not None:
            # Open tasks are the lead owner's to do: the merged lead's go to the survivor's owner.
            Activity.objects.filter(lead=keep, kind=Activity.Kind.TASK, done=False).exclude(
                assignee_id=keep.owner_id
            ).update(assignee_id=keep.owner_id)
        gone_id = gone.pk
        gone.delete()
        record = MergeRecord.objects.create(
            survivor=keep,
            merged_lead_id=gone_id,
            merged_snapshot=snapshot,
            chosen_fields=chosen,
            moved=moved,
            merged_at=now,
            actor=actor if actor is not None and actor.is_authenticated else None,  # type: ignore[misc]
        )
        activity_log(
            lead=keep,
            kind=Activity.Kind.NOTE,
            actor=actor,
            subject=f"Merged lead #{gone_id} into this one",
            body=f"Merged {snapshot.get('email')} ({_count(sum(moved.values()), 'record')} moved).",
            now=now,
        )
        _rescore(keep, now)
    survivor.refresh_from_db()
    return record


def merge_stage_move(keep: Lead, gone: Lead) -> StageChange | None:
    """The survivor's move to the merged lead's stage when that one is further on (a customer or
    a sales-qualified lead is not set back by a merge), or None; a lost lead reopens at a
    qualified or won duplicate's stage (not at raw), an open lead never takes "lost"."""
    if gone.stage in (Stage.LOST, Stage.RAW) or gone.stage == keep.stage:
        return None  # a raw duplicate does not reopen a lost lead either
    further = keep.stage == Stage.LOST or lifecycle.RANK[gone.stage] > lifecycle.RANK[keep.stage]
    if not further:
        return None
    return StageChange(
        from_stage=keep.stage,
        to_stage=gone.stage,
        transition=lifecycle.REOPEN if keep.stage == Stage.LOST else lifecycle.ADVANCE,
        reason=f"Took the stage of lead #{gone.pk}, merged into this one ({gone.get_stage_display()})",
    )


def _rescore(lead: Lead, now: datetime.datetime) -> None:
    from scoring.services import lead_rescore

    lead_rescore(lead=lead, now=now)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
