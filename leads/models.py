from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower

from core.models import TimeStampedModel
from leads.timezones import validate_time_zone


class Stage(models.TextChoices):
    RAW = "raw", "Raw lead"
    MQL = "mql", "MQL"
    PQL = "pql", "PQL"
    SQL = "sql", "SQL"
    WON = "won", "Customer"
    LOST = "lost", "Lost"


class Temperature(models.TextChoices):
    COLD = "cold", "Cold"
    WARM = "warm", "Warm"
    HOT = "hot", "Hot"


class LostReason(models.TextChoices):
    NOT_A_FIT = "not_a_fit", "Not a fit"
    NO_BUDGET = "no_budget", "No budget"
    COMPETITOR = "competitor", "Went with a competitor"
    NO_RESPONSE = "no_response", "No response"
    BAD_TIMING = "bad_timing", "Bad timing"
    DUPLICATE = "duplicate", "Duplicate"
    OTHER = "other", "Other"


class LeadSource(TimeStampedModel):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Campaign(TimeStampedModel):
    name = models.CharField(max_length=150, unique=True)
    source = models.ForeignKey(LeadSource, on_delete=models.SET_NULL, null=True, blank=True, related_name="campaigns")
    utm_campaign = models.CharField(
        "UTM campaign", max_length=150, blank=True, help_text="The utm_campaign value that credits this campaign."
    )
    cost = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-starts_on", "name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(cost__gte=0), name="campaign_cost_not_negative"),
            models.CheckConstraint(
                condition=models.Q(ends_on__isnull=True)
                | models.Q(starts_on__isnull=True)
                | models.Q(ends_on__gte=models.F("starts_on")),
                name="campaign_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CustomFieldDefinition(TimeStampedModel):
    """An admin-defined custom attribute; lead ``attributes`` are validated against these."""

    class FieldType(models.TextChoices):
        TEXT = "text", "Text"
        NUMBER = "number", "Number"
        BOOLEAN = "boolean", "Yes / no"
        DATE = "date", "Date"
        CHOICE = "choice", "Choice"

    key = models.SlugField(max_length=50, unique=True, help_text="The key in the lead's attributes (a-z, 0-9, _).")
    label = models.CharField(max_length=100)
    field_type = models.CharField(max_length=10, choices=FieldType.choices, default=FieldType.TEXT)
    choices = models.JSONField(default=list, blank=True, help_text='For a choice field: a list such as ["a", "b"].')
    required = models.BooleanField(default=False)
    help_text = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["label"]

    def __str__(self) -> str:
        return self.label


def validate_website(value: str) -> None:
    """A web address: a domain such as acme.example, or an http(s) URL (never javascript: or data:)."""
    text = value.strip()
    if not text:
        return
    scheme, colon, _ = text.partition(":")
    has_scheme = colon and scheme.isalpha() and not text[len(scheme) + 1 :].isdigit()  # "host:8080" has none
    if (has_scheme and scheme.lower() not in ("http", "https")) or any(c.isspace() for c in text) or "." not in text:
        raise ValidationError("Enter a web address such as acme.example or https://acme.example.")


# Erasure on request (intake.services.lead_erase) gives a lead the address erased-<id>@ this
# domain: the lead stays, anonymous, for reports, and leaves the working lists.
ERASED_EMAIL_DOMAIN = "erased.invalid"
# What a person, a form, an import or an integration hears when it gives such an address.
RESERVED_EMAIL_MESSAGE = f"Addresses at {ERASED_EMAIL_DOMAIN} stand for erased leads and cannot be used."


def erased_address(lead_id: int) -> str:
    """The e-mail address a lead has once its personal data is erased."""
    return f"erased-{lead_id}@{ERASED_EMAIL_DOMAIN}"


def is_reserved_email(email: str) -> bool:
    """An address of the kind erasure and merges give leads (``erased-<id>@erased.invalid``):
    nobody else may use one (``.invalid`` is never a real domain)."""
    return email.strip().lower().endswith(f"@{ERASED_EMAIL_DOMAIN}")


class LeadQuerySet(models.QuerySet["Lead"]):
    def not_erased(self) -> "LeadQuerySet":
        return self.exclude(email__endswith=f"@{ERASED_EMAIL_DOMAIN}")

    def hot(self) -> "LeadQuerySet":
        return self.filter(temperature=Temperature.HOT)

    def open(self) -> "LeadQuerySet":
        return self.exclude(stage__in=[Stage.WON, Stage.LOST])

    def untouched(self) -> "LeadQuerySet":
        return self.filter(first_touched_at__isnull=True)


class Lead(TimeStampedModel):
    # Indexed by lead_created_idx (newest first, read either way), not by a second index of
    # its own: every index is written again on each score change.
    created_at = models.DateTimeField(auto_now_add=True)
    # who
    email = models.EmailField(max_length=254)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    title = models.CharField("job title", max_length=150, blank=True)
    # fit attributes
    company = models.CharField(max_length=200, blank=True)
    website = models.CharField(max_length=200, blank=True, validators=[validate_website])
    company_size = models.PositiveIntegerField("company size (employees)", null=True, blank=True)
    industry = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=100, blank=True)
    city = models.CharField(max_length=100, blank=True)
    # 13 digits before the point (ten trillion): SQLite, the embedded default, keeps 15 digits of a decimal.
    annual_revenue = models.DecimalField(max_digits=15, decimal_places=2, null=True, blank=True)
    timezone = models.CharField(
        max_length=64, blank=True, help_text="IANA name, e.g. Europe/Berlin.", validators=[validate_time_zone]
    )
    attributes = models.JSONField(default=dict, blank=True)
    # where from
    source = models.ForeignKey(LeadSource, on_delete=models.SET_NULL, null=True, blank=True, related_name="leads")
    campaign = models.ForeignKey(Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="leads")
    first_touch_utm = models.JSONField(default=dict, blank=True)
    last_touch_utm = models.JSONField(default=dict, blank=True)
    # who works it
    # No index of its own: lead_owner_stage_idx starts with the owner and serves its lookups.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="leads",
        db_index=False,
    )
    # lifecycle
    stage = models.CharField(max_length=10, choices=Stage.choices, default=Stage.RAW)
    stage_entered_at = models.DateTimeField()
    lost_reason = models.CharField(max_length=20, choices=LostReason.choices, blank=True)
    # score (written by the scoring app; set by people until a model scores the lead)
    temperature = models.CharField(max_length=10, choices=Temperature.choices, default=Temperature.COLD)
    score = models.PositiveSmallIntegerField(default=0)
    fit_score = models.FloatField(default=0)
    engagement_score = models.FloatField(default=0)
    last_engaged_at = models.DateTimeField(null=True, blank=True)
    first_touched_at = models.DateTimeField(null=True, blank=True)
    # consent
    email_opt_in = models.BooleanField("e-mail opt-in", default=False)
    consent_at = models.DateTimeField(null=True, blank=True)
    unsubscribed = models.BooleanField(default=False)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    do_not_call = models.BooleanField(default=False)
    bounced = models.BooleanField(default=False)
    # qualification notes (BANT)
    budget = models.CharField(max_length=200, blank=True)
    authority = models.CharField(max_length=200, blank=True)
    need = models.TextField(blank=True)
    timeline = models.CharField(max_length=200, blank=True)

    objects = LeadQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="lead_email_ci_unique"),
            models.CheckConstraint(condition=models.Q(score__lte=100), name="lead_score_at_most_100"),
            models.CheckConstraint(condition=models.Q(stage__in=Stage.values), name="lead_stage_valid"),
            models.CheckConstraint(
                condition=models.Q(temperature__in=Temperature.values), name="lead_temperature_valid"
            ),
            models.CheckConstraint(
                condition=~models.Q(stage=Stage.LOST) | ~models.Q(lost_reason=""), name="lead_lost_has_reason"
            ),
        ]
        indexes = [
            models.Index(fields=["-score", "-id"], name="lead_score_idx"),
            models.Index(fields=["-created_at", "-id"], name="lead_created_idx"),
            models.Index(fields=["-last_engaged_at", "-id"], name="lead_engaged_idx"),
            models.Index(fields=["owner", "stage", "-score"], name="lead_owner_stage_idx"),
            models.Index(fields=["stage", "-score"], name="lead_stage_score_idx"),
            models.Index(fields=["temperature", "-score"], name="lead_temp_score_idx"),
        ]
        permissions = [
            ("view_all_leads", "Can see every lead, not only their own and the unassigned pool"),
            ("assign_lead", "Can assign leads to any rep"),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>" if self.full_name else self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_erased(self) -> bool:
        return self.email == erased_address(self.pk)

    @property
    def display_name(self) -> str:
        if self.is_erased:
            return f"Erased lead #{self.pk}"
        return self.full_name or self.email

    @property
    def is_closed(self) -> bool:
        return self.stage in (Stage.WON, Stage.LOST)


class Activity(TimeStampedModel):
    """What a rep did with or about a lead."""

    class Kind(models.TextChoices):
        CALL = "call", "Call"
        EMAIL = "email", "E-mail"
        MEETING = "meeting", "Meeting"
        NOTE = "note", "Note"
        TASK = "task", "Task"

    # Kinds that reach the lead: the first of these sets the lead's first_touched_at.
    TOUCH_KINDS = (Kind.CALL, Kind.EMAIL, Kind.MEETING)

    # (db_index=False: activity_lead_idx leads with it)
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="activities", db_index=False)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    occurred_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="activities"
    )
    due_at = models.DateTimeField(null=True, blank=True)
    done = models.BooleanField(default=False)
    done_at = models.DateTimeField(null=True, blank=True)
    # A task's doer: the lead's owner when it was set (else whoever wrote it); it follows the
    # lead to a new owner. (db_index=False: activity_task_idx leads with it.)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tasks",
        db_index=False,
    )

    class Meta:
        verbose_name_plural = "activities"
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["lead", "-occurred_at"], name="activity_lead_idx"),
            models.Index(fields=["assignee", "kind", "done", "due_at"], name="activity_task_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="task") | models.Q(due_at__isnull=True), name="activity_due_only_for_tasks"
            ),
            models.CheckConstraint(
                condition=models.Q(kind="task") | models.Q(done=False), name="activity_done_only_for_tasks"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.subject or self.body[:40]}"

    @property
    def is_overdue_task(self) -> bool:
        from django.utils import timezone

        return (
            self.kind == self.Kind.TASK and not self.done and self.due_at is not None and self.due_at < timezone.now()
        )


class OwnerChange(models.Model):
    """A lead changed hands: claimed from the pool, released to it, assigned by a manager, or
    given to someone by a capture form (``via``)."""

    # (db_index=False: ownerchange_lead_idx leads with it)
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="owner_changes", db_index=False)
    from_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    to_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    changed_at = models.DateTimeField()
    # What gave the lead when no person did, e.g. 'the form "Contact us", taking turns'.
    via = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["lead", "-changed_at"], name="ownerchange_lead_idx")]

    def __str__(self) -> str:
        return f"lead {self.lead_id}: owner {self.from_owner_id} -> {self.to_owner_id}"


class StageChange(models.Model):
    """One move of a lead between lifecycle stages: from, to, when, who or which rule, why."""

    # (db_index=False: stagechange_lead_idx leads with it)
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="stage_changes", db_index=False)
    from_stage = models.CharField(max_length=10, choices=Stage.choices, blank=True)
    to_stage = models.CharField(max_length=10, choices=Stage.choices)
    changed_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="stage_changes"
    )
    rule = models.CharField(max_length=200, blank=True, help_text="The rule that made the move, when no person did.")
    transition = models.CharField(max_length=20, blank=True)
    reason = models.TextField(blank=True)
    time_in_previous_stage = models.DurationField(null=True, blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [
            models.Index(fields=["lead", "-changed_at"], name="stagechange_lead_idx"),
            models.Index(fields=["to_stage", "changed_at"], name="stagechange_to_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.from_stage or '-'} -> {self.to_stage}"

    @property
    def by(self) -> str:
        if self.actor_id:
            return str(self.actor)
        return self.rule or "system"
