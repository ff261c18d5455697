"""Database helpers shared by the hot write paths.

``execute_prepared`` runs a fixed statement as a PostgreSQL prepared statement: it is parsed
and planned once per database session instead of on every call. The event path runs the
same two statements for every event, and planning them cost about as much as running them.

A prepared statement lives as long as its session, whatever happens to transactions, so the
names prepared are remembered per raw connection: a reconnect starts afresh. It needs a
session of its own (a direct connection, or a pooler in session mode); with
``DATABASE_PREPARED_STATEMENTS=false`` every statement is sent as it is instead.
"""

import datetime
import hashlib
import io
import json
import re
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, connections

_PLACEHOLDER = re.compile(r"%s")
_PREPARED_SQL: dict[str, tuple[str, str, str, int]] = {}


def _prepared_form(sql: str) -> tuple[str, str, str, int]:
    """``(name, PREPARE statement, EXECUTE statement, parameter count)`` for a statement written with ``%s``
    placeholders (and no literal ``%``), worked out once per process."""
    form = _PREPARED_SQL.get(sql)
    if form is None:
        count = 0

        def number(_: re.Match[str]) -> str:
            nonlocal count
            count += 1
            return f"${count}"

        body = _PLACEHOLDER.sub(number, sql)
        name = "leadcrm_" + hashlib.sha1(sql.encode(), usedforsecurity=False).hexdigest()[:20]
        execute = f"EXECUTE {name} ({', '.join(['%s'] * count)})" if count else f"EXECUTE {name}"
        form = (name, f"PREPARE {name} AS {body}", execute, count)
        _PREPARED_SQL[sql] = form
    return form


def execute_prepared(cursor: Any, sql: str, params: list[Any]) -> None:
    """``cursor.execute(sql, params)``, as a prepared statement on PostgreSQL."""
    wrapper = connections[DEFAULT_DB_ALIAS]  # this thread's own (``connection`` is a shared proxy)
    if wrapper.vendor != "postgresql" or not getattr(settings, "DATABASE_PREPARED_STATEMENTS", True):
        cursor.execute(sql, params)
        return
    name, prepare, execute, count = _prepared_form(sql)
    raw = wrapper.connection
    known: tuple[Any, set[str]] | None = wrapper.__dict__.get("_leadcrm_prepared")
    if known is None or known[0] is not raw:
        known = (raw, set())
        wrapper.__dict__["_leadcrm_prepared"] = known
    if name not in known[1]:
        cursor.execute(prepare)
        known[1].add(name)
    if count != len(params):
        raise ValueError(f"{name} takes {count} parameters, got {len(params)}.")
    cursor.execute(execute, params)


# --- COPY: bulk loads on PostgreSQL ---------------------------------------------------------


def copy_value(value: Any) -> str:
    """One value in PostgreSQL's COPY text format."""
    if type(value) is str:
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
        return value
    if value is None:
        return "\\N"
    if value == {}:
        return "{}"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return f"{value.total_seconds()} seconds"
    if isinstance(value, dict | list):
        value = json.dumps(value, cls=DjangoJSONEncoder)
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def copy_in(cursor: Any, table: str, columns: list[str], rows: Iterable[list[str]]) -> None:
    """COPY rows of already-encoded values (see ``copy_value``) into ``table``."""
    buffer = io.StringIO()
    buffer.writelines("\t".join(row) + "\n" for row in rows)
    buffer.seek(0)
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    cursor.copy_expert(f"COPY {quote(table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN", buffer)


def analyze(*models_: Any) -> None:
    """Refresh the query planner's statistics of these models' tables: after a bulk load, so
    that the next queries are planned for the rows that are there (PostgreSQL's autovacuum
    would get to it later, and may be switched off)."""
    wrapper = connections[DEFAULT_DB_ALIAS]
    quote = wrapper.ops.quote_name
    with wrapper.cursor() as cursor:
        for model in models_:
            cursor.execute(f"ANALYZE {quote(model._meta.db_table)}")
