import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring import engine
from scoring.rules import Condition

DAY = engine.DAY
T0 = 1_800_000_000.0

SPEC = engine.ModelSpec(
    version=1,
    fit_rules=(
        engine.FitRule(key="f1", name="VP", condition=Condition("title", "contains", "VP"), points=40),
        engine.FitRule(key="f2", name="Big", condition=Condition("company_size", "gte", 50), points=30),
    ),
    engagement_rules=(
        engine.EngagementRule(
            key="visit", name="Visit", event_type="page_view", points=3, cap_per_day=9, half_life_days=7
        ),
        engine.EngagementRule(
            key="pricing",
            name="Pricing",
            event_type="page_view",
            points=10,
            condition=Condition("url", "contains", "/pricing"),
            cap_total=30,
            half_life_days=14,
        ),
        engine.EngagementRule(
            key="demo", name="Demo", event_type="demo_request", points=40, cap_total=40, half_life_days=30
        ),
        engine.EngagementRule(
            key="unsub", name="Unsub", event_type="unsubscribe", points=-20, cap_total=20, half_life_days=5
        ),
    ),
    stage_rules=(
        engine.StageRule(key="mql", name="MQL", to_stage="mql", min_score=50, min_fit=30),
        engine.StageRule(key="sql", name="SQL", to_stage="sql", min_fit=40, event_types=("demo_request",)),
        engine.StageRule(
            key="pql", name="PQL", to_stage="pql", event_types=("product_usage",), min_events=3, window_days=14
        ),
    ),
    fit_weight=0.5,
    thresholds=engine.Thresholds(hot_at=50, hot_until=40, warm_at=20, warm_until=15),
)

event_types = st.sampled_from(["page_view", "demo_request", "unsubscribe", "product_usage", "email_open"])
urls = st.sampled_from(["/", "/pricing", "/blog/x", "/pricing/enterprise"])
events = st.lists(
    st.tuples(event_types, urls, st.floats(min_value=0, max_value=60 * DAY, allow_nan=False)), max_size=40
)


def _fold(event_list):
    state = engine.empty_state()
    for event_type, url, offset in event_list:
        state, _ = engine.apply_event(SPEC, state, event_type=event_type, properties={"url": url}, at=T0 + offset)
    return state


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events)
def test_incremental_update_equals_full_replay(event_list):
    incremental = _fold(event_list)
    replayed = engine.replay(SPEC, [(t, {"url": u}, T0 + o) for t, u, o in event_list])
    assert incremental == replayed


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events)
def test_decayed_sum_equals_closed_form_whatever_the_arrival_order(event_list):
    state = engine.empty_state()
    awarded = []  # (rule key, points, time)
    for event_type, url, offset in event_list:
        state, awards = engine.apply_event(SPEC, state, event_type=event_type, properties={"url": url}, at=T0 + offset)
        awarded += [(key, points, T0 + offset) for key, points in awards]
    at = T0 + 61 * DAY
    points = engine.engagement_points(SPEC, state, at)
    rules = {rule.key: rule for rule in SPEC.engagement_rules}
    for key, rule in rules.items():
        expected = sum(
            p * (0.5 ** ((at - t) / (rule.half_life_days * DAY)) if rule.decays else 1.0)
            for k, p, t in awarded
            if k == key
        )
        assert math.isclose(points.get(key, 0.0), expected, rel_tol=1e-9, abs_tol=1e-9)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events, st.floats(min_value=0, max_value=90 * DAY))
def test_score_stays_between_0_and_100(event_list, later):
    state = _fold(event_list)
    for values in ({}, {"title": "VP Sales", "company_size": 500}):
        scores = engine.evaluate(SPEC, state, values, at=T0 + later, temperature="cold")
        assert 0 <= scores.score <= 100
        assert 0 <= scores.fit <= 100
        assert 0 <= scores.engagement <= 100


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events)
def test_caps_hold(event_list):
    state = _fold(event_list)
    for rule in SPEC.engagement_rules:
        rule_state = state["rules"].get(rule.key)
        if rule_state is None:
            continue
        if rule.cap_total is not None:
            assert rule_state["total"] <= rule.cap_total + 1e-9
        if rule.cap_per_day is not None:
            assert all(points <= rule.cap_per_day + 1e-9 for points in rule_state["days"].values())


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events, st.floats(min_value=0, max_value=30 * DAY), st.floats(min_value=0, max_value=30 * DAY))
def test_with_no_new_events_engagement_never_rises(event_list, first, second):
    state = _fold(event_list)
    start = T0 + 60 * DAY
    earlier, later = sorted((first, second))
    assert engine.engagement_at(SPEC, state, start + later) <= engine.engagement_at(SPEC, state, start + earlier) + 1e-9


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["cold", "warm", "hot"]), st.floats(min_value=0, max_value=100))
def test_hysteresis_never_flips_back_on_one_value(current, engagement):
    once = engine.next_temperature(SPEC.thresholds, current, engagement)
    assert engine.next_temperature(SPEC.thresholds, once, engagement) == once


def test_hysteresis_keeps_a_hot_lead_hot_until_it_falls_below_hot_until():
    thresholds = SPEC.thresholds
    assert engine.next_temperature(thresholds, "warm", 45) == "warm"
    assert engine.next_temperature(thresholds, "hot", 45) == "hot"
    assert engine.next_temperature(thresholds, "hot", 39.9) == "warm"
    assert engine.next_temperature(thresholds, "warm", 16) == "warm"
    assert engine.next_temperature(thresholds, "cold", 16) == "cold"
    assert engine.next_temperature(thresholds, "hot", 10) == "cold"


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events)
def test_next_cooling_at_is_the_first_moment_below_the_threshold(event_list):
    state = _fold(event_list)
    at = T0 + 60 * DAY
    temperature = engine.next_temperature(SPEC.thresholds, "cold", engine.engagement_at(SPEC, state, at))
    due = engine.next_cooling_at(SPEC, state, temperature=temperature, at=at)
    if temperature == "cold":
        assert due is None
        return
    threshold = SPEC.thresholds.hot_until if temperature == "hot" else SPEC.thresholds.warm_until
    if due is None:
        assert engine.engagement_at(SPEC, state, math.inf) >= threshold
        return
    assert engine.engagement_at(SPEC, state, due) < threshold
    # at most two seconds late (the sweep runs every minute)
    assert due == at or engine.engagement_at(SPEC, state, due - 2) >= threshold


def test_a_half_life_halves_the_points():
    state, awards = engine.apply_event(SPEC, engine.empty_state(), event_type="demo_request", properties={}, at=T0)
    assert awards == [("demo", 40)]
    assert engine.engagement_at(SPEC, state, T0 + 30 * DAY) == 20.0


def test_a_daily_cap_stops_points_for_the_day_and_resumes_the_next():
    state = engine.empty_state()
    awarded = []
    for offset in (0, 60, 120, 180, DAY + 10):
        state, awards = engine.apply_event(SPEC, state, event_type="page_view", properties={"url": "/"}, at=T0 + offset)
        awarded.append(dict(awards)["visit"])
    assert awarded == [3, 3, 3, 0, 3]


def test_stage_rules_pick_the_furthest_forward_move_and_never_move_back():
    state, _ = engine.apply_event(SPEC, engine.empty_state(), event_type="demo_request", properties={}, at=T0)
    scores = engine.evaluate(SPEC, state, {"title": "VP", "company_size": 80}, at=T0, temperature="warm")
    assert engine.stage_target(SPEC, stage="raw", scores=scores, state=state, at=T0).to_stage == "sql"
    assert engine.stage_target(SPEC, stage="mql", scores=scores, state=state, at=T0).to_stage == "sql"
    assert engine.stage_target(SPEC, stage="sql", scores=scores, state=state, at=T0) is None
    assert engine.stage_target(SPEC, stage="lost", scores=scores, state=state, at=T0) is None
    assert engine.stage_target(SPEC, stage="raw", scores=scores, state=state, at=T0 + 31 * DAY).to_stage == "mql"


def test_pql_needs_three_product_events_within_the_window():
    state = engine.empty_state()
    for offset in (0, 20 * DAY, 21 * DAY):
        state, _ = engine.apply_event(SPEC, state, event_type="product_usage", properties={}, at=T0 + offset)
    scores = engine.evaluate(SPEC, state, {}, at=T0 + 21 * DAY, temperature="cold")
    assert engine.stage_target(SPEC, stage="raw", scores=scores, state=state, at=T0 + 21 * DAY) is None
    state, _ = engine.apply_event(SPEC, state, event_type="product_usage", properties={}, at=T0 + 22 * DAY)
    rule = engine.stage_target(SPEC, stage="raw", scores=scores, state=state, at=T0 + 22 * DAY)
    assert rule.to_stage == "pql"
    assert rule.describe() == "PQL: 3+ product_usage within 14 days"


def test_the_days_a_daily_cap_counts_stay_bounded_and_a_recent_day_keeps_its_count():
    state = engine.empty_state()
    for day in range(400):  # a visit every day for more than a year
        engine.fold_event(SPEC, state, event_type="page_view", properties={"url": "/"}, at=T0 + day * DAY)
    days = state["rules"]["visit"]["days"]
    assert engine.CAP_DAYS_KEPT <= len(days) <= engine.CAP_DAYS_KEPT + 9
    newest = engine._day(T0 + 399 * DAY)
    assert max(days) == newest and days[newest] == 3

    # A late event for a day still kept counts against that day's cap.
    for _ in range(3):
        engine.fold_event(SPEC, state, event_type="page_view", properties={"url": "/"}, at=T0 + 398 * DAY + 60)
    awards = engine.fold_event(SPEC, state, event_type="page_view", properties={"url": "/"}, at=T0 + 398 * DAY + 90)
    assert awards == [("visit", 0)]
