"""Score arithmetic: fit, decayed engagement with caps, the 0-100 score, temperature with
hysteresis, stage rules and the time of the next cooling. No ORM here.

Times are POSIX seconds (floats). A lead's engagement state is a JSON-ready dict::

    {"rules": {rule_key: {"s": decayed points at "t", "t": reference time, "n": matched events,
                          "total": points awarded (magnitude), "days": {"YYYY-MM-DD": points awarded}}},
     "stage_events": {event_type: [times of recent events]}}

Each event folds into the state with :func:`apply_event`; folding every event of a lead in
arrival order gives exactly what the incremental updates gave (the same float operations in
the same order). Decay is exponential per rule: after one half-life a point is worth half.
Rules with negative points (e.g. unsubscribe) do not decay, so with no new events the
engagement score can only fall.
"""

from __future__ import annotations

import copy
import datetime
import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from leads import lifecycle
from scoring.rules import Condition, matches

DAY = 86400.0
# Per-day caps keep a count per day with events; the newest this many days are kept (an event
# that arrives later than that for an older day counts against a fresh day's cap). Without a
# bound the state grew by a day for every day a rule fired, read and written with each event.
CAP_DAYS_KEPT = 31
HOT, WARM, COLD = "hot", "warm", "cold"


@dataclass(frozen=True)
class FitRule:
    key: str
    name: str
    condition: Condition
    points: float


@dataclass(frozen=True)
class EngagementRule:
    key: str
    name: str
    event_type: str
    points: float
    condition: Condition | None = None
    cap_per_day: float | None = None
    cap_total: float | None = None
    half_life_days: float | None = None

    @property
    def decays(self) -> bool:
        return self.points > 0 and bool(self.half_life_days)


@dataclass(frozen=True)
class StageRule:
    key: str
    name: str
    to_stage: str
    min_score: float = 0
    min_fit: float = 0
    event_types: tuple[str, ...] = ()
    min_events: int = 1
    window_days: float = 30

    def describe(self) -> str:
        parts = []
        if self.event_types:
            what = " or ".join(self.event_types)
            many = f"{self.min_events}+ " if self.min_events > 1 else ""
            parts.append(f"{many}{what} within {self.window_days:g} days")
        if self.min_score:
            parts.append(f"score >= {self.min_score:g}")
        if self.min_fit:
            parts.append(f"fit >= {self.min_fit:g}")
        return f"{self.to_stage.upper()}: " + (" and ".join(parts) or "always")


@dataclass(frozen=True)
class Thresholds:
    """Hot at ``hot_at`` or more, staying hot down to ``hot_until``; likewise warm."""

    hot_at: float = 50
    hot_until: float = 40
    warm_at: float = 20
    warm_until: float = 15

    def problems(self) -> list[str]:
        found = []
        if not 0 < self.warm_until <= self.warm_at <= 100:
            found.append("warm needs 0 < 'stays warm down to' <= 'warm at' <= 100")
        if not 0 < self.hot_until <= self.hot_at <= 100:
            found.append("hot needs 0 < 'stays hot down to' <= 'hot at' <= 100")
        if self.hot_until < self.warm_at:
            found.append("'stays hot down to' must be at least 'warm at'")
        return found


@dataclass(frozen=True)
class ModelSpec:
    version: int
    fit_rules: tuple[FitRule, ...] = ()
    engagement_rules: tuple[EngagementRule, ...] = ()
    stage_rules: tuple[StageRule, ...] = ()
    fit_weight: float = 0.5
    thresholds: Thresholds = field(default_factory=Thresholds)

    @functools.cached_property
    def engagement_rule_by_key(self) -> dict[str, EngagementRule]:
        return {rule.key: rule for rule in self.engagement_rules}

    @functools.cached_property
    def rules_for_event_type(self) -> dict[str, tuple[EngagementRule, ...]]:
        found: dict[str, list[EngagementRule]] = {}
        for rule in self.engagement_rules:
            found.setdefault(rule.event_type, []).append(rule)
        return {key: tuple(rules) for key, rules in found.items()}

    @functools.cached_property
    def stage_event_types(self) -> frozenset[str]:
        return frozenset(t for rule in self.stage_rules for t in rule.event_types)

    @functools.cached_property
    def stage_window(self) -> float:
        windows = [rule.window_days for rule in self.stage_rules if rule.event_types]
        return max(windows, default=0) * DAY


@dataclass(frozen=True)
class Contribution:
    rule: str
    kind: str  # "fit" or "engagement"
    points: float  # after decay, for engagement
    events: int = 0
    awarded: float = 0  # points awarded before decay


@dataclass(frozen=True)
class Scores:
    fit: float
    engagement: float
    score: int
    temperature: str
    contributions: tuple[Contribution, ...]


def empty_state() -> dict[str, Any]:
    return {"rules": {}, "stage_events": {}}


def _decay(rule: EngagementRule, seconds: float) -> float:
    if not rule.decays or seconds <= 0:
        return 1.0
    return 0.5 ** (seconds / (rule.half_life_days * DAY))  # type: ignore[operator]


def _day(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, tz=datetime.UTC).date().isoformat()


def _award(rule: EngagementRule, rule_state: Mapping[str, Any], day: str) -> float:
    """Points the rule gives for one more event, after its caps (caps bound the magnitude)."""
    room = rule.points if rule.points >= 0 else -rule.points
    if rule.cap_total is not None:
        left = rule.cap_total - rule_state.get("total", 0.0)
        if left < room:
            room = left
    if rule.cap_per_day is not None:
        left = rule.cap_per_day - rule_state.get("days", {}).get(day, 0.0)
        if left < room:
            room = left
    if room < 0:
        room = 0.0
    return room if rule.points >= 0 else -room


def apply_event(
    spec: ModelSpec, state: Mapping[str, Any], *, event_type: str, properties: Mapping[str, Any], at: float
) -> tuple[dict[str, Any], list[tuple[str, float]]]:
    """Fold one event into the state; return the new state and the points each rule awarded."""
    new_state = copy.deepcopy(dict(state)) if state else empty_state()
    return new_state, fold_event(spec, new_state, event_type=event_type, properties=properties, at=at)


def fold_event(
    spec: ModelSpec, new_state: dict[str, Any], *, event_type: str, properties: Mapping[str, Any], at: float
) -> list[tuple[str, float]]:
    """Like :func:`apply_event`, changing ``new_state`` in place (for replays over many events)."""
    new_state.setdefault("rules", {})
    new_state.setdefault("stage_events", {})
    awards: list[tuple[str, float]] = []
    rules = spec.rules_for_event_type.get(event_type, ())
    day = _day(at) if any(rule.cap_per_day is not None for rule in rules) else ""
    for rule in rules:
        if rule.condition is not None and not matches(rule.condition, properties):
            continue
        rule_state = new_state["rules"].setdefault(rule.key, {"s": 0.0, "t": at, "n": 0, "total": 0.0})
        points = _award(rule, rule_state, day)
        if at >= rule_state["t"]:
            rule_state["s"] = rule_state["s"] * _decay(rule, at - rule_state["t"]) + points
            rule_state["t"] = at
        else:  # an event that arrives late counts at its own time
            rule_state["s"] = rule_state["s"] + points * _decay(rule, rule_state["t"] - at)
        rule_state["n"] += 1
        rule_state["total"] += abs(points)
        if rule.cap_per_day is not None:
            days = rule_state.setdefault("days", {})
            days[day] = days.get(day, 0.0) + abs(points)
            if len(days) > CAP_DAYS_KEPT + 9:  # trimmed now and then, not at every event
                for old_day in sorted(days)[:-CAP_DAYS_KEPT]:  # ISO dates sort by time
                    del days[old_day]
        awards.append((rule.key, points))
    if event_type in spec.stage_event_types:
        times = new_state["stage_events"].setdefault(event_type, [])
        times.append(at)
        newest = max(times)
        times[:] = sorted(t for t in times if t >= newest - spec.stage_window)
    return awards


def replay(spec: ModelSpec, events: Iterable[tuple[str, Mapping[str, Any], float]]) -> dict[str, Any]:
    """The state from a whole event log, ``(event_type, properties, at)`` in arrival order."""
    state = empty_state()
    for event_type, properties, at in events:
        fold_event(spec, state, event_type=event_type, properties=properties, at=at)
    return state


def engagement_points(spec: ModelSpec, state: Mapping[str, Any], at: float) -> dict[str, float]:
    """Each rule's points at time ``at``, after decay."""
    points: dict[str, float] = {}
    rules = spec.engagement_rule_by_key
    for key, rule_state in (state.get("rules", {}) if state else {}).items():
        rule = rules.get(key)
        if rule is not None:  # rules of another version are ignored
            points[key] = rule_state["s"] * _decay(rule, at - rule_state["t"])
    return points


def _clamp(value: float) -> float:
    return min(100.0, max(0.0, value))


def engagement_at(spec: ModelSpec, state: Mapping[str, Any], at: float) -> float:
    """``sum(engagement_points(...))``, clamped; summed in place (replays call it per event)."""
    total = 0.0
    rules = spec.engagement_rule_by_key
    for key, rule_state in (state.get("rules", {}) if state else {}).items():
        rule = rules.get(key)
        if rule is not None:
            total += rule_state["s"] * _decay(rule, at - rule_state["t"])
    return _clamp(total)


def fit_matches(spec: ModelSpec, values: Mapping[str, Any]) -> list[FitRule]:
    return [rule for rule in spec.fit_rules if matches(rule.condition, values)]


def next_temperature(thresholds: Thresholds, current: str, engagement: float) -> str:
    """Temperature after an engagement value, with hysteresis: entering needs more than staying."""
    if engagement >= thresholds.hot_at or (current == HOT and engagement >= thresholds.hot_until):
        return HOT
    if engagement >= thresholds.warm_at or (current in (HOT, WARM) and engagement >= thresholds.warm_until):
        return WARM
    return COLD


def combine(spec: ModelSpec, fit: float, engagement: float) -> int:
    weight = min(1.0, max(0.0, spec.fit_weight))
    return int(round(_clamp(weight * fit + (1 - weight) * engagement)))


def evaluate(
    spec: ModelSpec,
    state: Mapping[str, Any],
    values: Mapping[str, Any],
    *,
    at: float,
    temperature: str,
    explain: bool = True,
) -> Scores:
    """The lead's scores at ``at`` given its engagement state, attributes and current temperature;
    without ``explain`` the contributions are left empty (the event path stores only the scores)."""
    matched = fit_matches(spec, values)
    fit = _clamp(sum(rule.points for rule in matched))
    decayed = engagement_points(spec, state, at)
    engagement = _clamp(sum(decayed.values()))
    if not explain:
        return Scores(
            fit=round(fit, 2),
            engagement=round(engagement, 2),
            score=combine(spec, fit, engagement),
            temperature=next_temperature(spec.thresholds, temperature, engagement),
            contributions=(),
        )
    contributions = [Contribution(rule=rule.name, kind="fit", points=rule.points) for rule in matched]
    rules_state = state.get("rules", {}) if state else {}
    for rule in spec.engagement_rules:
        if rule.key in decayed:
            rule_state = rules_state[rule.key]
            contributions.append(
                Contribution(
                    rule=rule.name,
                    kind="engagement",
                    points=round(decayed[rule.key], 2),
                    events=rule_state["n"],
                    awarded=round(rule_state["total"] if rule.points >= 0 else -rule_state["total"], 2),
                )
            )
    return Scores(
        fit=round(fit, 2),
        engagement=round(engagement, 2),
        score=combine(spec, fit, engagement),
        temperature=next_temperature(spec.thresholds, temperature, engagement),
        contributions=tuple(contributions),
    )


def stage_target(
    spec: ModelSpec, *, stage: str, scores: Scores, state: Mapping[str, Any], at: float
) -> StageRule | None:
    """The stage rule that moves the lead furthest forward now, or ``None``. Rules never move back."""
    best: StageRule | None = None
    stage_events = state.get("stage_events", {}) if state else {}
    for rule in spec.stage_rules:
        if scores.score < rule.min_score or scores.fit < rule.min_fit:
            continue
        if rule.event_types:
            since = at - rule.window_days * DAY
            count = sum(1 for t in rule.event_types for when in stage_events.get(t, ()) if since <= when <= at + 300)
            if count < rule.min_events:
                continue
        try:
            lifecycle.check_move(stage, rule.to_stage, by_rule=True)
        except lifecycle.MoveRefused:
            continue
        if best is None or lifecycle.RANK[rule.to_stage] > lifecycle.RANK[best.to_stage]:
            best = rule
    return best


def next_cooling_at(spec: ModelSpec, state: Mapping[str, Any], *, temperature: str, at: float) -> float | None:
    """When the decayed engagement will fall below what keeps the current temperature (None: never)."""
    if temperature == HOT:
        threshold = spec.thresholds.hot_until
    elif temperature == WARM:
        threshold = spec.thresholds.warm_until
    else:
        return None
    # E(at + dt) = steady + sum(s_i * 2^(-dt/h_i)): the decaying terms at ``at``, and what never decays.
    # Terms of one half-life add up to one term: a model has a handful of half-lives for many rules.
    rules = spec.engagement_rule_by_key
    steady = 0.0
    by_half_life: dict[float, float] = {}
    for key, rule_state in (state.get("rules", {}) if state else {}).items():
        rule = rules.get(key)
        if rule is None:
            continue
        value = rule_state["s"] * _decay(rule, at - rule_state["t"])
        if rule.decays and value > 0:
            half_life = rule.half_life_days * DAY  # type: ignore[operator]
            by_half_life[half_life] = by_half_life.get(half_life, 0.0) + value
        else:
            steady += value
    terms = [(value, half_life) for half_life, value in by_half_life.items()]

    def engagement(dt: float) -> float:
        return min(100.0, max(0.0, steady + sum(value * 0.5 ** (dt / half_life) for value, half_life in terms)))

    if engagement(0.0) < threshold:
        return at
    if not terms or min(100.0, max(0.0, steady)) >= threshold:
        return None
    # Newton's method on E(dt) - threshold, a convex decreasing function: started before the
    # crossing, every step lands closer and never past it. Every term decays at most as fast as
    # the quickest half-life, so the crossing comes no earlier than that term alone would make it.
    needed = threshold - steady  # > 0: what never decays stays below the threshold
    total = sum(value for value, _ in terms)
    dt = max(0.0, min(h for _, h in terms) * math.log2(total / needed))
    rates = [(value, math.log(2) / half_life) for value, half_life in terms]
    for _ in range(100):
        excess = -needed
        slope = 0.0
        for value, rate in rates:
            term = value * math.exp(-rate * dt)
            excess += term
            slope -= rate * term
        if excess <= 0 or slope == 0:
            break
        step = excess / -slope
        dt += step
        if step < 0.5:
            break
    # dt is at most a fraction of a second before the crossing: the next whole second after it.
    due = dt + 1.0
    while engagement(due) >= threshold:  # a guard against rounding: a minute at a time
        due += 60.0
    return float(math.ceil(at + due))
