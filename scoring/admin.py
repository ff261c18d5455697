"""The admin for the scoring model: marketers edit drafts, preview and publish them.

A published or retired version is frozen (its rules are read-only) so that every score
can be explained by the version that made it; changes go into a new draft ("Copy as a new
draft"). Publishing first shows a preview of how many leads would change temperature and
stage, then starts the background re-score, whose progress shows under "Re-score runs".
"""

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Max
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from core.admin import ReadOnlyAdmin, ViewOnlyAdmin
from scoring import services
from scoring.models import (
    EngagementEvent,
    EngagementRule,
    EventType,
    FitRule,
    RescoreRun,
    ScoreChange,
    ScoringModel,
    StageRule,
)


class _DraftOnlyInline(admin.TabularInline):
    extra = 0

    def _editable(self, obj: ScoringModel | None) -> bool:
        return obj is None or obj.status == ScoringModel.Status.DRAFT

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._editable(obj) and super().has_delete_permission(request, obj)


class FitRuleInline(_DraftOnlyInline):
    model = FitRule
    fields = ["name", "attribute", "operator", "value", "points"]


class EngagementRuleInline(_DraftOnlyInline):
    model = EngagementRule
    fields = [
        "name",
        "event_type",
        "property_name",
        "operator",
        "value",
        "points",
        "cap_per_day",
        "cap_total",
        "half_life_days",
    ]


class StageRuleInline(_DraftOnlyInline):
    model = StageRule
    fields = ["name", "to_stage", "min_score", "min_fit", "event_types", "min_events", "window_days"]


@admin.register(ScoringModel)
class ScoringModelAdmin(admin.ModelAdmin):
    list_display = ["version", "name", "status", "published_at", "publish_link"]
    list_filter = ["status"]
    inlines = [FitRuleInline, EngagementRuleInline, StageRuleInline]
    readonly_fields = ["version", "status", "published_at", "published_by", "problems"]
    fieldsets = [
        (None, {"fields": ["version", "name", "status", "notes", "problems"]}),
        ("Score", {"fields": ["fit_weight"]}),
        ("Temperature (engagement, with hysteresis)", {"fields": ["hot_at", "hot_until", "warm_at", "warm_until"]}),
        ("Publication", {"fields": ["published_at", "published_by"]}),
    ]
    actions = ["copy_as_draft"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.status != ScoringModel.Status.DRAFT:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.status != ScoringModel.Status.DRAFT:
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description="Can it be published?")
    def problems(self, obj: ScoringModel) -> str:
        if obj.pk is None:
            return "Save the draft first."
        found = services.model_problems(obj)
        if not found:
            return "Yes: every rule can be evaluated."
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((p,) for p in found)))

    @admin.display(description="")
    def publish_link(self, obj: ScoringModel) -> str:
        if obj.status != ScoringModel.Status.DRAFT:
            return ""
        return format_html(
            '<a href="{}">Preview and publish</a>', reverse("admin:scoring_model_publish", args=[obj.pk])
        )

    def save_model(self, request: HttpRequest, obj: ScoringModel, form: Any, change: bool) -> None:
        if not change:
            obj.version = (ScoringModel.objects.aggregate(top=Max("version"))["top"] or 0) + 1
            obj.status = ScoringModel.Status.DRAFT
        super().save_model(request, obj, form, change)

    @admin.action(description="Copy as a new draft")
    def copy_as_draft(self, request: HttpRequest, queryset: Any) -> None:
        for model in queryset:
            draft = services.model_copy_as_draft(model=model, actor=request.user)
            self.message_user(request, f"Draft v{draft.version} made from v{model.version}.", messages.SUCCESS)

    def get_urls(self) -> list:
        return [
            path(
                "<int:model_id>/publish/",
                self.admin_site.admin_view(self.publish_view),
                name="scoring_model_publish",
            ),
            *super().get_urls(),
        ]

    def publish_view(self, request: HttpRequest, model_id: int) -> HttpResponse:
        model = get_object_or_404(ScoringModel, pk=model_id)
        if not self.has_view_permission(request, model) or not request.user.has_perm("scoring.change_scoringmodel"):
            return HttpResponseRedirect(reverse("admin:scoring_scoringmodel_changelist"))
        problems = services.model_problems(model)
        if request.method == "POST" and not problems:
            try:
                run = services.model_publish(model=model, actor=request.user)
            except ValidationError as refused:
                for message in refused.messages:
                    self.message_user(request, message, messages.ERROR)
            else:
                self.message_user(
                    request, f"v{model.version} is published; re-scoring {run.total_leads} leads.", messages.SUCCESS
                )
                return HttpResponseRedirect(reverse("admin:scoring_rescorerun_change", args=[run.pk]))
        preview = services.model_preview(model=model) if not problems else None
        context = {
            **self.admin_site.each_context(request),
            "title": f"Publish scoring model v{model.version}",
            "scoring_model": model,
            "problems": problems,
            "preview": preview,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/scoring/publish.html", context)


@admin.register(RescoreRun)
class RescoreRunAdmin(ViewOnlyAdmin):
    list_display = ["model", "state", "progress", "changed_temperature", "changed_stage", "created_at", "finished_at"]
    readonly_fields = [f.name for f in RescoreRun._meta.fields] + ["progress"]

    @admin.display(description="progress")
    def progress(self, obj: RescoreRun) -> str:
        return format_html(
            '<progress max="100" value="{}"></progress> {}% ({} of {} leads)',
            obj.percent,
            obj.percent,
            obj.processed_leads,
            obj.total_leads,
        )


@admin.register(EventType)
class EventTypeAdmin(admin.ModelAdmin):
    list_display = ["key", "label", "category", "active", "loggable_by_reps"]
    list_filter = ["category", "active"]
    search_fields = ["key", "label"]


@admin.register(EngagementEvent)
class EngagementEventAdmin(ReadOnlyAdmin):
    """Read-only: events enter only through ``scoring.services.event_log``."""

    list_display = ["occurred_at", "lead", "event_type", "source", "points"]
    list_filter = ["event_type", "source"]
    list_select_related = ["lead", "event_type"]
    raw_id_fields = ["lead", "actor"]
    show_full_result_count = False


@admin.register(ScoreChange)
class ScoreChangeAdmin(ReadOnlyAdmin):
    list_display = ["changed_at", "lead", "cause", "previous_score", "score", "previous_temperature", "temperature"]
    list_filter = ["cause", "temperature"]
    list_select_related = ["lead"]
    raw_id_fields = ["lead", "event"]
    show_full_result_count = False
