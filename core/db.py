"""Database helpers shared by the hot write paths.

``execute_prepared`` runs a fixed statement as a PostgreSQL prepared statement: it is parsed
and planned once per database session instead of on every call. The event path runs the
same two statements for every event, and planning them cost about as much as running them.

A prepared statement lives as long as its session, whatever happens to transactions, so the
names prepared are remembered per raw connection: a reconnect starts afresh. It needs a
session of its own (a direct connection, or a pooler in session mode); with
``DATABASE_PREPARED_STATEMENTS=false`` every statement is sent as it is instead.

The rest serves the bulk paths: JSON in and out of JSON columns in C (``json_text``,
``json_value``), COPY values, array literals that carry a column of many rows as one
parameter (``unnest_params``), and rows made model instances without ``Model.__init__``.
"""

import datetime
import hashlib
import io
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

import orjson
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connections, models
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

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


def parallel_writes() -> int:
    """How many connections a big write (a list of events, a CSV import) may use side by side:
    ``DATABASE_PARALLEL_WRITES`` on PostgreSQL, one on SQLite or inside a caller's transaction
    (other connections would not see its uncommitted rows)."""
    wrapper = connections[DEFAULT_DB_ALIAS]
    if wrapper.vendor != "postgresql" or wrapper.in_atomic_block:
        return 1
    return max(1, int(settings.DATABASE_PARALLEL_WRITES))


# --- side threads for the parts of a big write -----------------------------------------------

SIDE_THREADS = 4
_side_pool: tuple[int, ThreadPoolExecutor] | None = None
_side_pool_lock = threading.Lock()


def _side_threads() -> ThreadPoolExecutor:
    """This process's side threads, made on first use (threads do not survive a fork, so a
    gunicorn or Celery child makes its own)."""
    global _side_pool
    with _side_pool_lock:
        if _side_pool is None or _side_pool[0] != os.getpid():
            _side_pool = (os.getpid(), ThreadPoolExecutor(SIDE_THREADS, thread_name_prefix="side-write"))
        return _side_pool[1]


def run_beside(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
    """Run ``function`` on a side thread with a database connection of its own, kept open
    between calls as a request thread keeps its own (``CONN_MAX_AGE``).

    A part of a list of events written side by side with the request's own part used to get a
    thread, and so a connection, of its own each time: connecting, PostgreSQL's cold caches of
    a new session and preparing the statements again took 30-35 ms per list. Before and after
    each call the thread does what Django does around a request: a connection that is broken
    or past its age is closed (and opened again on use)."""

    def call() -> Any:
        close_old_connections()
        try:
            return function(*args, **kwargs)
        finally:
            close_old_connections()

    return _side_threads().submit(call)


def close_side_connections() -> None:
    """Close the side threads' connections (a test database is dropped only when no session
    uses it): one closing job per thread, each held until all have started, so that every
    thread runs one."""
    if _side_pool is None or _side_pool[0] != os.getpid():
        return
    everyone = threading.Barrier(SIDE_THREADS)

    def close() -> None:
        connections.close_all()
        everyone.wait(timeout=10)

    wait([_side_pool[1].submit(close) for _ in range(SIDE_THREADS)])


# --- JSON for JSON columns -------------------------------------------------------------------

_django_default = DjangoJSONEncoder().default


def json_text(value: Any, encoder: type[json.JSONEncoder] | None = None) -> str:
    """``json.dumps(value, cls=encoder or DjangoJSONEncoder)`` for a JSON column, in C (orjson):
    the same JSON but for whitespace, which neither jsonb nor a decoder keeps."""
    if encoder is not None and encoder is not DjangoJSONEncoder:
        return json.dumps(value, cls=encoder)
    try:
        return orjson.dumps(value, default=_django_default, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()
    except orjson.JSONEncodeError:  # what orjson refuses (integers past 64 bits, keys that are not text)
        return json.dumps(value, cls=DjangoJSONEncoder)


json_value = orjson.loads  # ``json.loads`` in C, for JSON read back from a column


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
        value = json_text(value)
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


# --- arrays: many rows in one statement on PostgreSQL -----------------------------------------


def array_item(value: Any) -> str:
    """One element of a PostgreSQL array literal, for a value as ``copy_value`` takes it
    (JSON columns take dicts and lists, or text that is JSON already)."""
    kind = type(value)
    if kind is str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if value is None:
        return "NULL"
    if kind is int or kind is float:
        return str(value)
    if kind is bool:
        return "t" if value else "f"
    if isinstance(value, datetime.datetime | datetime.date):
        return '"' + value.isoformat() + '"'
    if isinstance(value, datetime.timedelta):
        return f'"{value.total_seconds()} seconds"'
    if isinstance(value, dict | list):
        return array_item(json_text(value))
    return array_item(str(value))  # decimals, choices, UUIDs


def array_literal(values: Iterable[Any]) -> str:
    """The text of a PostgreSQL array holding ``values`` (cast it in the statement, e.g.
    ``%s::bigint[]``). A column of many rows goes as one parameter: PostgreSQL reads it like
    COPY input, far faster than a ``VALUES`` list of as many placeholders."""
    items = values if isinstance(values, list | tuple) else list(values)
    kinds = set(map(type, items))
    if kinds == {int} or kinds == {float} or kinds == {int, float}:  # most columns: one type throughout
        return "{" + ",".join(map(str, items)) + "}"
    # Text and times repeat down a column (a source, a stage, the batch's clock): each distinct
    # value is written once.
    if kinds == {str}:
        texts = {v: v.replace("\\", "\\\\").replace('"', '\\"') for v in set(items)}
        return '{"' + '","'.join(map(texts.__getitem__, items)) + '"}'
    if kinds == {datetime.datetime}:
        texts = {v: v.isoformat() for v in set(items)}
        return '{"' + '","'.join(map(texts.__getitem__, items)) + '"}'
    return "{" + ",".join(map(array_item, items)) + "}"


def unsized_array(cast: str) -> str:
    """One array parameter (``array_literal`` text) cast to ``cast``, e.g. ``bigint[]``, through a
    sub-select, so that the planner cannot see how many values it holds.

    Handed thousands of literal values, PostgreSQL estimates from the count and may read a
    whole table instead of its index: for 5,000 addresses among 100,000 leads that a bulk load
    has just filled (no statistics yet) it lower-cased every address, 70 ms against 13-16 ms
    through the index; for an ``UPDATE ... FROM unnest(...)`` of 5,000 leads it hashed all
    100,000 (275-290 ms against 235 ms with one index probe per row), a cost that grows with
    the table. Not worth it on small tables, where a scan is as cheap as the probes."""
    return f"(SELECT %s::{cast})::{cast}"


def any_array(cast: str) -> str:
    """``ANY(...)`` over one ``unsized_array`` parameter, e.g. ``f"WHERE id = {any_array('bigint[]')}"``."""
    return f"ANY({unsized_array(cast)})"


def unnest_params(rows: Iterable[Iterable[Any]], width: int) -> list[str]:
    """The parameters of ``unnest(%s::type[], ...)`` for rows of ``width`` values: one array per column."""
    columns = list(zip(*rows, strict=True)) or [()] * width
    return [array_literal(column) for column in columns]


# --- rows to instances ------------------------------------------------------------------------

M = TypeVar("M", bound=models.Model)
_READERS: dict[tuple[type[models.Model], str], tuple[int, tuple[str, ...], list[tuple[int, Callable[[Any], Any]]]]] = {}


def _reader(model: type[models.Model]) -> tuple[int, tuple[str, ...], list[tuple[int, Callable[[Any], Any]]]]:
    """How many concrete columns ``model`` has, their attribute names, and per column that needs
    one the conversion the ORM would apply (JSON decoded, SQLite's dates...): once per process."""
    wrapper = connections[DEFAULT_DB_ALIAS]
    key = (model, wrapper.vendor)
    reader = _READERS.get(key)
    if reader is None:
        fields = model._meta.concrete_fields
        converters: list[tuple[int, Callable[[Any], Any]]] = []
        for index, field in enumerate(fields):
            column = field.get_col(model._meta.db_table)
            functions = wrapper.ops.get_db_converters(column) + column.get_db_converters(wrapper)
            if isinstance(field, models.JSONField) and field.decoder is None and functions == [field.from_db_value]:
                converters.append((index, _json_or_none))  # what from_db_value does for a whole column
            elif functions:
                converters.append((index, _converter(functions, column)))
        reader = (len(fields), tuple(field.attname for field in fields), converters)
        _READERS[key] = reader
    return reader


def _json_or_none(value: Any) -> Any:
    return None if value is None else json_value(value)


def _converter(functions: list[Callable[..., Any]], column: Any) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        wrapper = connections[DEFAULT_DB_ALIAS]
        for function in functions:
            value = function(value, column, wrapper)
        return value

    return convert


def instances_from_rows(model: type[M], rows: Iterable[Sequence[Any]]) -> list[M]:
    """Saved instances of ``model`` from rows that begin with all its concrete columns in field
    order (further columns are left for the caller): what ``Model.from_db`` makes, without
    ``Model.__init__``'s work per field, which costs more than the query on the hot paths."""
    count, attnames, converters = _reader(model)
    alias = connections[DEFAULT_DB_ALIAS].alias
    if pre_init.has_listeners(model) or post_init.has_listeners(model):
        make: Callable[[list[Any]], M] = lambda values: model(*values)  # noqa: E731
    else:
        new = model.__new__

        def make(values: list[Any]) -> M:
            instance = new(model)
            instance.__dict__.update(zip(attnames, values, strict=True))
            instance._state = ModelState()
            return instance

    instances = []
    for row in rows:
        values = list(row[:count])
        for index, convert in converters:
            values[index] = convert(values[index])
        instance = make(values)
        instance._state.adding = False
        instance._state.db = alias
        instances.append(instance)
    return instances


def analyze(*models_: Any) -> None:
    """Refresh the query planner's statistics of these models' tables: after a bulk load, so
    that the next queries are planned for the rows that are there (PostgreSQL's autovacuum
    would get to it later, and may be switched off)."""
    wrapper = connections[DEFAULT_DB_ALIAS]
    quote = wrapper.ops.quote_name
    with wrapper.cursor() as cursor:
        for model in models_:
            cursor.execute(f"ANALYZE {quote(model._meta.db_table)}")
