from django.conf import settings
from django.db import models

from core.models import TimeStampedModel
from leads.models import Lead, Stage, Temperature
from scoring.rules import OPERATORS


class EventType(TimeStampedModel):
    class Category(models.TextChoices):
        WEB = "web", "Website"
        EMAIL = "email", "E-mail"
        CONTENT = "content", "Content"
        HAND_RAISER = "hand_raiser", "Hand-raiser"
        PRODUCT = "product", "Product usage"
        SALES = "sales", "Sales contact"
        NEGATIVE = "negative", "Negative signal"

    key = models.SlugField(max_length=50, unique=True)
    label = models.CharField(max_length=100)
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.WEB)
    active = models.BooleanField(default=True, help_text="Inactive types are refused when events are logged.")
    loggable_by_reps = models.BooleanField(
        default=False, help_text="Offered on the lead page so a rep can log it by hand."
    )

    class Meta:
        ordering = ["category", "label"]

    def __str__(self) -> str:
        return self.label


class EngagementEvent(models.Model):
    """Something a lead did. Written only by ``scoring.services.event_log``."""

    # No index of its own: event_lead_idx (lead, id) serves every lookup by lead.
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="engagement_events", db_index=False)
    event_type = models.ForeignKey(EventType, on_delete=models.PROTECT, related_name="events")
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField()
    properties = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=30, default="web")
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    points = models.FloatField(default=0, help_text="Points the scoring model awarded when it arrived (before decay).")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="event_idempotency_key_unique",
            ),
        ]
        indexes = [models.Index(fields=["lead", "id"], name="event_lead_idx")]

    def __str__(self) -> str:
        return f"{self.event_type_id} on lead {self.lead_id}"


class ScoringModel(TimeStampedModel):
    """One version of the scoring model. Drafts are edited; one version is published at a time."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        RETIRED = "retired", "Retired"

    version = models.PositiveIntegerField(unique=True)
    name = models.CharField(max_length=100)
    notes = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    fit_weight = models.FloatField(
        default=0.5, help_text="Share of fit in the 0-100 score (0..1); engagement has the rest."
    )
    hot_at = models.FloatField("hot at engagement >=", default=50)
    hot_until = models.FloatField("stays hot down to", default=40)
    warm_at = models.FloatField("warm at engagement >=", default=20)
    warm_until = models.FloatField("stays warm down to", default=15)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=models.Q(status="published"), name="one_published_scoring_model"
            ),
            models.CheckConstraint(
                condition=models.Q(fit_weight__gte=0, fit_weight__lte=1), name="scoring_fit_weight_0_1"
            ),
        ]

    def __str__(self) -> str:
        return f"v{self.version} {self.name} ({self.get_status_display()})"


OPERATOR_CHOICES = [(key, label) for key, (label, _) in OPERATORS.items()]


class FitRule(models.Model):
    model = models.ForeignKey(ScoringModel, on_delete=models.CASCADE, related_name="fit_rules")
    name = models.CharField(max_length=100)
    attribute = models.CharField(
        max_length=100,
        help_text="A lead field (title, company_size, industry, email_domain, free_mail, source...) "
        "or attributes.<custom field key>.",
    )
    operator = models.CharField(max_length=20, choices=OPERATOR_CHOICES)
    value = models.JSONField(
        null=True, blank=True, help_text='JSON: "VP", 50, ["Software", "SaaS"]; empty for "is set".'
    )
    points = models.FloatField()

    class Meta:
        ordering = ["model", "id"]

    def __str__(self) -> str:
        return self.name


class EngagementRule(models.Model):
    model = models.ForeignKey(ScoringModel, on_delete=models.CASCADE, related_name="engagement_rules")
    name = models.CharField(max_length=100)
    event_type = models.ForeignKey(EventType, on_delete=models.PROTECT, related_name="+")
    property_name = models.CharField(max_length=64, blank=True, help_text="Optional condition on a property, e.g. url.")
    operator = models.CharField(max_length=20, choices=OPERATOR_CHOICES, blank=True)
    value = models.JSONField(null=True, blank=True)
    points = models.FloatField()
    cap_per_day = models.FloatField(null=True, blank=True, help_text="Most points this rule gives in one day.")
    cap_total = models.FloatField(null=True, blank=True, help_text="Most points this rule gives in all.")
    half_life_days = models.FloatField(
        null=True,
        blank=True,
        help_text="Points halve after this many days; empty: no decay. Negative points never decay.",
    )

    class Meta:
        ordering = ["model", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(cap_per_day__isnull=True) | models.Q(cap_per_day__gte=0), name="engrule_cap_day_ge0"
            ),
            models.CheckConstraint(
                condition=models.Q(cap_total__isnull=True) | models.Q(cap_total__gte=0), name="engrule_cap_total_ge0"
            ),
            models.CheckConstraint(
                condition=models.Q(half_life_days__isnull=True) | models.Q(half_life_days__gt=0),
                name="engrule_half_life_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class StageRule(models.Model):
    model = models.ForeignKey(ScoringModel, on_delete=models.CASCADE, related_name="stage_rules")
    name = models.CharField(max_length=100)
    to_stage = models.CharField(max_length=10, choices=[(s, s.upper()) for s in (Stage.MQL, Stage.PQL, Stage.SQL)])
    min_score = models.FloatField(default=0)
    min_fit = models.FloatField(default=0)
    event_types = models.JSONField(
        default=list,
        blank=True,
        help_text='Event type keys, e.g. ["demo_request", "contact_sales"]; empty: none needed.',
    )
    min_events = models.PositiveSmallIntegerField(default=1)
    window_days = models.FloatField(default=30)

    class Meta:
        ordering = ["model", "id"]

    def __str__(self) -> str:
        return self.name


class LeadScoringState(models.Model):
    """What incremental scoring needs about one lead, so an event never reads the lead's history."""

    lead = models.OneToOneField(Lead, on_delete=models.CASCADE, primary_key=True, related_name="scoring_state")
    model_version = models.PositiveIntegerField()
    engagement_state = models.JSONField(default=dict)
    next_cooling_at = models.DateTimeField(null=True, blank=True, db_index=True)
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"scoring state of lead {self.lead_id}"


class ScoreChange(models.Model):
    """One change of a lead's score or temperature, and what caused it."""

    class Cause(models.TextChoices):
        EVENT = "event", "Event"
        DECAY = "decay", "Cooling over time"
        RESCORE = "rescore", "Model change"

    # No index of its own: scorechange_lead_idx (lead, -changed_at) serves every lookup by lead.
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="score_changes", db_index=False)
    changed_at = models.DateTimeField()
    cause = models.CharField(max_length=10, choices=Cause.choices)
    event = models.ForeignKey(EngagementEvent, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    model_version = models.PositiveIntegerField()
    score = models.PositiveSmallIntegerField()
    fit_score = models.FloatField()
    engagement_score = models.FloatField()
    temperature = models.CharField(max_length=10, choices=Temperature.choices)
    previous_score = models.PositiveSmallIntegerField()
    previous_temperature = models.CharField(max_length=10, choices=Temperature.choices)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["lead", "-changed_at"], name="scorechange_lead_idx")]

    def __str__(self) -> str:
        return f"lead {self.lead_id}: {self.previous_score} -> {self.score}"


class RescoreRun(models.Model):
    """A re-score of every lead after a model was published: chunked by lead id, resumable."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    model = models.ForeignKey(ScoringModel, on_delete=models.CASCADE, related_name="rescore_runs")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    last_lead_id = models.BigIntegerField(default=0, help_text="Leads up to this id are done.")
    total_leads = models.PositiveIntegerField(default=0)
    processed_leads = models.PositiveIntegerField(default=0)
    changed_temperature = models.PositiveIntegerField(default=0)
    changed_stage = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"re-score for v{self.model.version if self.model_id else '?'}: {self.state}"

    @property
    def percent(self) -> int:
        return 100 if not self.total_leads else min(100, round(100 * self.processed_leads / self.total_leads))
