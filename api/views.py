"""The HTTP API: thin views over the services and selectors that the pages use too.

Read-only fields (``id``, ``stage``, ``temperature``, the scores, timestamps, ``utm`` after
creation, and ``owner`` for anyone without the ``leads.assign_lead`` permission) are refused:
a request that sends one gets 400 naming it and nothing is written. Unknown fields are
refused the same way.
"""

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api import serializers as s
from api.errors import RequestTooLarge
from api.permissions import LeadPermissions
from api.timeline import timeline_entry_json
from core.pagination import keyset_page
from leads import selectors as lead_selectors
from leads import services as lead_services
from leads.models import Lead, LeadSource
from reports.selectors import funnel_report
from web.timeline import lead_timeline

User = get_user_model()

MAX_ID = 2**63 - 1
LEAD_ID = OpenApiParameter(
    "lead_id", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, OpenApiParameter.PATH, description="The lead's id."
)
FIELD_ERRORS = OpenApiResponse(OpenApiTypes.OBJECT, description='Field errors: {"field": ["message", ...]}.')
COMMON_ERRORS = {
    400: FIELD_ERRORS,
    401: OpenApiResponse(s.ErrorSerializer, description="Missing or bad token."),
    403: OpenApiResponse(s.ErrorSerializer, description="The user's role may not do this."),
    413: OpenApiResponse(s.ErrorSerializer, description="The request body is too large."),
    429: OpenApiResponse(s.ErrorSerializer, description="Too many requests for this token; see Retry-After."),
}
NOT_FOUND = {404: OpenApiResponse(s.ErrorSerializer, description="No such lead, or not within the user's reach.")}


class ApiView(APIView):
    """Base of every endpoint: refuses an oversized body before anything reads it."""

    throttle_scope = "api"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.API_MAX_BODY_BYTES:
            raise RequestTooLarge()
        super().initial(request, *args, **kwargs)


def get_lead(request: Request, lead_id: int) -> Lead:
    if lead_id > MAX_ID:
        raise NotFound("No such lead.")
    try:
        return lead_selectors.lead_get_for_user(user=request.user, lead_id=lead_id)
    except Http404:
        raise NotFound("No such lead.") from None


def valid_query(serializer_class: type, request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def lead_json(lead: Lead) -> dict[str, Any]:
    return s.LeadSerializer(lead).data


def refuse_unwritable(request: Request, writable: set[str]) -> None:
    """400 for a body that is not an object or names fields the user may not write."""
    data = request.data
    if not isinstance(data, dict):
        raise ValidationError({"detail": ["Send a JSON object."]})
    refused = {}
    for key in data:
        if key in writable:
            continue
        if key == "owner":
            refused[key] = ["Only a user who may assign leads can set the owner."]
        elif key in s.LeadSerializer.Meta.fields:
            refused[key] = ["This field is read-only."]
        else:
            refused[key] = ["Unknown field."]
    if refused:
        raise ValidationError(refused)


def writable_fields(user: Any, serializer_class: type) -> set[str]:
    fields = set(serializer_class().fields)
    if not lead_services.can_assign_any(user):
        fields.discard("owner")
    return fields


class LeadListView(ApiView):
    """Leads within the user's reach (a rep: their own and the unassigned pool)."""

    permission_classes = [LeadPermissions]
    creates_leads = True

    @extend_schema(
        operation_id="leads_list",
        tags=["leads"],
        parameters=[s.LeadListQuerySerializer],
        responses={200: s.LeadPageSerializer, **COMMON_ERRORS},
        summary="List the leads within the user's reach",
    )
    def get(self, request: Request) -> Response:
        query = valid_query(s.LeadListQuerySerializer, request)
        filters = lead_selectors.LeadFilters(
            q=query.get("q", ""),
            stage=query.get("stage", ""),
            temperature=query.get("temperature", ""),
            min_score=query.get("min_score"),
        )
        leads = lead_selectors.lead_filter(user=request.user, filters=filters)
        owner = query.get("owner")
        if owner is not None:
            if owner == "me":
                leads = leads.filter(owner_id=request.user.pk)
            elif owner == "none":
                leads = leads.filter(owner__isnull=True)
            elif owner.isdigit() and len(owner) <= 18:
                leads = leads.filter(owner_id=int(owner))
            else:
                leads = leads.filter(owner__username=owner)
        source = query.get("source")
        if source is not None:
            if source.isdigit() and len(source) <= 18:
                leads = leads.filter(source_id=int(source))
            else:
                leads = leads.filter(source__in=LeadSource.objects.filter(name=source))
        field, descending = s.ORDERINGS[query["ordering"]]
        page = keyset_page(
            leads.select_related("owner", "source", "campaign"),
            field=field,
            descending=descending,
            cursor=query.get("cursor"),
            size=query["page_size"],
        )
        next_url = None
        if page.next_cursor:
            params = {key: value for key, value in request.query_params.items() if key != "cursor"}
            params["cursor"] = page.next_cursor
            next_url = request.build_absolute_uri(f"{request.path}?{urlencode(params)}")
        return Response({"results": s.LeadSerializer(page.items, many=True).data, "next": next_url})

    @extend_schema(
        operation_id="leads_create",
        tags=["leads"],
        request=s.LeadCreateSerializer,
        responses={
            201: s.LeadSerializer,
            409: OpenApiResponse(s.DuplicateSerializer, description="A lead with this e-mail exists: lead_id."),
            **COMMON_ERRORS,
        },
        summary="Create a lead",
    )
    def post(self, request: Request) -> Response:
        refuse_unwritable(request, writable_fields(request.user, s.LeadCreateSerializer))
        serializer = s.LeadCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        lead = lead_services.lead_create(
            actor=request.user,
            owner=values.pop("owner", None),
            attributes=values.pop("attributes", None),
            utm=values.pop("utm", None),
            **values,
        )
        lead = lead_selectors.lead_get_for_user(user=request.user, lead_id=lead.pk)
        return Response(lead_json(lead), status=status.HTTP_201_CREATED)


class LeadDetailView(ApiView):
    """One lead; another rep's lead answers 404."""

    permission_classes = [LeadPermissions]

    @extend_schema(
        operation_id="leads_retrieve",
        tags=["leads"],
        parameters=[LEAD_ID],
        responses={200: s.LeadSerializer, **NOT_FOUND, **COMMON_ERRORS},
        summary="Read a lead",
    )
    def get(self, request: Request, lead_id: int) -> Response:
        return Response(lead_json(get_lead(request, lead_id)))

    @extend_schema(
        operation_id="leads_partial_update",
        tags=["leads"],
        parameters=[LEAD_ID],
        request=s.LeadPatchSerializer,
        responses={
            200: s.LeadSerializer,
            409: OpenApiResponse(s.DuplicateSerializer, description="Another lead has this e-mail: lead_id."),
            **NOT_FOUND,
            **COMMON_ERRORS,
        },
        summary="Change a lead's fields (the stage moves through the transition endpoint)",
    )
    def patch(self, request: Request, lead_id: int) -> Response:
        lead = get_lead(request, lead_id)
        refuse_unwritable(request, writable_fields(request.user, s.LeadPatchSerializer))
        serializer = s.LeadPatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        with transaction.atomic():
            if "owner" in values:
                owner = values.pop("owner")
                if owner != lead.owner:
                    lead_services.lead_assign(lead=lead, owner=owner, actor=request.user)
            attributes = values.pop("attributes", None)
            if values or attributes is not None:
                lead_services.lead_update(lead=lead, actor=request.user, attributes=attributes, **values)
        return Response(lead_json(get_lead(request, lead_id)))


class LeadTransitionView(ApiView):
    """Stage moves, by the same lifecycle rules as the pages."""

    permission_classes = [LeadPermissions]

    @extend_schema(
        operation_id="leads_transition",
        tags=["leads"],
        parameters=[LEAD_ID],
        request=s.TransitionSerializer,
        responses={200: s.LeadSerializer, **NOT_FOUND, **COMMON_ERRORS},
        summary="Move a lead to another stage (400 when the move is not allowed)",
    )
    def post(self, request: Request, lead_id: int) -> Response:
        lead = get_lead(request, lead_id)
        serializer = s.TransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lead_services.lead_transition(
            lead=lead,
            to_stage=serializer.validated_data["stage"],
            reason=serializer.validated_data["reason"],
            lost_reason=serializer.validated_data["lost_reason"],
            actor=request.user,
        )
        return Response(lead_json(get_lead(request, lead_id)))


class LeadTimelineView(ApiView):
    """Everything that happened to a lead, newest first."""

    permission_classes = [LeadPermissions]

    @extend_schema(
        operation_id="leads_timeline",
        tags=["leads"],
        parameters=[LEAD_ID, s.TimelineQuerySerializer],
        responses={200: s.TimelineSerializer, **NOT_FOUND, **COMMON_ERRORS},
        summary="Events, activities, stage changes, score changes and messages, newest first",
    )
    def get(self, request: Request, lead_id: int) -> Response:
        lead = get_lead(request, lead_id)
        limit = valid_query(s.TimelineQuerySerializer, request)["limit"]
        entries = lead_timeline(lead=lead, limit=limit)
        return Response({"results": [timeline_entry_json(entry) for entry in entries]})


class FunnelView(ApiView):
    """The funnel over the leads within the user's reach."""

    permission_classes = [LeadPermissions]

    @extend_schema(
        operation_id="reports_funnel",
        tags=["reports"],
        parameters=[s.FunnelQuerySerializer],
        responses={200: s.FunnelSerializer, **COMMON_ERRORS},
        summary="Leads reaching each stage, and the conversion rates between stages",
    )
    def get(self, request: Request) -> Response:
        query = valid_query(s.FunnelQuerySerializer, request)
        report = funnel_report(
            user=request.user, start=query.get("start"), end=query.get("end"), group_by=query.get("group_by")
        )
        return Response(s.FunnelSerializer(report).data)


class NotFoundView(ApiView):
    """Any other path under /api/ answers a JSON 404."""

    permission_classes: list = []
    authentication_classes: list = []
    throttle_classes: list = []
    schema = None

    def handle(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise NotFound("No such API endpoint.")

    get = post = put = patch = delete = handle
