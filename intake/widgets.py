"""The capture-form admin's editor of a form's fields: a table of rows, not JSON to type."""

import json
from typing import Any

from django import forms

# Rows a browser may send at most (a form asks a handful of questions).
MAX_ROWS = 100
# The mark of a row whose "Delete?" box was ticked.
DELETE = "delete"


class FormFieldsEditor(forms.Widget):
    """Edits a capture form's ``fields`` (a list of ``{"key", "label", "required"}``) as rows:
    what the field asks for, the label shown, whether it is required, and a box to delete it.

    It posts ``<name>-count`` and ``<name>-<i>-key/label/required/delete``; a plain ``<name>``
    holding the JSON is still read when no rows are posted. Without JavaScript a blank row
    adds a field; with it (``intake/admin-form-fields.js``) rows are added and moved in place.
    """

    template_name = "admin/intake/form_fields_editor.html"
    # Blank rows at the end, for a new field.
    extra = 1

    class Media:
        js = ["intake/admin-form-fields.js"]

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        # [(group label, [(key, label), ...]), ...]: set by the admin form from the custom fields.
        self.field_choices: list[tuple[str, list[tuple[str, str]]]] = []

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        rows = _rows(value)
        known = {key for _, options in self.field_choices for key, _ in options}
        groups = list(self.field_choices)
        unknown = [(row["key"], f"{row['key']} (unknown)") for row in rows]
        unknown = [(key, label) for key, label in unknown if key and key not in known]
        if unknown:  # kept visible, so that the error about it makes sense and nothing is lost silently
            groups.append(("Not known", unknown))
        blank = {"key": "", "label": "", "required": False}
        context["widget"].update(
            {
                "rows": [*rows, *[blank] * self.extra],
                "unknown": [key for key, _ in unknown],
                "groups": groups,
                "blank": blank,
            }
        )
        return context

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        count_key = f"{name}-count"
        if count_key not in data:
            return data.get(name)  # the JSON itself (a script, an older page)
        try:
            count = min(max(int(data.get(count_key) or 0), 0), MAX_ROWS)
        except ValueError:
            count = 0
        rows = []
        for index in range(count):
            prefix = f"{name}-{index}-"
            key = (data.get(f"{prefix}key") or "").strip()
            label = (data.get(f"{prefix}label") or "").strip()
            if not key and not label:
                continue  # a blank row
            # A row with a label but nothing chosen to ask for stays, to be refused with the reason.
            row: dict[str, Any] = {"key": key}
            if label:
                row["label"] = label
            row["required"] = bool(data.get(f"{prefix}required"))
            if data.get(f"{prefix}delete"):
                # Kept, marked, until the form saves (see ``without_deleted``): a page shown again
                # for another error still shows the row, with its box ticked.
                row[DELETE] = True
            rows.append(row)
        return json.dumps(rows)

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return f"{name}-count" not in data and name not in data


def _rows(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    if not isinstance(value, list):
        return []
    rows = []
    for item in value:
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            label = str(item.get("label") or "")
            rows.append(
                {
                    "key": item["key"],
                    "label": label,
                    "required": bool(item.get("required")),
                    "delete": bool(item.get(DELETE)),
                }
            )
    return rows


def without_deleted(rows: Any) -> tuple[Any, list[int]]:
    """The rows to keep and each one's number on the page (1-based, deleted rows counted)."""
    if not isinstance(rows, list):
        return rows, []
    kept = [
        (number, row) for number, row in enumerate(rows, start=1) if not (isinstance(row, dict) and row.get(DELETE))
    ]
    return [row for _, row in kept], [number for number, _ in kept]
