"""Forms of the lead pages. They only parse input; every write goes through ``leads.services``."""

import datetime
from decimal import Decimal
from typing import Any, cast

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Column, Div, Fieldset, Layout, Row
from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms.models import fields_for_model
from django.utils import timezone

from leads import roles
from leads.lifecycle import Move
from leads.models import Activity, CustomFieldDefinition, Lead, LeadSource, LostReason, Stage, Temperature
from leads.selectors import SORTS, LeadFilters, sees_all_leads
from leads.services import ACTIVITY_BODY_MAX, REASON_MAX, can_assign_any

User = AbstractBaseUser | AnonymousUser

SORT_CHOICES = [("score", "Score"), ("created", "Newest"), ("engaged", "Last engaged")]
ATTRIBUTE_PREFIX = "attr__"


def assignable_users() -> QuerySet:
    """People who can own leads: active reps and managers."""
    return (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=[roles.REP, roles.MANAGER])
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


def apply_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Put a service's field errors on the form's fields (the rest on the form itself)."""
    if hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            target = field if field in form.fields else None
            for message in messages:
                form.add_error(target, message if target else _prefixed(field, message))
    else:
        for message in error.messages:
            form.add_error(None, message)


def _prefixed(field: str, message: str) -> str:
    if field in ("__all__", "attributes"):
        return message
    return f"{field.replace('_', ' ').capitalize()}: {message}"


class OwnerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return obj.get_full_name() or obj.get_username()


class LeadFilterForm(forms.Form):
    """The search and filter bar of /leads/ (GET)."""

    q = forms.CharField(
        label="Search",
        required=False,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Name, e-mail, company or phone", "autocomplete": "off"}
        ),
    )
    stage = forms.ChoiceField(label="Stage", required=False, choices=[("", "All stages"), *Stage.choices])
    temperature = forms.ChoiceField(label="Temperature", required=False, choices=[("", "Any"), *Temperature.choices])
    owner = forms.ChoiceField(label="Owner", required=False)
    source = forms.ChoiceField(label="Source", required=False)
    sort = forms.ChoiceField(label="Sort by", required=False, choices=SORT_CHOICES)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        owners = [("", "Anyone"), ("me", "Me"), ("none", "Unassigned")]
        if sees_all_leads(user):
            owners += [(str(u.pk), u.get_full_name() or u.get_username()) for u in assignable_users()]
        cast(forms.ChoiceField, self.fields["owner"]).choices = owners
        cast(forms.ChoiceField, self.fields["source"]).choices = [("", "All sources")] + [
            (str(pk), name) for pk, name in LeadSource.objects.values_list("pk", "name")
        ]

    def filters(self) -> LeadFilters:
        # Without a query string the defaults apply; an invalid value (a tampered URL) is dropped
        # and the valid ones still filter.
        data: dict[str, Any] = {}
        if self.is_bound:
            self.is_valid()
            data = self.cleaned_data
        sort = data.get("sort") or "score"
        return LeadFilters(
            q=data.get("q", ""),
            stage=data.get("stage", ""),
            temperature=data.get("temperature", ""),
            owner=data.get("owner", ""),
            source=data.get("source", ""),
            sort=sort if sort in SORTS else "score",
        )

    @property
    def active_filter_count(self) -> int:
        if not self.is_bound:
            return 0
        self.is_valid()
        return sum(1 for name in ("q", "stage", "temperature", "owner", "source") if self.cleaned_data.get(name))


LEAD_FIELDS = [
    "first_name",
    "last_name",
    "email",
    "phone",
    "title",
    "company",
    "website",
    "company_size",
    "industry",
    "annual_revenue",
    "country",
    "city",
    "timezone",
    "source",
    "campaign",
    "email_opt_in",
    "do_not_call",
    "budget",
    "authority",
    "need",
    "timeline",
]


def _attribute_field(definition: CustomFieldDefinition) -> forms.Field:
    common: dict[str, Any] = {
        "label": definition.label,
        "required": definition.required,
        "help_text": definition.help_text,
    }
    kind = definition.field_type
    if kind == CustomFieldDefinition.FieldType.NUMBER:
        return forms.DecimalField(**common)
    if kind == CustomFieldDefinition.FieldType.DATE:
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if kind == CustomFieldDefinition.FieldType.BOOLEAN:
        return forms.TypedChoiceField(
            choices=[("", "—"), ("yes", "Yes"), ("no", "No")],
            coerce=lambda value: value == "yes",
            empty_value=None,
            **common,
        )
    if kind == CustomFieldDefinition.FieldType.CHOICE:
        return forms.ChoiceField(choices=[("", "—")] + [(c, c) for c in definition.choices or []], **common)
    return forms.CharField(max_length=1000, **common)


def _attribute_initial(definition: CustomFieldDefinition, value: Any) -> Any:
    if value is None:
        return None
    if definition.field_type == CustomFieldDefinition.FieldType.BOOLEAN:
        return "yes" if value else "no"
    return value


def _attribute_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


class LeadForm(forms.Form):
    """Create or edit a lead. Field definitions come from the model; custom attributes from the admin."""

    def __init__(self, *args: Any, user: User, lead: Lead | None = None, **kwargs: Any) -> None:
        if lead is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                name: getattr(lead, f"{name}_id" if name in ("source", "campaign") else name) for name in LEAD_FIELDS
            }
        super().__init__(*args, **kwargs)
        self.lead = lead
        self.fields["email"].required = True
        self.fields["email"].label = "E-mail"
        self.fields["timezone"].label = "Time zone"
        cast(forms.ModelChoiceField, self.fields["source"]).empty_label = "No source"
        cast(forms.ModelChoiceField, self.fields["campaign"]).empty_label = "No campaign"
        self.fields["annual_revenue"].widget.attrs["step"] = "1000"
        if lead is None and can_assign_any(user):
            self.fields["owner"] = OwnerChoiceField(
                queryset=assignable_users(), required=False, empty_label="Unassigned (pool)"
            )
        self.definitions = list(CustomFieldDefinition.objects.all())
        for definition in self.definitions:
            name = ATTRIBUTE_PREFIX + definition.key
            self.fields[name] = _attribute_field(definition)
            if lead is not None:
                self.initial[name] = _attribute_initial(definition, lead.attributes.get(definition.key))
        self.helper = self._helper()

    def _helper(self) -> FormHelper:
        helper = FormHelper()
        helper.form_tag = False
        sections = [
            Fieldset(
                "Contact",
                Row(Column("first_name"), Column("last_name")),
                Row(Column("email"), Column("phone")),
                Row(Column("title"), Column("owner") if "owner" in self.fields else Column()),
            ),
            Fieldset(
                "Company",
                Row(Column("company"), Column("website")),
                Row(Column("industry"), Column("company_size"), Column("annual_revenue")),
                Row(Column("country"), Column("city"), Column("timezone")),
            ),
            Fieldset("Source", Row(Column("source"), Column("campaign"))),
            Fieldset("Consent", Row(Column("email_opt_in"), Column("do_not_call"))),
            Fieldset(
                "Qualification (BANT)",
                Row(Column("budget"), Column("authority"), Column("timeline")),
                "need",
            ),
        ]
        if self.definitions:
            names = [ATTRIBUTE_PREFIX + d.key for d in self.definitions]
            sections.append(Fieldset("Custom attributes", Row(*[Column(n, css_class="col-md-4") for n in names])))
        helper.layout = Layout(*[Div(section, css_class="form-section") for section in sections], HTML(""))
        return helper

    def service_fields(self) -> dict[str, Any]:
        """The cleaned values as keyword arguments for ``lead_create`` / ``lead_update``."""
        data = self.cleaned_data
        fields = {name: data[name] for name in LEAD_FIELDS if name in data}
        for name in ("company_size", "annual_revenue"):
            if name in fields and fields[name] == "":
                fields[name] = None
        return fields

    def attributes(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for definition in self.definitions:
            value = self.cleaned_data.get(ATTRIBUTE_PREFIX + definition.key)
            values[definition.key] = "" if value is None else _attribute_value(value)
        return values

    def add_service_error(self, error: ValidationError) -> None:
        if hasattr(error, "error_dict") and "attributes" in error.error_dict:
            # The service reports custom attributes as one list; show them at the top of the form.
            for message in error.message_dict["attributes"]:
                self.add_error(None, message)
            rest = {k: v for k, v in error.error_dict.items() if k != "attributes"}
            if rest:
                apply_service_errors(self, ValidationError(rest))
            return
        apply_service_errors(self, error)


# Built from the model's own field definitions (labels, lengths, choices); a plain Form, not a
# ModelForm, so that saving can only happen through the services.
LeadForm.base_fields = fields_for_model(
    Lead,
    fields=LEAD_FIELDS,
    widgets={
        "need": forms.Textarea(attrs={"rows": 2}),
        "email": forms.EmailInput(attrs={"autocomplete": "off"}),
    },
    labels={"email_opt_in": "Opted in to marketing e-mail", "do_not_call": "Do not call"},
)


class ActivityForm(forms.Form):
    """The quick "log activity" form on the lead page."""

    kind = forms.ChoiceField(
        label="Type", choices=Activity.Kind.choices, initial=Activity.Kind.CALL, widget=forms.RadioSelect
    )
    subject = forms.CharField(label="Subject", max_length=200, required=False)
    body = forms.CharField(
        label="Notes",
        required=False,
        max_length=ACTIVITY_BODY_MAX,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What happened?"}),
    )
    due_at = forms.DateTimeField(
        label="Due",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Times are read and shown in the site's time zone (TIME_ZONE): say which.
        self.fields["due_at"].label = f"Due ({timezone.get_current_timezone_name()} time)"

    def service_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"kind": data["kind"], "subject": data["subject"], "body": data["body"], "due_at": data["due_at"]}


class TransitionForm(forms.Form):
    """Move a lead to one of the stages the lifecycle allows from where it is."""

    to_stage = forms.ChoiceField(label="Move to")
    lost_reason = forms.ChoiceField(label="Lost reason", required=False, choices=[("", "Choose…"), *LostReason.choices])
    reason = forms.CharField(
        label="Reason",
        required=False,
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Why? (needed to lose, recycle or reopen)"}),
    )

    def __init__(self, *args: Any, targets: list[tuple[str, Move]], stage: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.targets = targets
        field = cast(forms.ChoiceField, self.fields["to_stage"])
        field.choices = [("", "Choose a stage…")] + [(target, Stage(target).label) for target, _move in targets]
        if stage:
            # A page shown before the lead moved offers moves from where it was.
            field.error_messages["invalid_choice"] = (
                f"This lead is now at the stage \u201c{Stage(stage).label}\u201d: it cannot move to the "
                "stage chosen from there. Choose again from the stages below."
            )

    @property
    def target_moves(self) -> list[dict[str, Any]]:
        return [
            {
                "stage": stage,
                "label": Stage(stage).label,
                "transition": move.transition,
                "needs_reason": move.needs_reason,
            }
            for stage, move in self.targets
        ]
