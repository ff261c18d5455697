"""The admin for the leads models: where marketers manage sources, campaigns and custom fields.

Every write goes through ``leads.services``: each form first runs its service inside a
savepoint that is rolled back (so the service's field errors show on the form), then
``save_model`` runs it for real. Stage history and activities are read-only inlines.
"""

from typing import Any

from celery import current_app
from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.forms.models import construct_instance
from django.http import HttpRequest

from core.admin import ReadOnlyAdmin
from leads import roles, services
from leads.models import Activity, Campaign, CustomFieldDefinition, Lead, LeadSource, StageChange
from leads.selectors import lead_visible_to


class _DryRun(Exception):
    """Raised to roll back a service call that only checks the form's data."""


class ServiceCheckedForm(forms.ModelForm):
    """Runs ``self.service_call()`` in a rolled-back savepoint after the model's own validation."""

    request: HttpRequest | None = None

    def service_call(self) -> Any:
        raise NotImplementedError

    # _post_clean, _update_errors and _get_validation_exclusions are ModelForm's private
    # validation steps, which django-stubs does not declare.
    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]
        self._service_check()

    def _service_check(self) -> None:
        if self.errors:
            return
        try:
            with transaction.atomic():
                self.service_call()
                raise _DryRun
        except _DryRun:
            pass
        except ValidationError as exc:
            self._update_errors(exc)  # type: ignore[attr-defined]


def _field_values(form: forms.ModelForm, names: frozenset[str] | set[str]) -> dict[str, Any]:
    return {name: form.cleaned_data[name] for name in form.changed_data if name in names}


class LeadAdminForm(ServiceCheckedForm):
    class Meta:
        model = Lead
        fields = (*sorted(services.EDITABLE_FIELDS), "owner", "attributes")

    def _post_clean(self) -> None:
        # As ModelForm does, but without the model's constraints: the case-insensitive e-mail
        # is checked by the service, whose error names the field and the existing lead (the
        # database constraint stays the last word).
        try:
            self.instance = construct_instance(self, self.instance, self._meta.fields, self._meta.exclude)
            self.instance.full_clean(
                exclude=self._get_validation_exclusions(),  # type: ignore[attr-defined]
                validate_unique=False,
                validate_constraints=False,
            )
        except ValidationError as exc:
            self._update_errors(exc)  # type: ignore[attr-defined]
        self._service_check()

    def service_call(self) -> Lead:
        return lead_save_from_form(self, actor=self.request.user if self.request else None)


def _rescore_after_commit(lead: Lead) -> None:
    # Fit rules read the lead's fields; scoring sits above leads, so it is asked by task name.
    transaction.on_commit(lambda: current_app.send_task("scoring.lead_rescore", args=[lead.pk]))


def lead_save_from_form(form: forms.ModelForm, *, actor: Any) -> Lead:
    """Create or change the lead through the services, from a validated admin form.

    The lead is re-scored after commit by the ``scoring.lead_rescore`` task.
    """
    data = form.cleaned_data
    if form.instance._state.adding:
        editable = {name: data[name] for name in services.EDITABLE_FIELDS if name in data and name != "email"}
        lead = services.lead_create(
            email=data["email"], actor=actor, owner=data.get("owner"), attributes=data.get("attributes"), **editable
        )
        _rescore_after_commit(lead)
        return lead
    lead = Lead.objects.get(pk=form.instance.pk)
    changes = _field_values(form, services.EDITABLE_FIELDS)
    attributes = data["attributes"] if "attributes" in form.changed_data else None
    if changes or attributes is not None:
        services.lead_update(lead=lead, actor=actor, attributes=attributes, **changes)
        _rescore_after_commit(lead)
    if "owner" in form.changed_data:
        services.lead_assign(lead=lead, owner=data["owner"], actor=actor)
    return lead


class StageChangeInline(admin.TabularInline):
    model = StageChange
    fk_name = "lead"
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-changed_at", "-id")
    fields = ("changed_at", "from_stage", "to_stage", "transition", "actor", "rule", "reason", "time_in_previous_stage")
    readonly_fields = fields
    verbose_name_plural = "stage history"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        return super().get_queryset(request).select_related("actor")


class ActivityInline(admin.TabularInline):
    model = Activity
    fk_name = "lead"
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-occurred_at", "-id")
    fields = ("occurred_at", "kind", "subject", "body", "actor", "due_at", "done")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        return super().get_queryset(request).select_related("actor")


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    form = LeadAdminForm
    list_display = (
        "display_name",
        "email",
        "company",
        "stage",
        "temperature",
        "score",
        "owner",
        "source",
        "created_at",
    )
    list_display_links = ("display_name", "email")
    list_filter = ("stage", "temperature", "source", "campaign", ("owner", admin.RelatedOnlyFieldListFilter))
    search_fields = ("email", "first_name", "last_name", "company")
    list_select_related = ("owner", "source", "campaign")
    autocomplete_fields = ("source", "campaign")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    show_full_result_count = False
    list_per_page = 50
    readonly_fields = (
        "stage",
        "stage_entered_at",
        "lost_reason",
        "temperature",
        "score",
        "fit_score",
        "engagement_score",
        "last_engaged_at",
        "first_touched_at",
        "first_touch_utm",
        "last_touch_utm",
        "consent_at",
        "unsubscribed",
        "unsubscribed_at",
        "bounced",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("email", "first_name", "last_name", "phone", "title", "owner")}),
        (
            "Company and fit",
            {"fields": ("company", "website", "company_size", "industry", "country", "city", "annual_revenue")},
        ),
        ("Custom attributes", {"fields": ("attributes",)}),
        ("Source", {"fields": ("source", "campaign", "first_touch_utm", "last_touch_utm")}),
        (
            "Lifecycle and score",
            {
                "description": "Stage moves are made on the lead page (they record who and why); scores by the model.",
                "fields": (
                    ("stage", "stage_entered_at", "lost_reason"),
                    ("temperature", "score", "fit_score", "engagement_score"),
                    ("last_engaged_at", "first_touched_at"),
                ),
            },
        ),
        (
            "Consent",
            {"fields": ("email_opt_in", "consent_at", "do_not_call", "unsubscribed", "unsubscribed_at", "bounced")},
        ),
        ("Qualification (BANT)", {"fields": ("budget", "authority", "need", "timeline")}),
        ("Record", {"fields": ("timezone", "created_at", "updated_at")}),
    )
    inlines = (StageChangeInline, ActivityInline)

    @admin.display(description="name", ordering="last_name")
    def display_name(self, obj: Lead) -> str:
        return obj.full_name or "-"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # Only those who may assign any rep (managers) choose the owner here.
        if services.can_assign_any(request.user):
            return self.readonly_fields
        return (*self.readonly_fields, "owner")

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Lead]:
        return lead_visible_to(request.user).select_related("owner", "source", "campaign")

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> type:
        form = super().get_form(request, obj, change=change, **kwargs)
        assert issubclass(form, ServiceCheckedForm)  # made from ``self.form``
        form.request = request
        return form

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "owner":
            kwargs["queryset"] = (
                get_user_model()
                .objects.filter(is_active=True, groups__name__in=[roles.REP, roles.MANAGER])
                .distinct()
                .order_by("username")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Lead, form: Any, change: bool) -> None:
        lead = lead_save_from_form(form, actor=request.user)
        obj.pk = lead.pk
        obj.refresh_from_db()


class ServiceModelAdmin(admin.ModelAdmin):
    """An admin whose form checks and whose save_model writes through one service."""

    def service_save(self, obj: Any) -> Any:
        raise NotImplementedError

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> type:
        base = super().get_form(request, obj, change=change, **kwargs)
        admin_self = self

        class Form(ServiceCheckedForm, base):  # type: ignore[misc, valid-type]
            def service_call(self) -> Any:
                return admin_self.service_save(self.instance)

        Form.__name__ = base.__name__
        return Form

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        self.service_save(obj)


@admin.register(LeadSource)
class LeadSourceAdmin(ServiceModelAdmin):
    list_display = ("name", "description", "lead_count", "created_at")
    search_fields = ("name",)
    ordering = ("name",)

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[LeadSource]:
        return super().get_queryset(request).annotate(_lead_count=models.Count("leads"))

    @admin.display(description="leads", ordering="_lead_count")
    def lead_count(self, obj: LeadSource) -> int:
        return obj._lead_count  # type: ignore[attr-defined]

    def service_save(self, obj: LeadSource) -> LeadSource:
        return services.lead_source_save(source=obj)


@admin.register(Campaign)
class CampaignAdmin(ServiceModelAdmin):
    list_display = ("name", "source", "utm_campaign", "cost", "starts_on", "ends_on", "lead_count")
    list_filter = ("source", "starts_on")
    search_fields = ("name", "utm_campaign")
    list_select_related = ("source",)
    autocomplete_fields = ("source",)
    date_hierarchy = "starts_on"

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Campaign]:
        return super().get_queryset(request).annotate(_lead_count=models.Count("leads"))

    @admin.display(description="leads", ordering="_lead_count")
    def lead_count(self, obj: Campaign) -> int:
        return obj._lead_count  # type: ignore[attr-defined]

    def service_save(self, obj: Campaign) -> Campaign:
        return services.campaign_save(campaign=obj)


@admin.register(CustomFieldDefinition)
class CustomFieldDefinitionAdmin(ServiceModelAdmin):
    list_display = ("label", "key", "field_type", "required", "choices")
    list_filter = ("field_type", "required")
    search_fields = ("key", "label")

    def service_save(self, obj: CustomFieldDefinition) -> CustomFieldDefinition:
        return services.custom_field_save(definition=obj)


class ActivityAdminForm(ServiceCheckedForm):
    class Meta:
        model = Activity
        fields = ("lead", "kind", "subject", "body", "occurred_at", "due_at", "done")

    def service_call(self) -> Activity:
        return activity_save_from_form(self, actor=self.request.user if self.request else None)


def activity_save_from_form(form: forms.ModelForm, *, actor: Any) -> Activity:
    data = form.cleaned_data
    if form.instance._state.adding:
        activity = services.activity_log(
            lead=data["lead"],
            kind=data["kind"],
            actor=actor,
            subject=data.get("subject", ""),
            body=data.get("body", ""),
            occurred_at=data.get("occurred_at"),
            due_at=data.get("due_at"),
        )
        if data.get("done"):
            services.activity_complete(activity=activity, actor=actor)
        return activity
    activity = Activity.objects.get(pk=form.instance.pk)
    if "done" in form.changed_data and data["done"]:
        services.activity_complete(activity=activity, actor=actor)
    return activity


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    """Activities are logged here or on the lead page; once logged only a task's done flag changes."""

    form = ActivityAdminForm
    list_display = ("occurred_at", "kind", "subject", "lead", "actor", "due_at", "done")
    list_filter = ("kind", "done", ("actor", admin.RelatedOnlyFieldListFilter))
    search_fields = ("subject", "body", "lead__email", "lead__last_name", "lead__company")
    list_select_related = ("lead", "actor")
    raw_id_fields = ("lead",)
    date_hierarchy = "occurred_at"
    ordering = ("-occurred_at", "-id")
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Activity]:
        return super().get_queryset(request).filter(lead__in=lead_visible_to(request.user))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        return ("lead", "kind", "subject", "body", "occurred_at", "due_at", "done_at", "actor")

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> type:
        form = super().get_form(request, obj, change=change, **kwargs)
        assert issubclass(form, ServiceCheckedForm)  # made from ``self.form``
        form.request = request
        return form

    def save_model(self, request: HttpRequest, obj: Activity, form: Any, change: bool) -> None:
        activity = activity_save_from_form(form, actor=request.user)
        obj.pk = activity.pk
        obj.refresh_from_db()


@admin.register(StageChange)
class StageChangeAdmin(ReadOnlyAdmin):
    """The stage history: written only by ``lead_create`` and ``lead_transition``, never edited."""

    list_display = ("changed_at", "lead", "from_stage", "to_stage", "transition", "by", "time_in_previous_stage")
    list_filter = ("to_stage", "from_stage", "transition")
    search_fields = ("lead__email", "lead__last_name", "reason", "rule")
    list_select_related = ("lead", "actor")
    date_hierarchy = "changed_at"
    ordering = ("-changed_at", "-id")
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[StageChange]:
        return super().get_queryset(request).filter(lead__in=lead_visible_to(request.user))
