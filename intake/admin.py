from typing import Any
from urllib.parse import urljoin

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import escape, format_html, format_html_join

from core.admin import ViewOnlyAdmin
from intake import capture
from intake.models import CaptureForm, CsvImport, FormSubmission, MergeRecord, WebhookDelivery, WebhookEndpoint
from intake.selectors import capture_field_choices
from intake.services import attribute_types, capture_form_save
from intake.webhooks import webhook_deliveries_resend, webhook_endpoint_save
from intake.widgets import FormFieldsEditor, without_deleted


class CaptureFormAdminForm(forms.ModelForm):
    redirect_url = forms.URLField(
        required=False, assume_scheme="https", help_text="If set, people go here after submitting instead."
    )

    class Meta:
        model = CaptureForm
        widgets = {"fields": FormFieldsEditor}
        help_texts = {
            "fields": "The questions the form asks, in order. The e-mail address is always asked, and "
            'required. "E-mail opt-in" is the marketing-consent box: it shows the consent text below. '
            "A blank label shows the field's own name.",
        }
        fields = [
            "name", "slug", "is_active", "title", "intro", "submit_label", "fields", "consent_text", "source",
            "campaign", "assignment", "owner", "thank_you_message", "redirect_url", "min_fill_seconds",
        ]  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["fields"].widget.field_choices = capture_field_choices()  # type: ignore[attr-defined]

    def clean_fields(self) -> object:
        rows, numbers = without_deleted(self.cleaned_data["fields"])
        _, problems = capture.parse_field_specs(rows, attribute_types(), numbers=numbers)
        if problems:
            raise ValidationError(problems)
        return rows


def embed_snippet(form: CaptureForm, root: str) -> str:
    """The HTML a website pastes to show ``form``, LeadCRM being at ``root`` (no trailing slash)."""
    frame = root + reverse("capture_form_embed", args=[form.slug])
    # The file's own name, not the hashed one of a deploy: a pasted snippet must keep working.
    script = urljoin(root + "/", settings.STATIC_URL) + "intake/embed.js"
    return (
        f'<iframe src="{escape(frame)}" title="{escape(form.title or form.name)}" data-leadcrm-form '
        'style="border:0;width:100%;min-height:560px"></iframe>\n'
        f'<script src="{escape(script)}"></script>'
    )


@admin.register(CaptureForm)
class CaptureFormAdmin(admin.ModelAdmin):
    form = CaptureFormAdminForm
    list_display = ["name", "slug", "is_active", "source", "campaign", "assignment", "public_link"]
    list_filter = ["is_active", "source"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["embed_snippet"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "is_active", "title", "intro", "submit_label"]}),
        (
            "Fields",
            {
                "fields": ["fields", "consent_text"],
                "description": "Custom fields defined under Leads appear in the list after the lead's own.",
            },
        ),
        ("Attribution", {"fields": ["source", "campaign"]}),
        (
            "Assignment",
            {
                "fields": ["assignment", "owner"],
                "description": "Who gets a new lead from this form (and a known lead that is still in the pool).",
            },
        ),
        ("After submitting", {"fields": ["thank_you_message", "redirect_url", "min_fill_seconds"]}),
        ("Embed", {"fields": ["embed_snippet"]}),
    ]

    @admin.display(description="page")
    def public_link(self, obj: CaptureForm) -> str:
        url = reverse("capture_form", args=[obj.slug])
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, url)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> CaptureForm | None:
        form = super().get_object(request, object_id, from_field)
        if form is not None:
            form.site_root = request.build_absolute_uri("/")  # type: ignore[attr-defined]  # for the snippet
        return form

    @admin.display(description="snippet for your site")
    def embed_snippet(self, obj: CaptureForm) -> str:
        if not obj.pk:
            return "Save the form first."
        root = getattr(obj, "site_root", "https://YOUR-LEADCRM-HOST/").rstrip("/")
        snippet = embed_snippet(obj, root)
        return format_html(
            '<textarea readonly rows="4" cols="90" class="vLargeTextField" onclick="this.select()">{}</textarea>'
            '<div class="help">Paste it where the form goes. The script passes the page\'s UTM parameters '
            "and referrer to the form, fits the frame to the form and follows the form's redirect; "
            "without it the form still works in a frame of fixed height.</div>",
            snippet,
        )

    def save_model(self, request: HttpRequest, obj: CaptureForm, form: forms.ModelForm, change: bool) -> None:
        capture_form_save(form=obj)


@admin.register(FormSubmission)
class FormSubmissionAdmin(ViewOnlyAdmin):
    list_display = ["form", "lead", "submitted_at", "created_lead", "gave_consent"]
    list_filter = ["form", "created_lead"]
    raw_id_fields = ["lead"]
    date_hierarchy = "submitted_at"

    @admin.display(description="consent", boolean=True)
    def gave_consent(self, obj: FormSubmission) -> bool:
        return bool(obj.consent_text)


@admin.register(CsvImport)
class CsvImportAdmin(ViewOnlyAdmin):
    list_display = [
        "filename",
        "status",
        "created_by",
        "created_at",
        "created_count",
        "updated_count",
        "unchanged_count",
        "rejected_count",
    ]
    list_filter = ["status"]
    exclude = ["content"]


@admin.register(MergeRecord)
class MergeRecordAdmin(ViewOnlyAdmin):
    list_display = ["survivor", "merged_lead_id", "merged_at", "actor"]
    raw_id_fields = ["survivor"]


class WebhookEndpointAdminForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        choices=WebhookEndpoint.Event.choices, widget=forms.CheckboxSelectMultiple, required=True
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "secret", "events", "is_active"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointAdminForm
    list_display = ["name", "url", "is_active"]

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form: forms.ModelForm, change: bool) -> None:
        webhook_endpoint_save(endpoint=obj)


def _local_time(iso: str) -> str:
    moment = parse_datetime(iso) if iso else None
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M:%S}" if moment else iso  # tries can be seconds apart


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "event", "endpoint", "lead_id", "status", "attempts", "response_status", "next_attempt_at", "created_at",
    ]  # fmt: skip
    list_filter = ["status", "event", "endpoint"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields if f.name != "attempt_log"] + ["tries"]
    exclude = ["attempt_log"]  # shown as the "tries" table
    actions = ["send_again"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: WebhookDelivery | None = None) -> bool:
        return False  # a record of what was sent; "Send again" is the only change

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("intake.change_webhookdelivery")

    @admin.action(description="Send again", permissions=["resend"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        chosen = list(queryset.values_list("id", flat=True))
        queued = webhook_deliveries_resend(delivery_ids=chosen)
        if queued:
            noun = "delivery" if len(queued) == 1 else "deliveries"
            self.message_user(request, f"{len(queued)} {noun} queued to be sent again.", messages.SUCCESS)
        if len(queued) < len(chosen):
            left = len(chosen) - len(queued)
            self.message_user(
                request,
                f"{left} left as they are: still being sent or waiting for their next try.",
                messages.WARNING,
            )

    @admin.display(description="tries")
    def tries(self, obj: WebhookDelivery) -> str:
        if not obj.attempt_log:
            return "Not tried yet."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{} ms</td><td><code>{}</code></td></tr>",
            (
                (
                    _local_time(attempt.get("at", "")),
                    attempt.get("status") or "",
                    attempt.get("ms", ""),
                    attempt.get("error") or attempt.get("response", ""),
                )
                for attempt in obj.attempt_log
            ),
        )
        return format_html(
            "<table><thead><tr><th>at</th><th>HTTP status</th><th>took</th><th>error or response</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            rows,
        )
