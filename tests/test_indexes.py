"""Every index on our tables earns its keep: none is a leading part of another index, which
would serve the same lookups while every insert and update paid for both."""

import pytest
from django.apps import apps
from django.db import connection

DOMAIN_APPS = ("core", "leads", "scoring", "nurturing", "intake", "reports", "web", "api")


def _indexes(table: str) -> dict[str, tuple[list[str], bool]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return {
        name: (info["columns"], bool(info["unique"] or info["primary_key"]))
        for name, info in constraints.items()
        if (info["index"] or info["unique"] or info["primary_key"]) and info["columns"] and all(info["columns"])
    }


@pytest.mark.django_db
def test_no_index_is_the_leading_part_of_another():
    redundant = []
    tables = {model._meta.db_table for name in DOMAIN_APPS for model in apps.get_app_config(name).get_models()}
    assert "leads_stagechange" in tables
    for table in sorted(tables):
        indexes = _indexes(table)
        for name, (columns, unique) in indexes.items():
            if unique:
                continue  # a unique index is a rule, not only a path
            for other, (other_columns, _) in indexes.items():
                if other != name and len(other_columns) > len(columns) and other_columns[: len(columns)] == columns:
                    redundant.append(f"{table}.{name} {columns} (led by {other} {other_columns})")
    assert redundant == []
