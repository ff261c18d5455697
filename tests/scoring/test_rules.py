from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.rules import Condition, check_condition, check_properties, fit_subjects, matches


def test_conditions_match_like_a_marketer_reads_them():
    lead = {"industry": "Software", "company_size": 120, "title": "VP Marketing", "free_mail": False}
    assert matches(Condition("industry", "in", ["software", "SaaS"]), lead)
    assert matches(Condition("company_size", "gte", 50), lead)
    assert not matches(Condition("company_size", "lt", 50), lead)
    assert matches(Condition("title", "contains", "vp"), lead)
    assert matches(Condition("free_mail", "eq", False), lead)
    assert not matches(Condition("country", "eq", "Germany"), lead)
    assert matches(Condition("country", "is_not_set"), lead)
    assert matches(Condition("country", "not_in", ["Germany"]), lead)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["a", "b"]), st.one_of(st.none(), st.text(), st.integers(), st.floats())))
def test_matching_never_raises_on_any_value(values):
    for operator in ("eq", "ne", "in", "contains", "gte", "lt", "is_set"):
        operand = ["x", 1] if operator == "in" else (5 if operator in ("gte", "lt") else "x")
        assert matches(Condition("a", operator, operand), values) in (True, False)


def test_a_condition_on_a_field_that_does_not_exist_cannot_be_evaluated():
    subjects = fit_subjects({"occupation": "text"})
    assert check_condition(Condition("attributes.occupation", "eq", "Student"), known_subjects=subjects) == []
    assert check_condition(Condition("shoe_size", "gte", 42), known_subjects=subjects) == [
        "'shoe_size' is not a lead field or a defined custom attribute"
    ]
    assert check_condition(Condition("title", "gte", 3), known_subjects=subjects) == [
        "'title' is not a number and cannot be compared with 3"
    ]
    assert check_condition(Condition("industry", "in", []), known_subjects=subjects) == [
        "'is one of' needs a non-empty list of values"
    ]


def test_malformed_properties_are_named():
    assert check_properties({"url": "/pricing", "seconds": 30}) == []
    assert check_properties(["a"]) == ["must be an object of name: value pairs"]
    assert check_properties({"url": 5}) == ["'url' must be text"]
    assert check_properties({"nested": {"a": 1}}) == ["'nested' must be text, a number, yes/no or a list of those"]
