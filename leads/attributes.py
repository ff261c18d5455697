"""Validation of a lead's custom attributes against admin-defined definitions. No ORM here."""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any


@dataclass(frozen=True)
class AttributeSpec:
    key: str
    label: str
    field_type: str  # text, number, boolean, date, choice
    required: bool = False
    choices: tuple[str, ...] = field(default_factory=tuple)


def _coerce(spec: AttributeSpec, value: Any) -> Any:
    if spec.field_type == "text":
        if not isinstance(value, str | int | float | Decimal):
            raise ValueError("must be text")
        text = str(value).strip()
        if len(text) > 1000:
            raise ValueError("must be at most 1000 characters")
        return text
    if spec.field_type == "number":
        if isinstance(value, bool):
            raise ValueError("must be a number")
        try:
            number = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            raise ValueError("must be a number") from None
        if not number.is_finite():
            raise ValueError("must be a finite number")
        return int(number) if number == number.to_integral_value() else float(number)
    if spec.field_type == "boolean":
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().lower()
        if lowered in {"true", "yes", "1", "y"}:
            return True
        if lowered in {"false", "no", "0", "n"}:
            return False
        raise ValueError("must be yes or no")
    if spec.field_type == "date":
        try:
            return datetime.date.fromisoformat(str(value).strip()).isoformat()
        except ValueError:
            raise ValueError("must be a date as YYYY-MM-DD") from None
    if spec.field_type == "choice":
        text = str(value).strip()
        if text not in spec.choices:
            raise ValueError(f"must be one of: {', '.join(spec.choices)}")
        return text
    raise ValueError(f"has an unknown type '{spec.field_type}'")


def clean_attributes(values: Any, specs: list[AttributeSpec]) -> tuple[dict[str, Any], dict[str, str]]:
    """Return ``(cleaned, errors)``: cleaned values by key, and an error message per bad key."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        return {}, {"attributes": "must be an object of key: value pairs"}
    by_key = {spec.key: spec for spec in specs}
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, value in values.items():
        spec = by_key.get(key)
        if spec is None:
            errors[key] = f"'{key}' is not a defined custom field"
            continue
        if value is None or value == "":
            continue
        try:
            cleaned[key] = _coerce(spec, value)
        except ValueError as exc:
            errors[key] = f"{spec.label} {exc}"
    for spec in specs:
        if spec.required and spec.key not in cleaned and spec.key not in errors:
            errors[spec.key] = f"{spec.label} is required"
    return cleaned, errors
