"""Every write of the scoring app: events, re-scoring, cooling, model versions.

``event_log`` is the only way an event enters the system. It re-scores the lead in the same
transaction with a bounded number of queries whatever the lead's history: lock the lead
(with the active model version), insert the event (a repeated idempotency key conflicts and
is reported as a duplicate), update the lead, update its scoring state, insert the
score-history row, and a stage-history row only when a stage rule moves the lead.

Threshold side effects (nurture enrolment, speed-to-lead tasks) belong to the apps above
this one; they react to the lead's columns and history rows, never to a re-score.
"""

from __future__ import annotations

import datetime
import functools
import json
import operator
import time
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import wait
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import Field, Model, Q
from django.db.models.base import ModelState
from django.db.models.functions import Lower
from django.db.models.signals import post_init, pre_init
from django.utils import timezone

from core.db import (
    array_literal,
    copy_in,
    copy_value,
    execute_prepared,
    instances_from_rows,
    json_text,
    json_value,
    parallel_writes,
    run_beside,
    unnest_params,
    unsized_array,
)
from core.errors import IdempotencyKeyConflict, LeadErased
from leads import lifecycle
from leads.models import RESERVED_EMAIL_MESSAGE, CustomFieldDefinition, Lead, StageChange, is_reserved_email
from leads.services import lead_create, lead_update, normalize_email
from scoring import engine, rules
from scoring.models import (
    EngagementEvent,
    EngagementRule,
    EventType,
    FitRule,
    LeadScoringState,
    RescoreRun,
    ScoreChange,
    ScoringModel,
    StageRule,
)

User = AbstractBaseUser | AnonymousUser

FUTURE_TOLERANCE = datetime.timedelta(minutes=5)
MAX_BATCH = 1000
MAX_ID = 2**63 - 1  # the largest id a bigint holds
UNSUBSCRIBE_EVENT = "unsubscribe"
EVENT_TYPE_CACHE_SECONDS = 30.0


@dataclass
class EventResult:
    event: EngagementEvent | None
    lead: Lead
    duplicate: bool = False
    stage_rule: str = ""
    awards: list[tuple[str, float]] = field(default_factory=list)


# --- the model as the engine sees it -----------------------------------------------------

_SPECS: dict[int, engine.ModelSpec] = {}
_EVENT_TYPES: dict[str, tuple[int, bool]] = {}
_EVENT_TYPE_KEYS: dict[int, str] = {}
_EVENT_TYPE_ROWS: list[tuple[str, str, bool, bool]] = []  # key, label, active, loggable by reps
_event_types_loaded_at = 0.0


def _event_type_ids(*, refresh: bool = False) -> dict[str, tuple[int, bool]]:
    """Event types by key -> (id, active), cached in the process for a short while."""
    global _event_types_loaded_at
    if refresh or not _EVENT_TYPES or time.monotonic() - _event_types_loaded_at > EVENT_TYPE_CACHE_SECONDS:
        rows = list(
            EventType.objects.order_by("category", "label").values_list(
                "key", "id", "active", "label", "loggable_by_reps"
            )
        )
        _EVENT_TYPES.clear()
        _EVENT_TYPES.update({key: (pk, active) for key, pk, active, _, _ in rows})
        _EVENT_TYPE_KEYS.clear()
        _EVENT_TYPE_KEYS.update({pk: key for key, pk, _, _, _ in rows})
        _EVENT_TYPE_ROWS[:] = [(key, label, active, loggable) for key, _, active, label, loggable in rows]
        _event_types_loaded_at = time.monotonic()
    return _EVENT_TYPES


def event_type_choices(*, loggable_by_reps: bool = True) -> list[tuple[str, str]]:
    _event_type_ids()
    return [
        (key, label)
        for key, label, active, loggable in _EVENT_TYPE_ROWS
        if active and (loggable or not loggable_by_reps)
    ]


def _event_type_key(event_type_id: int) -> str:
    if event_type_id not in _EVENT_TYPE_KEYS:
        _event_type_ids(refresh=True)
    return _EVENT_TYPE_KEYS[event_type_id]


def clear_caches() -> None:
    _SPECS.clear()
    _EVENT_TYPES.clear()
    _EVENT_TYPE_KEYS.clear()
    _EVENT_TYPE_ROWS.clear()


def _condition(subject: str, operator: str, value: Any) -> rules.Condition:
    return rules.Condition(subject=subject.strip(), operator=operator, operand=value)


def model_spec(model: ScoringModel) -> engine.ModelSpec:
    """The pure form of a scoring model (read from the database)."""
    fit_rules = tuple(
        engine.FitRule(
            key=str(r.pk), name=r.name, condition=_condition(r.attribute, r.operator, r.value), points=r.points
        )
        for r in FitRule.objects.filter(model=model).order_by("id")
    )
    engagement_rules = tuple(
        engine.EngagementRule(
            key=str(r.pk),
            name=r.name,
            event_type=r.event_type.key,
            points=r.points,
            condition=_condition(r.property_name, r.operator, r.value) if r.property_name else None,
            cap_per_day=r.cap_per_day,
            cap_total=r.cap_total,
            half_life_days=r.half_life_days,
        )
        for r in EngagementRule.objects.filter(model=model).select_related("event_type").order_by("id")
    )
    stage_rules = tuple(
        engine.StageRule(
            key=str(r.pk),
            name=r.name,
            to_stage=r.to_stage,
            min_score=r.min_score,
            min_fit=r.min_fit,
            event_types=tuple(r.event_types or ()),
            min_events=r.min_events,
            window_days=r.window_days,
        )
        for r in StageRule.objects.filter(model=model).order_by("id")
    )
    return engine.ModelSpec(
        version=model.version,
        fit_rules=fit_rules,
        engagement_rules=engagement_rules,
        stage_rules=stage_rules,
        fit_weight=model.fit_weight,
        thresholds=engine.Thresholds(
            hot_at=model.hot_at, hot_until=model.hot_until, warm_at=model.warm_at, warm_until=model.warm_until
        ),
    )


def spec_for_version(version: int | None) -> engine.ModelSpec | None:
    """A published (hence frozen) version's spec, cached in the process."""
    if version is None:
        return None
    spec = _SPECS.get(version)
    if spec is None:
        model = ScoringModel.objects.filter(version=version).first()
        if model is None:
            return None
        spec = model_spec(model)
        if model.status != ScoringModel.Status.DRAFT:
            _SPECS[version] = spec
    return spec


def active_model() -> ScoringModel | None:
    return ScoringModel.objects.filter(status=ScoringModel.Status.PUBLISHED).first()


LEAD_COLUMNS = frozenset(field.name for field in Lead._meta.concrete_fields if not field.is_relation)


def lead_values(lead: Lead) -> dict[str, Any]:
    """The flat attribute mapping that fit rules read."""
    domain = rules.email_domain(lead.email)
    values: dict[str, Any] = {name: getattr(lead, name) for name in rules.LEAD_FIELDS if name in LEAD_COLUMNS}
    source_name = getattr(lead, "source_name", None)
    campaign_name = getattr(lead, "campaign_name", None)
    # The ids first: reading a relation that is not set costs more than the rest of this.
    if source_name is None and lead.source_id is not None:
        source_name = lead.source.name  # type: ignore[union-attr]
    if campaign_name is None and lead.campaign_id is not None:
        campaign_name = lead.campaign.name  # type: ignore[union-attr]
    values.update(
        {
            "source": source_name or "",
            "campaign": campaign_name or "",
            "email_domain": domain,
            "free_mail": domain in rules.FREE_MAIL_DOMAINS,
        }
    )
    for key, value in (lead.attributes or {}).items():
        values[f"{rules.ATTRIBUTE_PREFIX}{key}"] = value
    return values


# --- validation --------------------------------------------------------------------------


def _clean_event(
    *,
    event_type: Any,
    lead: Lead | int | None,
    email: str | None,
    occurred_at: Any,
    properties: Any,
    source: Any,
    idempotency_key: Any,
    now: datetime.datetime,
) -> dict[str, str]:
    errors: dict[str, str] = {}
    types = _event_type_ids()
    if not isinstance(event_type, str) or not event_type:
        errors["type"] = "Name the event type."
    else:
        known = types.get(event_type) or _event_type_ids(refresh=True).get(event_type)
        if known is None:
            errors["type"] = f"'{event_type}' is not a known event type."
        elif not known[1]:
            errors["type"] = f"'{event_type}' is switched off."
    if lead is None:
        if not email:
            errors["email"] = "Give the lead or an e-mail address."
        else:
            try:
                validate_email(normalize_email(email))
            except ValidationError:
                errors["email"] = "Enter a valid e-mail address."
            else:
                if is_reserved_email(email):
                    errors["email"] = RESERVED_EMAIL_MESSAGE
    if occurred_at is not None:
        if not isinstance(occurred_at, datetime.datetime) or timezone.is_naive(occurred_at):
            errors["occurred_at"] = "Give a date and time with a time zone."
        elif occurred_at > now + FUTURE_TOLERANCE:
            errors["occurred_at"] = "This is more than 5 minutes in the future."
    problems = rules.check_properties(properties)
    if problems:
        errors["properties"] = "; ".join(problems)
    if not isinstance(source, str) or not source.strip() or len(source) > 30:
        errors["source"] = "Name the source in 1-30 characters."
    if idempotency_key is not None and (not isinstance(idempotency_key, str) or not 0 < len(idempotency_key) <= 200):
        errors["idempotency_key"] = "Use 1-200 characters."
    return errors


# --- logging an event --------------------------------------------------------------------


def _insert_sql(obj: Any) -> tuple[str, list[Any]]:
    meta = obj._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    params = [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields]
    # Only quoted table and column names are formatted in; values travel as parameters.
    placeholders = ", ".join(["%s"] * len(fields))
    return f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders})", params  # noqa: S608


def _column(model_field: Field[Any, Any]) -> str:
    """The column of a concrete field (``Field.column`` is typed for fields without one too)."""
    assert model_field.column is not None
    return model_field.column


def _concrete_field(model: type[Model], name: str) -> Field[Any, Any]:
    """``model``'s field ``name`` (``get_field`` is typed to return reverse relations too)."""
    model_field = model._meta.get_field(name)
    assert isinstance(model_field, Field)
    return model_field


def _insert_event(event: EngagementEvent) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING: the new id, or None when the idempotency key was seen."""
    if event.idempotency_key is None:
        event.save(force_insert=True)
        return event.pk
    sql, params = _insert_sql(event)
    with connection.cursor() as cursor:
        cursor.execute(
            f"{sql} ON CONFLICT DO NOTHING RETURNING {connection.ops.quote_name(_column(event._meta.pk))}", params
        )
        row = cursor.fetchone()
    if row is None:
        return None
    event.pk = row[0]
    return event.pk


_LOCK_SQL: dict[tuple[str, bool], str] = {}


def _lock_sql(*, many: bool = False) -> str:
    """One statement: the lead (locked), its source and campaign names, its scoring state and
    the published model version; with ``many``, every lead of a list, locked in id order.
    Built once per process; the ORM would compile it per event."""
    key = (connection.vendor, many)
    sql = _LOCK_SQL.get(key)
    if sql is None:
        quote = connection.ops.quote_name
        lead_meta = Lead._meta
        columns = ", ".join(f"l.{quote(_column(field))}" for field in lead_meta.concrete_fields)
        source_table = quote(lead_meta.get_field("source").related_model._meta.db_table)
        campaign_table = quote(lead_meta.get_field("campaign").related_model._meta.db_table)
        if not many:
            where = "WHERE l.id = %s"
        elif connection.vendor == "postgresql":
            where = "WHERE l.id = ANY(%s) ORDER BY l.id"
        else:  # the ids travel as one JSON array
            where = "WHERE l.id IN (SELECT value FROM json_each(%s)) ORDER BY l.id"
        # Only quoted names are formatted in; the lead ids travel as parameters.
        # After waiting for the lock, PostgreSQL hands back the lead's newest row but the other
        # tables' rows as the statement first saw them: a state written meanwhile by the
        # transaction we waited for would be missed. The two rows' writing transactions (xmin)
        # tell: written together, the state is current; else it is read again (_fresh_states).
        state_table = quote(LeadScoringState._meta.db_table)
        if connection.vendor == "postgresql":
            fresh = "st.written_by = l.xmin"
            # The state of each lead by its primary key, one probe per lead: as a plain join of
            # 1,000 leads PostgreSQL read every state row into a hash (29 ms against 11 ms at
            # 100,000 states, growing with the table). OFFSET 0 keeps the sub-select as it is.
            state_join = (
                "LEFT JOIN LATERAL (SELECT engagement_state, model_version, xmin AS written_by "  # noqa: S608
                f"FROM {state_table} WHERE lead_id = l.id OFFSET 0) st ON true"
            )
        else:
            fresh = "1"
            state_join = f"LEFT JOIN {state_table} st ON st.lead_id = l.id"
        sql = (
            f"SELECT {columns}, s.name AS source_name, c.name AS campaign_name, "  # noqa: S608
            f"st.model_version AS state_version, st.engagement_state AS state_json, {fresh} AS state_fresh, "
            f"(SELECT m.version FROM {quote(ScoringModel._meta.db_table)} m WHERE m.status = 'published' "
            "ORDER BY m.version DESC LIMIT 1) AS active_version "
            f"FROM {quote(lead_meta.db_table)} l "
            f"LEFT JOIN {source_table} s ON s.id = l.source_id "
            f"LEFT JOIN {campaign_table} c ON c.id = l.campaign_id "
            f"{state_join} {where}"
        )
        if connection.features.has_select_for_update_of:
            sql += " FOR UPDATE OF l"
        _LOCK_SQL[key] = sql
    return sql


def _new_event(**values: Any) -> EngagementEvent:
    """An unsaved EngagementEvent, as ``EngagementEvent(**values)`` makes it (defaults for the rest),
    without the constructor's per-field work when no init signal listens."""
    if pre_init.has_listeners(EngagementEvent) or post_init.has_listeners(EngagementEvent):
        return EngagementEvent(**values)
    actor = values.pop("actor", None)
    event = EngagementEvent.__new__(EngagementEvent)
    event._state = ModelState()
    event.__dict__.update(_EVENT_DEFAULTS)
    event.__dict__["properties"] = {}
    event.__dict__.update(values)
    event.__dict__["actor_id"] = actor.pk if actor is not None else None
    if actor is not None:
        event._state.fields_cache["actor"] = actor
    return event


_EVENT_DEFAULTS = {
    field.attname: field.get_default()
    for field in EngagementEvent._meta.concrete_fields
    if not (field.has_default() and callable(field.default))  # properties: a new dict each time, below
}


_LEAD_COUNT = len(Lead._meta.concrete_fields)


def _leads_from_rows(rows: list[tuple[Any, ...]]) -> list[Lead]:
    """Leads from rows of the lock query, each with ``source_name``, ``campaign_name``,
    ``state_version``, ``state_json``, ``state_fresh`` and ``active_version`` set on it."""
    leads = instances_from_rows(Lead, rows)
    for lead, row in zip(leads, rows, strict=True):
        source_name, campaign_name, state_version, state_json, state_fresh, active_version = row[_LEAD_COUNT:]
        if isinstance(state_json, str):
            state_json = json_value(state_json)
        lead.state_fresh = bool(state_fresh) or state_version is None  # type: ignore[attr-defined]
        lead.source_name = source_name  # type: ignore[attr-defined]
        lead.campaign_name = campaign_name  # type: ignore[attr-defined]
        lead.state_version = state_version  # type: ignore[attr-defined]
        lead.state_json = state_json  # type: ignore[attr-defined]
        lead.active_version = active_version  # type: ignore[attr-defined]
    return leads


def _locked_lead(lead_id: int) -> Lead:
    """The lead, locked for this transaction, with ``source_name``, ``campaign_name``,
    ``state_version``, ``state_json`` and ``active_version`` set on it."""
    with connection.cursor() as cursor:
        execute_prepared(cursor, _lock_sql(), [lead_id])
        row = cursor.fetchone()
    if row is None:
        raise Lead.DoesNotExist(f"No lead {lead_id}.")
    (lead,) = _leads_from_rows([row])
    _fresh_states([lead])
    return lead


def _locked_leads(lead_ids: list[int]) -> dict[int, Lead]:
    """Many leads locked at once, in id order (two batches on the same leads cannot deadlock)."""
    if not lead_ids:
        return {}
    ids = sorted(set(lead_ids))
    with connection.cursor() as cursor:
        execute_prepared(cursor, _lock_sql(many=True), [ids if connection.vendor == "postgresql" else json.dumps(ids)])
        rows = cursor.fetchall()
    leads = _leads_from_rows(rows)
    _fresh_states(leads)
    return {lead.pk: lead for lead in leads}


def _fresh_states(leads: list[Lead]) -> None:
    """Read again the scoring state of the locked leads whose state row the lock query may
    have seen before a concurrent writer changed it (see ``_lock_sql``): rare, one query."""
    stale = {lead.pk: lead for lead in leads if not lead.state_fresh}  # type: ignore[attr-defined]
    if not stale:
        return
    meta = LeadScoringState._meta
    quote = connection.ops.quote_name
    # Only quoted names are formatted in; the lead ids travel as a parameter.
    sql = (
        f"SELECT lead_id, model_version, engagement_state FROM {quote(meta.db_table)} "  # noqa: S608
        "WHERE lead_id = ANY(%s)"
    )
    for lead in stale.values():
        lead.state_version, lead.state_json = None, None  # type: ignore[attr-defined]
    with connection.cursor() as cursor:
        execute_prepared(cursor, sql, [list(stale)])
        for lead_id, version, state in cursor.fetchall():
            lead = stale[lead_id]
            lead.state_version = version  # type: ignore[attr-defined]
            lead.state_json = json_value(state) if isinstance(state, str) else state  # type: ignore[attr-defined]
    for lead in stale.values():
        lead.state_fresh = True  # type: ignore[attr-defined]


def _lead_copy(lead: Lead) -> Lead:
    """A snapshot of the lead's columns (a batch answers each item with the lead as it was then)."""
    snapshot = Lead.__new__(Lead)
    snapshot.__dict__.update(lead.__dict__)
    snapshot._state = ModelState()
    snapshot._state.adding = False
    snapshot._state.db = lead._state.db
    return snapshot


@functools.cache  # PostgreSQL only: composed once per process
def _event_log_sql() -> str:
    quote = connection.ops.quote_name
    meta = EngagementEvent._meta
    columns = ", ".join(
        quote(_column(_concrete_field(EngagementEvent, name)))
        for name in ("lead", "event_type", "properties", "occurred_at")
    )
    lead = quote(meta.get_field("lead").column)
    # Only quoted names are formatted in; the lead ids travel as a parameter.
    return f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {lead} = ANY(%s) ORDER BY {lead}, id"  # noqa: S608


def _events_of(lead_id: int) -> list[tuple[str, dict[str, Any], float]]:
    return _event_logs([lead_id]).get(lead_id, [])


def _event_logs(lead_ids: list[int]) -> dict[int, list[tuple[str, dict[str, Any], float]]]:
    """The event logs of some leads in arrival order, by lead, in one query."""
    logs: dict[int, list[tuple[str, dict[str, Any], float]]] = {}
    if not lead_ids:
        return logs
    if connection.vendor == "postgresql":  # the event path's own statement, prepared once
        with connection.cursor() as cursor:
            execute_prepared(cursor, _event_log_sql(), [lead_ids])
            rows = cursor.fetchall()
        for lead_id, type_id, props, at in rows:
            if isinstance(props, str):
                props = json_value(props)
            logs.setdefault(lead_id, []).append((_event_type_key(type_id), props or {}, at.timestamp()))
        return logs
    query = EngagementEvent.objects.filter(lead_id__in=lead_ids) if len(lead_ids) > 1 else None
    if query is None:
        query = EngagementEvent.objects.filter(lead_id=lead_ids[0])
    for lead_id, type_id, props, at in query.order_by("lead_id", "id").values_list(
        "lead_id", "event_type_id", "properties", "occurred_at"
    ):
        logs.setdefault(lead_id, []).append((_event_type_key(type_id), props or {}, at.timestamp()))
    return logs


def _ts(value: float | None) -> datetime.datetime | None:
    return None if value is None else datetime.datetime.fromtimestamp(value, tz=datetime.UTC)


@dataclass
class _Scored:
    """What one event did to its lead (whose columns have been moved already)."""

    awards: list[tuple[str, float]]
    points: float
    score_change: dict[str, Any]  # ScoreChange columns by attname, without the event
    stage_rule: engine.StageRule | None
    stage_change: StageChange | None
    changed: list[str]
    cooling: datetime.datetime | None
    previous: tuple[Any, ...]
    eval_at: float


def _score_event(
    spec: engine.ModelSpec,
    lead: Lead,
    state: dict[str, Any],
    *,
    event_type: str,
    occurred_at: datetime.datetime,
    properties: dict[str, Any],
    now: datetime.datetime,
    cooling: bool = True,
    values: dict[str, Any] | None = None,
) -> _Scored:
    """Fold one event into ``state`` (changed in place) and move the lead's score columns.
    The single path and the batch path both score with this, event by event. Without
    ``cooling`` the next cooling time is left out (a batch needs it after a lead's last event only);
    ``values`` are the lead's fit attributes when known already (events never change them)."""
    awards = engine.fold_event(spec, state, event_type=event_type, properties=properties, at=occurred_at.timestamp())
    eval_at = max(now, occurred_at).timestamp()
    if values is None:
        values = lead_values(lead)
    scores = engine.evaluate(spec, state, values, at=eval_at, temperature=lead.temperature, explain=False)
    stage_rule = engine.stage_target(spec, stage=lead.stage, scores=scores, state=state, at=eval_at)
    cooling_at = (
        _ts(engine.next_cooling_at(spec, state, temperature=scores.temperature, at=eval_at)) if cooling else None
    )
    previous = _read_event_columns(lead)
    score_change = {
        "lead_id": lead.pk,
        "changed_at": now,
        "cause": ScoreChange.Cause.EVENT.value,
        "model_version": spec.version,
        "score": scores.score,
        "fit_score": scores.fit,
        "engagement_score": scores.engagement,
        "temperature": scores.temperature,
        "previous_score": lead.score,
        "previous_temperature": lead.temperature,
    }
    _apply_scores(lead, scores, now=now)
    if lead.last_engaged_at is None or occurred_at > lead.last_engaged_at:
        lead.last_engaged_at = occurred_at
    changed = ["score", "fit_score", "engagement_score", "temperature", "last_engaged_at", "updated_at"]
    changed += _unsubscribe(lead, event_type, occurred_at)
    stage_change = None
    if stage_rule is not None:
        stage_change = _advance_by_rule(lead, stage_rule, spec=spec, now=now)
        changed += ["stage", "stage_entered_at"]
    return _Scored(
        awards=awards,
        points=sum(points for _, points in awards),
        score_change=score_change,
        stage_rule=stage_rule,
        stage_change=stage_change,
        changed=changed,
        cooling=cooling_at,
        previous=previous,
        eval_at=eval_at,
    )


UNSUBSCRIBE_COLUMNS = ("unsubscribed", "unsubscribed_at", "email_opt_in")


def _unsubscribe(lead: Lead, event_type: str, occurred_at: datetime.datetime) -> list[str]:
    """An ``unsubscribe`` event withdraws the lead's e-mail consent: it is marked unsubscribed
    (since the first such event) and no longer opted in. The columns changed, if any."""
    if event_type != UNSUBSCRIBE_EVENT or (lead.unsubscribed and not lead.email_opt_in):
        return []
    lead.unsubscribed = True
    lead.unsubscribed_at = lead.unsubscribed_at or occurred_at
    lead.email_opt_in = False
    return list(UNSUBSCRIBE_COLUMNS)


# The lead columns an event may move: read before scoring so that a duplicate (found only
# when the write runs) can put them back, and the columns a batch writes to its leads.
EVENT_COLUMNS = (
    "score",
    "fit_score",
    "engagement_score",
    "temperature",
    "stage",
    "stage_entered_at",
    "last_engaged_at",
    "updated_at",
    *UNSUBSCRIBE_COLUMNS,
)
_read_event_columns = operator.attrgetter(*EVENT_COLUMNS)


def _restore(lead: Lead, previous: tuple[Any, ...]) -> None:
    for name, value in zip(EVENT_COLUMNS, previous, strict=True):
        setattr(lead, name, value)


def _actor_or_none(actor: User | None) -> Any:
    return actor if actor is not None and actor.is_authenticated else None


def _log_one(
    *,
    lead_id: int,
    event_type: str,
    occurred_at: datetime.datetime,
    properties: dict[str, Any],
    source: str,
    idempotency_key: str | None,
    actor: User | None,
    now: datetime.datetime,
) -> EventResult:
    lead = _locked_lead(lead_id)
    if lead.is_erased:
        raise LeadErased("lead_id")
    spec = spec_for_version(lead.active_version)  # type: ignore[attr-defined]
    state_version: int | None = lead.state_version  # type: ignore[attr-defined]
    event = _new_event(
        lead_id=lead.pk,
        event_type_id=_event_type_ids()[event_type][0],
        occurred_at=occurred_at,
        recorded_at=now,
        properties=properties,
        source=source,
        idempotency_key=idempotency_key,
        actor=_actor_or_none(actor),
    )
    if spec is None:
        # No published model yet: keep the event, score nothing.
        if _insert_event(event) is None:
            return _duplicate(lead, source, idempotency_key, event_type)
        changed = _unsubscribe(lead, event_type, occurred_at)
        if changed:
            Lead.objects.filter(pk=lead.pk).update(**{name: getattr(lead, name) for name in changed})
        return EventResult(event=event, lead=lead)

    # The first event under a model version rebuilds the lead's state from its log, once.
    # Either way the state is this call's own (decoded or rebuilt here): it is folded in place.
    state = lead.state_json if state_version == spec.version else engine.replay(spec, _events_of(lead.pk))  # type: ignore[attr-defined]
    state = state or engine.empty_state()
    scored = _score_event(
        spec, lead, state, event_type=event_type, occurred_at=occurred_at, properties=properties, now=now
    )
    event.points = scored.points
    state_row = {
        "lead_id": lead.pk,
        "model_version": spec.version,
        "engagement_state": state,
        "next_cooling_at": scored.cooling,
        "updated_at": now,
    }
    if connection.vendor == "postgresql":
        stored = _write_event_pg(event, lead, scored.changed, state_row, scored.score_change, scored.stage_change)
    else:
        stored = _write_event(
            event, lead, scored.changed, state_row, state_version is not None, scored.score_change, scored.stage_change
        )
    if not stored:
        _restore(lead, scored.previous)
        return _duplicate(lead, source, idempotency_key, event_type)
    return EventResult(
        event=event,
        lead=lead,
        duplicate=False,
        stage_rule=scored.stage_rule.name if scored.stage_rule else "",
        awards=scored.awards,
    )


def _write_event(
    event: EngagementEvent,
    lead: Lead,
    changed: list[str],
    state_row: dict[str, Any],
    state_exists: bool,
    score_change: dict[str, Any],
    stage_change: StageChange | None,
) -> bool:
    """Statement by statement: event, lead, state, history. False when the event is a duplicate."""
    if _insert_event(event) is None:
        return False
    Lead.objects.filter(pk=lead.pk).update(**{name: getattr(lead, name) for name in changed})
    if state_exists:
        LeadScoringState.objects.filter(pk=lead.pk).update(
            **{name: value for name, value in state_row.items() if name != "lead_id"}
        )
    else:
        LeadScoringState(**state_row).save(force_insert=True)
    ScoreChange(**score_change, event_id=event.pk).save(force_insert=True)
    if stage_change is not None:
        stage_change.save(force_insert=True)
    return True


# PostgreSQL adapts these natively, so the value goes out as it is (the statement casts it):
# get_db_prep_save would only hand it back, at some cost per field per event.
_NATIVE_FIELD_TYPES = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "SmallAutoField",
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "PositiveBigIntegerField",
        "FloatField",
        "CharField",
        "TextField",
        "BooleanField",
        "DateTimeField",
        "DurationField",
    }
)


def _pg_prep(field: Any) -> Any:
    """How a value of ``field`` goes into a statement whose placeholder casts it: None when
    as it is, else a function. Worked out once per field, not per value."""
    kind = field.get_internal_type()
    if kind in ("ForeignKey", "OneToOneField"):
        kind = field.target_field.get_internal_type()
    if kind in _NATIVE_FIELD_TYPES:
        return None
    if kind == "JSONField":
        encoder = field.encoder

        def to_json(value: Any) -> Any:
            return None if value is None else json_text(value, encoder)

        return to_json
    return functools.partial(_db_prep_save, field)


def _db_prep_save(field: Any, value: Any) -> Any:
    return field.get_db_prep_save(value, connection)


_PG_WRITE_PLANS: dict[tuple[tuple[str, ...], bool], tuple[str, list[tuple[str, list[tuple[str, Any]]]]]] = {}


def _pg_write_plan(
    changed: tuple[str, ...], with_stage_change: bool
) -> tuple[str, list[tuple[str, list[tuple[str, Any]]]]]:
    """The SQL of the one-statement write, and which attributes of which row feed its parameters
    (with how each is prepared). Built once per shape and cached: composing it per event would
    cost more than running it."""
    key = (changed, with_stage_change)
    plan = _PG_WRITE_PLANS.get(key)
    if plan is not None:
        return plan
    quote = connection.ops.quote_name

    def typed(fields: list[Any]) -> list[str]:
        return [f"%s::{field.db_type(connection)}" for field in fields]

    def feed(name: str, fields: list[Any]) -> tuple[str, list[tuple[str, Any]]]:
        return name, [(field.attname, _pg_prep(field)) for field in fields]

    feeds: list[tuple[str, list[tuple[str, Any]]]] = []
    event_fields = [f for f in EngagementEvent._meta.concrete_fields if not f.primary_key]
    event_columns = ", ".join(quote(_column(f)) for f in event_fields)
    parts = [
        f"e AS (INSERT INTO {quote(EngagementEvent._meta.db_table)} ({event_columns}) "  # noqa: S608
        f"VALUES ({', '.join(typed(event_fields))}) ON CONFLICT DO NOTHING RETURNING id)"
    ]
    feeds.append(feed("event", event_fields))
    lead_fields = [_concrete_field(Lead, name) for name in changed]
    assignments = ", ".join(
        f"{quote(_column(field))} = {placeholder}"
        for field, placeholder in zip(lead_fields, typed(lead_fields), strict=True)
    )
    parts.append(
        f"u AS (UPDATE {quote(Lead._meta.db_table)} SET {assignments} WHERE id = %s AND EXISTS (SELECT 1 FROM e))"  # noqa: S608
    )
    feeds.append(feed("lead", [*lead_fields, Lead._meta.pk]))
    state_fields = [
        _concrete_field(LeadScoringState, name)
        for name in ("lead", "model_version", "engagement_state", "next_cooling_at", "updated_at")
    ]
    updates = ", ".join(f"{quote(_column(f))} = EXCLUDED.{quote(_column(f))}" for f in state_fields[1:])
    state_columns = ", ".join(quote(_column(f)) for f in state_fields)
    parts.append(
        f"s AS (INSERT INTO {quote(LeadScoringState._meta.db_table)} ({state_columns}) "  # noqa: S608
        f"SELECT {', '.join(typed(state_fields))} FROM e "
        f"ON CONFLICT ({quote(_column(state_fields[0]))}) DO UPDATE SET {updates})"
    )
    feeds.append(feed("state", state_fields))
    history = [("h", ScoreChange, "score_change")] + ([("m", StageChange, "stage_change")] if with_stage_change else [])
    for alias, model, name in history:
        fields = [f for f in model._meta.concrete_fields if not f.primary_key and f.name != "event"]
        placeholders = typed(fields)
        columns = [quote(_column(f)) for f in fields]
        if model is ScoreChange:
            columns.append(quote("event_id"))
            placeholders.append("e.id")
        parts.append(
            f"{alias} AS (INSERT INTO {quote(model._meta.db_table)} ({', '.join(columns)}) "  # noqa: S608
            f"SELECT {', '.join(placeholders)} FROM e)"
        )
        feeds.append(feed(name, fields))
    # Only quoted names and casts are formatted in; values travel as parameters.
    plan = ("WITH " + ", ".join(parts) + " SELECT id FROM e", feeds)  # noqa: S608
    _PG_WRITE_PLANS[key] = plan
    return plan


def _write_event_pg(
    event: EngagementEvent,
    lead: Lead,
    changed: list[str],
    state_row: dict[str, Any],
    score_change: dict[str, Any],
    stage_change: StageChange | None,
) -> bool:
    """Every write of an event in one statement (data-modifying CTEs): the event insert decides,
    through ON CONFLICT, whether the lead, its state and the history rows are written."""
    sql, feeds = _pg_write_plan(tuple(changed), stage_change is not None)
    rows: dict[str, dict[str, Any]] = {
        "event": event.__dict__,
        "lead": lead.__dict__,
        "state": state_row,
        "score_change": score_change,
        "stage_change": stage_change.__dict__ if stage_change is not None else {},
    }
    params: list[Any] = []
    for name, columns in feeds:
        row = rows[name]
        params += [row[attname] if prep is None else prep(row[attname]) for attname, prep in columns]
    with connection.cursor() as cursor:
        execute_prepared(cursor, sql, params)
        found = cursor.fetchone()
    if found is None:
        return False
    event.pk = found[0]
    return True


def _duplicate(lead: Lead, source: str, idempotency_key: str | None, event_type: str) -> EventResult:
    original = EngagementEvent.objects.filter(source=source, idempotency_key=idempotency_key).first()
    if original is not None:
        _same_event_or_refuse(original, lead.pk, event_type)
    return EventResult(event=original, lead=lead, duplicate=True)


def _same_event(original: EngagementEvent, lead_id: int | None, event_type: str) -> bool:
    return original.lead_id == lead_id and _event_type_key(original.event_type_id) == event_type


def _same_event_or_refuse(original: EngagementEvent, lead_id: int | None, event_type: str) -> None:
    """A repeated key must name the event it was first used for: a key sent again for another
    lead or another type is a mistake of the sender, and answering "duplicate" would silently
    drop that event."""
    if _same_event(original, lead_id, event_type):
        return
    raise IdempotencyKeyConflict(
        f"This idempotency key was already used for event {original.pk} ({_event_type_key(original.event_type_id)} "
        f"of lead {original.lead_id}); send a new key for a new event.",
        event_id=original.pk,
    )


def _resolve_lead(
    *,
    lead: Lead | None,
    email: str | None,
    actor: User | None,
    now: datetime.datetime,
    key: tuple[str, str | None] = ("", None),
    event_type: str = "",
) -> int:
    if lead is not None:
        return lead.pk
    address = normalize_email(email or "")
    found = Lead.objects.filter(email__iexact=address).values_list("id", flat=True).first()
    if found is not None:
        return found
    if key[1] is not None:
        # A new address cannot own the event a key was used for: refused before making a lead.
        original = EngagementEvent.objects.filter(source=key[0], idempotency_key=key[1]).first()
        if original is not None:
            _same_event_or_refuse(original, None, event_type)
    return lead_create(email=address, now=now).pk


def event_log(
    *,
    event_type: str,
    lead: Lead | None = None,
    email: str | None = None,
    occurred_at: datetime.datetime | None = None,
    properties: dict[str, Any] | None = None,
    source: str = "web",
    idempotency_key: str | None = None,
    actor: User | None = None,
    now: datetime.datetime | None = None,
    lead_id: int | None = None,
) -> EventResult:
    """Store one engagement event and re-score its lead in the same transaction.

    The lead is ``lead``, or ``lead_id`` (no instance needed; a missing lead raises
    ``Lead.DoesNotExist``), or the one with ``email``. An unknown e-mail creates a raw lead.
    Bad input raises ``ValidationError`` with field errors and writes nothing. A repeated
    ``idempotency_key`` (per source) changes nothing and comes back with ``duplicate=True``
    and the original event.
    """
    now = now or timezone.now()
    errors = _clean_event(
        event_type=event_type,
        lead=lead if lead is not None else lead_id,
        email=email,
        occurred_at=occurred_at,
        properties=properties,
        source=source,
        idempotency_key=idempotency_key,
        now=now,
    )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        if lead_id is None or lead is not None:
            lead_id = _resolve_lead(
                lead=lead,
                email=email,
                actor=actor,
                now=now,
                key=(source.strip(), idempotency_key),
                event_type=event_type,
            )
        return _log_one(
            lead_id=lead_id,
            event_type=event_type,
            occurred_at=occurred_at or now,
            properties=dict(properties or {}),
            source=source.strip(),
            idempotency_key=idempotency_key,
            actor=actor,
            now=now,
        )


def _parse_time(value: Any) -> Any:
    if isinstance(value, str):
        from django.utils.dateparse import parse_datetime

        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
        return parsed if parsed is not None else value
    return value


@dataclass
class _BatchItem:
    index: int
    lead_id: int | None  # as given (None: named by e-mail)
    resolved: int | None
    email: str | None
    event_type: str
    occurred_at: datetime.datetime
    properties: dict[str, Any]
    source: str
    idempotency_key: str | None
    key_taken: bool = False  # names a new address under a key another event has: no lead made for it


def event_log_batch(
    *, items: list[dict[str, Any]], source: str, actor: User | None = None, now: datetime.datetime | None = None
) -> list[EventResult | ValidationError]:
    """Log up to 1,000 events in order, in one transaction (a big batch outside a transaction on
    PostgreSQL: in a few, side by side, split by lead; see ``_parallel_parts``). Each item
    stands alone: a bad item comes back as its ``ValidationError`` and the others are stored.

    Items: ``{"lead": Lead | "lead_id": int | "email": str, "type": str, "occurred_at"?,
    "properties"?, "idempotency_key"?}``.

    The result equals logging the same items one by one with ``event_log`` (same columns,
    states, events and history rows), but set-based: the leads are locked at once, scored
    event by event in Python, and written with a few statements for the whole batch.
    """
    if len(items) > MAX_BATCH:
        raise ValidationError({"items": f"Send at most {MAX_BATCH} events at once."})
    now = now or timezone.now()
    results: list[Any] = [None] * len(items)
    existing = _existing_lead_ids(
        {item["lead_id"] for item in items if isinstance(item, dict) and item.get("lead_id") is not None}
    )
    accepted: list[_BatchItem] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            results[index] = ValidationError({"item": "Each event must be an object."})
            continue
        lead = item.get("lead")
        lead_id = item.get("lead_id")
        occurred_at = _parse_time(item.get("occurred_at"))
        event_type: Any = item.get("type", item.get("event_type"))
        errors = _clean_event(
            event_type=event_type,
            lead=lead if lead is not None else lead_id,
            email=item.get("email"),
            occurred_at=occurred_at,
            properties=item.get("properties"),
            source=item.get("source", source),
            idempotency_key=item.get("idempotency_key"),
            now=now,
        )
        if lead_id is not None and lead_id not in existing:
            errors["lead_id"] = "No such lead."
        if errors:
            results[index] = ValidationError(errors)
            continue
        accepted.append(
            _BatchItem(
                index=index,
                lead_id=lead.pk if lead is not None else lead_id,
                resolved=lead.pk if lead is not None else lead_id,
                email=item.get("email"),
                event_type=event_type,
                occurred_at=occurred_at or now,
                properties=dict(item.get("properties") or {}),
                source=item.get("source", source).strip(),
                idempotency_key=item.get("idempotency_key"),
            )
        )
    if not accepted:
        return results
    parts = _parallel_parts(accepted, now=now)
    if len(parts) == 1:
        _log_part(accepted, results, actor=actor, now=now)
        return results
    others = [run_beside(_log_part, part, results, actor=actor, now=now) for part in parts[1:]]
    try:
        _log_part(parts[0], results, actor=actor, now=now)
    finally:
        wait(others)
    for other in others:
        other.result()  # a part that failed on its thread fails the batch
    return results


def _log_part(entries: list[_BatchItem], results: list[Any], *, actor: User | None, now: datetime.datetime) -> None:
    """Some of a batch's items in one transaction (results set by item index)."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                _log_many(entries, results, actor=actor, now=now)
        except IntegrityError:
            # A key stored by another transaction meanwhile: the savepoint is gone, go one by one.
            for entry in entries:
                try:
                    resolved = entry.lead_id
                    if resolved is None:
                        resolved = _resolve_lead(
                            lead=None,
                            email=entry.email,
                            actor=actor,
                            now=now,
                            key=(entry.source, entry.idempotency_key),
                            event_type=entry.event_type,
                        )
                    results[entry.index] = _log_one(
                        lead_id=resolved,
                        event_type=entry.event_type,
                        occurred_at=entry.occurred_at,
                        properties=entry.properties,
                        source=entry.source,
                        idempotency_key=entry.idempotency_key,
                        actor=actor,
                        now=now,
                    )
                except Lead.DoesNotExist:
                    results[entry.index] = ValidationError({"lead_id": "No such lead."})
                except IdempotencyKeyConflict as conflict:
                    results[entry.index] = conflict


# A batch of at least this many items, outside any transaction, is split by lead into parts
# logged side by side, each in a transaction of its own on a connection of its own (the extra
# parts on side threads, see ``core.db.run_beside``): while one part's statements run in
# PostgreSQL, another is scored in Python.
PARALLEL_MIN_ITEMS = 200


def _parallel_parts(entries: list[_BatchItem], *, now: datetime.datetime) -> list[list[_BatchItem]]:
    """The batch's items in parts of disjoint leads (each lead's items in order), or one part
    (see ``core.db.parallel_writes``), also for small batches and when one idempotency key
    names two leads (which one counts would depend on order)."""
    connections_wanted = parallel_writes()
    if connections_wanted < 2 or len(entries) < PARALLEL_MIN_ITEMS:
        return [entries]
    if any(entry.resolved is None for entry in entries):
        # New addresses become leads first, committed, so that every part's connection sees them.
        with transaction.atomic():
            _leads_for_emails(entries, now, _stored_events(_keys_of(entries)))
    leads_of_key: dict[tuple[str, str], int | None] = {}
    for entry in entries:
        if entry.idempotency_key is not None:
            key = (entry.source, entry.idempotency_key)
            if leads_of_key.setdefault(key, entry.resolved) != entry.resolved:
                return [entries]
    parts: list[list[_BatchItem]] = [[] for _ in range(connections_wanted)]
    for entry in entries:
        parts[(entry.resolved or 0) % connections_wanted].append(entry)
    return [part for part in parts if part]


def _keys_of(entries: list[_BatchItem]) -> set[tuple[str, str | None]]:
    return {(entry.source, entry.idempotency_key) for entry in entries if entry.idempotency_key is not None}


def _leads_for_emails(
    entries: list[_BatchItem], now: datetime.datetime, stored: Collection[tuple[str, str | None]]
) -> None:
    """Fill in the lead of each item named by e-mail: known addresses in one query, a raw lead
    created (once per address) for the others. A new address under a key already taken (by a
    ``stored`` event or an earlier item) gets no lead: the item is refused, as ``event_log``
    refuses it before creating anything."""
    addresses = {normalize_email(entry.email or "") for entry in entries if entry.resolved is None}
    if not addresses:
        return
    known: dict[str, int] = {}
    for pk, address in (
        Lead.objects.annotate(address=Lower("email"))
        .filter(address__in=addresses)
        .order_by("id")
        .values_list("id", "address")
    ):
        known.setdefault(address, pk)
    taken = set(stored)
    for entry in entries:
        key = (entry.source, entry.idempotency_key)
        if entry.resolved is None and not entry.key_taken:
            address = normalize_email(entry.email or "")
            if address not in known:
                if entry.idempotency_key is not None and key in taken:
                    entry.key_taken = True
                    continue
                known[address] = lead_create(email=address, now=now).pk
            entry.resolved = known[address]
        if entry.idempotency_key is not None:
            taken.add(key)


def _existing_lead_ids(candidates: Collection[Any]) -> set[int]:
    """Which of these lead ids exist (other values are ignored), in one query."""
    ids = [pk for pk in candidates if type(pk) is int and 0 < pk <= MAX_ID]
    if not ids:
        return set()
    if connection.vendor != "postgresql":
        return set(Lead.objects.filter(pk__in=ids).values_list("id", flat=True))
    table = connection.ops.quote_name(Lead._meta.db_table)
    with connection.cursor() as cursor:
        # The ids travel as one array parameter: a long IN list costs more to build than to run.
        cursor.execute(f"SELECT id FROM {table} WHERE id = ANY(%s::bigint[])", [array_literal(ids)])  # noqa: S608
        return {pk for (pk,) in cursor.fetchall()}


def _stored_events(keyed: Collection[tuple[str, str | None]]) -> dict[tuple[str, str | None], EngagementEvent]:
    """The events already stored under these (source, idempotency key) pairs, in one query."""
    found: dict[tuple[str, str | None], EngagementEvent] = {}
    if not keyed:
        return found
    sources, keys = {s for s, _ in keyed}, {k for _, k in keyed}
    if connection.vendor == "postgresql":
        meta = EngagementEvent._meta
        quote = connection.ops.quote_name
        source, key = (quote(_column(_concrete_field(EngagementEvent, name))) for name in ("source", "idempotency_key"))
        # Only quoted names are formatted in; sources and keys travel as two array parameters
        # (the unique index on the pair answers both, however many keys).
        stored_events: Iterable[EngagementEvent] = EngagementEvent.objects.raw(
            f"SELECT * FROM {quote(meta.db_table)} "  # noqa: S608
            f"WHERE {source} = ANY(%s::varchar[]) AND {key} = ANY(%s::varchar[])",
            [array_literal(sources), array_literal(keys)],
        )
    else:
        stored_events = EngagementEvent.objects.filter(source__in=sources, idempotency_key__in=keys)
    for stored in stored_events:
        if (stored.source, stored.idempotency_key) in keyed:
            found[(stored.source, stored.idempotency_key)] = stored
    return found


def _log_many(entries: list[_BatchItem], results: list[Any], *, actor: User | None, now: datetime.datetime) -> None:
    """The set-based body of ``event_log_batch`` (inside its transaction)."""
    # Keys stored before: those events are duplicates, answered with the original.
    originals = _stored_events(_keys_of(entries))
    _leads_for_emails(entries, now, originals)
    leads = _locked_leads([entry.resolved for entry in entries if entry.resolved is not None])
    any_lead = next(iter(leads.values()), None)
    spec = spec_for_version(any_lead.active_version) if any_lead is not None else None  # type: ignore[attr-defined]

    # States: the stored one, or (first event under this version) rebuilt from the log, once.
    states: dict[int, dict[str, Any]] = {}
    if spec is not None:
        stale = [pk for pk, lead in leads.items() if lead.state_version != spec.version]  # type: ignore[attr-defined]
        logs = _event_logs(stale)
        for pk, lead in leads.items():
            current = lead.state_version == spec.version  # type: ignore[attr-defined]
            state = lead.state_json if current else engine.replay(spec, logs.get(pk, ()))  # type: ignore[attr-defined]
            states[pk] = state or engine.empty_state()

    remaining: dict[int | None, int] = {}
    for entry in entries:
        remaining[entry.resolved] = remaining.get(entry.resolved, 0) + 1
    type_ids = _event_type_ids()
    actor = _actor_or_none(actor)
    new_events: list[EngagementEvent] = []
    history: list[tuple[EngagementEvent, dict[str, Any]]] = []
    stage_history: list[StageChange] = []
    changed_leads: dict[int, Lead] = {}
    last_eval_at: dict[int, float] = {}
    fit_values: dict[int, dict[str, Any]] = {}
    # Keys used again for another event: refused once every event of the batch has its id.
    conflicts: list[tuple[_BatchItem, int | None]] = []
    for entry in entries:
        key = (entry.source, entry.idempotency_key)
        if entry.key_taken:
            conflicts.append((entry, None))
            continue
        found = leads.get(entry.resolved or 0)
        if found is None:  # deleted since the batch was checked
            results[entry.index] = ValidationError({"lead_id": "No such lead."})
            continue
        lead = found
        remaining[lead.pk] -= 1
        if lead.is_erased:
            results[entry.index] = LeadErased("lead_id" if entry.lead_id is not None else "email")
            continue
        if entry.idempotency_key is not None and key in originals:
            if not _same_event(originals[key], lead.pk, entry.event_type):
                conflicts.append((entry, lead.pk))
                continue
            results[entry.index] = EventResult(
                event=originals[key], lead=_lead_copy(lead) if remaining[lead.pk] else lead, duplicate=True
            )
            continue
        event = _new_event(
            lead_id=lead.pk,
            event_type_id=type_ids[entry.event_type][0],
            occurred_at=entry.occurred_at,
            recorded_at=now,
            properties=entry.properties,
            source=entry.source,
            idempotency_key=entry.idempotency_key,
            actor=actor,
        )
        if entry.idempotency_key is not None:
            originals[key] = event  # a repeat later in the batch is a duplicate of this one
        new_events.append(event)
        if spec is None:
            results[entry.index] = EventResult(event=event, lead=_lead_copy(lead) if remaining[lead.pk] else lead)
            continue
        scored = _score_event(
            spec,
            lead,
            states[lead.pk],
            event_type=entry.event_type,
            occurred_at=entry.occurred_at,
            properties=entry.properties,
            now=now,
            cooling=False,
            values=fit_values.get(lead.pk) or fit_values.setdefault(lead.pk, lead_values(lead)),
        )
        event.points = scored.points
        history.append((event, scored.score_change))
        if scored.stage_change is not None:
            stage_history.append(scored.stage_change)
        changed_leads[lead.pk] = lead
        last_eval_at[lead.pk] = scored.eval_at
        results[entry.index] = EventResult(
            event=event,
            lead=_lead_copy(lead) if remaining[lead.pk] else lead,
            stage_rule=scored.stage_rule.name if scored.stage_rule else "",
            awards=scored.awards,
        )

    _insert_events(new_events)
    for entry, lead_id in conflicts:
        try:
            _same_event_or_refuse(originals[(entry.source, entry.idempotency_key)], lead_id, entry.event_type)
        except IdempotencyKeyConflict as conflict:
            results[entry.index] = conflict
    if spec is None or not changed_leads:
        return
    # The next cooling time of each lead after its last event: what the last single call would have stored.
    cooling = {
        pk: _ts(engine.next_cooling_at(spec, states[pk], temperature=lead.temperature, at=last_eval_at[pk]))
        for pk, lead in changed_leads.items()
    }
    _bulk_update_leads(list(changed_leads.values()), EVENT_COLUMNS)
    if connection.vendor == "postgresql":
        _pg_insert_plain(
            LeadScoringState,
            STATE_COLUMNS,
            [(pk, spec.version, json_text(states[pk]), cooling[pk], now) for pk in changed_leads],
            upsert_on="lead_id",
        )
        _pg_insert_plain(
            ScoreChange,
            HISTORY_COLUMNS,
            [
                (
                    row["lead_id"], row["changed_at"], row["cause"], event.pk, row["model_version"], row["score"],
                    row["fit_score"], row["engagement_score"], row["temperature"], row["previous_score"],
                    row["previous_temperature"],
                )
                for event, row in history
            ],
        )  # fmt: skip
        _pg_insert(stage_history)
    else:
        LeadScoringState.objects.filter(lead_id__in=list(changed_leads)).delete()
        LeadScoringState.objects.bulk_create(
            [
                LeadScoringState(
                    lead_id=pk,
                    model_version=spec.version,
                    engagement_state=states[pk],
                    next_cooling_at=cooling[pk],
                    updated_at=now,
                )
                for pk in changed_leads
            ]
        )
        ScoreChange.objects.bulk_create([ScoreChange(**row, event_id=event.pk) for event, row in history])
        StageChange.objects.bulk_create(stage_history)


def _insert_events(events: list[EngagementEvent]) -> None:
    """Insert the batch's new events and set their ids. A key stored meanwhile by another
    transaction raises IntegrityError (the batch then goes one by one)."""
    if not events:
        return
    if connection.vendor != "postgresql":
        EngagementEvent.objects.bulk_create(events)
        return
    meta = EngagementEvent._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    with connection.cursor() as cursor:
        # The ids first (the history rows name them), then every column as one array.
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, _column(meta.pk), len(events)],
        )
        for event, (pk,) in zip(events, cursor.fetchall(), strict=True):
            event.pk = pk
        fields, preps = _event_insert_plan()
        columns = ", ".join(quote(_column(f)) for f in fields)
        rows = [
            [row[name] if prep is None else prep(row[name]) for name, prep in preps]
            for row in (event.__dict__ for event in events)
        ]
        # Only quoted names and casts are formatted in; values travel as parameters.
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT * FROM {_unnest(fields)}",  # noqa: S608
            unnest_params(rows, len(fields)),
        )
    for event in events:
        event._state.adding = False
        event._state.db = connection.alias


@functools.cache
def _event_insert_plan() -> tuple[list[Any], list[tuple[str, Any]]]:
    """Every column of an event (its id too), and how each value is prepared: once per process."""
    fields = list(EngagementEvent._meta.concrete_fields)
    return fields, [(f.attname, _pg_prep(f)) for f in fields]


# --- full recomputation, cooling ---------------------------------------------------------


def lead_rescore(*, lead: Lead, now: datetime.datetime | None = None) -> Lead:
    """Recompute the lead's score from its attributes and whole event log under the active model.

    Used for a new lead (fit alone), after its fit fields change, and to check the incremental path.
    Stage rules apply as on an event (forward only).
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = _locked_lead(lead.pk)
        spec = spec_for_version(locked.active_version)  # type: ignore[attr-defined]
        if spec is None:
            return locked
        state = engine.replay(spec, _events_of(locked.pk))
        _write_rescored([(locked, state)], spec, now=now, cause=ScoreChange.Cause.RESCORE)
    locked.refresh_from_db()
    return locked


def lead_create_scored(**fields: Any) -> Lead:
    """Create a lead (``leads.services.lead_create``) and score its fit at once, in one transaction.

    The interfaces (pages, API, admin) call this rather than ``lead_create``, so a new lead
    lands scored: this is the higher app's service wrapping the lower one.
    """
    with transaction.atomic():
        lead = lead_create(**fields)
        return lead_rescore(lead=lead, now=fields.get("now"))


def lead_update_scored(*, lead: Lead, **fields: Any) -> Lead:
    """Change a lead (``leads.services.lead_update``) and re-score it, since fit rules read its fields."""
    with transaction.atomic():
        lead_update(lead=lead, **fields)
        return lead_rescore(lead=lead)


def _advance_by_rule(
    lead: Lead, rule: engine.StageRule, *, spec: engine.ModelSpec, now: datetime.datetime
) -> StageChange:
    """Move ``lead`` forward to ``rule.to_stage`` and return the stage-history row naming the rule."""
    move = lifecycle.check_move(lead.stage, rule.to_stage, by_rule=True)
    change = StageChange(
        lead_id=lead.pk,
        from_stage=lead.stage,
        to_stage=rule.to_stage,
        changed_at=now,
        rule=f"{rule.name} (scoring model v{spec.version})",
        transition=move.transition,
        reason=rule.describe(),
        time_in_previous_stage=max(now - lead.stage_entered_at, datetime.timedelta(0)),
    )
    lead.stage = rule.to_stage
    lead.stage_entered_at = now
    return change


def _score_change(
    lead: Lead, scores: engine.Scores, *, spec: engine.ModelSpec, cause: str, now: datetime.datetime
) -> ScoreChange:
    """The score-history row for moving ``lead`` (still holding its old columns) to ``scores``."""
    return ScoreChange(
        lead_id=lead.pk,
        changed_at=now,
        cause=cause,
        model_version=spec.version,
        score=scores.score,
        fit_score=scores.fit,
        engagement_score=scores.engagement,
        temperature=scores.temperature,
        previous_score=lead.score,
        previous_temperature=lead.temperature,
    )


def _apply_scores(lead: Lead, scores: engine.Scores, *, now: datetime.datetime) -> None:
    lead.score, lead.fit_score = scores.score, scores.fit
    lead.engagement_score, lead.temperature = scores.engagement, scores.temperature
    lead.updated_at = now


def _write_rescored(
    rows: list[tuple[Lead, dict[str, Any]]], spec: engine.ModelSpec, *, now: datetime.datetime, cause: str
) -> tuple[int, int]:
    """Write new scores for already-locked leads in bulk; return (temperature changes, stage moves)."""
    at = now.timestamp()
    leads_changed: list[Lead] = []
    states: list[LeadScoringState] = []
    history: list[ScoreChange] = []
    stage_history: list[StageChange] = []
    temperature_moves = 0
    pg = connection.vendor == "postgresql"
    state_rows: list[tuple[Any, ...]] = []
    history_rows: list[tuple[Any, ...]] = []
    for lead, state in rows:
        scores = engine.evaluate(spec, state, lead_values(lead), at=at, temperature=lead.temperature)
        cooling = _ts(engine.next_cooling_at(spec, state, temperature=scores.temperature, at=at))
        if pg:  # plain rows, one array per column: model instances cost more than the SQL
            state_rows.append((lead.pk, spec.version, json_text(state), cooling, now))
        else:
            states.append(
                LeadScoringState(
                    lead_id=lead.pk,
                    model_version=spec.version,
                    engagement_state=state,
                    next_cooling_at=cooling,
                    updated_at=now,
                )
            )
        rule = engine.stage_target(spec, stage=lead.stage, scores=scores, state=state, at=at)
        if rule is not None:
            stage_history.append(_advance_by_rule(lead, rule, spec=spec, now=now))
        if (scores.score, scores.fit, scores.engagement, scores.temperature) != (
            lead.score,
            lead.fit_score,
            lead.engagement_score,
            lead.temperature,
        ) or rule is not None:
            if scores.temperature != lead.temperature:
                temperature_moves += 1
            if pg:
                history_rows.append(
                    (lead.pk, now, cause, None, spec.version, scores.score, scores.fit, scores.engagement,
                     scores.temperature, lead.score, lead.temperature)
                )  # fmt: skip
            else:
                history.append(_score_change(lead, scores, spec=spec, cause=cause, now=now))
            _apply_scores(lead, scores, now=now)
            leads_changed.append(lead)
    _bulk_update_leads(leads_changed)
    if pg:
        _pg_insert_plain(LeadScoringState, STATE_COLUMNS, state_rows, upsert_on="lead_id")
        _pg_insert_plain(ScoreChange, HISTORY_COLUMNS, history_rows)
        _pg_insert(stage_history)
    else:
        ids = [lead.pk for lead, _ in rows]
        LeadScoringState.objects.filter(lead_id__in=ids).delete()
        LeadScoringState.objects.bulk_create(states, batch_size=2000)
        ScoreChange.objects.bulk_create(history, batch_size=2000)
        StageChange.objects.bulk_create(stage_history, batch_size=2000)
    return temperature_moves, len(stage_history)


STATE_COLUMNS = ("lead", "model_version", "engagement_state", "next_cooling_at", "updated_at")
HISTORY_COLUMNS = ("lead", "changed_at", "cause", "event", "model_version", "score", "fit_score", "engagement_score",
                   "temperature", "previous_score", "previous_temperature")  # fmt: skip


def _unnest(fields: list[Any]) -> str:
    """``unnest(%s::type[], ...)`` over these fields' columns (see ``core.db.unnest_params``)."""
    return "unnest(" + ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields) + ")"


def _pg_insert_plain(model: Any, names: tuple[str, ...], rows: list[tuple[Any, ...]], *, upsert_on: str = "") -> None:
    """Plain value tuples (in the order of ``names``) into ``model``'s table: one array per column."""
    if not rows:
        return
    quote = connection.ops.quote_name
    fields = [_concrete_field(model, name) for name in names]
    columns = ", ".join(quote(_column(f)) for f in fields)
    # Only quoted names and casts are formatted in; values travel as parameters.
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) SELECT * FROM {_unnest(fields)}"  # noqa: S608
    if upsert_on:
        updates = ", ".join(
            f"{quote(_column(f))} = EXCLUDED.{quote(_column(f))}" for f in fields if f.column != upsert_on
        )
        sql += f" ON CONFLICT ({quote(upsert_on)}) DO UPDATE SET {updates}"
    with connection.cursor() as cursor:
        cursor.execute(sql, unnest_params(rows, len(fields)))


def _pg_insert(rows: list[Any]) -> None:
    """Many unsaved instances of one model (their database-side values, one array per column)."""
    if not rows:
        return
    fields = [f for f in rows[0]._meta.concrete_fields if not (f.primary_key and f.auto_created)]
    values = [tuple(f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields) for row in rows]
    _pg_insert_plain(type(rows[0]), tuple(f.name for f in fields), values)


LEAD_SCORE_COLUMNS = (
    "score",
    "fit_score",
    "engagement_score",
    "temperature",
    "stage",
    "stage_entered_at",
    "updated_at",
)


def _bulk_update_leads(leads: list[Lead], columns: tuple[str, ...] = LEAD_SCORE_COLUMNS) -> None:
    """UPDATE ... FROM unnest(one array per column) on PostgreSQL, Django's bulk_update elsewhere."""
    if not leads:
        return
    if connection.vendor != "postgresql":
        Lead.objects.bulk_update(leads, list(columns), batch_size=500)
        return
    quote = connection.ops.quote_name
    fields = [Lead._meta.pk, *(_concrete_field(Lead, name) for name in columns)]
    names = ", ".join(quote(_column(f)) for f in fields)
    assignments = ", ".join(f"{quote(_column(f))} = v.{quote(_column(f))}" for f in fields[1:])
    # Only quoted names and casts are formatted in; values travel as parameters. The arrays go
    # in unsized (core.db.unsized_array): told how many rows they hold, PostgreSQL hashed the
    # whole lead table to join 1,000 of them (23 of 47 ms at 100,000 leads, growing with the
    # table) where one primary-key probe per row does.
    unnest = ", ".join(unsized_array(f"{f.db_type(connection)}[]") for f in fields)
    sql = (
        f"UPDATE {quote(Lead._meta.db_table)} AS t SET {assignments} "  # noqa: S608
        f"FROM unnest({unnest}) AS v({names}) WHERE t.id = v.id"
    )
    # Scores, temperatures, stages and aware datetimes go as they are: no per-field preparation.
    read = operator.attrgetter(*(f.attname for f in fields))
    with connection.cursor() as cursor:
        cursor.execute(sql, unnest_params(map(read, leads), len(fields)))


def leads_cool(*, now: datetime.datetime | None = None, limit: int = 5000) -> int:
    """Cool the leads whose decayed engagement has crossed a threshold (``next_cooling_at <= now``).

    Reads only the due rows (indexed), writes their new temperature and score, a score-history
    row each, and the next crossing. Returns how many leads were cooled.
    """
    now = now or timezone.now()
    at = now.timestamp()
    with transaction.atomic():
        due = list(
            LeadScoringState.objects.select_for_update(of=("self", "lead"), skip_locked=True)
            .select_related("lead", "lead__source", "lead__campaign")
            .filter(next_cooling_at__lte=now)
            .order_by("next_cooling_at")[:limit]
        )
        leads: list[Lead] = []
        history: list[ScoreChange] = []
        for row in due:
            spec = spec_for_version(row.model_version)
            lead = row.lead
            if spec is None:
                row.next_cooling_at = None
                continue
            scores = engine.evaluate(spec, row.engagement_state, lead_values(lead), at=at, temperature=lead.temperature)
            row.next_cooling_at = _ts(
                engine.next_cooling_at(spec, row.engagement_state, temperature=scores.temperature, at=at)
            )
            if row.next_cooling_at is not None and row.next_cooling_at <= now:
                row.next_cooling_at = None  # cold or settled: nothing more to watch
            row.updated_at = now
            history.append(_score_change(lead, scores, spec=spec, cause=ScoreChange.Cause.DECAY, now=now))
            _apply_scores(lead, scores, now=now)
            leads.append(lead)
        _bulk_update_leads(leads, ("score", "fit_score", "engagement_score", "temperature", "updated_at"))
        LeadScoringState.objects.bulk_update(due, ["next_cooling_at", "updated_at"], batch_size=1000)
        ScoreChange.objects.bulk_create(history, batch_size=2000)
    return len(leads)


# --- model versions ----------------------------------------------------------------------


def model_problems(model: ScoringModel) -> list[str]:
    """Why the model cannot be published (empty when it can)."""
    problems: list[str] = []
    spec = model_spec(model)
    problems += spec.thresholds.problems()
    custom = dict(CustomFieldDefinition.objects.values_list("key", "field_type"))
    subjects = rules.fit_subjects(custom)
    for fit_rule in spec.fit_rules:
        for problem in rules.check_condition(fit_rule.condition, known_subjects=subjects):
            problems.append(f"Fit rule '{fit_rule.name}': {problem}.")
    for engagement_rule in spec.engagement_rules:
        if engagement_rule.condition is not None:
            for problem in rules.check_condition(engagement_rule.condition):
                problems.append(f"Engagement rule '{engagement_rule.name}': {problem}.")
        if engagement_rule.points == 0:
            problems.append(f"Engagement rule '{engagement_rule.name}': gives no points.")
    known_types = set(EventType.objects.values_list("key", flat=True))
    for stage_rule in spec.stage_rules:
        unknown = [t for t in stage_rule.event_types if t not in known_types]
        if unknown:
            problems.append(f"Stage rule '{stage_rule.name}': unknown event types {', '.join(unknown)}.")
        if stage_rule.min_events < 1:
            problems.append(f"Stage rule '{stage_rule.name}': needs at least one event.")
        if stage_rule.window_days <= 0:
            problems.append(f"Stage rule '{stage_rule.name}': the window must be positive.")
    if not spec.engagement_rules and not spec.fit_rules:
        problems.append("The model has no rules.")
    return problems


def model_copy_as_draft(*, model: ScoringModel, actor: User | None = None) -> ScoringModel:
    """A new draft version with the same settings and rules, to be edited and published."""
    with transaction.atomic():
        version = (ScoringModel.objects.order_by("-version").values_list("version", flat=True).first() or 0) + 1
        draft = ScoringModel.objects.create(
            version=version,
            name=model.name,
            notes=f"Copied from v{model.version}.",
            fit_weight=model.fit_weight,
            hot_at=model.hot_at,
            hot_until=model.hot_until,
            warm_at=model.warm_at,
            warm_until=model.warm_until,
        )
        for fit_rule in model.fit_rules.all():
            fit_rule.pk = None
            fit_rule.model = draft
            fit_rule.save()
        for engagement_rule in model.engagement_rules.all():
            engagement_rule.pk = None
            engagement_rule.model = draft
            engagement_rule.save()
        for stage_rule in model.stage_rules.all():
            stage_rule.pk = None
            stage_rule.model = draft
            stage_rule.save()
    return draft


@dataclass
class Preview:
    leads: int = 0
    temperature_changes: int = 0
    stage_changes: int = 0
    score_changes: int = 0
    by_temperature: dict[str, int] = field(default_factory=dict)


def _lead_chunks(after_id: int, chunk: int, *, lock: bool) -> Iterator[list[Lead]]:
    last = after_id
    while True:
        query = Lead.objects.select_related("source", "campaign").filter(pk__gt=last).order_by("pk")
        if lock:
            query = query.select_for_update(of=("self",))
        leads = list(query[:chunk])
        if not leads:
            return
        yield leads
        last = leads[-1].pk


def _states_for(spec: engine.ModelSpec, lead_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Replay the event logs of many leads with one streamed query (events ordered by lead, arrival)."""
    keys = {pk: key for key, (pk, _) in _event_type_ids(refresh=True).items()}
    states: dict[int, dict[str, Any]] = {pk: engine.empty_state() for pk in lead_ids}
    if not lead_ids:
        return states
    # Properties are decoded only for event types whose rules look at them.
    with_conditions = {
        pk
        for pk, key in keys.items()
        if any(rule.condition is not None for rule in spec.rules_for_event_type.get(key, ()))
    }
    folded = {key for key in keys.values() if key in spec.rules_for_event_type or key in spec.stage_event_types}
    if connection.vendor == "postgresql":
        # A server-side cursor, raw rows, epoch seconds from the database: no per-row ORM conversion.
        with transaction.atomic(), connection.chunked_cursor() as cursor:
            cursor.execute(
                f"SELECT lead_id, event_type_id, properties::text, extract(epoch FROM occurred_at)::float8 "  # noqa: S608
                f"FROM {connection.ops.quote_name(EngagementEvent._meta.db_table)} "
                "WHERE lead_id BETWEEN %s AND %s ORDER BY lead_id, id",
                [lead_ids[0], lead_ids[-1]],
            )
            while batch := cursor.fetchmany(20000):
                _fold_rows(spec, states, keys, folded, with_conditions, batch)
        return states
    rows = (
        EngagementEvent.objects.filter(lead_id__gte=lead_ids[0], lead_id__lte=lead_ids[-1])
        .order_by("lead_id", "id")
        .values_list("lead_id", "event_type_id", "properties", "occurred_at")
        .iterator(chunk_size=20000)
    )
    _fold_rows(spec, states, keys, folded, with_conditions, ((a, b, c, d.timestamp()) for a, b, c, d in rows))
    return states


def _fold_rows(
    spec: engine.ModelSpec,
    states: dict[int, dict[str, Any]],
    keys: dict[int, str],
    folded: set[str],
    with_conditions: set[int],
    rows: Iterable[tuple[int, int, Any, float]],
) -> None:
    fold = engine.fold_event
    for lead_id, type_id, props, at in rows:
        key = keys[type_id]
        if key not in folded:
            continue
        state = states.get(lead_id)
        if state is None:
            continue
        if type_id not in with_conditions:
            props = {}
        elif isinstance(props, str):
            props = json_value(props)
        fold(spec, state, event_type=key, properties=props or {}, at=at)


def model_preview(*, model: ScoringModel, now: datetime.datetime | None = None, chunk: int = 5000) -> Preview:
    """How many leads would change temperature, stage and score if ``model`` were published. Writes nothing."""
    now = now or timezone.now()
    at = now.timestamp()
    spec = model_spec(model)
    preview = Preview()
    for leads in _lead_chunks(0, chunk, lock=False):
        states = _states_for(spec, [lead.pk for lead in leads])
        for lead in leads:
            state = states[lead.pk]
            scores = engine.evaluate(spec, state, lead_values(lead), at=at, temperature=lead.temperature)
            preview.leads += 1
            preview.by_temperature[scores.temperature] = preview.by_temperature.get(scores.temperature, 0) + 1
            preview.temperature_changes += scores.temperature != lead.temperature
            preview.score_changes += scores.score != lead.score
            preview.stage_changes += (
                engine.stage_target(spec, stage=lead.stage, scores=scores, state=state, at=at) is not None
            )
    return preview


def model_publish(
    *, model: ScoringModel, actor: User | None = None, now: datetime.datetime | None = None
) -> RescoreRun:
    """Publish a draft (the old version retires) and start the background re-score of all leads."""
    now = now or timezone.now()
    if model.status != ScoringModel.Status.DRAFT:
        raise ValidationError({"status": "Only a draft can be published."})
    problems = model_problems(model)
    if problems:
        raise ValidationError({"rules": problems})
    with transaction.atomic():
        ScoringModel.objects.filter(status=ScoringModel.Status.PUBLISHED).update(
            status=ScoringModel.Status.RETIRED, updated_at=now
        )
        model.status = ScoringModel.Status.PUBLISHED
        model.published_at = now
        model.published_by = actor if actor is not None and actor.is_authenticated else None  # type: ignore[assignment]
        model.save(update_fields=["status", "published_at", "published_by", "updated_at"])
        run = RescoreRun.objects.create(model=model, created_at=now, total_leads=Lead.objects.count())
        transaction.on_commit(lambda: _enqueue_rescore(run.pk))
    _SPECS.pop(model.version, None)
    return run


def _enqueue_rescore(run_id: int) -> None:
    from scoring.tasks import rescore_run_task

    rescore_run_task.delay(run_id)


def rescore_run_execute(
    *, run: RescoreRun, chunk: int = 5000, now: datetime.datetime | None = None, max_chunks: int | None = None
) -> RescoreRun:
    """Re-score every lead under the run's model, chunk by chunk from ``last_lead_id`` (resumable).

    Each chunk commits with the run's progress, so a crash resumes after the last chunk done.
    No threshold side effects are fired: only columns and history rows are written.
    """
    run.refresh_from_db()
    if run.state == RescoreRun.State.DONE:
        return run
    if run.model.status != ScoringModel.Status.PUBLISHED:
        run.state = RescoreRun.State.FAILED
        run.error = "The model is no longer the published one."
        run.save(update_fields=["state", "error"])
        return run
    spec = spec_for_version(run.model.version)
    assert spec is not None
    run.state = RescoreRun.State.RUNNING
    run.started_at = run.started_at or timezone.now()
    run.save(update_fields=["state", "started_at"])
    done_chunks = 0
    while max_chunks is None or done_chunks < max_chunks:
        with transaction.atomic():
            # Locking the run row serialises two workers on the same run: neither redoes a chunk.
            run = RescoreRun.objects.select_for_update().select_related("model").get(pk=run.pk)
            if run.state == RescoreRun.State.DONE:
                return run
            query = (
                Lead.objects.select_for_update(of=("self",))
                .select_related("source", "campaign")
                .filter(pk__gt=run.last_lead_id)
                .order_by("pk")
            )
            leads = list(query[:chunk])
            if not leads:
                break
            states = _states_for(spec, [lead.pk for lead in leads])
            temperature_moves, stage_moves = _write_rescored(
                [(lead, states[lead.pk]) for lead in leads],
                spec,
                now=now or timezone.now(),
                cause=ScoreChange.Cause.RESCORE,
            )
            run.last_lead_id = leads[-1].pk
            run.processed_leads += len(leads)
            run.changed_temperature += temperature_moves
            run.changed_stage += stage_moves
            run.save(update_fields=["last_lead_id", "processed_leads", "changed_temperature", "changed_stage"])
        done_chunks += 1
    else:
        return run
    run.state = RescoreRun.State.DONE
    run.finished_at = timezone.now()
    run.save(update_fields=["state", "finished_at"])
    return run


def leads_score_unscored(
    *, first_id: int, last_id: int, now: datetime.datetime | None = None, chunk: int = 5000
) -> int:
    """Score the leads with ids in ``first_id..last_id`` that no model has scored yet (no scoring
    state): leads written in bulk without scoring, such as a CSV import's new rows. Each gets what
    ``lead_create_scored`` gives one lead: its fit under the published model, engagement from its
    events (most have none), stage rules forward only, a state and a history row. Chunks by id,
    each in its own transaction; scored leads are skipped, so running it twice changes nothing.
    Returns how many leads were scored."""
    return _score_in_chunks(Q(pk__gte=first_id, pk__lte=last_id, scoring_state__isnull=True), now=now, chunk=chunk)


def leads_rescore_updated(
    *, updated_at: datetime.datetime, before_id: int, now: datetime.datetime | None = None, chunk: int = 5000
) -> int:
    """Re-score the leads with ids below ``before_id`` last changed at ``updated_at``: the known
    leads a CSV import updated (its rows carry one clock), whose fit fields may have changed.
    From attributes and event log, as ``lead_rescore`` does one lead. Returns how many."""
    return _score_in_chunks(Q(pk__lt=before_id, updated_at=updated_at), now=now, chunk=chunk)


def _score_in_chunks(which: Q, *, now: datetime.datetime | None, chunk: int) -> int:
    """Score the leads matching ``which`` under the published model, ``chunk`` at a time in id
    order, each chunk locked and written in its own transaction."""
    now = now or timezone.now()
    model = active_model()
    spec = spec_for_version(model.version) if model is not None else None
    if spec is None:
        return 0
    scored = 0
    after = 0
    while True:
        with transaction.atomic():
            leads = list(
                Lead.objects.select_for_update(of=("self",))
                .select_related("source", "campaign")
                .filter(which, pk__gt=after)
                .order_by("pk")[:chunk]
            )
            if not leads:
                break
            states = _states_for(spec, [lead.pk for lead in leads])
            _write_rescored([(lead, states[lead.pk]) for lead in leads], spec, now=now, cause=ScoreChange.Cause.RESCORE)
        scored += len(leads)
        after = leads[-1].pk
    return scored


# --- scoring a log written in bulk -------------------------------------------------------


def leads_score_replay(*, first_id: int, last_id: int, now: datetime.datetime | None = None, chunk: int = 5000) -> int:
    """Score the leads with ids in ``first_id..last_id`` from event logs that were stored in bulk
    without scoring (the demo seed, a back-fill of old history). Returns how many leads were scored.

    Each lead's log is replayed in arrival order as ``event_log`` would have scored it live: every
    event gets the points it was awarded, and each event that changed the score or temperature gets
    its ``ScoreChange(cause=event)`` at the event's time (cooling between events included). Then the
    lead's score, fit, engagement, temperature and ``last_engaged_at``, its scoring state and
    ``next_cooling_at`` are written as of ``now``, with a last history row when decay since the last
    event (or fit alone, for a lead without events) changed the score.

    Stage rules are not applied: the stages of such history were set at the time by people and
    rules and are left as they are. No threshold side effects. Chunks of ``chunk`` leads by id, each
    in its own transaction; running it again rewrites the same state and adds the history again,
    so callers run it once per batch of new leads.
    """
    now = now or timezone.now()
    setup = replay_setup()
    if setup is None:
        return 0
    spec, keys, with_conditions = setup
    scored = 0
    last = first_id - 1
    while last < last_id:
        with transaction.atomic():
            leads = list(
                Lead.objects.select_related("source", "campaign")
                .filter(pk__gt=last, pk__lte=last_id)
                .order_by("pk")[:chunk]
            )
            if not leads:
                break
            _replay_chunk(spec, leads, keys, with_conditions, now)
        scored += len(leads)
        last = leads[-1].pk
    return scored


def _event_rows(first_id: int, last_id: int) -> Iterator[tuple[int, int, int, Any, float]]:
    """(lead id, event id, event type id, properties, epoch seconds) by lead, then arrival."""
    table = connection.ops.quote_name(EngagementEvent._meta.db_table)
    if connection.vendor == "postgresql":
        time_column = "extract(epoch FROM occurred_at)::float8"
        properties = "properties::text"
    else:
        time_column, properties = "occurred_at", "properties"
    # Only a quoted table name is formatted in; the ids travel as parameters.
    sql = (
        f"SELECT lead_id, id, event_type_id, {properties}, {time_column} FROM {table} "  # noqa: S608
        "WHERE lead_id BETWEEN %s AND %s ORDER BY lead_id, id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [first_id, last_id])
        while batch := cursor.fetchmany(20000):
            for lead_id, event_id, type_id, props, at in batch:
                if isinstance(at, str):  # SQLite keeps naive UTC text
                    at = datetime.datetime.fromisoformat(at).replace(tzinfo=datetime.UTC).timestamp()
                elif isinstance(at, datetime.datetime):
                    at = at.timestamp()
                yield lead_id, event_id, type_id, props, at


@dataclass
class ReplayRows:
    """What replaying some leads' logs writes besides the lead columns: their scoring states
    and score history, as plain rows (``STATE_COLUMNS``, ``HISTORY_COLUMNS``)."""

    state_rows: list[tuple[Any, ...]] = field(default_factory=list)
    history_rows: list[tuple[Any, ...]] = field(default_factory=list)


def _replay_one(
    spec: engine.ModelSpec,
    lead: Lead,
    log: list[tuple[int, int, Any, float]],
    keys: dict[int, str],
    with_conditions: set[int],
    now: datetime.datetime,
    rows: ReplayRows,
) -> tuple[tuple[Any, ...], list[tuple[float, int]]]:
    """Replay one lead's log ``(event id, event type id, properties, epoch seconds)``: add its
    state and history rows to ``rows``; return its score columns (``REPLAY_LEAD_COLUMNS``) and
    the points of each event that earned some."""
    at_now = now.timestamp()
    thresholds = spec.thresholds
    event_points: list[tuple[float, int]] = []
    values = lead_values(lead)
    fit = round(min(100.0, max(0.0, sum(rule.points for rule in engine.fit_matches(spec, values)))), 2)
    state = engine.empty_state()
    score, temperature = lead.score, lead.temperature
    last_engaged = lead.last_engaged_at
    for event_id, type_id, props, at in log:
        before = engine.engagement_at(spec, state, at)
        temperature = engine.next_temperature(thresholds, temperature, before)  # cooled meanwhile
        previous = (engine.combine(spec, fit, before) if state["rules"] else score, temperature)
        if type_id in with_conditions and isinstance(props, str):
            props = json_value(props)
        awards = engine.fold_event(
            spec,
            state,
            event_type=keys[type_id],
            properties=props if type_id in with_conditions and props else {},
            at=at,
        )
        points = sum(points for _, points in awards)
        if points:
            event_points.append((points, event_id))
        engagement = engine.engagement_at(spec, state, at)
        score = engine.combine(spec, fit, engagement)
        temperature = engine.next_temperature(thresholds, temperature, engagement)
        if (score, temperature) != previous:
            rows.history_rows.append(
                (lead.pk, _ts(at), ScoreChange.Cause.EVENT, event_id, spec.version, score, round(fit, 2),
                 round(engagement, 2), temperature, previous[0], previous[1])
            )  # fmt: skip
        occurred = _ts(at)
        if last_engaged is None or (occurred is not None and occurred > last_engaged):
            last_engaged = occurred
    scores = engine.evaluate(spec, state, values, at=at_now, temperature=temperature, explain=False)
    if (scores.score, scores.temperature) != (score, temperature):
        cause = ScoreChange.Cause.DECAY if log else ScoreChange.Cause.RESCORE
        rows.history_rows.append(
            (lead.pk, now, cause, None, spec.version, scores.score, scores.fit, scores.engagement,
             scores.temperature, score, temperature)
        )  # fmt: skip
    cooling = _ts(engine.next_cooling_at(spec, state, temperature=scores.temperature, at=at_now))
    rows.state_rows.append((lead.pk, spec.version, json_text(state), cooling, now))
    return (scores.score, scores.fit, scores.engagement, scores.temperature, last_engaged), event_points


def replay_setup() -> tuple[engine.ModelSpec, dict[int, str], set[int]] | None:
    """The active model's spec, event type keys by id, and the ids of the types whose rules
    read properties (the others' properties need not be decoded); None without a model."""
    model = active_model()
    spec = spec_for_version(model.version) if model is not None else None
    if spec is None:
        return None
    keys = {pk: key for key, (pk, _) in _event_type_ids(refresh=True).items()}
    with_conditions = {
        pk
        for pk, key in keys.items()
        if any(rule.condition is not None for rule in spec.rules_for_event_type.get(key, ()))
    }
    return spec, keys, with_conditions


def _replay_chunk(
    spec: engine.ModelSpec,
    leads: list[Lead],
    keys: dict[int, str],
    with_conditions: set[int],
    now: datetime.datetime,
) -> None:
    logs: dict[int, list[tuple[int, int, Any, float]]] = {lead.pk: [] for lead in leads}
    for lead_id, event_id, type_id, props, at in _event_rows(leads[0].pk, leads[-1].pk):
        if lead_id in logs:
            logs[lead_id].append((event_id, type_id, props, at))
    lead_rows: list[tuple[Any, ...]] = []
    rows = ReplayRows()
    event_points: list[tuple[float, int]] = []
    for lead in leads:
        columns, points = _replay_one(spec, lead, logs[lead.pk], keys, with_conditions, now, rows)
        lead_rows.append((*columns, lead.pk))
        event_points += points
    _write_replayed(leads, lead_rows, rows.state_rows, rows.history_rows, event_points)


def leads_score_planned(
    *,
    leads: list[Lead],
    events: dict[int, list[EngagementEvent]],
    now: datetime.datetime,
    setup: tuple[engine.ModelSpec, dict[int, str], set[int]] | None | bool = True,
) -> ReplayRows:
    """For new leads and their past events, not yet stored but with their ids given (a bulk
    load such as the demo seed): score them as ``leads_score_replay`` would once stored, in
    memory. Sets each lead's score columns and each event's points, and returns the state and
    history rows, which ``replay_rows_write`` stores after the leads and events themselves.
    ``events`` holds each lead's events by lead id, in arrival order. ``setup`` is what
    ``replay_setup()`` gave, when read before (this then runs without a query)."""
    rows = ReplayRows()
    if setup is True:
        setup = replay_setup()
    if not setup:
        return rows
    spec, keys, with_conditions = setup
    for lead in leads:
        mine = events.get(lead.pk, [])
        log = [(event.pk, event.event_type_id, event.properties, event.occurred_at.timestamp()) for event in mine]
        columns, points = _replay_one(spec, lead, log, keys, with_conditions, now, rows)
        lead.score, lead.fit_score, lead.engagement_score, lead.temperature, lead.last_engaged_at = columns
        if points:
            earned = {event_id: value for value, event_id in points}
            for event in mine:
                event.points = earned.get(event.pk, event.points)
    return rows


def replay_rows_write(rows: ReplayRows) -> None:
    """Store the state and history rows of ``leads_score_planned`` (their leads and events first)."""
    if connection.vendor == "postgresql":  # COPY: new rows only, many of them
        with connection.cursor() as cursor:
            for model, names, values in (
                (LeadScoringState, STATE_COLUMNS, rows.state_rows),
                (ScoreChange, HISTORY_COLUMNS, rows.history_rows),
            ):
                columns = [_column(_concrete_field(model, name)) for name in names]
                copy_in(cursor, model._meta.db_table, columns, ([copy_value(v) for v in row] for row in values))
        return
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        _sqlite_insert(
            cursor,
            LeadScoringState,
            STATE_COLUMNS,
            [(a, b, c, adapt(d), adapt(e)) for a, b, c, d, e in rows.state_rows],
        )
        _sqlite_insert(
            cursor, ScoreChange, HISTORY_COLUMNS, [(row[0], adapt(row[1]), *row[2:]) for row in rows.history_rows]
        )


REPLAY_LEAD_COLUMNS = ("score", "fit_score", "engagement_score", "temperature", "last_engaged_at")


def _write_replayed(
    leads: list[Lead],
    lead_rows: list[tuple[Any, ...]],
    state_rows: list[tuple[Any, ...]],
    history_rows: list[tuple[Any, ...]],
    event_points: list[tuple[float, int]],
) -> None:
    """Plain rows, written one array per column on PostgreSQL and with executemany on SQLite."""
    LeadScoringState.objects.filter(lead_id__in=[lead.pk for lead in leads]).delete()
    if connection.vendor == "postgresql":
        for lead, row in zip(leads, lead_rows, strict=True):
            lead.score, lead.fit_score, lead.engagement_score, lead.temperature, lead.last_engaged_at = row[:5]
        _bulk_update_leads(leads, REPLAY_LEAD_COLUMNS)
        _pg_insert_plain(LeadScoringState, STATE_COLUMNS, state_rows)
        _pg_insert_plain(ScoreChange, HISTORY_COLUMNS, history_rows)
        if event_points:
            table = connection.ops.quote_name(EngagementEvent._meta.db_table)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} AS e SET points = v.points "  # noqa: S608
                    "FROM unnest(%s::float8[], %s::bigint[]) AS v(points, id) WHERE e.id = v.id",
                    unnest_params(event_points, 2),
                )
        return
    adapt = connection.ops.adapt_datetimefield_value
    quote = connection.ops.quote_name
    lead_columns = ", ".join(f"{quote(_column(_concrete_field(Lead, name)))} = %s" for name in REPLAY_LEAD_COLUMNS)
    with connection.cursor() as cursor:
        # Only quoted names are formatted in; values travel as parameters.
        cursor.executemany(
            f"UPDATE {quote(Lead._meta.db_table)} SET {lead_columns} WHERE id = %s",  # noqa: S608
            [(*row[:4], adapt(row[4]), row[5]) for row in lead_rows],
        )
        _sqlite_insert(
            cursor, LeadScoringState, STATE_COLUMNS, [(a, b, c, adapt(d), adapt(e)) for a, b, c, d, e in state_rows]
        )
        _sqlite_insert(
            cursor, ScoreChange, HISTORY_COLUMNS, [(row[0], adapt(row[1]), *row[2:]) for row in history_rows]
        )
        cursor.executemany(
            f"UPDATE {quote(EngagementEvent._meta.db_table)} SET points = %s WHERE id = %s",  # noqa: S608
            event_points,
        )


def _sqlite_insert(cursor: Any, model: Any, names: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in names)
    placeholders = ", ".join(["%s"] * len(names))
    cursor.executemany(f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders})", rows)  # noqa: S608
