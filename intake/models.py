"""How leads get in and out: capture forms, CSV imports, merges, outbound webhooks."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from core.models import TimeStampedModel
from intake.csv_rows import DATE_ORDERS, YEAR_FIRST
from leads.models import Campaign, Lead, LeadSource


class CaptureForm(TimeStampedModel):
    """A public form at ``/f/<slug>/`` that creates or updates leads.

    ``fields`` is a list of ``{"key", "label", "required"}``: ``key`` is a lead field
    (see ``intake.capture.FORM_LEAD_FIELDS``) or ``attributes.<custom field key>``.
    ``email_opt_in`` is the marketing-consent checkbox, shown with ``consent_text``.
    """

    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=150)
    is_active = models.BooleanField(default=True)
    title = models.CharField(max_length=200, blank=True, help_text="Heading shown above the form.")
    intro = models.TextField(blank=True, help_text="Text shown above the fields.")
    fields = models.JSONField(default=list, help_text='e.g. [{"key": "email", "label": "E-mail", "required": true}]')
    consent_text = models.TextField(blank=True, help_text="Shown next to the marketing-consent checkbox.")
    submit_label = models.CharField(max_length=60, default="Send")
    source = models.ForeignKey(LeadSource, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    thank_you_message = models.TextField(default="Thank you! We will be in touch soon.")
    redirect_url = models.URLField(blank=True, help_text="If set, people go here after submitting instead.")
    min_fill_seconds = models.PositiveSmallIntegerField(
        default=3, help_text="Submissions faster than this after the form was shown are refused (time trap)."
    )

    class Assignment(models.TextChoices):
        POOL = "pool", "Leave them in the unassigned pool"
        OWNER = "owner", "Give them to one person"
        ROUND_ROBIN = "round_robin", "Take turns among the active sales reps"

    # Who gets a new lead (or a known one still in the pool) that this form brings in.
    # db_default: rows written without this field (older code, data migrations) get the pool.
    assignment = models.CharField(
        max_length=20,
        choices=Assignment.choices,
        default=Assignment.POOL,
        db_default=Assignment.POOL,
        verbose_name="assign new leads",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="With 'Give them to one person': who gets the leads.",
    )
    # Round robin: the rep who got the last lead; the next one in id order gets the next.
    last_assigned = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} (/f/{self.slug}/)"

    def clean(self) -> None:
        if self.assignment == self.Assignment.OWNER:
            if self.owner is None:
                raise ValidationError({"owner": "Choose who gets the leads of this form."})
            if not self.owner.is_active:
                raise ValidationError({"owner": "This user is not active."})


class FormSubmission(models.Model):
    """One accepted submission of a capture form; holds no personal data beyond the lead link.
    When the person ticked the marketing-consent box, ``consent_text`` keeps the words they
    agreed to (a form's text may change later): the record of that consent."""

    form = models.ForeignKey(CaptureForm, on_delete=models.CASCADE, related_name="submissions")
    lead = models.ForeignKey(Lead, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    submitted_at = models.DateTimeField(db_index=True)
    created_lead = models.BooleanField(default=False)
    tracking = models.JSONField(default=dict, blank=True)
    consent_text = models.TextField(blank=True)

    class Meta:
        ordering = ["-submitted_at", "-id"]

    def __str__(self) -> str:
        return f"{self.form.slug} at {self.submitted_at:%Y-%m-%d %H:%M}"


class CsvImport(TimeStampedModel):
    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Uploaded"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    filename = models.CharField(max_length=255)
    # The uploaded text; cleared once the import has run (the rejects keep what failed).
    content = models.TextField(blank=True)
    headers = models.JSONField(default=list)
    delimiter = models.CharField(
        max_length=1, default=",", help_text="The file's delimiter (, ; tab or |); its rejects download uses it too."
    )
    mapping = models.JSONField(default=dict, blank=True, help_text="CSV header -> target field.")
    default_source = models.ForeignKey(LeadSource, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    date_order = models.CharField(
        max_length=3,
        choices=list(DATE_ORDERS.items()),
        default=YEAR_FIRST,
        help_text="How the file writes numeric dates such as 03/04/2026.",
    )
    add_missing_names = models.BooleanField(
        default=False, help_text="Create the sources and campaigns the file names that do not exist yet."
    )
    mapped_like = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The earlier import of a file with the same columns whose choices this one started from.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UPLOADED)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(
        default=0, help_text="Rows naming a known lead that already held what they say."
    )
    rejected_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("import_leads", "Can import leads from CSV"),
            ("export_leads", "Can export lead lists as CSV"),
            ("merge_leads", "Can review duplicates and merge leads"),
            ("export_lead_data", "Can export all of a lead's data (data request)"),
            ("erase_lead", "Can erase a lead's personal data (data request)"),
        ]

    def __str__(self) -> str:
        return f"{self.filename} ({self.get_status_display()})"

    @property
    def percent(self) -> int:
        if not self.total_rows:
            return 100 if self.status == self.Status.DONE else 0
        return min(100, round(100 * self.processed_rows / self.total_rows))


class ImportReject(models.Model):
    """A CSV row that was not imported, with the reason, kept for download."""

    csv_import = models.ForeignKey(CsvImport, on_delete=models.CASCADE, related_name="rejects")
    row_number = models.PositiveIntegerField(help_text="Line in the file, the header being line 1.")
    reason = models.TextField()
    raw = models.TextField(help_text="The row as it was in the file.")

    class Meta:
        ordering = ["csv_import", "row_number"]

    def __str__(self) -> str:
        return f"row {self.row_number}: {self.reason}"


class MergeRecord(models.Model):
    """Two leads became one: which survived, what the other held, who merged them and why."""

    survivor = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="merges")
    merged_lead_id = models.BigIntegerField()
    merged_snapshot = models.JSONField(default=dict, help_text="The merged lead's fields before it was removed.")
    chosen_fields = models.JSONField(default=dict, help_text="Field -> which lead's value was kept.")
    moved = models.JSONField(default=dict, help_text="How many rows of each kind moved to the survivor.")
    merged_at = models.DateTimeField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")

    class Meta:
        ordering = ["-merged_at", "-id"]

    def __str__(self) -> str:
        return f"lead {self.merged_lead_id} merged into {self.survivor_id}"


class WebhookEndpoint(TimeStampedModel):
    class Event(models.TextChoices):
        LEAD_CREATED = "lead.created", "lead.created"
        LEAD_STAGE_CHANGED = "lead.stage_changed", "lead.stage_changed"
        LEAD_BECAME_HOT = "lead.became_hot", "lead.became_hot"

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=200, help_text="Shared secret for the X-LeadCRM-Signature header.")
    events = models.JSONField(default=list, help_text='e.g. ["lead.created", "lead.stage_changed"]')
    is_active = models.BooleanField(default=True)
    # Stage changes up to this id happened before the endpoint existed and are not sent to it.
    starts_after_id = models.BigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        RETRYING = "retrying", "Retrying"
        FAILED = "failed", "Failed"

    # (db_index=False: the unique constraint on endpoint and origin leads with it)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    event = models.CharField(max_length=40)
    # What set it off, e.g. "stagechange:42" or "hot:7:<time>"; unique per endpoint so a rescan never doubles.
    origin = models.CharField(max_length=80)
    lead_id = models.BigIntegerField(null=True, blank=True)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    last_error = models.TextField(blank=True)
    # Every try, newest last: {"at", "status", "error", "ms", "response"} (the last 20 kept).
    attempt_log = models.JSONField(default=list, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [models.UniqueConstraint(fields=["endpoint", "origin"], name="webhookdelivery_once_per_origin")]

    def __str__(self) -> str:
        return f"{self.event} -> {self.endpoint} ({self.status})"


class WebhookCursor(models.Model):
    """How far the periodic scan has read the stage history (one row, name "stage_changes")."""

    name = models.CharField(max_length=40, unique=True)
    last_id = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}: {self.last_id}"


class HotNotice(models.Model):
    """A lead currently hot whose ``lead.became_hot`` has been announced; removed when it cools."""

    lead = models.OneToOneField(Lead, on_delete=models.CASCADE, related_name="+")
    noticed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.lead_id} hot since {self.noticed_at}"
