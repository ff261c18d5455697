"""CSV import of leads: upload, map columns, preview, then run in bulk (a Celery task calls ``csv_import_run``).

Rows are matched by normalised e-mail: a known e-mail updates the lead (blank cells never
erase), a new one creates it. Each chunk of rows is its own transaction, so good rows are
kept when others fail; every refused row is stored with its reason (``ImportReject``).
New leads are written with ``bulk_create``, with their ``create`` stage-history row (and the
historical outcome, when the file has one); past events go through
``scoring.services.event_log_batch``.
"""

import csv
import dataclasses
import datetime
import io
import itertools
import queue
import threading
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, connections, models, transaction
from django.db.models import F, Max
from django.db.models.functions import Lower
from django.utils import timezone

from core.collector import collector_paused
from core.db import (
    analyze,
    any_array,
    array_literal,
    copy_in,
    copy_value,
    json_value,
    parallel_writes,
    unnest_params,
    unsized_array,
)
from intake import capture, csv_rows
from intake import selectors as intake_selectors
from intake.export import unquoted_cell
from intake.models import CsvImport, ImportReject
from leads import lifecycle
from leads import services as lead_services
from leads.attributes import AttributeSpec
from leads.models import Campaign, CustomFieldDefinition, Lead, LeadSource, LostReason, Stage, StageChange

MAX_FILE_BYTES = 50 * 1024 * 1024
# One cell may be as long as the largest file an upload takes (the csv module's own limit, 128 KiB,
# made a whole file unreadable for one long cell); each mapped cell is then checked against the
# length its field takes, and only that row is refused.
CELL_MAX_CHARS = MAX_FILE_BYTES
CHUNK_ROWS = 5000
# An import that wrote this many leads refreshes the planner statistics of the lead tables.
ANALYZE_AFTER_ROWS = 10_000
UPDATABLE = [
    "first_name", "last_name", "phone", "title", "company", "website", "company_size", "industry", "country",
    "city", "annual_revenue", "timezone", "email_opt_in", "do_not_call", "budget", "authority", "need",
    "timeline", "source_id", "campaign_id", "owner_id",
]  # fmt: skip


def _event_types() -> list[str]:
    return list(_event_type_labels())


def _event_type_labels() -> dict[str, str]:
    """Event type key -> its label, for the past events a file may carry."""
    try:
        from scoring.selectors import event_types
    except ImportError:  # scoring not installed: no past events to import
        return {}
    return {t.key: t.label for t in event_types()}


def _event_log_batch(**kwargs: Any) -> list[Any]:
    from scoring.services import event_log_batch

    return event_log_batch(**kwargs)


def _attribute_keys() -> list[str]:
    return list(CustomFieldDefinition.objects.values_list("key", flat=True))


def import_targets(user: Any = None) -> list[tuple[str, str]]:
    """Every (target, label) a column can be mapped to, for the mapping page (the owner only for
    a ``user`` who may assign leads)."""
    targets = [(csv_rows.IGNORE, "— ignore this column —")]
    targets += [(key, label) for key, label in csv_rows.LEAD_TARGETS.items() if key != "owner" or _may_assign(user)]
    targets += [(csv_rows.ATTRIBUTE_PREFIX + d.key, f"Custom: {d.label}") for d in CustomFieldDefinition.objects.all()]
    targets += [
        (csv_rows.EVENT_PREFIX + key, f"Past event: {label} (dates)") for key, label in _event_type_labels().items()
    ]
    return targets


def _reader(lines: Iterable[str], delimiter: str = ",") -> Iterator[list[str]]:
    csv.field_size_limit(CELL_MAX_CHARS)
    return csv.reader(lines, delimiter=delimiter)


def _rows(text: str) -> Iterator[list[str]]:
    return _reader(io.StringIO(text, newline=""), delimiter=csv_rows.sniff_delimiter(text))


def _data_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """The rows under the header line that are not blank, each with the line of the file it
    starts on (its number wherever the import speaks of it: a quoted cell may go over lines)."""
    reader = _rows(text)
    try:
        next(reader, None)
        line = getattr(reader, "line_num", 0) + 1
        for row in reader:
            last_line = getattr(reader, "line_num", 0)
            if row and row[-1].endswith(("\n", "\r")) and line + sum(map(csv_rows.line_breaks, row)) > last_line:
                # A quote left open to the end of the file took the file's last line break into its cell.
                row[-1] = row[-1].removesuffix("\n").removesuffix("\r")
            if any(cell.strip() for cell in row):
                yield line, row
            line = last_line + 1
    except csv.Error as exc:
        raise csv.Error(f"line {getattr(reader, 'line_num', 0)}: {exc}") from None


def _checked(
    line: int, row: list[str], columns: list[tuple[int, str]], ctx: csv_rows.RowContext
) -> csv_rows.CleanRow | str:
    """A row as the import reads it: a ``CleanRow`` to write, or every reason it is refused (a
    one-line cell that took in the lines after it first)."""
    clean = csv_rows.clean_row(_cells(row, columns), ctx)
    unclosed = csv_rows.unclosed_quotes(row, line, columns, ctx)
    if not unclosed:
        return clean
    others = [] if isinstance(clean, csv_rows.CleanRow) else clean.split("; ")
    return "; ".join([*unclosed.values(), *(p for p in others if p.partition(": ")[0] not in unclosed)])


def csv_import_create(*, user: AbstractBaseUser, filename: str, raw: bytes) -> CsvImport:
    """Store an uploaded file and suggest a column mapping. Refuses files that are not a usable CSV."""
    if not raw:
        raise ValidationError({"file": "The file is empty."})
    if len(raw) > MAX_FILE_BYTES:
        raise ValidationError({"file": f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; split it."})
    if b"\x00" in raw[:4096]:
        raise ValidationError({"file": "This is not a text CSV file (save it as CSV from your spreadsheet)."})
    text = csv_rows.read_csv_text(raw)
    try:
        total = sum(1 for _ in _data_rows(text))
        headers = [h.strip() for h in next(_rows(text), [])]
    except csv.Error as exc:
        raise ValidationError({"file": f"The file cannot be read as CSV: {exc}."}) from None
    if not any(headers):
        raise ValidationError({"file": "The first line must name the columns."})
    if total == 0:
        raise ValidationError({"file": "The file has a header line but no rows."})
    headers = csv_rows.named_headers(headers)
    mapping = csv_rows.suggest_mapping(headers, _attribute_keys(), _event_types())
    if not _may_assign(user):
        mapping = _without_owner(mapping)
    # A file writes all its dates one way: any column of dates may tell the order.
    told_order, in_doubt = csv_rows.date_order_evidence(
        _date_cells(text, headers, dict.fromkeys(headers, "created_on"))
    )
    # A file with the same columns as one imported before starts from the choices made then;
    # so does the rejects download of such an import (its line and reason columns ignored).
    earlier = intake_selectors.csv_import_mapped_like(user=user, headers=headers)  # type: ignore[arg-type]
    if earlier is None and headers[:2] == list(REJECTS_LEAD_COLUMNS):
        earlier = intake_selectors.csv_import_mapped_like(user=user, headers=headers[2:])  # type: ignore[arg-type]
    if earlier is not None:
        remembered = _still_usable(earlier.mapping, headers)
        if remembered is not None and not _may_assign(user):
            remembered = _without_owner(remembered)
        if remembered is None:
            earlier = None
        else:
            mapping = remembered
    with transaction.atomic():
        return CsvImport.objects.create(
            created_by=user,  # type: ignore[misc]
            filename=filename[:255],
            content=text,
            headers=headers,
            delimiter=csv_rows.sniff_delimiter(text),
            mapping=mapping,
            # What the file's dates tell, else what was chosen for such a file before, else (for
            # 03/04/2026, never year first) the order of the site's language.
            date_order=told_order
            or (earlier.date_order if earlier else "")
            or (csv_rows.guessed_date_order() if in_doubt else csv_rows.YEAR_FIRST),
            default_source=earlier.default_source if earlier else None,
            add_missing_names=earlier.add_missing_names if earlier else False,
            mapped_like=earlier,
            total_rows=total,
        )


def _without_owner(mapping: dict[str, str]) -> dict[str, str]:
    """The mapping with an owner column ignored (for those who may not assign leads)."""
    return {header: csv_rows.IGNORE if target == "owner" else target for header, target in mapping.items()}


def _still_usable(mapping: dict[str, str], headers: list[str]) -> dict[str, str] | None:
    """An earlier import's mapping if every column's field can still be filled (a custom field
    or event type may have gone since), else None."""
    remembered = {header: mapping.get(header, csv_rows.IGNORE) for header in headers}
    if csv_rows.check_mapping(remembered, headers, _attribute_keys(), _event_types()):
        return None
    return remembered


def _date_cells(text: str, headers: list[str], mapping: dict[str, str], rows: int = 1000) -> list[str]:
    """The cells of the columns mapped to dates, in the first ``rows`` rows (events: each date)."""
    indexes = [i for i, header in enumerate(headers) if csv_rows.is_date_target(mapping.get(header, ""))]
    cells: list[str] = []
    if not indexes:
        return cells
    reader = _rows(text)
    next(reader, None)
    for row in itertools.islice(reader, rows):
        for index in indexes:
            if index < len(row):
                cells.extend(csv_rows.date_parts(row[index]))
    return cells


def date_order_doubt(csv_import: CsvImport) -> list[str]:
    """The mapped date columns whose numeric dates read both ways (03/04/2026) with nothing in the
    file to tell, for the mapping page to point out."""
    doubtful: list[str] = []
    told, _ = csv_rows.date_order_evidence(_date_cells(csv_import.content, csv_import.headers, csv_import.mapping))
    if told:  # another date column of the file tells (31.03.2026): all its dates are written that way
        return doubtful
    for header in csv_import.headers:
        cells = _date_cells(csv_import.content, csv_import.headers, {header: csv_import.mapping.get(header, "")})
        order, ambiguous = csv_rows.date_order_evidence(cells)
        if ambiguous and not order:
            doubtful.append(header)
    return doubtful


def _mapping_problems(csv_import: CsvImport, mapping: dict[str, str]) -> list[str]:
    problems = csv_rows.check_mapping(mapping, csv_import.headers, _attribute_keys(), _event_types())
    if "owner" in mapping.values() and not _may_assign(csv_import.created_by):
        problems.append("Only someone who may assign leads can import their owners: leave the owner column ignored.")
    return problems


def _may_assign(user: Any) -> bool:
    return user is not None and lead_services.can_assign_any(user)


def csv_import_set_mapping(
    *,
    csv_import: CsvImport,
    mapping: dict[str, str],
    default_source: LeadSource | None = None,
    date_order: str | None = None,
    add_missing_names: bool | None = None,
) -> CsvImport:
    """Save the column mapping (and, when given, how the file writes its dates and whether the
    sources and campaigns it names that do not exist yet are created)."""
    if csv_import.status != CsvImport.Status.UPLOADED:
        raise ValidationError({"mapping": "This import has already started."})
    problems = _mapping_problems(csv_import, mapping)
    if date_order is not None and date_order not in csv_rows.DATE_ORDERS:
        problems.append(f"Dates: choose one of {', '.join(csv_rows.DATE_ORDERS.values())}.")
    if problems:
        raise ValidationError({"mapping": problems})
    csv_import.mapping = {h: mapping.get(h, csv_rows.IGNORE) for h in csv_import.headers}
    csv_import.default_source = default_source
    if date_order is not None:
        csv_import.date_order = date_order
    if add_missing_names is not None:
        csv_import.add_missing_names = add_missing_names
    with transaction.atomic():
        csv_import.save(update_fields=["mapping", "default_source", "date_order", "add_missing_names", "updated_at"])
    return csv_import


def _context(now: datetime.datetime, csv_import: CsvImport, *, create: bool = False) -> csv_rows.RowContext:
    """What the rows are checked against. With the import's ``add_missing_names``, the sources
    and campaigns the file names that do not exist yet are created (``create``: the run), or
    counted as existing (the preview, which writes nothing)."""
    lost_reasons = {value: value for value in LostReason.values}
    lost_reasons.update({str(label).lower(): value for value, label in LostReason.choices})
    sources = {name.lower(): pk for pk, name in LeadSource.objects.values_list("id", "name")}
    campaigns = {name.lower(): pk for pk, name in Campaign.objects.values_list("id", "name")}
    if csv_import.add_missing_names:
        for target, known in (("source", sources), ("campaign", campaigns)):
            for name in _names_in_file(csv_import, target):
                if name.lower() not in known:
                    found = _named(target, name) if create else _name_fits(target, name)
                    if found is not None:
                        known[name.lower()] = found
    return csv_rows.RowContext(
        # The free text of "need" takes as much as the lead API and the capture forms take.
        max_lengths={f.name: int(f.max_length) for f in Lead._meta.concrete_fields if f.max_length}
        | {"need": capture.MAX_VALUE_LENGTH},
        sources=sources,
        campaigns=campaigns,
        attribute_specs={
            d.key: AttributeSpec(key=d.key, label=d.label, field_type=d.field_type, choices=tuple(d.choices or ()))
            for d in CustomFieldDefinition.objects.all()
        },
        lost_reasons={k.lower(): v for k, v in lost_reasons.items()},
        owners=_owners() if "owner" in csv_import.mapping.values() else {},
        now=now,
        tz=timezone.get_current_timezone(),
        date_order=csv_import.date_order,
        delimiter=csv_import.delimiter or ",",
        width=len(csv_import.headers or []),
    )


def _owners() -> dict[str, int]:
    """Active users by lower-case username and e-mail (an address two users share names neither)."""
    owners: dict[str, int] = {}
    shared: set[str] = set()
    for pk, username, email in get_user_model().objects.filter(is_active=True).values_list("id", "username", "email"):
        owners[username.lower()] = pk
        address = email.strip().lower()
        if address:
            if address in owners and owners[address] != pk:
                shared.add(address)
            owners.setdefault(address, pk)
    for address in shared:
        owners.pop(address, None)
    return owners


def _names_in_file(csv_import: CsvImport, target: str) -> list[str]:
    """The names in the columns mapped to ``target`` (source or campaign), as a row reads them,
    each once in the spelling of its first row."""
    indexes = [index for index, mapped in _columns(csv_import) if mapped == target]
    names: dict[str, str] = {}
    if not indexes:
        return []
    for _, row in _data_rows(csv_import.content):
        for index in indexes:
            if index < len(row):
                name = unquoted_cell(row[index].strip())
                if name and not csv_rows.line_breaks(name):  # a cell over lines refuses its row
                    names.setdefault(name.lower(), name)
    return list(names.values())


def _name_fits(target: str, name: str) -> int | None:
    """0 (an id to come) for a name the import could create, None for one it could not."""
    model: type[LeadSource] | type[Campaign] = LeadSource if target == "source" else Campaign
    return 0 if len(name) <= int(model._meta.get_field("name").max_length or 0) else None


def _named(target: str, name: str) -> int | None:
    """The id of the source or campaign called ``name`` (any case), created when there is none;
    None when the name cannot be one (too long): its rows are refused with the reason."""
    model: type[LeadSource] | type[Campaign] = LeadSource if target == "source" else Campaign
    existing = model.objects.filter(name__iexact=name).values_list("id", flat=True).first()
    if existing is not None:
        return existing
    try:
        if model is LeadSource:
            return lead_services.lead_source_save(source=LeadSource(name=name)).pk
        return lead_services.campaign_save(campaign=Campaign(name=name)).pk
    except ValidationError:
        return None
    except IntegrityError:  # created meanwhile by another import
        return model.objects.filter(name__iexact=name).values_list("id", flat=True).first()


def _cells(row: list[str], columns: list[tuple[int, str]]) -> dict[str, str]:
    cells: dict[str, str] = {}
    for index, target in columns:
        value = row[index] if index < len(row) else ""
        if target.startswith(csv_rows.EVENT_PREFIX) and target in cells:
            cells[target] = f"{cells[target]};{value}"
        else:
            cells[target] = value
    return cells


def _columns(csv_import: CsvImport) -> list[tuple[int, str]]:
    return [
        (index, csv_import.mapping.get(header, csv_rows.IGNORE))
        for index, header in enumerate(csv_import.headers)
        if csv_import.mapping.get(header, csv_rows.IGNORE) != csv_rows.IGNORE
    ]


def _column_names(csv_import: CsvImport) -> dict[str, str]:
    """What the fields a reason names are called in the file: field, custom field or event type -> column header."""
    names: dict[str, str] = {}
    for header in csv_import.headers:
        target = csv_import.mapping.get(header, csv_rows.IGNORE)
        if target != csv_rows.IGNORE:
            for key in (
                target,
                target.removeprefix(csv_rows.ATTRIBUTE_PREFIX),
                target.removeprefix(csv_rows.EVENT_PREFIX),
            ):
                names.setdefault(key, header)
    return names


def _in_file_terms(reason: str, names: dict[str, str]) -> str:
    """A row's reasons with each field called by its column header ("Employees: 'abc' is not a whole number")."""
    parts = []
    for part in reason.split("; "):
        field_name, colon, message = part.partition(": ")
        parts.append(f"{names[field_name]}: {message}" if colon and field_name in names else part)
    return "; ".join(parts)


@dataclass
class PreviewRow:
    row_number: int
    cells: list[str]
    action: str  # "create", "update", "same" (a known lead that holds it already) or "reject"
    reason: str = ""
    # How the dates of the row's date columns are read (cell index -> dates), so
    # that the preview shows whether 03/04/2026 became 3 April or March 4.
    dates: dict[int, list[datetime.datetime]] = field(default_factory=dict)
    notes: dict[int, str] = field(default_factory=dict)  # cell index -> what happens to it


NUMBER_TARGETS = ("company_size", "annual_revenue")


def _dates_read(
    row: list[str], columns: list[tuple[int, str]], ctx: csv_rows.RowContext
) -> dict[int, list[datetime.datetime]]:
    """The dates of a row's date columns as the import reads them, by cell index (a cell that
    is no date is left out: the row's reason says so)."""
    dates: dict[int, list[datetime.datetime]] = {}
    for index, target in columns:
        if index < len(row) and csv_rows.is_date_target(target):
            for part in csv_rows.date_parts(row[index]):
                try:
                    dates.setdefault(index, []).append(csv_rows.parse_when(part, ctx.tz, ctx.date_order))
                except ValueError:
                    continue  # the row's reason says so
    return dates


_UPDATABLE = frozenset(UPDATABLE)


@dataclass
class _ChunkPlan:
    """What a chunk's checked rows write, decided once for the import and for its preview.

    The rows of one address are read as one row, later cells winning: a new address's first row
    creates its lead and its later rows fill it in; a known lead's rows are merged into one
    change, and all of them count as updating it when that change (or a past event not logged
    before) changes it, else as up to date. A row that moves a known lead to another outcome is
    applied on its own, after the change."""

    new_rows: dict[str, csv_rows.CleanRow] = field(default_factory=dict)  # address -> the rows creating its lead
    new_lines: dict[str, list[int]] = field(default_factory=dict)  # address -> its lines, the creating one first
    changes: dict[int, csv_rows.CleanRow] = field(default_factory=dict)  # known lead id -> its rows as one
    lines_of_lead: dict[int, list[int]] = field(default_factory=dict)  # known lead id -> the lines of its change
    outcome_rows: list[tuple[int, list[str], csv_rows.CleanRow, int]] = field(default_factory=list)

    @property
    def repeats(self) -> int:
        """Rows naming a new address again: each updates the lead the first one creates."""
        return sum(len(lines) - 1 for lines in self.new_lines.values())


def _merged(first: csv_rows.CleanRow, later: csv_rows.CleanRow) -> csv_rows.CleanRow:
    """Two rows of one address as one, the later one's cells winning (the rows themselves untouched)."""
    return dataclasses.replace(
        first, fields={**first.fields, **later.fields}, attributes={**first.attributes, **later.attributes}
    )


def _plan_chunk(good: list[tuple[int, list[str], csv_rows.CleanRow]], known: dict[str, tuple[int, str]]) -> _ChunkPlan:
    """How the good rows of a chunk are written, given the id and stage of the known leads among
    their addresses (see ``_ChunkPlan``)."""
    plan = _ChunkPlan()
    for line, row, clean in good:
        found = known.get(clean.email)
        if found is not None:
            lead_id, stage = found
            if clean.outcome and clean.outcome != stage:
                plan.outcome_rows.append((line, row, clean, lead_id))
                continue
            change = plan.changes.get(lead_id)
            plan.changes[lead_id] = clean if change is None else _merged(change, clean)
            plan.lines_of_lead.setdefault(lead_id, []).append(line)
        elif clean.email in plan.new_rows:
            # (its past events stay with each row: every row's are logged, under its own keys)
            first = _merged(plan.new_rows[clean.email], clean)
            if clean.outcome:
                first.outcome, first.outcome_at, first.lost_reason = clean.outcome, clean.outcome_at, clean.lost_reason
            plan.new_rows[clean.email] = first
            plan.new_lines[clean.email].append(line)
        else:
            plan.new_rows[clean.email] = clean
            plan.new_lines[clean.email] = [line]
    return plan


def _stored_keys(keys: list[str]) -> set[str]:
    """Which of these keys of imported past events are stored already."""
    stored: set[str] = set()
    if not keys:
        return stored
    from scoring.models import EngagementEvent

    for start in range(0, len(keys), CHUNK_ROWS):
        found = EngagementEvent.objects.filter(source="import", idempotency_key__in=keys[start : start + CHUNK_ROWS])
        stored.update(key for key in found.values_list("idempotency_key", flat=True) if key is not None)
    return stored


def _changes(stored: dict[str, Any], clean: csv_rows.CleanRow) -> bool:
    """Whether the import would change a known lead with this row (what its update compares)."""
    if clean.outcome and clean.outcome != stored["stage"]:
        return True
    if any(value != stored[name] for name, value in clean.fields.items() if name in _UPDATABLE):
        return True
    if clean.attributes and {**stored["attributes"], **clean.attributes} != stored["attributes"]:
        return True
    return bool(clean.fields.get("email_opt_in") and stored["consent_at"] is None)


def _written_fields(target: str) -> list[str]:
    """What of a lead a column mapped to ``target`` writes (custom fields as ``attributes.<key>``)."""
    if target == "full_name":
        return ["first_name", "last_name"]
    if target in ("source", "campaign", "owner"):
        return [f"{target}_id"]
    return [target]


def _row_writes(clean: csv_rows.CleanRow) -> dict[str, Any]:
    return {**clean.fields, **{csv_rows.ATTRIBUTE_PREFIX + key: value for key, value in clean.attributes.items()}}


def _outcome_too_early(clean: csv_rows.CleanRow, stage_entered_at: datetime.datetime, now: datetime.datetime) -> str:
    """Why a known lead cannot take the row's outcome at the date the row gives it ("" when it can):
    the move is dated by the row's outcome date, else now (the row's "created on" is a new lead's,
    not this one's), and never before the lead's current stage began."""
    if _moved_at(clean, now) < stage_entered_at:
        since = timezone.localtime(stage_entered_at).strftime("%Y-%m-%d %H:%M")
        return f"outcome_at: is before the lead's current stage began ({since})"
    return ""


def _moved_at(clean: csv_rows.CleanRow, now: datetime.datetime) -> datetime.datetime:
    return clean.outcome_at if clean.outcome_dated and clean.outcome_at is not None else now


class _Foretold:
    """The leads of a file's addresses as the chunks read so far leave them, read from the
    database once and then changed as the import would change them, nothing written."""

    def __init__(self, csv_import: CsvImport, columns: list[tuple[int, str]], now: datetime.datetime) -> None:
        self.now = now
        given = {name for _, target in columns for name in _written_fields(target)}
        written = [name for name in UPDATABLE if name in given]
        self.columns = ["id", "stage", "stage_entered_at", "attributes", "consent_at", *written]
        # What a new lead holds of them before its rows' cells.
        self.defaults = {name: cast(models.Field, Lead._meta.get_field(name)).get_default() for name in written}
        if csv_import.default_source_id and "source_id" in self.defaults:
            self.defaults["source_id"] = csv_import.default_source_id
        self.leads: dict[str, dict[str, Any]] = {}
        self.looked_up: set[str] = set()
        self.logged: set[str] = set()  # keys of the past events logged by the rows so far
        self.new_ids = itertools.count(-1, -1)  # a new lead's stand-in id
        self.watched: set[str] = set()  # the addresses of the rows the preview shows
        self.kept: dict[tuple[str, str], tuple[int, Any]] = {}  # (watched address, field) -> the line and value kept

    def known(self, addresses: set[str]) -> dict[str, tuple[int, str]]:
        missing = sorted(addresses - self.looked_up)
        for start in range(0, len(missing), CHUNK_ROWS):
            self.leads.update(_leads_by_address(missing[start : start + CHUNK_ROWS], self.columns))
        self.looked_up.update(missing)
        return {address: (self.leads[address]["id"], self.leads[address]["stage"]) for address in addresses
                if address in self.leads}  # fmt: skip

    def write(self, address: str, line: int, clean: csv_rows.CleanRow) -> None:
        lead = self.leads[address]
        lead.update((name, value) for name, value in clean.fields.items() if name in lead)
        lead["attributes"] = {**lead["attributes"], **clean.attributes}
        if clean.fields.get("email_opt_in") and lead["consent_at"] is None:
            lead["consent_at"] = self.now
        if address in self.watched:
            for name, value in _row_writes(clean).items():
                self.kept[address, name] = (line, value)

    def create(
        self, address: str, lines: list[int], rows: dict[int, csv_rows.CleanRow], merged: csv_rows.CleanRow
    ) -> None:
        """A new lead, as its rows (``lines``; ``merged``, the rows as one) create it."""
        self.leads[address] = {
            **self.defaults,
            **merged.fields,
            "id": next(self.new_ids),
            "stage": merged.outcome or Stage.RAW,
            "stage_entered_at": merged.outcome_at if merged.outcome else (merged.created_on or self.now),
            "attributes": merged.attributes,
            "consent_at": self.now if merged.fields.get("email_opt_in") else None,
            "lost_from": Stage.RAW,
        }
        if address in self.watched:
            for line in lines:
                self.kept.update(((address, name), (line, value)) for name, value in _row_writes(rows[line]).items())

    def outcome_refused(self, address: str, clean: csv_rows.CleanRow) -> str:
        """Why the import refuses the row's outcome for this lead, as ``_apply_outcome`` finds it."""
        lead = self.leads[address]
        problem = _outcome_too_early(clean, lead["stage_entered_at"], self.now)
        if problem:
            return problem
        if lead["stage"] == Stage.LOST and "lost_from" not in lead:
            lead["lost_from"] = lead_services.lead_last_stage_before_lost(lead=Lead(pk=lead["id"], stage=Stage.LOST))
        try:
            lifecycle.check_move(lead["stage"], clean.outcome, previous_stage=lead.get("lost_from"))
        except lifecycle.MoveRefused as exc:
            return f"outcome: {exc}"
        return ""

    def move(self, address: str, line: int, clean: csv_rows.CleanRow) -> None:
        self.write(address, line, clean)
        lead = self.leads[address]
        lead["lost_from"] = lead["stage"]
        lead["stage"], lead["stage_entered_at"] = clean.outcome, _moved_at(clean, self.now)

    def new_events(self, good: list[tuple[int, list[str], csv_rows.CleanRow]]) -> set[int]:
        """The leads that a past event of these rows, not logged before, is news for."""
        keys = [
            (_past_event(self.leads[clean.email]["id"], event_type, when)["idempotency_key"], clean.email)
            for _, _, clean in good
            for event_type, when in clean.events
        ]
        stored = _stored_keys([key for key, address in keys if self.leads[address]["id"] > 0])
        news = set()
        for key, address in keys:
            if key not in stored and key not in self.logged:
                news.add(self.leads[address]["id"])
                self.logged.add(key)
        return news


@dataclass
class PreviewTotals:
    create: int
    update: int
    skip: int
    rows: int  # rows counted (all of them, or the first TOTALS_MAX_ROWS)
    complete: bool
    same: int = 0  # rows naming a known lead that already holds what they say


@dataclass
class ImportForecast:
    rows: list[PreviewRow]  # the first rows of the file
    totals: PreviewTotals


TOTALS_MAX_ROWS = 100_000


def csv_import_forecast(
    *, csv_import: CsvImport, limit: int = 10, now: datetime.datetime | None = None
) -> ImportForecast:
    """What the import will do with each row, found as the import finds it and nothing written:
    the rows checked, split into the chunks the import writes (``_stream_chunks``), each chunk
    planned by ``_plan_chunk`` against the leads as the chunks before leave them. ``rows``: the
    first ``limit`` rows, each with what happens to it and its cells; ``totals``: the counts, of
    the first ``TOTALS_MAX_ROWS`` rows of a bigger file."""
    ctx = _context(now or timezone.now(), csv_import)
    columns = _columns(csv_import)
    names = _column_names(csv_import)
    foretold = _Foretold(csv_import, columns, ctx.now)
    actions: dict[int, tuple[str, str]] = {}  # line -> action, reason
    first: list[tuple[int, list[str]]] = []
    checked_first: dict[int, csv_rows.CleanRow | str] = {}
    data = _data_rows(csv_import.content)

    def counted() -> Iterator[tuple[int, list[str]]]:
        for item in itertools.islice(data, TOTALS_MAX_ROWS):
            if len(first) < limit:
                first.append(item)
                checked_first[item[0]] = ""  # checked below, in its chunk
            yield item

    for _, chunk in _stream_chunks(counted(), columns, parallel_writes()):
        good: list[tuple[int, list[str], csv_rows.CleanRow]] = []
        for line, row in chunk:
            clean = _checked(line, row, columns, ctx)
            if line in checked_first:
                checked_first[line] = clean
                if not isinstance(clean, str):
                    foretold.watched.add(clean.email)
            if isinstance(clean, str):
                actions[line] = ("reject", _in_file_terms(clean, names))
            else:
                good.append((line, row, clean))
        rows = {line: clean for line, _, clean in good}
        known = foretold.known({clean.email for clean in rows.values()})
        plan = _plan_chunk(good, known)
        changed = {
            lead_id for address, (lead_id, _) in known.items()
            if lead_id in plan.changes and _changes(foretold.leads[address], plan.changes[lead_id])
        }  # fmt: skip
        by_id = {lead_id: address for address, (lead_id, _) in known.items()}
        for lead_id, lines in plan.lines_of_lead.items():
            for line in lines:
                foretold.write(by_id[lead_id], line, rows[line])
        for address, lines in plan.new_lines.items():
            foretold.create(address, lines, rows, plan.new_rows[address])
            actions.update({line: ("update" if line != lines[0] else "create", "") for line in lines})
        for line, _, clean, _ in plan.outcome_rows:
            problem = foretold.outcome_refused(clean.email, clean)
            if problem:
                actions[line] = ("reject", problem)
            else:
                foretold.move(clean.email, line, clean)
                actions[line] = ("update", "")
        changed |= foretold.new_events(good)
        for lead_id, lines in plan.lines_of_lead.items():
            actions.update(dict.fromkeys(lines, ("update" if lead_id in changed else "same", "")))
    counts = dict.fromkeys(("create", "update", "same", "reject"), 0)
    for action, _ in actions.values():
        counts[action] += 1
    totals = PreviewTotals(
        create=counts["create"], update=counts["update"], skip=counts["reject"], same=counts["same"],
        rows=len(actions), complete=next(data, None) is None,
    )  # fmt: skip
    return ImportForecast(
        rows=[_previewed(line, row, checked_first[line], actions[line], columns, ctx, foretold) for line, row in first],
        totals=totals,
    )


def _previewed(
    line: int,
    row: list[str],
    clean: csv_rows.CleanRow | str,
    action: tuple[str, str],
    columns: list[tuple[int, str]],
    ctx: csv_rows.RowContext,
    foretold: _Foretold,
) -> PreviewRow:
    """A row of the preview: what happens to it, how its dates are read, and notes on its cells."""
    dates = _dates_read(row, columns, ctx)
    if isinstance(clean, str) or action[0] == "reject":
        return PreviewRow(line, row, "reject", action[1], dates=dates)
    notes: dict[int, str] = {}
    writes = _row_writes(clean)
    for index, target in columns:
        if target == "outcome_at" and clean.outcome_dated and not clean.outcome:
            dates.pop(index, None)  # an open lead's close date is a plan
            notes[index] = "not imported: no outcome in this row"
        elif target == "created_on" and action[0] != "create" and clean.created_on is not None:
            dates.pop(index, None)  # only a new lead takes its creation date from the file
            notes[index] = "not imported: the lead exists already"
        elif target == "outcome" and index < len(row) and row[index].strip():
            # "Closed Won", "Disqualified", "Open": say which outcome each status is
            if not clean.outcome:
                notes[index] = "not an outcome: the stage stays as it is"
            elif clean.outcome == "lost" and "lost_reason" not in dict(columns).values():
                notes[index] = f"read as lost (reason: {clean.lost_reason})"  # none in the file: other
            elif row[index].strip().lower() != clean.outcome:
                notes[index] = f"read as {clean.outcome}"
        elif target in NUMBER_TARGETS and target in clean.fields and index < len(row):
            read = f"{clean.fields[target]:,}"  # 1.200 and 1,200 both: say which number it is
            if read != row[index].strip():
                notes[index] = f"read as {read}"
        for name in _written_fields(target):
            kept = foretold.kept.get((clean.email, name))
            if name in writes and kept is not None and kept[0] != line and kept[1] != writes[name]:
                notes[index] = f"not kept: line {kept[0]} gives this lead a later value"
    for index, (first, last) in csv_rows.cell_lines(row, line).items():
        if index in dict(columns):  # free text over lines: say which lines it takes
            notes.setdefault(index, f"one cell over lines {first}-{last}")
    return PreviewRow(line, row, action[0], dates=dates, notes=notes)


def csv_import_totals(*, csv_import: CsvImport, now: datetime.datetime | None = None) -> PreviewTotals:
    """How many rows the import would create, update and skip (see ``csv_import_forecast``)."""
    return csv_import_forecast(csv_import=csv_import, limit=0, now=now).totals


def csv_import_preview(
    *, csv_import: CsvImport, limit: int = 10, now: datetime.datetime | None = None
) -> list[PreviewRow]:
    """The first rows as the import would treat them, with each refused row's reason."""
    return csv_import_forecast(csv_import=csv_import, limit=limit, now=now).rows


def csv_import_sample_rows(*, csv_import: CsvImport, limit: int = 3) -> list[list[str]]:
    """The cells of the first rows, as the mapping page shows them."""
    return [row for _, row in itertools.islice(_data_rows(csv_import.content), limit)]


def csv_import_start(*, csv_import: CsvImport) -> CsvImport:
    """Queue the import; the ``bulk.csv_import_run`` task runs it after this transaction commits."""
    if csv_import.status != CsvImport.Status.UPLOADED:
        raise ValidationError({"status": "This import has already started."})
    problems = _mapping_problems(csv_import, csv_import.mapping)
    if problems:
        raise ValidationError({"mapping": problems})
    with transaction.atomic():
        updated = CsvImport.objects.filter(pk=csv_import.pk, status=CsvImport.Status.UPLOADED).update(
            status=CsvImport.Status.QUEUED, updated_at=timezone.now()
        )
        if not updated:
            raise ValidationError({"status": "This import has already started."})
        import_id = csv_import.pk
        transaction.on_commit(lambda: _enqueue_run(import_id))
    csv_import.status = CsvImport.Status.QUEUED
    return csv_import


def _enqueue_run(import_id: int) -> None:
    from intake.tasks import csv_import_run as task

    task.delay(import_id)


def csv_import_run(*, import_id: int, now: datetime.datetime | None = None) -> CsvImport:
    """Run a queued import to the end, one transaction per chunk of rows; safe to call twice."""
    now = now or timezone.now()
    claimed = CsvImport.objects.filter(pk=import_id, status=CsvImport.Status.QUEUED).update(
        status=CsvImport.Status.RUNNING, started_at=now, updated_at=now
    )
    csv_import = CsvImport.objects.get(pk=import_id)
    if not claimed:
        return csv_import
    first_new_id = (Lead.objects.aggregate(last=Max("id"))["last"] or 0) + 1
    try:
        with collector_paused():  # see core.collector: the rows would set it off again and again
            _run(csv_import, now)
    except Exception as exc:
        CsvImport.objects.filter(pk=import_id).update(
            status=CsvImport.Status.FAILED, error=f"{exc.__class__.__name__}: {exc}"[:2000], finished_at=timezone.now()
        )
        raise
    CsvImport.objects.filter(pk=import_id).update(
        status=CsvImport.Status.DONE, content="", finished_at=timezone.now(), updated_at=timezone.now()
    )
    csv_import.refresh_from_db()
    if csv_import.created_count + csv_import.updated_count >= ANALYZE_AFTER_ROWS:
        _enqueue_analyze()  # the lists and reports get planned for the new rows (after the import is done)
    if csv_import.created_count or csv_import.updated_count:
        # The rows are written without scores, which the bulk worker adds next (the import stays
        # a few statements per chunk): the new leads' fit, and the updated leads' new fit.
        _enqueue_scoring(
            first_new_id,
            Lead.objects.aggregate(last=Max("id"))["last"] or 0,
            updated_at=now if csv_import.updated_count else None,
        )
    return csv_import


def _enqueue_scoring(first_id: int, last_id: int, *, updated_at: datetime.datetime | None) -> None:
    try:
        from scoring.tasks import rescore_updated_leads_task, score_unscored_leads_task
    except ImportError:  # scoring not installed: nothing scores leads
        return
    if last_id >= first_id:
        score_unscored_leads_task.delay(first_id, last_id)
    if updated_at is not None:
        rescore_updated_leads_task.delay(updated_at.isoformat(), first_id)


def _enqueue_analyze() -> None:
    from intake.tasks import leads_analyze

    leads_analyze.delay()


def leads_analyze() -> None:
    """Refresh the planner statistics of the tables a big import fills."""
    analyze(Lead, StageChange)


def _run(csv_import: CsvImport, now: datetime.datetime) -> None:
    ctx = _context(now, csv_import, create=True)
    columns = _columns(csv_import)
    streams = parallel_writes()
    chunks = _stream_chunks(_data_rows(csv_import.content), columns, streams)
    if streams == 1:
        for _, chunk in chunks:
            _import_chunk(csv_import, chunk, columns, ctx)
        return
    # Chunks imported side by side, each stream on its own connection: while PostgreSQL writes
    # one chunk, Python reads and checks the next.
    queues: list[queue.Queue[list[tuple[int, list[str]]] | None]] = [queue.Queue(maxsize=2) for _ in range(streams)]
    failures: list[BaseException] = []
    workers = [
        threading.Thread(target=_stream_worker, args=(csv_import, q, columns, ctx, failures), daemon=True)
        for q in queues
    ]
    for worker in workers:
        worker.start()
    try:
        for stream, chunk in chunks:
            if failures:
                break
            queues[stream].put(chunk)
    finally:
        for q in queues:
            q.put(None)
        for worker in workers:
            worker.join()
    if failures:
        raise failures[0]


def _stream_chunks(
    rows: Iterator[tuple[int, list[str]]], columns: list[tuple[int, str]], streams: int
) -> Iterator[tuple[int, list[tuple[int, list[str]]]]]:
    """The rows in the chunks the import writes, each with its stream: rows split by address
    over ``streams`` connections (a repeated address always lands in the same stream, in file
    order, so a later row still updates an earlier one), each stream's rows in chunks of
    ``CHUNK_ROWS``, handed out as they fill."""
    # The cell _cells keeps (none before a mapping names the e-mail column: a preview then refuses every row).
    email_index = max((index for index, target in columns if target == "email"), default=-1)
    buffers: list[list[tuple[int, list[str]]]] = [[] for _ in range(streams)]
    for number, row in rows:
        stream = 0
        if streams > 1:
            address = row[email_index].strip().lower() if 0 <= email_index < len(row) else ""
            stream = zlib.crc32(address.encode()) % streams
        buffers[stream].append((number, row))
        if len(buffers[stream]) >= CHUNK_ROWS:
            yield stream, buffers[stream]
            buffers[stream] = []
    for stream, buffered in enumerate(buffers):
        if buffered:
            yield stream, buffered


def _stream_worker(
    csv_import: CsvImport,
    chunks: queue.Queue[list[tuple[int, list[str]]] | None],
    columns: list[tuple[int, str]],
    ctx: csv_rows.RowContext,
    failures: list[BaseException],
) -> None:
    """Import the chunks of one stream on this thread's own connection, closed at the end. After
    a failure (here or in another stream) the rest is left: the import is marked failed."""
    try:
        while (chunk := chunks.get()) is not None:
            if not failures:
                _import_chunk(csv_import, chunk, columns, ctx)
    except BaseException as error:  # noqa: BLE001 - raised again by the importing thread
        failures.append(error)
        while chunks.get() is not None:  # let the reader finish handing out its chunks
            pass
    finally:
        connections.close_all()


def _import_chunk(
    csv_import: CsvImport, chunk: list[tuple[int, list[str]]], columns: list[tuple[int, str]], ctx: csv_rows.RowContext
) -> None:
    rejects: list[ImportReject] = []
    good: list[tuple[int, list[str], csv_rows.CleanRow]] = []
    names = _column_names(csv_import)
    for row_number, row in chunk:
        clean = _checked(row_number, row, columns, ctx)
        if isinstance(clean, str):
            rejects.append(
                ImportReject(
                    csv_import=csv_import,
                    row_number=row_number,
                    reason=_in_file_terms(clean, names),
                    raw=csv_rows.row_as_csv_line(row),
                )
            )
        else:
            good.append((row_number, row, clean))
    created = updated = unchanged = 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Bulk-load settings for this chunk's transaction only: no wait for the WAL flush at
            # commit (a crash may lose the last chunks, never half of one: counters go with them).
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        known = _known_leads([clean.email for _, _, clean in good])
        plan = _plan_chunk(good, known)
        new_ids = _create_leads(csv_import, list(plan.new_rows.values()), ctx.now)
        created += len(new_ids)
        updated += plan.repeats
        changed = _update_leads(plan.changes, ctx.now)
        for row_number, row, clean, lead_id in plan.outcome_rows:
            problem = _apply_outcome(csv_import, Lead.objects.get(pk=lead_id), clean, ctx.now)
            if problem:
                rejects.append(
                    ImportReject(
                        csv_import=csv_import, row_number=row_number, reason=problem, raw=csv_rows.row_as_csv_line(row)
                    )
                )
            else:
                updated += 1
        lead_ids = {**{email: lead_id for email, (lead_id, _) in known.items()}, **new_ids}
        rows_and_events = [
            (row_number, _past_event(lead_ids[clean.email], event_type, when))
            for row_number, _, clean in good
            if clean.email in lead_ids
            for event_type, when in clean.events
        ]
        for start in range(0, len(rows_and_events), 1000):
            part = rows_and_events[start : start + 1000]
            batch = [item for _, item in part]
            results = _event_log_batch(items=batch, source="import", actor=csv_import.created_by, now=ctx.now)
            for (row_number, item), result in zip(part, results, strict=True):
                if not isinstance(result, ValidationError) and not result.duplicate:
                    changed.add(item["lead_id"])  # a past event not logged before is news for the lead
                if isinstance(result, ValidationError):
                    rejects.append(
                        ImportReject(
                            csv_import=csv_import,
                            row_number=row_number,
                            reason=f"row imported, but event {item['type']} at {item['occurred_at']:%Y-%m-%d} "
                            f"was not: {'; '.join(result.messages)}",
                            raw="",
                        )
                    )
        for lead_id, lines in plan.lines_of_lead.items():
            if lead_id in changed:
                updated += len(lines)
            else:
                unchanged += len(lines)
        ImportReject.objects.bulk_create(rejects)
        # Added to what is stored: chunks of other streams count at the same time.
        CsvImport.objects.filter(pk=csv_import.pk).update(
            processed_rows=F("processed_rows") + len(chunk),
            created_count=F("created_count") + created,
            updated_count=F("updated_count") + updated,
            unchanged_count=F("unchanged_count") + unchanged,
            rejected_count=F("rejected_count") + sum(1 for r in rejects if r.raw),
            updated_at=timezone.now(),
        )


def _past_event(lead_id: int, event_type: str, when: datetime.datetime) -> dict[str, Any]:
    """A past event of an imported row, keyed by what it is (the lead, the type, the time): the
    same file imported again, or another file naming the same event, does not log it twice."""
    return {
        "lead_id": lead_id,
        "type": event_type,
        "occurred_at": when,
        "idempotency_key": f"import-{lead_id}-{event_type}-{when.astimezone(datetime.UTC):%Y%m%dT%H%M%S.%fZ}",
    }


def _update_leads(changes: dict[int, csv_rows.CleanRow], now: datetime.datetime) -> set[int]:
    """Write the cells of rows naming known leads: the columns a row gives replace, its custom
    fields are merged in, consent to e-mail is dated when first given. Returns the ids of the
    leads that changed: a lead the row leaves as it was is not written (nor re-scored after).

    On PostgreSQL one ``UPDATE ... FROM unnest(...)`` for the whole chunk: a column a row leaves
    blank goes as NULL and keeps the stored value (no cleaned cell is ever NULL), so nothing of
    the leads has to be read first. Elsewhere the leads are loaded, changed and saved in bulk.
    """
    if not changes:
        return set()
    if connection.vendor != "postgresql":
        leads = Lead.objects.in_bulk(list(changes))
        columns = [*UPDATABLE, "attributes", "consent_at"]
        changed = []
        for lead_id, clean in changes.items():
            lead = leads[lead_id]
            before = [getattr(lead, name) for name in columns]
            _apply(lead, clean, now)
            if [getattr(lead, name) for name in columns] != before:
                changed.append(lead)
        Lead.objects.bulk_update(changed, [*columns, "updated_at"], batch_size=200)
        return {lead.pk for lead in changed}
    given = {name for clean in changes.values() for name in clean.fields}
    names = [name for name in UPDATABLE if name in given]
    fields = [cast(models.Field, Lead._meta.get_field(name)) for name in names]
    quote = connection.ops.quote_name
    columns = [quote(str(f.column)) for f in fields]
    assignments = [f"{c} = COALESCE(v.{c}, l.{c})" for c in columns]
    differences = [f"COALESCE(v.{c}, l.{c}) IS DISTINCT FROM l.{c}" for c in columns]
    assignments.append(
        "attributes = CASE WHEN v.attributes IS NULL THEN l.attributes ELSE l.attributes || v.attributes END"
    )
    differences.append("(v.attributes IS NOT NULL AND l.attributes || v.attributes IS DISTINCT FROM l.attributes)")
    if "email_opt_in" in names:
        assignments.append(
            "consent_at = CASE WHEN v.email_opt_in AND l.consent_at IS NULL THEN %s ELSE l.consent_at END"
        )
        differences.append("(v.email_opt_in AND l.consent_at IS NULL)")
    assignments.append("updated_at = %s")
    # Through the primary key, one probe per row, whatever the size of the table (unsized_array).
    unnest = ", ".join(
        unsized_array(cast) for cast in ["bigint[]", *(f"{f.db_type(connection)}[]" for f in fields), "jsonb[]"]
    )
    rows = (
        (lead_id, *(clean.fields.get(name) for name in names), clean.attributes or None)
        for lead_id, clean in changes.items()
    )
    params = [now] * (2 if "email_opt_in" in names else 1) + unnest_params(rows, len(names) + 2)
    table = quote(Lead._meta.db_table)
    # Only quoted names and casts are formatted in; values travel as parameters.
    sql = (
        f"UPDATE {table} AS l SET {', '.join(assignments)} "  # noqa: S608
        f"FROM unnest({unnest}) AS v(id, {', '.join(columns)}, attributes) "
        f"WHERE l.id = v.id AND ({' OR '.join(differences)}) RETURNING l.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {lead_id for (lead_id,) in cursor.fetchall()}


def _known_leads(emails: list[str], *, lock: bool = True) -> dict[str, tuple[int, str]]:
    """The id and stage of the leads among these (normalised) addresses, locked for this
    transaction unless ``lock`` is off (the preview only counts them)."""
    found = _leads_by_address(emails, ["id", "stage"], lock=lock)
    return {address: (values["id"], values["stage"]) for address, values in found.items()}


def _leads_by_address(emails: list[str], columns: list[str], *, lock: bool = False) -> dict[str, dict[str, Any]]:
    """``columns`` of the leads among these (normalised) addresses, by address; locked for this
    transaction with ``lock``."""
    if not emails:
        return {}
    if connection.vendor != "postgresql":
        leads = Lead.objects.annotate(address=Lower("email")).filter(address__in=emails)
        found = (leads.select_for_update() if lock else leads).values("address", *columns)
        return {values.pop("address"): values for values in found}
    # Most rows of a big import are new: one query with one array parameter (cheap to send and
    # to plan) finds the known ones through the index (see any_array: 16 ms per chunk at
    # 100,000 new leads, where the plan for 5,000 literal addresses read and lower-cased the
    # whole table in 70 ms; the ORM's IN list of their ids took longer to compose than to run).
    quote = connection.ops.quote_name
    selected = ", ".join(quote(str(cast(models.Field, Lead._meta.get_field(name)).column)) for name in columns)
    email = quote(str(Lead._meta.get_field("email").column))
    found_rows: dict[str, dict[str, Any]] = {}
    with connection.cursor() as cursor:
        # Only quoted names are formatted in; the addresses travel as one parameter.
        cursor.execute(
            f"SELECT lower({email}), {selected} FROM {quote(Lead._meta.db_table)} "  # noqa: S608
            f"WHERE lower({email}) = {any_array('text[]')}{' FOR UPDATE' if lock else ''}",
            [array_literal(emails)],
        )
        for address, *values in cursor.fetchall():
            row = dict(zip(columns, values, strict=True))
            if isinstance(row.get("attributes"), str):
                row["attributes"] = json_value(row["attributes"])
            found_rows[address] = row
    return found_rows


def _apply(lead: Lead, clean: csv_rows.CleanRow, now: datetime.datetime) -> None:
    """A row's cells onto a known lead, stamped with the import's clock (as the bulk update is)."""
    for key, value in clean.fields.items():
        setattr(lead, key, value)
    if clean.fields.get("email_opt_in") and lead.consent_at is None:
        lead.consent_at = now
    if clean.attributes:
        lead.attributes = {**lead.attributes, **clean.attributes}
    lead.updated_at = now


def _apply_outcome(csv_import: CsvImport, lead: Lead, clean: csv_rows.CleanRow, now: datetime.datetime) -> str:
    """An existing lead whose row carries an outcome: fields and move in one savepoint, or neither
    (dated as ``_outcome_too_early`` says)."""
    problem = _outcome_too_early(clean, lead.stage_entered_at, now)
    if problem:
        return problem
    moved_at = _moved_at(clean, now)
    try:
        with transaction.atomic():
            _apply(lead, clean, now)
            lead.save()
            lead_services.lead_transition(
                lead=lead,
                to_stage=clean.outcome,
                actor=csv_import.created_by,
                reason=f"Imported from {csv_import.filename}",
                lost_reason=clean.lost_reason,
                now=moved_at,
            )
    except ValidationError as exc:
        return f"outcome: {'; '.join(exc.messages)}"
    return ""


def _insert_rows(
    model: type[models.Model], records: list[dict[str, Any]], now: datetime.datetime, *, with_ids: bool = True
) -> list[int]:
    """Insert rows given as ``{attname: value}``; unnamed columns take their defaults.

    Returns the new ids when ``with_ids`` (else an empty list). On PostgreSQL the ids are drawn
    from the table's sequence first and the rows are written with COPY, which costs a fraction
    of ``bulk_create``; elsewhere ``bulk_create``.
    """
    if connection.vendor != "postgresql":
        objects = [model(**record) for record in records]
        model.objects.bulk_create(objects)  # type: ignore[attr-defined]
        # bulk_create stamps auto_now_add columns with the current time: put back the times given.
        stamped = [f.attname for f in model._meta.concrete_fields if getattr(f, "auto_now_add", False)]
        for name in stamped:
            given: dict[Any, list[Any]] = {}
            for obj, record in zip(objects, records, strict=True):
                if name in record:
                    given.setdefault(record[name], []).append(obj.pk)
            for value, pks in given.items():
                model.objects.filter(pk__in=pks).update(**{name: value})  # type: ignore[attr-defined]
        return [obj.pk for obj in objects] if with_ids else []
    table = model._meta.db_table
    with connection.cursor() as cursor:
        ids: list[int] = []
        if with_ids:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, len(records)]
            )
            ids = [row[0] for row in cursor.fetchall()]
        fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        # Defaults are encoded once; only the values a row names are encoded per row.
        defaults = [
            copy_value(now if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False) else f.get_default())
            for f in fields
        ]
        offset = 1 if with_ids else 0
        position = {f.attname: index for index, f in enumerate(fields, start=offset)}
        now_text = copy_value(now)
        encoded = []
        for number, record in enumerate(records):
            row = [str(ids[number]), *defaults] if with_ids else defaults.copy()
            for name, value in record.items():
                row[position[name]] = now_text if value is now else copy_value(value)
            encoded.append(row)
        columns = [str(f.column) for f in fields]
        copy_in(cursor, table, ["id", *columns] if with_ids else columns, encoded)
    return ids


def _create_leads(csv_import: CsvImport, rows: list[csv_rows.CleanRow], now: datetime.datetime) -> dict[str, int]:
    """Insert the new leads with their stage history; returns e-mail -> id."""
    if not rows:
        return {}
    default_source_id = csv_import.default_source_id
    records = []
    for clean in rows:
        record: dict[str, Any] = {
            "email": clean.email,
            # A historical row is dated when it was created (else its outcome): the lists, the
            # lead page and the funnel report count it then, as its stage history does.
            "created_at": _born(clean, now),
            "attributes": clean.attributes,
            "first_touch_utm": {},
            "last_touch_utm": {},
            "stage": clean.outcome or Stage.RAW,
            "stage_entered_at": clean.outcome_at if clean.outcome else (clean.created_on or now),
            "lost_reason": clean.lost_reason if clean.outcome == Stage.LOST else "",
            **clean.fields,
        }
        if "source_id" not in record and default_source_id:
            record["source_id"] = default_source_id
        if record.get("email_opt_in"):
            record["consent_at"] = now
        records.append(record)
    ids = _insert_rows(Lead, records, now)
    by_email = {record["email"]: pk for record, pk in zip(records, ids, strict=True)}
    changes: list[dict[str, Any]] = []
    actor_id = csv_import.created_by_id
    reason = f"Imported from {csv_import.filename}"[:500]
    for clean in rows:
        lead_id = by_email[clean.email]
        born = _born(clean, now)
        changes.append(
            {"lead_id": lead_id, "from_stage": "", "to_stage": Stage.RAW, "changed_at": born, "actor_id": actor_id,
             "transition": "create", "reason": reason}
        )  # fmt: skip
        if clean.outcome and clean.outcome_at is not None:
            changes.append(
                {"lead_id": lead_id, "from_stage": Stage.RAW, "to_stage": clean.outcome, "changed_at": clean.outcome_at,
                 "actor_id": actor_id, "transition": "import", "reason": reason,
                 "time_in_previous_stage": max(clean.outcome_at - born, datetime.timedelta(0))}
            )  # fmt: skip
    _insert_rows(StageChange, changes, now, with_ids=False)
    return by_email


def _born(clean: csv_rows.CleanRow, now: datetime.datetime) -> datetime.datetime:
    """When a new lead of the file came into being: its "created on" cell, else its outcome date."""
    return clean.created_on or (clean.outcome_at if clean.outcome else None) or now


REJECTS_LEAD_COLUMNS = ("row", "reason")  # the rejects download's first columns


def csv_import_rejects_rows(*, csv_import: CsvImport) -> Iterator[list[str]]:
    """The refused rows as CSV rows: line number, reason, then the original cells."""
    yield [*REJECTS_LEAD_COLUMNS, *csv_import.headers]
    for reject in csv_import.rejects.order_by("row_number", "id").iterator():
        cells = next(_reader([reject.raw]), []) if reject.raw else []
        yield [str(reject.row_number), reject.reason, *cells]
