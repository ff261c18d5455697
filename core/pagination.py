"""Keyset ("cursor") pagination: the cost of a page does not grow with how deep it is."""

import base64
import binascii
import datetime
import json
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import F, OrderBy, Q, QuerySet


@dataclass
class KeysetPage:
    items: list[Any]
    next_cursor: str | None


def _encode(value: Any, pk: int) -> str:
    if isinstance(value, datetime.datetime):
        value = {"dt": value.isoformat()}
    raw = json.dumps([value, pk]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[Any, int] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, pk = json.loads(raw)
        if isinstance(value, dict) and "dt" in value:
            value = datetime.datetime.fromisoformat(value["dt"])
        if not isinstance(pk, int) or isinstance(value, list | dict):
            return None
        return value, pk
    except (ValueError, binascii.Error, TypeError):
        return None


def keyset_page(queryset: QuerySet, *, field: str, descending: bool, cursor: str | None, size: int) -> KeysetPage:
    """One page of ``queryset`` ordered by ``field`` (nulls last) then ``id``.

    A malformed cursor starts from the first page.
    """
    ordering: tuple[OrderBy | str, str]
    if queryset.model._meta.get_field(field).null:
        ordering = (F(field).desc(nulls_last=True), "-id") if descending else (F(field).asc(nulls_last=True), "id")
    else:
        # A column without nulls gets the plain order, which its (field, id) index serves as it
        # is: PostgreSQL matches an index to ORDER BY by its NULLS FIRST/LAST too.
        ordering = (f"-{field}", "-id") if descending else (field, "id")
    queryset = queryset.order_by(*ordering)
    position = _decode(cursor) if cursor else None
    if position is not None and position[0] is not None:
        # A cursor comes from the client: its value must fit the field, or paging starts over.
        try:
            position = (queryset.model._meta.get_field(field).to_python(position[0]), position[1])
        except (ValidationError, TypeError, ValueError):
            position = None
    if position is not None:
        value, pk = position
        past_id = Q(id__lt=pk) if descending else Q(id__gt=pk)
        if value is None:
            queryset = queryset.filter(Q(**{f"{field}__isnull": True}) & past_id)
        else:
            beyond = Q(**{f"{field}__lt" if descending else f"{field}__gt": value})
            queryset = queryset.filter(beyond | (Q(**{field: value}) & past_id) | Q(**{f"{field}__isnull": True}))
    items = list(queryset[: size + 1])
    next_cursor = None
    if len(items) > size:
        items = items[:size]
        last = items[-1]
        next_cursor = _encode(getattr(last, field), last.id)
    return KeysetPage(items=items, next_cursor=next_cursor)
