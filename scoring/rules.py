"""Conditions of the scoring model and how they match. No ORM here.

A condition compares one value (a lead attribute for fit rules, an event property for
engagement rules) with an operator and an operand, e.g. ``industry in ["Software", "SaaS"]``,
``company_size >= 50``, ``title contains "VP"``, ``url contains "/pricing"``.

Lead attributes are read from a flat mapping built by the caller: the lead's own fields
(``title``, ``company_size``, ``email_domain``, ...) and its custom attributes under
``attributes.<key>``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# operator -> (label, kind of operand: "list", "number", "text", "none", "any")
OPERATORS: dict[str, tuple[str, str]] = {
    "eq": ("is", "any"),
    "ne": ("is not", "any"),
    "in": ("is one of", "list"),
    "not_in": ("is none of", "list"),
    "contains": ("contains", "text"),
    "not_contains": ("does not contain", "text"),
    "gte": (">=", "number"),
    "lte": ("<=", "number"),
    "gt": (">", "number"),
    "lt": ("<", "number"),
    "is_set": ("is set", "none"),
    "is_not_set": ("is not set", "none"),
}

# Lead fields a fit rule may refer to, and whether they are numbers.
LEAD_FIELDS: dict[str, str] = {
    "title": "text",
    "company": "text",
    "website": "text",
    "company_size": "number",
    "industry": "text",
    "country": "text",
    "city": "text",
    "annual_revenue": "number",
    "timezone": "text",
    "source": "text",
    "campaign": "text",
    "email_domain": "text",
    "free_mail": "boolean",
    "email_opt_in": "boolean",
    "do_not_call": "boolean",
    "unsubscribed": "boolean",
    "budget": "text",
    "authority": "text",
    "need": "text",
    "timeline": "text",
}

ATTRIBUTE_PREFIX = "attributes."

FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "gmx.com",
        "gmx.de",
        "web.de",
        "mail.com",
        "proton.me",
        "protonmail.com",
        "yandex.com",
        "yandex.ru",
        "zoho.com",
        "qq.com",
        "163.com",
    }
)

MISSING = object()


class ConditionError(ValueError):
    """A condition that cannot be evaluated; the message says why."""


@dataclass(frozen=True)
class Condition:
    subject: str  # a lead attribute name, or an event property name
    operator: str
    operand: Any = None

    def describe(self) -> str:
        label = OPERATORS.get(self.operator, (self.operator, ""))[0]
        if OPERATORS.get(self.operator, ("", ""))[1] == "none":
            return f"{self.subject} {label}"
        if isinstance(self.operand, list):
            return f"{self.subject} {label} {', '.join(str(v) for v in self.operand)}"
        return (
            f'{self.subject} {label} "{self.operand}"'
            if isinstance(self.operand, str)
            else (f"{self.subject} {label} {self.operand}")
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool) and math.isfinite(float(value))


def check_condition(condition: Condition, *, known_subjects: Mapping[str, str] | None = None) -> list[str]:
    """Why ``condition`` cannot be evaluated (empty when it can).

    ``known_subjects`` maps each subject that exists to its kind (text, number, boolean...);
    ``None`` accepts any subject (event properties are free-form).
    """
    problems: list[str] = []
    if not condition.subject or not condition.subject.strip():
        problems.append("names no attribute")
    elif known_subjects is not None and condition.subject not in known_subjects:
        problems.append(f"'{condition.subject}' is not a lead field or a defined custom attribute")
    if condition.operator not in OPERATORS:
        problems.append(f"'{condition.operator}' is not an operator")
        return problems
    kind = OPERATORS[condition.operator][1]
    operand = condition.operand
    if kind == "list":
        if not isinstance(operand, list) or not operand:
            problems.append(f"'{OPERATORS[condition.operator][0]}' needs a non-empty list of values")
        elif not all(isinstance(item, str | int | float) and not isinstance(item, bool) for item in operand):
            problems.append("the list may hold only text and numbers")
    elif kind == "number":
        if not _is_number(operand):
            problems.append(f"'{OPERATORS[condition.operator][0]}' needs a number")
        elif known_subjects is not None and known_subjects.get(condition.subject) not in (None, "number"):
            problems.append(f"'{condition.subject}' is not a number and cannot be compared with {operand}")
    elif kind == "text":
        if not isinstance(operand, str) or not operand:
            problems.append(f"'{OPERATORS[condition.operator][0]}' needs some text")
    elif kind == "any" and (isinstance(operand, dict | list) or operand is None):
        problems.append(f"'{OPERATORS[condition.operator][0]}' needs a single value")
    return problems


def _casefold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _equal(left: Any, right: Any) -> bool:
    if _is_number(left) and _is_number(right):
        return float(left) == float(right)
    if isinstance(left, bool) or isinstance(right, bool):
        return str(left).lower() == str(right).lower()
    return _casefold(str(left)) == _casefold(str(right))


def matches(condition: Condition, values: Mapping[str, Any]) -> bool:
    """Whether ``values[condition.subject]`` satisfies the condition. Missing values match only ``is_not_set``."""
    value = values.get(condition.subject, MISSING)
    present = value is not MISSING and value is not None and value != ""
    op = condition.operator
    if op == "is_set":
        return present
    if op == "is_not_set":
        return not present
    if not present:
        return op in ("ne", "not_in", "not_contains")
    operand = condition.operand
    if op == "eq":
        return _equal(value, operand)
    if op == "ne":
        return not _equal(value, operand)
    if op == "in":
        return any(_equal(value, item) for item in operand)
    if op == "not_in":
        return not any(_equal(value, item) for item in operand)
    if op == "contains":
        return str(operand).casefold() in str(value).casefold()
    if op == "not_contains":
        return str(operand).casefold() not in str(value).casefold()
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    if not math.isfinite(number):
        return False
    if op == "gte":
        return number >= float(operand)
    if op == "lte":
        return number <= float(operand)
    if op == "gt":
        return number > float(operand)
    if op == "lt":
        return number < float(operand)
    raise ConditionError(f"'{op}' is not an operator")


def email_domain(email: str) -> str:
    return email.rsplit("@", 1)[-1].strip().lower() if "@" in (email or "") else ""


def fit_subjects(custom_attributes: Mapping[str, str]) -> dict[str, str]:
    """Every attribute a fit rule may name: lead fields and ``attributes.<key>`` of custom fields."""
    subjects = dict(LEAD_FIELDS)
    for key, field_type in custom_attributes.items():
        subjects[f"{ATTRIBUTE_PREFIX}{key}"] = "number" if field_type == "number" else field_type
    return subjects


# Event properties: what an event may carry. Values are scalars or flat lists of scalars.
MAX_PROPERTIES = 50
MAX_PROPERTY_TEXT = 2000


def check_properties(properties: Any) -> list[str]:
    """Why an event's properties are malformed (empty when they are fine)."""
    if properties is None:
        return []
    if not isinstance(properties, dict):
        return ["must be an object of name: value pairs"]
    problems: list[str] = []
    if len(properties) > MAX_PROPERTIES:
        problems.append(f"at most {MAX_PROPERTIES} properties")
    for key, value in properties.items():
        if not isinstance(key, str) or not key or len(key) > 64:
            problems.append(f"'{key}' is not a property name (1-64 characters)")
            continue
        items = value if isinstance(value, list) else [value]
        for item in items:
            if item is None or isinstance(item, bool):
                continue
            if isinstance(item, int | float):
                if isinstance(item, float) and not math.isfinite(item):
                    problems.append(f"'{key}' must be a finite number")
                continue
            if isinstance(item, str):
                if len(item) > MAX_PROPERTY_TEXT:
                    problems.append(f"'{key}' is longer than {MAX_PROPERTY_TEXT} characters")
                continue
            problems.append(f"'{key}' must be text, a number, yes/no or a list of those")
            break
    url = properties.get("url")
    if url is not None and not isinstance(url, str):
        problems.append("'url' must be text")
    return problems
