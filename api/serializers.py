"""Request and response shapes of the API.

Input serializers only check types and sizes; the business rules live in the services,
whose field errors come back as 400. Output serializers are read-only views of records.
"""

import datetime
import re
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.pagination import _decode as keyset_decode
from leads.models import Campaign, Lead, LeadSource, LostReason, Stage, Temperature, validate_website
from leads.services import UTM_KEYS
from leads.timezones import validate_time_zone

User = get_user_model()

_MAX_POSITIVE_INT = 2_147_483_647


def _max_length(field: str) -> int:
    model_field = Lead._meta.get_field(field)
    assert isinstance(model_field, models.Field) and model_field.max_length is not None
    return model_field.max_length


def contains_nul(value: Any) -> bool:
    """True when a NUL character hides anywhere in a JSON value (PostgreSQL cannot store it)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(key) or contains_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(contains_nul(item) for item in value)
    return False


class JsonObjectField(serializers.DictField):
    """A JSON object of any values, refused when it carries NUL characters."""

    default_error_messages = {
        "not_a_dict": 'Send an object of keys and values, e.g. {{"plan": "Pro"}} (not {input_type}).',
    }

    def to_internal_value(self, data: Any) -> dict:
        value = super().to_internal_value(data)
        if contains_nul(value):
            raise serializers.ValidationError("Null characters are not allowed.")
        return value


class _JsonTyped:
    """A field that takes only the JSON type its schema names: DRF would also turn ``7`` into
    ``"7"``, ``"7"`` into 7 and ``1`` into true, which the published schema does not allow."""

    json_types: tuple[type, ...] = ()
    type_message = ""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, self.json_types) or (isinstance(data, bool) and bool not in self.json_types):
            raise serializers.ValidationError(self.type_message)
        return super().to_internal_value(data)  # type: ignore[misc]


class TextField(_JsonTyped, serializers.CharField):
    json_types = (str,)
    type_message = "Send text (a JSON string)."


class EmailAddressField(_JsonTyped, serializers.EmailField):
    json_types = (str,)
    type_message = "Send the address as text (a JSON string)."


class WholeNumberField(_JsonTyped, serializers.IntegerField):
    json_types = (int,)
    type_message = "Send a whole number (a JSON number)."


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "format": "decimal", "pattern": r"^-?\d{0,13}(?:\.\d{0,2})?$"},
            {"type": "number", "minimum": 0, "maximum": 10_000_000_000_000, "exclusiveMaximum": True},
        ],
        "description": 'An amount as text ("12500.00", as the API answers it) or as a JSON number '
        "(12500, 12500.5), read exactly as written: at most 13 digits before the point and 2 after.",
    }
)
class AmountField(serializers.DecimalField):
    """An amount as text or as a JSON number. The lead endpoints parse numbers with a fraction as
    ``Decimal`` (``api.parsers.ExactJSONParser``), so a number is read exactly as written and
    checked as its text would be; a float (from another parser) is refused rather than rounded."""

    type_message = 'Send the amount as a number or as text, e.g. 12500 or "12500.00".'

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_digits=15, decimal_places=2, **kwargs)

    def to_internal_value(self, data: Any) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, str | int | Decimal):
            raise serializers.ValidationError(self.type_message)
        return super().to_internal_value(data if isinstance(data, str) else str(data))


class YesNoField(_JsonTyped, serializers.BooleanField):
    json_types = (bool,)
    type_message = "Send true or false."


# ---- leads -----------------------------------------------------------------------------


class NameField(serializers.SlugRelatedField):
    """A related record by name; null clears it. An empty string is refused (DRF reads it as null)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        queryset = kwargs.get("queryset")
        if queryset is not None:
            kind = queryset.model._meta.verbose_name
            self.error_messages["does_not_exist"] = f"There is no {kind} named “{{value}}”."

    def run_validation(self, data: Any = serializers.empty) -> Any:
        if data == "":
            raise serializers.ValidationError("Give a name, or null for none.")
        return super().run_validation(data)


class UtmSerializer(serializers.Serializer):
    first_touch = serializers.DictField(child=serializers.CharField())
    last_touch = serializers.DictField(child=serializers.CharField())


class LeadSerializer(serializers.ModelSerializer):
    """A lead as the API answers it. Every field here is read-only; see the input serializers."""

    source = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    campaign = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    utm = serializers.SerializerMethodField()
    stage = serializers.ChoiceField(choices=Stage.values, read_only=True)
    temperature = serializers.ChoiceField(choices=Temperature.values, read_only=True)
    lost_reason = serializers.CharField(read_only=True)
    attributes = serializers.DictField(read_only=True)

    class Meta:
        model = Lead
        fields = [
            "id",
            "email",
            "first_name",
            "last_name",
            "company",
            "title",
            "phone",
            "website",
            "company_size",
            "industry",
            "country",
            "city",
            "annual_revenue",
            "timezone",
            "source",
            "campaign",
            "owner",
            "stage",
            "lost_reason",
            "temperature",
            "score",
            "fit_score",
            "engagement_score",
            "created_at",
            "updated_at",
            "stage_entered_at",
            "last_engaged_at",
            "first_touched_at",
            "utm",
            "attributes",
            "email_opt_in",
            "unsubscribed",
            "do_not_call",
            "budget",
            "authority",
            "need",
            "timeline",
        ]
        read_only_fields = fields

    @extend_schema_field(UtmSerializer)
    def get_utm(self, lead: Lead) -> dict[str, dict[str, str]]:
        return {"first_touch": lead.first_touch_utm or {}, "last_touch": lead.last_touch_utm or {}}


class LeadUpdateSerializer(serializers.Serializer):
    """Fields a person may change; ``owner`` only with the ``leads.assign_lead`` permission."""

    email = EmailAddressField(max_length=254)
    first_name = TextField(max_length=_max_length("first_name"), allow_blank=True)
    last_name = TextField(max_length=_max_length("last_name"), allow_blank=True)
    phone = TextField(max_length=_max_length("phone"), allow_blank=True)
    title = TextField(max_length=_max_length("title"), allow_blank=True)
    company = TextField(max_length=_max_length("company"), allow_blank=True)
    website = TextField(max_length=_max_length("website"), allow_blank=True, validators=[validate_website])
    company_size = WholeNumberField(min_value=0, max_value=_MAX_POSITIVE_INT, allow_null=True)
    industry = TextField(max_length=_max_length("industry"), allow_blank=True)
    country = TextField(max_length=_max_length("country"), allow_blank=True)
    city = TextField(max_length=_max_length("city"), allow_blank=True)
    annual_revenue = AmountField(min_value=0, allow_null=True)
    timezone = TextField(max_length=_max_length("timezone"), allow_blank=True, validators=[validate_time_zone])
    source = NameField(slug_field="name", queryset=LeadSource.objects.all(), allow_null=True)
    campaign = NameField(slug_field="name", queryset=Campaign.objects.all(), allow_null=True)
    owner = NameField(slug_field="username", queryset=User.objects.filter(is_active=True), allow_null=True)
    attributes = JsonObjectField()
    email_opt_in = YesNoField()
    do_not_call = YesNoField()
    budget = TextField(max_length=_max_length("budget"), allow_blank=True)
    authority = TextField(max_length=_max_length("authority"), allow_blank=True)
    need = TextField(max_length=5000, allow_blank=True)
    timeline = TextField(max_length=_max_length("timeline"), allow_blank=True)


class UtmInSerializer(serializers.Serializer):
    """UTM parameters, click ids and the referrer; unknown keys are refused."""

    def get_fields(self) -> dict[str, serializers.Field]:
        return {key: TextField(max_length=500, allow_blank=True, required=False) for key in UTM_KEYS}


@extend_schema_field(UtmInSerializer)
class UtmField(serializers.Field):
    """``utm`` of a new lead: its errors are one flat list, like every other field's, each naming its key."""

    default_error_messages = {
        "not_an_object": 'Send an object of UTM parameters, e.g. {{"utm_source": "google"}}.',
    }

    def to_internal_value(self, data: Any) -> dict[str, str]:
        if not isinstance(data, dict):
            self.fail("not_an_object")
        known = UtmInSerializer().fields
        messages: list[str] = []
        unknown = sorted(key for key in data if key not in known)
        if unknown:
            messages.append(f"Unknown keys: {', '.join(unknown)}. Known: {', '.join(UTM_KEYS)}.")
        values: dict[str, str] = {}
        for key, field in known.items():
            if key not in data:
                continue
            try:
                values[key] = field.run_validation(data[key])
            except serializers.ValidationError as exc:
                messages += [f"{key}: {message}" for message in exc.detail]
        if messages:
            raise serializers.ValidationError(messages)
        return values

    def to_representation(self, value: dict[str, str]) -> dict[str, str]:
        return value


class LeadCreateSerializer(LeadUpdateSerializer):
    """A new lead: ``email`` is required; ``utm`` sets both first and last touch."""

    utm = UtmField()

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        for name, field in fields.items():
            field.required = name == "email"
        return fields


class LeadPatchSerializer(LeadUpdateSerializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        for field in fields.values():
            field.required = False
        return fields


class TransitionSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(choices=Stage.values)
    reason = TextField(max_length=2000, allow_blank=True, required=False, default="")
    lost_reason = serializers.ChoiceField(
        choices=LostReason.values, required=False, default="", allow_blank=True, help_text="Needed to mark a lead lost."
    )


# ---- list filters ------------------------------------------------------------------------


class QueryIntegerField(serializers.IntegerField):
    """An integer written with digits only (DRF's own also takes "1.0")."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, str) and not re.fullmatch(r"-?[0-9]{1,18}", data):
            self.fail("invalid")
        return super().to_internal_value(data)


ORDERINGS = {
    "-score": ("score", True),
    "score": ("score", False),
    "-created_at": ("created_at", True),
    "created_at": ("created_at", False),
    "-last_engaged_at": ("last_engaged_at", True),
    "last_engaged_at": ("last_engaged_at", False),
}


class LeadListQuerySerializer(serializers.Serializer):
    stage = serializers.ChoiceField(choices=Stage.values, required=False)
    temperature = serializers.ChoiceField(choices=Temperature.values, required=False)
    owner = serializers.CharField(
        required=False, max_length=150, help_text='A username, a user id, "me" or "none" (the unassigned pool).'
    )
    source = serializers.CharField(required=False, max_length=100, help_text="A source name or id.")
    q = serializers.CharField(required=False, max_length=200, help_text="Searches e-mail, name and company.")
    min_score = QueryIntegerField(required=False, min_value=0, max_value=100)
    ordering = serializers.ChoiceField(choices=list(ORDERINGS), required=False, default="-score")
    cursor = serializers.CharField(required=False, max_length=500, help_text="From the previous page's next link.")
    page_size = QueryIntegerField(required=False, min_value=1, max_value=200, default=50)


def cursor_fits(cursor: str, ordering: str) -> bool:
    """True when ``cursor`` is a position of the ``ordering`` sort (a number for the score, a time
    or null for the dates) with an id in range; keyset pagination trusts what it decodes."""
    position = keyset_decode(cursor)
    if position is None:
        return False
    value, pk = position
    if not 0 < pk < 2**63:
        return False
    if ORDERINGS[ordering][0] == "score":
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100
    return value is None or (isinstance(value, datetime.datetime) and value.tzinfo is not None)


class LeadPageSerializer(serializers.Serializer):
    results = LeadSerializer(many=True)
    next = serializers.URLField(allow_null=True, help_text="The next page's URL, or null on the last page.")


# ---- score, timeline, events ------------------------------------------------------------


class ContributionSerializer(serializers.Serializer):
    """One rule's part of the score; ``kind`` is ``fit`` or ``engagement``."""

    rule = serializers.CharField()
    kind = serializers.CharField()
    points = serializers.FloatField()
    events = serializers.IntegerField(required=False)
    awarded = serializers.FloatField(required=False)


class ScoreSerializer(serializers.Serializer):
    score = serializers.IntegerField()
    fit_score = serializers.FloatField()
    engagement_score = serializers.FloatField()
    temperature = serializers.ChoiceField(choices=Temperature.values)
    model_version = serializers.IntegerField(allow_null=True)
    contributions = ContributionSerializer(many=True)
    next_cooling_at = serializers.DateTimeField(allow_null=True, required=False)


class TimelineSerializer(serializers.Serializer):
    results = serializers.ListField(child=serializers.DictField())


class TimelineQuerySerializer(serializers.Serializer):
    limit = QueryIntegerField(required=False, min_value=1, max_value=500, default=100)


class EventInSerializer(serializers.Serializer):
    """One engagement event. Give ``lead_id`` or ``email`` (an unknown e-mail creates a raw lead)."""

    # null is the same as leaving a field out (api.events.parse_event reads them so)
    lead_id = serializers.IntegerField(required=False, min_value=1, allow_null=True)
    email = serializers.EmailField(required=False, max_length=254, allow_null=True)
    type = serializers.CharField(max_length=50)
    occurred_at = serializers.DateTimeField(required=False, allow_null=True)
    properties = JsonObjectField(required=False, allow_null=True)
    idempotency_key = serializers.CharField(required=False, max_length=200, allow_null=True)


class EventOutSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    lead_id = serializers.IntegerField()
    duplicate = serializers.BooleanField()
    score = serializers.IntegerField()
    temperature = serializers.ChoiceField(choices=Temperature.values)
    stage = serializers.ChoiceField(choices=Stage.values)


class EventOutItemSerializer(EventOutSerializer):
    """One item of a list's answer: the logged event, or only ``errors`` when it failed."""

    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        for field in fields.values():
            field.required = False
        return fields


class EventTypeSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    category = serializers.CharField()


class EventTypeListSerializer(serializers.Serializer):
    results = EventTypeSerializer(many=True)


# ---- reports -----------------------------------------------------------------------------


class FunnelQuerySerializer(serializers.Serializer):
    start = serializers.DateField(required=False, help_text="First day (inclusive) of lead creation.")
    end = serializers.DateField(required=False, help_text="Last day (inclusive) of lead creation.")
    group_by = serializers.ChoiceField(choices=["source", "campaign", "owner"], required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("start") and attrs.get("end") and attrs["end"] < attrs["start"]:
            raise serializers.ValidationError({"end": ["The end comes before the start."]})
        return attrs


class FunnelRowSerializer(serializers.Serializer):
    group = serializers.CharField(allow_null=True)
    counts = serializers.DictField(child=serializers.IntegerField())
    rates = serializers.DictField(child=serializers.FloatField(allow_null=True))


class FunnelSerializer(serializers.Serializer):
    start = serializers.DateField(allow_null=True)
    end = serializers.DateField(allow_null=True)
    group_by = serializers.CharField(allow_null=True)
    stages = serializers.ListField(child=serializers.CharField())
    rows = FunnelRowSerializer(many=True)


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class DuplicateSerializer(serializers.Serializer):
    detail = serializers.CharField()
    lead_id = serializers.IntegerField(
        required=False, help_text="The lead that has the e-mail; left out when it is another rep's."
    )


class KeyConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    event_id = serializers.IntegerField()
