from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from core.admin import ViewOnlyAdmin
from intake import capture
from intake.models import CaptureForm, CsvImport, FormSubmission, MergeRecord, WebhookDelivery, WebhookEndpoint
from intake.services import attribute_types, capture_form_save
from intake.webhooks import webhook_endpoint_save


class CaptureFormAdminForm(forms.ModelForm):
    redirect_url = forms.URLField(
        required=False, assume_scheme="https", help_text="If set, people go here after submitting instead."
    )

    class Meta:
        model = CaptureForm
        fields = [
            "name", "slug", "is_active", "title", "intro", "submit_label", "fields", "consent_text", "source",
            "campaign", "assignment", "owner", "thank_you_message", "redirect_url", "min_fill_seconds",
        ]  # fmt: skip

    def clean_fields(self) -> object:
        value = self.cleaned_data["fields"]
        _, problems = capture.parse_field_specs(value, attribute_types())
        if problems:
            raise ValidationError(problems)
        return value


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
                "description": (
                    'A list of {"key", "label", "required"}. Keys: '
                    + ", ".join(capture.FORM_LEAD_FIELDS)
                    + ", or attributes.&lt;custom field key&gt;. email_opt_in is the marketing-consent box."
                ),
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

    @admin.display(description="snippet for your site")
    def embed_snippet(self, obj: CaptureForm) -> str:
        if not obj.pk:
            return "Save the form first."
        url = reverse("capture_form_embed", args=[obj.slug])
        snippet = (
            f'<iframe src="https://YOUR-LEADCRM-HOST{url}" title="{obj.name}" '
            'style="border:0;width:100%;min-height:560px"></iframe>'
        )
        return format_html("<code>{}</code>", snippet)

    def save_model(self, request: HttpRequest, obj: CaptureForm, form: forms.ModelForm, change: bool) -> None:
        capture_form_save(form=obj)


@admin.register(FormSubmission)
class FormSubmissionAdmin(ViewOnlyAdmin):
    list_display = ["form", "lead", "submitted_at", "created_lead"]
    list_filter = ["form", "created_lead"]
    raw_id_fields = ["lead"]
    date_hierarchy = "submitted_at"


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


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["event", "endpoint", "lead_id", "status", "attempts", "response_status", "created_at"]
    list_filter = ["status", "event", "endpoint"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
