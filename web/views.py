"""The HTML pages: thin views over the leads selectors (reads, visibility) and services (writes)."""

from typing import Any, cast

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import DuplicateLeadError
from core.text import is_whole_number
from intake import selectors as intake_selectors
from leads import lifecycle, selectors, services
from leads.models import Activity, CustomFieldDefinition, Lead, Stage
from scoring import services as scoring_services
from web.actions import HtmxHttpRequest, erased_redirect, is_partial, lead_action
from web.forms import (
    ActivityForm,
    LeadFilterForm,
    LeadForm,
    TransitionForm,
    apply_service_errors,
    assignable_users,
)
from web.scoring_views import score_panel_context
from web.timeline import lead_timeline

LIST_PAGE_SIZE = 50
HOME_LIST_SIZE = 8


# --- home ------------------------------------------------------------------------------------


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """A rep's queue (tasks, untouched leads, hottest leads), or the team overview."""
    user = request.user
    now = timezone.now()
    tasks = selectors.tasks_for_user(user=user, now=now)
    context: dict[str, Any] = {"tasks": tasks, "task_count": len(tasks["overdue"]) + len(tasks["today"]), "now": now}
    if selectors.sees_all_leads(user):
        counts = selectors.stage_counts(user=user)
        context.update(
            overview=True,
            stage_counts=[(stage, label, counts[stage]) for stage, label in Stage.choices],
            total_leads=sum(counts.values()),
            open_leads=sum(counts[s] for s in lifecycle.OPEN_STAGES),
            hottest=selectors.leads_hottest(user=user, limit=HOME_LIST_SIZE, mine_only=False),
            untouched=selectors.leads_untouched(user=user, limit=HOME_LIST_SIZE),
        )
    else:
        context.update(
            overview=False,
            hottest=selectors.leads_hottest(user=user, limit=HOME_LIST_SIZE),
            untouched=selectors.leads_untouched(user=user, limit=HOME_LIST_SIZE),
        )
    return render(request, "web/home.html", context)


# --- list ------------------------------------------------------------------------------------


@login_required
@require_GET
def lead_list(request: HttpRequest) -> HttpResponse:
    form = LeadFilterForm(request.GET or None, user=request.user)
    filters = form.filters()
    cursor = request.GET.get("cursor") or None
    page = selectors.lead_list_page(user=request.user, filters=filters, cursor=cursor, size=LIST_PAGE_SIZE)
    next_query = request.GET.copy()
    next_query["cursor"] = page.next_cursor or ""
    context = {
        "form": form,
        "filters": filters,
        "page": page,
        "leads": page.items,
        "next_url": f"{reverse('lead_list')}?{next_query.urlencode()}" if page.next_cursor else None,
        "is_continuation": bool(cursor),
        "has_filters": form.active_filter_count > 0,
    }
    if is_partial(request):
        template = "leads/_list_rows.html"
        if cast(HtmxHttpRequest, request).htmx.target != "lead-load-more":
            template = "leads/_list_results.html"
        # A part of the page at the page's own address: never to be shown for "Back".
        response = render(request, template, context)
        response["Cache-Control"] = "no-store"
    else:
        response = render(request, "leads/list.html", context)
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


# --- lead page -------------------------------------------------------------------------------


def _detail_context(
    request: HttpRequest,
    lead: Lead,
    *,
    activity_form: ActivityForm | None = None,
    transition_form: TransitionForm | None = None,
    event_form: Any = None,
) -> dict[str, Any]:
    user = request.user
    previous_stage = services.lead_last_stage_before_lost(lead=lead)
    targets = lifecycle.allowed_targets(lead.stage, previous_stage=previous_stage)
    definitions = {d.key: d for d in CustomFieldDefinition.objects.all()}
    custom_attributes = [
        (definitions[key].label if key in definitions else key.replace("_", " ").capitalize(), value)
        for key, value in sorted(lead.attributes.items())
    ]
    can_assign_any = services.can_assign_any(user)
    return {
        "lead": lead,
        "timeline": lead_timeline(lead=lead),
        "activity_form": activity_form or ActivityForm(),
        "transition_form": transition_form or TransitionForm(targets=targets, stage=lead.stage),
        "custom_attributes": custom_attributes,
        # An erased lead is kept for reports only: nobody edits or works it any more.
        "can_log_activity": user.has_perm("leads.add_activity") and not lead.is_erased,
        "can_change": user.has_perm("leads.change_lead") and not lead.is_erased,
        "can_complete_tasks": user.has_perm("leads.change_activity"),
        "can_assign_any": can_assign_any,
        "assignees": list(assignable_users()) if can_assign_any else [],
        "utm_rows": _utm_rows(lead),
        **score_panel_context(request, lead, event_form=event_form),
    }


def _utm_rows(lead: Lead) -> list[tuple[str, str, str]]:
    keys = sorted(set(lead.first_touch_utm) | set(lead.last_touch_utm))
    return [(key, str(lead.first_touch_utm.get(key, "")), str(lead.last_touch_utm.get(key, ""))) for key in keys]


@login_required
@require_GET
def lead_detail(request: HttpRequest, lead_id: int) -> HttpResponse:
    try:
        lead = selectors.lead_get_for_user(user=request.user, lead_id=lead_id)
    except Http404:
        survivor = intake_selectors.merged_into(user=request.user, lead_id=lead_id)
        if survivor is None:
            raise
        messages.info(request, f"Lead #{lead_id} was merged into this lead.")
        return redirect("lead_detail", lead_id=survivor.pk)
    return render(request, "leads/detail.html", _detail_context(request, lead))


@login_required
@permission_required("leads.add_activity", raise_exception=True)
@require_POST
@lead_action
def lead_activity_create(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = selectors.lead_get_for_user(user=request.user, lead_id=lead_id)
    form = ActivityForm(request.POST)
    saved = None
    if form.is_valid():
        try:
            saved = services.activity_log(lead=lead, actor=request.user, **form.service_fields())
        except ValidationError as error:
            apply_service_errors(form, error)
    if is_partial(request):
        context = {"lead": lead, "activity_form": form if saved is None else ActivityForm(), "saved": saved}
        if saved is not None:
            context.update(
                timeline=lead_timeline(lead=lead), can_complete_tasks=request.user.has_perm("leads.change_activity")
            )
        return render(request, "leads/_activity_response.html", context)
    if saved is not None:
        messages.success(request, f"{saved.get_kind_display()} logged.")
        return redirect("lead_detail", lead_id=lead.pk)
    return render(request, "leads/detail.html", _detail_context(request, lead, activity_form=form))


@login_required
@permission_required("leads.change_lead", raise_exception=True)
@require_POST
@lead_action
def lead_transition(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = selectors.lead_get_for_user(user=request.user, lead_id=lead_id)
    targets = lifecycle.allowed_targets(lead.stage, previous_stage=services.lead_last_stage_before_lost(lead=lead))
    form = TransitionForm(request.POST, targets=targets, stage=lead.stage)
    if form.is_valid():
        try:
            services.lead_transition(
                lead=lead,
                to_stage=form.cleaned_data["to_stage"],
                actor=request.user,
                reason=form.cleaned_data["reason"],
                lost_reason=form.cleaned_data["lost_reason"],
            )
        except ValidationError as error:
            lead.refresh_from_db()
            form_errors = ValidationError(
                {("to_stage" if key == "stage" else key): value for key, value in error.message_dict.items()}
            )
            apply_service_errors(form, form_errors)
        else:
            messages.success(request, f"Moved to {lead.get_stage_display()}.")
            return redirect("lead_detail", lead_id=lead.pk)
    return render(request, "leads/detail.html", _detail_context(request, lead, transition_form=form))


@login_required
@permission_required("leads.change_lead", raise_exception=True)
@require_POST
@lead_action
def lead_assign(request: HttpRequest, lead_id: int) -> HttpResponse:
    """Claim (``owner=me``), release (``owner=``) or, for managers, assign to anyone."""
    lead = selectors.lead_get_for_user(user=request.user, lead_id=lead_id)
    choice = request.POST.get("owner", "")
    owner: AbstractBaseUser | None = None
    if choice == "me":
        owner = cast(AbstractBaseUser, request.user)
    elif choice:
        owner = get_user_model().objects.filter(pk=int(choice)).first() if is_whole_number(choice) else None
        if owner is None:
            messages.error(request, "Choose someone to assign the lead to.")
            return redirect("lead_detail", lead_id=lead.pk)
    try:
        services.lead_assign(lead=lead, owner=owner, actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        if owner is None:
            messages.success(request, "The lead is back in the unassigned pool.")
        elif owner == request.user:
            messages.success(request, "The lead is yours now.")
        else:
            name = getattr(owner, "get_full_name", lambda: "")() or owner.get_username()
            messages.success(request, f"Assigned to {name}.")
    if lead.owner_id not in (None, request.user.pk) and not selectors.sees_all_leads(request.user):
        return redirect("lead_list")
    return redirect("lead_detail", lead_id=lead.pk)


@login_required
@permission_required("leads.change_activity", raise_exception=True)
@require_POST
@lead_action
def task_complete(request: HttpRequest, lead_id: int, activity_id: int) -> HttpResponse:
    lead = selectors.lead_get_for_user(user=request.user, lead_id=lead_id)
    task = get_object_or_404(lead.activities, pk=activity_id, kind=Activity.Kind.TASK)
    services.activity_complete(activity=task, actor=request.user)
    if is_partial(request):
        return render(
            request,
            "leads/timeline/activity.html",
            {
                "entry": {"kind": "activity", "at": task.occurred_at, "obj": task},
                "lead": lead,
                "can_complete_tasks": True,
            },
        )
    messages.success(request, "Task done.")
    next_url = request.POST.get("next", "")
    if next_url and url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        return HttpResponseRedirect(next_url)
    return redirect("lead_detail", lead_id=lead.pk)


# --- create and edit -------------------------------------------------------------------------


def _duplicate_context(error: ValidationError, user: Any) -> dict[str, Any]:
    """Where the lead that has this address is: a link when the user may open it; else only
    that it belongs to another rep (a link there would be a dead end)."""
    if not isinstance(error, DuplicateLeadError):
        return {}
    if selectors.lead_visible_to(user).filter(pk=error.lead_id).exists():
        return {"duplicate_lead_id": error.lead_id}
    return {"duplicate_elsewhere": True}


@login_required
@permission_required("leads.add_lead", raise_exception=True)
@require_http_methods(["GET", "POST"])
def lead_create(request: HttpRequest) -> HttpResponse:
    form = LeadForm(request.POST or None, user=request.user)
    # Who owns a new lead: the rep who creates it; others choose, or it waits in the pool.
    context: dict[str, Any] = {"form": form, "lead": None, "creator_owns": not selectors.sees_all_leads(request.user)}
    if request.method == "POST" and form.is_valid() and not request.POST.get("create_anyway"):
        # Someone who may be the same person: say so, and create only when asked again.
        fields = form.service_fields()
        context["likely_duplicates"] = intake_selectors.likely_duplicates(
            user=request.user,
            email=fields.get("email") or "",
            phone=fields.get("phone") or "",
            first_name=fields.get("first_name") or "",
            last_name=fields.get("last_name") or "",
            website=fields.get("website") or "",
        )
    if request.method == "POST" and form.is_valid() and not context.get("likely_duplicates"):
        owner = form.cleaned_data.get("owner")
        try:
            lead = scoring_services.lead_create_scored(
                actor=request.user,
                owner=owner,
                attributes=form.attributes(),
                **form.service_fields(),
            )
        except ValidationError as error:
            form.add_service_error(error)
            context.update(_duplicate_context(error, request.user))
        else:
            messages.success(request, f"Lead {lead.display_name} created.")
            return redirect("lead_detail", lead_id=lead.pk)
    return render(request, "leads/form.html", context)


@login_required
@permission_required("leads.change_lead", raise_exception=True)
@require_http_methods(["GET", "POST"])
def lead_edit(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = selectors.lead_get_for_user(user=request.user, lead_id=lead_id)
    if lead.is_erased:
        return erased_redirect(request, lead.pk)
    form = LeadForm(request.POST or None, user=request.user, lead=lead)
    context: dict[str, Any] = {"form": form, "lead": lead}
    if request.method == "POST" and form.is_valid():
        try:
            scoring_services.lead_update_scored(
                lead=lead, actor=request.user, attributes=form.attributes(), **form.service_fields()
            )
        except ValidationError as error:
            lead.refresh_from_db()
            form.add_service_error(error)
            context.update(_duplicate_context(error, request.user))
        else:
            messages.success(request, "Changes saved.")
            return redirect("lead_detail", lead_id=lead.pk)
    return render(request, "leads/form.html", context)
