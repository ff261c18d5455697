"""The HTTP API: thin views over the services and selectors that the pages use too.

Read-only fields (``id``, ``stage``, ``temperature``, the scores, timestamps, ``utm`` after
creation, and ``owner`` for anyone without the ``leads.assign_lead`` permission) are refused:
a request that sends one gets 400 naming it and nothing is written. Unknown fields are
refused the same way.
"""

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from api import serializers as s
from api.authentication import CachedTokenAuthentication
from api.errors import NON_FIELD_ERRORS, BadRequest, RequestTooLarge, field_errors
from api.events import MAX_BATCH, NOT_AN_OBJECT, parse_event
from api.parsers import ExactJSONParser
from api.permissions import LEAD_PERMISSIONS, RolePermissions
from api.timeline import lead_timeline_json
from core.errors import LeadErased
from core.pagination import keyset_page
from core.text import is_whole_number
from leads import selectors as lead_selectors
from leads import services as lead_services
from leads.models import Lead, LeadSource
from reports.selectors import funnel_report
from scoring import selectors as scoring_selectors
from scoring import services as scoring_services

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
    """Base of every endpoint: refuses an oversized body before anything reads it, and query
    parameters that the method does not take once the user is known."""

    throttle_scope = "api"
    authentication_classes = [CachedTokenAuthentication, SessionAuthentication]
    permission_classes = [RolePermissions]
    # The serializer of each method's query parameters; a method not named here takes none.
    query_serializers: dict[str, type[serializers.Serializer]] = {}
    strict_query = True

    def get_authenticators(self) -> list[Any]:
        # The token authentication counts the throttle hit too (one cache round trip for both).
        return [
            auth(throttle_scope=self.throttle_scope) if auth is CachedTokenAuthentication else auth()
            for auth in self.authentication_classes
        ]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.API_MAX_BODY_BYTES:
            raise RequestTooLarge()
        super().initial(request, *args, **kwargs)
        method = "GET" if request.method == "HEAD" else (request.method or "")
        # (a method the view lacks is answered 405 afterwards, whatever its query)
        if self.strict_query and request.query_params and hasattr(self, method.lower()):
            refuse_unknown_query_parameters(request, self.query_serializers.get(method))


def refuse_unknown_query_parameters(request: Request, serializer_class: type[serializers.Serializer] | None) -> None:
    """400 naming each query parameter that the endpoint does not take (``format`` is DRF's own)."""
    known = list(serializer_class().fields) if serializer_class is not None else []
    unknown = [key for key in request.query_params if key not in known and key != api_settings.URL_FORMAT_OVERRIDE]
    errors: dict[str, list[str]] = {}
    if unknown:
        message = (
            f"Unknown query parameter. Known: {', '.join(known)}."
            if known
            else "Unknown query parameter: this endpoint takes none."
        )
        errors = {key: [message] for key in unknown}
    for key in request.query_params:
        if key not in errors and len(request.query_params.getlist(key)) > 1:
            # ?stage=mql&stage=sql would otherwise mean the last one, silently.
            errors[key] = ["Give this parameter once (one value each)."]
    if errors:
        raise ValidationError(errors)


def get_lead(request: Request, lead_id: int) -> Lead:
    if lead_id > MAX_ID:
        raise NotFound("No such lead.")
    try:
        return lead_selectors.lead_get_for_user(user=request.user, lead_id=lead_id)
    except Http404:
        raise NotFound("No such lead.") from None


def valid_query(serializer_class: type, request: Request) -> dict[str, Any]:
    # A plain dict, not the QueryDict: an empty value is refused instead of read as "not given".
    serializer = serializer_class(data=request.query_params.dict())
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def lead_json(lead: Lead) -> dict[str, Any]:
    return s.LeadSerializer(lead).data


def valid_body(
    request: Request, serializer_class: type, writable: set[str], *, lead: Lead | None = None
) -> dict[str, Any]:
    """The body's values, checked by ``serializer_class``; else 400 naming every problem at once:
    fields the user may not write, bad values and, for a lead, custom attributes that the
    service would refuse. A body that is not an object is a 400 as a whole."""
    data = request.data
    if not isinstance(data, dict):
        raise BadRequest("Send a JSON object.")
    errors: dict[str, Any] = {}
    for key in data:
        if key in writable:
            continue
        if key == "owner":
            errors[key] = ["Only a user who may assign leads can set the owner."]
        elif key in s.LeadSerializer.Meta.fields:
            errors[key] = ["This field is read-only."]
        else:
            errors[key] = ["Unknown field."]
    serializer = serializer_class(data={key: value for key, value in data.items() if key not in errors})
    if serializer.is_valid() and not errors:
        return dict(serializer.validated_data)
    errors.update(serializer.errors)
    attributes = data.get("attributes")
    if "attributes" in writable and isinstance(attributes, dict) and "attributes" not in errors:
        # The service checks them against the admin's definitions only once everything else is
        # right; ask it now, so that one answer names them too.
        messages = lead_services.lead_attribute_errors(attributes=attributes, lead=lead)
        if messages:
            errors["attributes"] = messages
    raise ValidationError(errors)


def writable_fields(user: Any, serializer_class: type) -> set[str]:
    fields = set(serializer_class().fields)
    if not lead_services.can_assign_any(user):
        fields.discard("owner")
    return fields


class LeadListView(ApiView):
    """Leads within the user's reach (a rep: their own and the unassigned pool)."""

    required_permissions = {**LEAD_PERMISSIONS, "POST": ("leads.add_lead",)}
    parser_classes = [ExactJSONParser]  # an amount sent as a JSON number is read as written
    query_serializers = {"GET": s.LeadListQuerySerializer}

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
            elif is_whole_number(owner) and len(owner) <= 18:
                leads = leads.filter(owner_id=int(owner))
            else:
                leads = leads.filter(owner__username=owner)
        source = query.get("source")
        if source is not None:
            if is_whole_number(source) and len(source) <= 18:
                leads = leads.filter(source_id=int(source))
            else:
                leads = leads.filter(source__in=LeadSource.objects.filter(name=source))
        if "cursor" in query and not s.cursor_fits(query["cursor"], query["ordering"]):
            raise ValidationError({"cursor": ["Not a cursor of this ordering; use the next link of a page."]})
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
        examples=[
            OpenApiExample(
                "A lead from a trade fair",
                value={
                    "email": "ada@engines.example",
                    "first_name": "Ada",
                    "last_name": "Lovelace",
                    "company": "Analytical Engines",
                    "title": "CTO",
                    "company_size": 40,
                    "source": "Website",
                    "utm": {"utm_source": "fair", "utm_campaign": "autumn"},
                },
                request_only=True,
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        values = valid_body(request, s.LeadCreateSerializer, writable_fields(request.user, s.LeadCreateSerializer))
        lead = scoring_services.lead_create_scored(
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

    parser_classes = [ExactJSONParser]  # an amount sent as a JSON number is read as written

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
        if lead.is_erased:
            raise LeadErased()  # before the body's own problems: no change to it can be right
        values = valid_body(
            request, s.LeadPatchSerializer, writable_fields(request.user, s.LeadPatchSerializer), lead=lead
        )
        with transaction.atomic():
            if "owner" in values:
                owner = values.pop("owner")
                if owner != lead.owner:
                    lead_services.lead_assign(lead=lead, owner=owner, actor=request.user)
            attributes = values.pop("attributes", None)
            if values or attributes is not None:
                scoring_services.lead_update_scored(lead=lead, actor=request.user, attributes=attributes, **values)
        return Response(lead_json(get_lead(request, lead_id)))


class LeadTransitionView(ApiView):
    """Stage moves, by the same lifecycle rules as the pages."""

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
        values = valid_body(request, s.TransitionSerializer, set(s.TransitionSerializer().fields))
        lead_services.lead_transition(
            lead=lead,
            to_stage=values["stage"],
            reason=values["reason"],
            lost_reason=values["lost_reason"],
            actor=request.user,
        )
        return Response(lead_json(get_lead(request, lead_id)))


class LeadTimelineView(ApiView):
    """Everything that happened to a lead, newest first."""

    query_serializers = {"GET": s.TimelineQuerySerializer}

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
        return Response({"results": lead_timeline_json(lead=lead, limit=limit)})


class LeadScoreView(ApiView):
    """Why a lead has its score."""

    @extend_schema(
        operation_id="leads_score",
        tags=["leads"],
        parameters=[LEAD_ID],
        responses={200: s.ScoreSerializer, **NOT_FOUND, **COMMON_ERRORS},
        summary="The lead's score with the rules and events that made it, under which model version",
    )
    def get(self, request: Request, lead_id: int) -> Response:
        lead = get_lead(request, lead_id)
        return Response(s.ScoreSerializer(scoring_selectors.lead_score_explanation(lead=lead)).data)


def event_json(result: scoring_services.EventResult) -> dict[str, Any]:
    lead = result.lead
    return {
        "id": result.event.pk if result.event is not None else None,
        "lead_id": lead.pk,
        "duplicate": result.duplicate,
        "score": lead.score,
        "temperature": lead.temperature,
        "stage": lead.stage,
    }


def reach_errors(user: Any, items: list[dict[str, Any]]) -> dict[int, dict[str, list[str]]]:
    """Items naming a lead outside the user's reach (another rep's), by position; two queries at most."""
    if lead_selectors.sees_all_leads(user):
        return {}
    errors: dict[int, dict[str, list[str]]] = {}
    lead_ids = {item["lead_id"] for item in items if "lead_id" in item}
    if lead_ids:
        reachable = set(lead_selectors.lead_visible_to(user).filter(pk__in=lead_ids).values_list("id", flat=True))
        for index, item in enumerate(items):
            if "lead_id" in item and item["lead_id"] not in reachable:
                errors[index] = {"lead_id": ["No such lead."]}
    emails = {lead_services.normalize_email(item["email"]) for item in items if "email" in item}
    if emails:
        beyond = set(
            Lead.objects.filter(email__in=emails)
            .exclude(pk__in=lead_selectors.lead_visible_to(user))
            .values_list("email", flat=True)
        )
        for index, item in enumerate(items):
            if "email" in item and lead_services.normalize_email(item["email"]) in beyond:
                errors[index] = {"email": ["This e-mail belongs to a lead outside your reach."]}
    return errors


EVENTS_IN = PolymorphicProxySerializer(
    component_name="EventOrEvents",
    serializers=[s.EventInSerializer, s.EventInSerializer(many=True)],
    resource_type_field_name=None,
    many=False,
)
EVENTS_OUT = PolymorphicProxySerializer(
    component_name="EventResultOrResults",
    serializers=[s.EventOutSerializer, s.EventOutItemSerializer(many=True)],
    resource_type_field_name=None,
    many=False,
)


class EventsView(ApiView):
    """Engagement events from integrations; each re-scores its lead at once."""

    # an unknown e-mail creates a raw lead
    required_permissions = {"POST": ("scoring.add_engagementevent", "leads.add_lead")}
    throttle_scope = "events"

    @extend_schema(
        operation_id="events_create",
        tags=["events"],
        request=EVENTS_IN,
        responses={
            201: EVENTS_OUT,
            207: OpenApiResponse(
                s.EventOutItemSerializer(many=True), description="A list where some items failed: see their errors."
            ),
            409: OpenApiResponse(
                s.KeyConflictSerializer,
                description="The idempotency key was used before for another lead or type: event_id.",
            ),
            **NOT_FOUND,
            **COMMON_ERRORS,
        },
        summary="Log one event (an object) or up to 1,000 (a list, answered in the same order)",
        examples=[
            OpenApiExample(
                "One event for a lead",
                value={
                    "lead_id": 1,
                    "type": "pricing_page_view",
                    "properties": {"url": "/pricing"},
                    "idempotency_key": "web-7f3a91",
                },
                request_only=True,
            ),
            OpenApiExample(
                "One event by e-mail (an unknown address becomes a new lead)",
                value={"email": "ada@example.com", "type": "demo_request", "occurred_at": "2026-11-20T14:05:00Z"},
                request_only=True,
            ),
            OpenApiExample(
                "A list",
                value=[
                    {"lead_id": 1, "type": "email_open", "idempotency_key": "mail-1-open"},
                    {"lead_id": 1, "type": "email_click", "idempotency_key": "mail-1-click"},
                ],
                request_only=True,
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        if isinstance(request.data, list):
            return self._post_many(request, request.data)
        if not isinstance(request.data, dict):
            raise BadRequest("Send an event (a JSON object) or a list of events.")
        item, errors = parse_event(request.data)
        if errors:
            raise ValidationError(errors)
        lead_id = None
        if "lead_id" in item:
            # The service locks the lead by id (no instance needed); a missing one is a 404 below.
            lead_id = item["lead_id"]
            visible = lead_selectors.sees_all_leads(request.user) or (
                lead_selectors.lead_visible_to(request.user).filter(pk=lead_id).exists()
            )
            if not visible:
                raise NotFound("No such lead.")
        else:
            beyond = reach_errors(request.user, [item])
            if beyond:
                raise ValidationError(beyond[0])
        try:
            result = scoring_services.event_log(
                event_type=item["type"],
                lead_id=lead_id,
                email=item.get("email"),
                occurred_at=item.get("occurred_at"),
                properties=item.get("properties"),
                idempotency_key=item.get("idempotency_key"),
                source="api",
                actor=request.user,
            )
        except Lead.DoesNotExist:
            raise NotFound("No such lead.") from None
        return Response(event_json(result), status=status.HTTP_201_CREATED)

    def _post_many(self, request: Request, raw_items: list[Any]) -> Response:
        if not raw_items:
            raise BadRequest("Send at least one event.")
        if len(raw_items) > MAX_BATCH:
            raise BadRequest(f"Send at most {MAX_BATCH:,} events at once.")
        answers: list[dict[str, Any] | None] = [None] * len(raw_items)
        valid: list[tuple[int, dict[str, Any]]] = []
        for index, raw in enumerate(raw_items):
            if not isinstance(raw, dict):
                answers[index] = {"errors": {NON_FIELD_ERRORS: [NOT_AN_OBJECT]}}
                continue
            item, errors = parse_event(raw)
            if errors:
                answers[index] = {"errors": errors}
            else:
                valid.append((index, item))
        beyond = reach_errors(request.user, [item for _, item in valid])
        for position in sorted(beyond):
            answers[valid[position][0]] = {"errors": beyond[position]}
        logged = [(index, item) for position, (index, item) in enumerate(valid) if position not in beyond]
        if logged:
            results = scoring_services.event_log_batch(
                items=[item for _, item in logged], source="api", actor=request.user
            )
            for (index, _), result in zip(logged, results, strict=True):
                if isinstance(result, DjangoValidationError):
                    answers[index] = {"errors": field_errors(result)}
                else:
                    answers[index] = event_json(result)
        failed = any("errors" in answer for answer in answers if answer is not None)
        return Response(answers, status=status.HTTP_207_MULTI_STATUS if failed else status.HTTP_201_CREATED)


class EventTypesView(ApiView):
    """The event types that integrations may post."""

    required_permissions = {"GET": ("scoring.view_eventtype",)}

    @extend_schema(
        operation_id="event_types_list",
        tags=["events"],
        responses={200: s.EventTypeListSerializer, **COMMON_ERRORS},
        summary="The configured (active) event types",
    )
    def get(self, request: Request) -> Response:
        types = scoring_selectors.event_types()
        return Response({"results": s.EventTypeSerializer(types, many=True).data})


class FunnelView(ApiView):
    """The funnel over the leads within the user's reach."""

    query_serializers = {"GET": s.FunnelQuerySerializer}

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
    strict_query = False
    schema = None

    def handle(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise NotFound("No such API endpoint.")

    get = post = put = patch = delete = handle


# The browsable docs are served offline: their pages may load scripts, styles, images and the
# schema from this site only. Redoc shows a logo from its vendor's CDN in its menu, which no
# setting turns off; the policy keeps the browser from asking for it (Redoc then leaves it out).
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'"
)


class _OfflineDocs:
    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        response["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
        return response


class SwaggerDocsView(_OfflineDocs, SpectacularSwaggerView):
    """Swagger UI ("Try it out") from drf-spectacular-sidecar's static files."""


class RedocDocsView(_OfflineDocs, SpectacularRedocView):
    """Redoc from drf-spectacular-sidecar's static files, in the system's fonts."""
