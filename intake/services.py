"""Writes of the intake app: capture-form submissions, data requests (export, erase) and merges.

Capture forms log a ``form_submission`` event through ``scoring.services.event_log``, which
re-scores the lead in the same transaction. The domain apps below never import intake.
"""

import datetime
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import transaction
from django.utils import timezone

from core.errors import DuplicateLeadError
from intake import capture
from intake.models import CaptureForm, FormSubmission
from leads import services as lead_services
from leads.attributes import AttributeSpec, clean_attributes
from leads.models import CustomFieldDefinition, Lead, LeadSource

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
    specs, problems = capture.parse_field_specs(form.fields, attribute_types())
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
    """The demo form ``contact`` (e-mail, names, company, marketing consent); idempotent. For seed_demo."""
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
            except ValidationError:
                errors[spec.key] = "Enter a valid e-mail address."
                continue
        if spec.key == "company_size":
            if not text.isdigit():
                errors[spec.key] = "Enter a whole number."
                continue
            fields[spec.key] = int(text)
            continue
        if spec.is_attribute:
            raw_attributes[spec.attribute_key] = text
        else:
            fields[spec.key] = text
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


@dataclass
class CaptureResult:
    lead: Lead
    created: bool
    submission: FormSubmission


def capture_form_submit(
    *,
    form: CaptureForm,
    values: dict[str, Any],
    tracking: dict[str, str] | None = None,
    now: datetime.datetime | None = None,
) -> CaptureResult:
    """Create or update the lead a form submission names, then log a ``form_submission`` event.

    A new e-mail creates a lead crediting the form's source and campaign, with the
    tracking as its first- and last-touch attribution. A known e-mail updates the fields
    the person filled in (blank ones never erase), keeps the first touch, replaces the
    last touch; an unticked consent box never withdraws consent given before.
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
                        now=now,
                        **fields,
                    )
            except DuplicateLeadError as exc:
                # Someone created the same e-mail a moment ago: update that lead instead.
                lead = Lead.objects.select_for_update().get(pk=exc.lead_id)
                created = False
        if not created:
            changed = {key: value for key, value in fields.items() if getattr(lead, key) != value}
            if changed or attributes:
                lead_services.lead_update(lead=lead, attributes=attributes or None, **changed)
            if tracking:
                update: dict[str, Any] = {"last_touch_utm": tracking, "updated_at": now}
                if not lead.first_touch_utm:
                    update["first_touch_utm"] = tracking
                Lead.objects.filter(pk=lead.pk).update(**update)
        submission = FormSubmission.objects.create(
            form=form, lead=lead, submitted_at=now, created_lead=created, tracking=tracking
        )
        properties = {"form": form.slug, **{k: v for k, v in tracking.items() if k.startswith("utm_")}}
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
