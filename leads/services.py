"""Every write to leads, activities and stage history goes through these functions.

Each is atomic, validates field by field (raising ``ValidationError`` with a dict of
field errors) and writes its own history row.
"""

import datetime
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import DuplicateLeadError, LeadErased, TransitionNotAllowed
from leads import lifecycle
from leads.attributes import AttributeSpec, clean_attributes
from leads.models import (
    RESERVED_EMAIL_MESSAGE,
    Activity,
    Campaign,
    CustomFieldDefinition,
    Lead,
    LeadSource,
    LostReason,
    OwnerChange,
    Stage,
    StageChange,
    is_reserved_email,
)
from leads.selectors import sees_all_leads

if TYPE_CHECKING:
    from django.contrib.auth.models import User as UserModel

User = AbstractBaseUser | AnonymousUser

# Fields that people edit on a lead's form and through the API.
EDITABLE_FIELDS = frozenset(
    {
        "email",
        "first_name",
        "last_name",
        "phone",
        "title",
        "company",
        "website",
        "company_size",
        "industry",
        "country",
        "city",
        "annual_revenue",
        "timezone",
        "source",
        "campaign",
        "email_opt_in",
        "do_not_call",
        "budget",
        "authority",
        "need",
        "timeline",
    }
)
# Fields that only the system writes (scoring, capture, consent flows) or that have their own service.
SYSTEM_FIELDS = frozenset(
    {"temperature", "score", "fit_score", "engagement_score", "last_engaged_at", "unsubscribed", "bounced"}
)
UTM_KEYS = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "gclid",
    "fbclid",
    "referrer",
    "landing_page",
)


# Long enough for real call notes and reasons; a pasted document belongs in an attachment.
ACTIVITY_BODY_MAX = 10_000
REASON_MAX = 2_000


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def can_assign_any(user: User) -> bool:
    # A signed-in user is an instance of the user model, which has Django's permission fields.
    return bool(
        user and user.is_authenticated and isinstance(user, PermissionsMixin) and user.has_perm("leads.assign_lead")
    )


def _user_row(user: AbstractBaseUser | None) -> "UserModel | None":
    """``user`` for a user foreign key: owners and signed-in actors are instances of the user model."""
    assert user is None or isinstance(user, get_user_model())
    return user


def _attribute_specs() -> list[AttributeSpec]:
    return [
        AttributeSpec(
            key=d.key, label=d.label, field_type=d.field_type, required=d.required, choices=tuple(d.choices or ())
        )
        for d in CustomFieldDefinition.objects.all()
    ]


def _clean_lead_attributes(attributes: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    cleaned, errors = clean_attributes(attributes, _attribute_specs())
    return cleaned, list(errors.values())


def lead_attribute_errors(*, attributes: dict[str, Any], lead: Lead | None = None) -> list[str]:
    """What ``lead_create`` (or ``lead_update`` of ``lead``) would say of these custom attributes:
    one message per bad key, none when they fit. For an interface that reports every problem of
    a request at once, even when other fields already failed its own checks."""
    return _clean_lead_attributes({**lead.attributes, **attributes} if lead is not None else attributes)[1]


def _add_errors(errors: dict[str, list[str]], error: ValidationError) -> None:
    for field, messages in error.message_dict.items():
        errors.setdefault(field, []).extend(messages)


def _clean_utm(utm: dict[str, Any] | None) -> dict[str, str]:
    if not utm:
        return {}
    if not isinstance(utm, dict):
        raise ValidationError({"utm": "must be an object of UTM parameters"})
    unknown = sorted(set(utm) - set(UTM_KEYS))
    if unknown:
        raise ValidationError({"utm": f"unknown keys: {', '.join(unknown)}"})
    return {key: str(value)[:500] for key, value in utm.items() if value not in (None, "")}


def _check_email_free(email: str, *, exclude_id: int | None = None) -> None:
    clash = Lead.objects.filter(email__iexact=email)
    if exclude_id is not None:
        clash = clash.exclude(id=exclude_id)
    clash_id = clash.values_list("id", flat=True).first()
    if clash_id is not None:
        raise DuplicateLeadError("A lead with this e-mail already exists.", lead_id=clash_id)


def _refuse_erased(lead: Lead) -> None:
    if lead.is_erased:
        raise LeadErased()


def _raise_all(lead: Lead, errors: dict[str, list[str]]) -> None:
    """Add the model's own checks of ``lead`` to ``errors``, and raise them all if there are any."""
    try:
        _full_clean(lead)
    except ValidationError as exc:
        _add_errors(errors, exc)
    if errors:
        raise ValidationError(errors)


def _full_clean(lead: Lead) -> None:
    # The case-insensitive unique e-mail is checked by _check_email_free (with a link to the
    # other lead) and by the database constraint; full_clean checks the rest.
    lead.full_clean(validate_constraints=False)


def lead_create(
    *,
    email: str,
    actor: User | None = None,
    owner: AbstractBaseUser | None = None,
    attributes: dict[str, Any] | None = None,
    utm: dict[str, str] | None = None,
    stage: str = Stage.RAW,
    temperature: str | None = None,
    score: int | None = None,
    now: datetime.datetime | None = None,
    **fields: Any,
) -> Lead:
    """Create a lead in ``raw`` (or the given stage) with its first stage-history row.

    A rep who creates a lead owns it. Whoever sees every lead (a manager, a marketer, the user
    of an integration) leaves it in the unassigned pool unless they name an owner, which only
    those who may assign leads can do.
    """
    now = now or timezone.now()
    unknown = sorted(set(fields) - EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "This field cannot be set."))
    email = normalize_email(email)
    fields.pop("email", None)
    if (
        owner is None
        and actor is not None
        and actor.is_authenticated
        and not can_assign_any(actor)
        and not sees_all_leads(actor)
    ):
        owner = actor
    # Every problem is reported at once: the owner, the attributes, the UTM and the fields.
    errors: dict[str, list[str]] = {}
    if is_reserved_email(email):
        errors["email"] = [RESERVED_EMAIL_MESSAGE]
    if owner is not None and actor is not None and not can_assign_any(actor) and owner != actor:
        errors["owner"] = ["You can only assign leads to yourself."]
    cleaned_attributes, attribute_errors = _clean_lead_attributes(attributes or {})
    if attribute_errors:
        errors["attributes"] = attribute_errors
    clean_utm: dict[str, str] = {}
    try:
        clean_utm = _clean_utm(utm)
    except ValidationError as exc:
        _add_errors(errors, exc)
    lead = Lead(
        email=email,
        owner=_user_row(owner),
        attributes=cleaned_attributes,
        first_touch_utm=clean_utm,
        last_touch_utm=clean_utm,
        stage=stage,
        stage_entered_at=now,
        **fields,
    )
    if temperature is not None:
        lead.temperature = temperature
    if score is not None:
        lead.score = score
    if stage == Stage.LOST and not lead.lost_reason:
        lead.lost_reason = LostReason.OTHER
    if fields.get("email_opt_in"):
        lead.consent_at = now
    _raise_all(lead, errors)
    _check_email_free(email)
    try:
        with transaction.atomic():
            lead.save()
            StageChange.objects.create(
                lead=lead,
                from_stage="",
                to_stage=stage,
                changed_at=now,
                actor=_user_row(actor if actor is not None and actor.is_authenticated else None),
                transition="create",
                reason="Lead created",
            )
    except IntegrityError:
        # Lost a race with another writer of the same e-mail.
        _check_email_free(email)
        raise
    return lead


def lead_update(
    *, lead: Lead, actor: User | None = None, attributes: dict[str, Any] | None = None, **fields: Any
) -> Lead:
    """Change a lead's editable fields; stage, owner and score have their own services."""
    _refuse_erased(lead)
    not_editable = sorted(set(fields) - EDITABLE_FIELDS)
    if not_editable:
        raise ValidationError(dict.fromkeys(not_editable, "This field cannot be changed here."))
    if "email" in fields:
        fields["email"] = normalize_email(fields["email"])
    # Every problem is reported at once: the attributes and the fields.
    errors: dict[str, list[str]] = {}
    if "email" in fields and is_reserved_email(fields["email"]):
        errors["email"] = [RESERVED_EMAIL_MESSAGE]
    original = {key: getattr(lead, key) for key in (*fields, "attributes", "consent_at")}
    if "email_opt_in" in fields and fields["email_opt_in"] and not lead.email_opt_in:
        lead.consent_at = timezone.now()
    if attributes is not None:
        cleaned, attribute_errors = _clean_lead_attributes({**lead.attributes, **attributes})
        if attribute_errors:
            errors["attributes"] = attribute_errors
        else:
            lead.attributes = cleaned
    for key, value in fields.items():
        setattr(lead, key, value)
    try:
        _raise_all(lead, errors)
        if "email" in fields:
            _check_email_free(lead.email, exclude_id=lead.id)
    except ValidationError:
        for key, value in original.items():
            setattr(lead, key, value)
        raise
    with transaction.atomic():
        lead.save()
    return lead


def lead_assign(*, lead: Lead, owner: AbstractBaseUser | None, actor: User) -> Lead:
    """Give the lead to ``owner`` (or back to the pool). Reps may only claim or release."""
    _refuse_erased(lead)
    if not can_assign_any(actor):
        if owner is not None and owner != actor:
            raise ValidationError({"owner": "You can only assign leads to yourself."})
        if owner is None and lead.owner_id != actor.pk:
            raise ValidationError({"owner": "You can only release your own leads."})
    if owner is not None and not owner.is_active:
        raise ValidationError({"owner": "This user is not active."})
    previous_owner_id = lead.owner_id
    lead.owner = _user_row(owner)
    with transaction.atomic():
        lead.save(update_fields=["owner", "updated_at"])
        if previous_owner_id != lead.owner_id:
            OwnerChange.objects.create(
                lead=lead,
                from_owner_id=previous_owner_id,
                to_owner=lead.owner,
                actor=_user_row(actor if actor.is_authenticated else None),
                changed_at=lead.updated_at,
            )
        if owner is not None and previous_owner_id != owner.pk:
            # The lead's open tasks go with it to its new owner.
            Activity.objects.filter(lead=lead, kind=Activity.Kind.TASK, done=False).update(assignee=lead.owner)
    return lead


def lead_last_stage_before_lost(*, lead: Lead) -> str | None:
    if lead.stage != Stage.LOST:
        return None
    return (
        StageChange.objects.filter(lead=lead, to_stage=Stage.LOST)
        .order_by("-changed_at", "-id")
        .values_list("from_stage", flat=True)
        .first()
    )


def lead_transition(
    *,
    lead: Lead,
    to_stage: str,
    actor: User | None = None,
    reason: str = "",
    lost_reason: str = "",
    rule: str = "",
    now: datetime.datetime | None = None,
) -> StageChange:
    """Move a lead to another stage and record the move.

    People (``actor``) may advance, lose, recycle or reopen; a named ``rule`` may only
    advance. Losing needs a lost reason; recycling and reopening need a written reason.
    """
    _refuse_erased(lead)
    now = now or timezone.now()
    by_rule = bool(rule) and actor is None
    reason = (reason or "").strip()
    if len(reason) > REASON_MAX:
        raise ValidationError({"reason": f"Keep the reason under {REASON_MAX:,} characters."})
    try:
        move = lifecycle.check_move(
            lead.stage, to_stage, previous_stage=lead_last_stage_before_lost(lead=lead), by_rule=by_rule
        )
    except lifecycle.MoveRefused as exc:
        raise TransitionNotAllowed({"stage": str(exc)}) from None
    if move.transition == lifecycle.LOSE:
        if lost_reason not in LostReason.values:
            raise ValidationError({"lost_reason": "Choose why the lead was lost."})
        if lost_reason == LostReason.OTHER and not reason:
            raise ValidationError({"reason": "Say why the lead was lost."})
    elif move.needs_reason and not reason:
        raise ValidationError({"reason": f"Give a reason to {move.transition} this lead."})
    with transaction.atomic():
        locked = Lead.objects.select_for_update().get(pk=lead.pk)
        if locked.stage != lead.stage:
            raise TransitionNotAllowed({"stage": "The lead's stage changed meanwhile; reload and try again."})
        change = StageChange.objects.create(
            lead=lead,
            from_stage=lead.stage,
            to_stage=to_stage,
            changed_at=now,
            actor=_user_row(actor if actor is not None and actor.is_authenticated else None),
            rule=rule if by_rule else "",
            transition=move.transition,
            reason=reason or (LostReason(lost_reason).label if lost_reason else ""),
            time_in_previous_stage=max(now - lead.stage_entered_at, datetime.timedelta(0)),
        )
        lead.stage = to_stage
        lead.stage_entered_at = now
        lead.lost_reason = lost_reason if to_stage == Stage.LOST else ""
        lead.save(update_fields=["stage", "stage_entered_at", "lost_reason", "updated_at"])
    return change


TASK_HORIZON = datetime.timedelta(days=2 * 365)


def activity_log(
    *,
    lead: Lead,
    kind: str,
    actor: User | None = None,
    subject: str = "",
    body: str = "",
    occurred_at: datetime.datetime | None = None,
    due_at: datetime.datetime | None = None,
    now: datetime.datetime | None = None,
) -> Activity:
    """Record what a rep did. The first call, e-mail or meeting sets ``first_touched_at``."""
    _refuse_erased(lead)
    now = now or timezone.now()
    occurred_at = occurred_at or now
    errors: dict[str, str] = {}
    if kind not in Activity.Kind.values:
        errors["kind"] = f"Choose one of: {', '.join(Activity.Kind.values)}."
    if kind == Activity.Kind.TASK and due_at is None:
        errors["due_at"] = "A task needs a due date."
    if kind != Activity.Kind.TASK and due_at is not None:
        errors["due_at"] = "Only tasks have a due date."
    elif due_at is not None:
        start_of_today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
        if due_at < start_of_today:
            errors["due_at"] = "This date is in the past: choose today or later."
        elif due_at > now + TASK_HORIZON:
            errors["due_at"] = "Choose a due date within the next two years."
    if not (subject or "").strip() and not (body or "").strip():
        errors["body"] = "Write what happened."
    elif len((body or "").strip()) > ACTIVITY_BODY_MAX:
        errors["body"] = f"Keep notes under {ACTIVITY_BODY_MAX:,} characters."
    if occurred_at > now + datetime.timedelta(minutes=5):
        errors["occurred_at"] = "This is in the future."
    if errors:
        raise ValidationError(errors)
    writer = _user_row(actor if actor is not None and actor.is_authenticated else None)
    activity = Activity(
        lead=lead,
        kind=kind,
        subject=(subject or "").strip(),
        body=(body or "").strip(),
        occurred_at=occurred_at,
        due_at=due_at,
        actor=writer,
    )
    if kind == Activity.Kind.TASK:
        # The lead's owner does the lead's tasks, whoever writes them; a pool lead's, its writer.
        activity.assignee_id = lead.owner_id or (writer.pk if writer is not None else None)
    activity.full_clean()
    with transaction.atomic():
        activity.save()
        if kind in Activity.TOUCH_KINDS and lead.first_touched_at is None:
            # Only the first touch counts: a conditional update keeps it right under concurrency.
            Lead.objects.filter(pk=lead.pk, first_touched_at__isnull=True).update(
                first_touched_at=occurred_at, updated_at=now
            )
            lead.first_touched_at = occurred_at
    return activity


def activity_complete(
    *, activity: Activity, actor: User | None = None, now: datetime.datetime | None = None
) -> Activity:
    if activity.kind != Activity.Kind.TASK:
        raise ValidationError({"kind": "Only tasks can be completed."})
    if activity.done:
        return activity
    activity.done = True
    activity.done_at = now or timezone.now()
    with transaction.atomic():
        activity.save(update_fields=["done", "done_at", "updated_at"])
    return activity


def lead_source_save(*, source: LeadSource) -> LeadSource:
    source.full_clean()
    with transaction.atomic():
        source.save()
    return source


def campaign_save(*, campaign: Campaign) -> Campaign:
    campaign.full_clean()
    with transaction.atomic():
        campaign.save()
    return campaign


def custom_field_save(*, definition: CustomFieldDefinition) -> CustomFieldDefinition:
    errors: dict[str, str] = {}
    if definition.field_type == CustomFieldDefinition.FieldType.CHOICE:
        if not isinstance(definition.choices, list) or not definition.choices:
            errors["choices"] = "A choice field needs a list of choices."
        elif not all(isinstance(choice, str) and choice for choice in definition.choices):
            errors["choices"] = "Each choice must be non-empty text."
    if errors:
        raise ValidationError(errors)
    definition.full_clean()
    with transaction.atomic():
        definition.save()
    return definition
