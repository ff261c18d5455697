"""Pure rules of the CSV import: column suggestions and the check of one row. No ORM here.

A row becomes a ``CleanRow`` (what to write) or a reason why it cannot be imported.
Blank cells never erase anything: they are simply not part of the row.
"""

import csv
import datetime
import functools
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from core.text import is_whole_number
from intake.export import unquoted_cell
from leads.attributes import AttributeSpec, clean_attributes
from leads.models import RESERVED_EMAIL_MESSAGE, is_reserved_email
from leads.timezones import time_zone_names

IGNORE = ""
ATTRIBUTE_PREFIX = "attributes."
EVENT_PREFIX = "event:"

# Lead fields an import may fill, with how a cell is read.
TEXT_FIELDS = (
    "first_name", "last_name", "phone", "title", "company", "website", "industry", "country", "city",
    "budget", "authority", "need", "timeline",
)  # fmt: skip
LEAD_TARGETS: dict[str, str] = {
    "email": "E-mail",
    "full_name": "Full name (split into first and last)",
    "first_name": "First name",
    "last_name": "Last name",
    "phone": "Phone",
    "title": "Job title",
    "company": "Company",
    "website": "Website",
    "company_size": "Company size",
    "industry": "Industry",
    "country": "Country",
    "city": "City",
    "annual_revenue": "Annual revenue",
    "timezone": "Time zone",
    "email_opt_in": "E-mail opt-in (yes/no)",
    "do_not_call": "Do not call (yes/no)",
    "budget": "Budget",
    "authority": "Authority",
    "need": "Need",
    "timeline": "Timeline",
    "source": "Source (name)",
    "campaign": "Campaign (name)",
    "owner": "Owner (username or e-mail)",
    "created_on": "Created on (date, historical)",
    "outcome": "Outcome (won / lost)",
    "outcome_at": "Outcome date",
    "lost_reason": "Lost reason",
}

SYNONYMS: dict[str, tuple[str, ...]] = {
    "email": ("email", "emailaddress", "mail", "workemail", "businessemail", "e_mail", "emailadresse"),
    "full_name": ("name", "fullname", "contactname", "leadname", "personname"),
    "first_name": ("firstname", "first", "givenname", "forename", "vorname", "prenom"),
    "last_name": ("lastname", "last", "surname", "familyname", "nachname", "nom"),
    "phone": (
        "phone",
        "phonenumber",
        "telephone",
        "tel",
        "mobile",
        "mobilephone",
        "cell",
        "telefon",
        "telefonnummer",
        "handy",
    ),
    "title": ("title", "jobtitle", "position", "role", "jobrole"),
    "company": (
        "company",
        "companyname",
        "organization",
        "organisation",
        "account",
        "accountname",
        "employer",
        "firma",
        "unternehmen",
        "empresa",
        "societe",
    ),
    "website": ("website", "web", "url", "companywebsite", "domain", "companydomain"),
    "company_size": ("companysize", "employees", "numberofemployees", "headcount", "size", "employeecount"),
    "industry": ("industry", "sector", "vertical"),
    "country": ("country", "countryname", "countrycode", "countryregion", "land", "pays"),
    "city": ("city", "town", "location", "stadt", "ort", "ville"),
    "annual_revenue": ("annualrevenue", "revenue", "arr", "turnover"),
    "timezone": ("timezone", "tz", "timezonename"),
    "email_opt_in": ("emailoptin", "optin", "marketingconsent", "consent", "subscribed", "newsletter"),
    "do_not_call": ("donotcall", "dnc"),
    "budget": ("budget",),
    "authority": ("authority",),
    "need": ("need", "needs", "requirements"),
    "timeline": ("timeline", "timeframe"),
    "source": ("source", "leadsource", "channel"),
    "campaign": ("campaign", "campaignname"),
    "created_on": (
        "createdon",
        "created",
        "createdat",
        "createddate",
        "datecreated",
        "erstelltam",
        "erstellt",
        "angelegtam",
    ),
    "outcome": ("outcome", "result", "status", "wonlost"),
    "outcome_at": ("outcomeat", "outcomedate", "closedate", "closedat", "closedon", "dateclosed"),
    "lost_reason": ("lostreason", "reasonlost", "lossreason"),
    "owner": ("owner", "leadowner", "accountowner", "assignedto", "salesrep", "rep"),
}

WON_WORDS = {"won", "win", "customer", "closed won", "converted", "client"}
LOST_WORDS = {"lost", "closed lost", "disqualified", "unqualified", "churned", "dead"}
TRUE_WORDS = {"1", "true", "yes", "y", "x", "on"}
FALSE_WORDS = {"0", "false", "no", "n", "off"}
DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M")
# How the numeric dates of a file are written (03/04/2026 is 3 April in one country and March 4
# in another): chosen on the mapping page, suggested from the file when its dates tell.
YEAR_FIRST, DAY_FIRST, MONTH_FIRST = "ymd", "dmy", "mdy"
DATE_ORDERS = {
    YEAR_FIRST: "Year first (2026-03-31)",
    DAY_FIRST: "Day first (31/03/2026)",
    MONTH_FIRST: "Month first (03/31/2026)",
}
_NUMERIC_DATES = {
    YEAR_FIRST: ("%Y/%m/%d", "%Y.%m.%d"),
    DAY_FIRST: ("%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%y", "%d.%m.%y"),
    MONTH_FIRST: ("%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y"),
}
# A month written as a word is read the same whatever the order chosen.
_NAMED_DATES = ("%d %b %Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y", "%b %d %Y", "%B %d %Y", "%d-%b-%Y", "%d-%b-%y")
_TIMES = ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p")
_DAY_AND_MONTH = re.compile(r"\s*(\d{1,2})[/.-](\d{1,2})[/.-]\d{2,4}\b")


@functools.cache
def _date_formats(order: str) -> tuple[str, ...]:
    return DATE_FORMATS + tuple(date + time for date in (*_NUMERIC_DATES[order], *_NAMED_DATES) for time in _TIMES)


def guessed_date_order() -> str:
    """The order to start from when a file's dates read both ways: the site's language's
    (month first for US English, else day first). The mapping page says the dates are in doubt."""
    return MONTH_FIRST if settings.LANGUAGE_CODE.lower() in ("en-us", "en-ph", "en-ca") else DAY_FIRST


def date_order_evidence(values: list[str]) -> tuple[str, bool]:
    """What the numeric dates among ``values`` say about their order: ``(order, ambiguous)``.
    ``order`` is day or month first when a value can only be read that way (31/03, 03/31) and
    no value contradicts it, else ""; ``ambiguous`` when dates such as 03/04/2026 are present
    and nothing tells."""
    day_first = month_first = seen = False
    for value in values:
        found = _DAY_AND_MONTH.match(value)
        if found is None:
            continue
        first, second = int(found.group(1)), int(found.group(2))
        if first > 31 or second > 31 or (first > 12 and second > 12):
            continue  # not a date either way (a typo): it tells nothing
        seen = True
        day_first = day_first or first > 12
        month_first = month_first or second > 12
    if day_first != month_first:
        return (DAY_FIRST if day_first else MONTH_FIRST), False
    return "", seen


_email_validator = EmailValidator()
# Most addresses pass this stricter pattern; the rest get Django's full check.
_PLAIN_EMAIL = re.compile(r"[a-z0-9_%+-]+(?:\.[a-z0-9_%+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def suggest_mapping(headers: list[str], attribute_keys: list[str], event_types: list[str]) -> dict[str, str]:
    """Guess a target for each header: a lead field, a custom attribute, an event type, or ignore."""
    by_synonym = {syn: target for target, syns in SYNONYMS.items() for syn in (_key(s) for s in syns)}
    for target in LEAD_TARGETS:
        by_synonym.setdefault(_key(target), target)
    for key in attribute_keys:
        by_synonym.setdefault(_key(key), ATTRIBUTE_PREFIX + key)
    for event_type in event_types:
        first, _, rest = event_type.partition("_")
        for name in (event_type, f"{first}s_{rest}"):  # "Webinars attended" too
            by_synonym.setdefault(_key(name), EVENT_PREFIX + event_type)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for header in headers:
        target = by_synonym.get(_key(header), IGNORE)
        if target and target in used:
            target = IGNORE
        used.add(target)
        mapping[header] = target
    return mapping


def check_mapping(
    mapping: dict[str, str], headers: list[str], attribute_keys: list[str], event_types: list[str]
) -> list[str]:
    """What is wrong with a chosen mapping (empty when it is usable)."""
    problems: list[str] = []
    valid = set(LEAD_TARGETS) | {ATTRIBUTE_PREFIX + k for k in attribute_keys} | {EVENT_PREFIX + t for t in event_types}
    seen: dict[str, str] = {}
    for header in headers:
        target = mapping.get(header, IGNORE)
        if target == IGNORE:
            continue
        if target not in valid:
            problems.append(f"Column '{header}': '{target}' is not something an import can fill.")
        elif target in seen and not target.startswith(EVENT_PREFIX):
            problems.append(f"Columns '{seen[target]}' and '{header}' both fill {target}; choose one.")
        seen.setdefault(target, header)
    unknown = sorted(set(mapping) - set(headers))
    if unknown:
        problems.append(f"No such column in the file: {', '.join(unknown)}.")
    if "email" not in seen:
        problems.append("Choose the column that holds the e-mail address: leads are matched by e-mail.")
    return problems


@dataclass
class RowContext:
    """What a row is checked against, loaded once per import."""

    max_lengths: dict[str, int]
    sources: dict[str, int]  # lower-case name -> id
    campaigns: dict[str, int]
    attribute_specs: dict[str, AttributeSpec]
    lost_reasons: dict[str, str]  # lower-case key or label -> key
    now: datetime.datetime
    owners: dict[str, int] = field(default_factory=dict)  # lower-case username or e-mail -> id (active users)
    tz: datetime.tzinfo = datetime.UTC
    date_order: str = YEAR_FIRST
    # The file's delimiter and its number of columns: a cell over lines whose later lines look
    # like whole rows of the file took those rows in (see ``unclosed_quotes``).
    delimiter: str = ","
    width: int = 0


@dataclass
class CleanRow:
    email: str
    fields: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    created_on: datetime.datetime | None = None
    outcome: str = ""
    outcome_at: datetime.datetime | None = None
    outcome_dated: bool = False  # the outcome's date came from the file
    lost_reason: str = ""
    events: list[tuple[str, datetime.datetime]] = field(default_factory=list)


def parse_when(text: str, tz: datetime.tzinfo, order: str = YEAR_FIRST) -> datetime.datetime:
    """A date, with or without a time: ISO 8601 always, numeric dates in the file's ``order``,
    and months written as words (3 Apr 2026, April 3, 2026)."""
    text = " ".join(text.split())
    parsed: datetime.datetime | None = None
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        for fmt in _date_formats(order):
            try:
                parsed = datetime.datetime.strptime(text, fmt)  # noqa: DTZ007 - made aware just below
                break
            except ValueError:
                continue
    same = _DAY_AND_MONTH.match(text)
    if parsed is None and order == YEAR_FIRST and same and int(same.group(1)) == int(same.group(2)):
        return parse_when(text, tz, DAY_FIRST)  # 01/01/2020 reads the same either way
    if parsed is None:
        if order == YEAR_FIRST and _DAY_AND_MONTH.match(text):
            raise ValueError(
                "is not a date in this file's order (year first): choose day first or month first under "
                "'Dates in this file' when mapping the columns"
            )
        raise ValueError(f"is not a date (use YYYY-MM-DD, or {DATE_ORDERS[order].lower()})")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


# Digits in groups of three: 1,200 / 1.200 / 1 200 / 1'200 (a thin or no-break space too).
_GROUPED_WHOLE = re.compile(r"\d{1,3}(?:[,.' \u00a0\u202f]\d{3})+")
_GROUPED = re.compile(r"[,.' \u00a0\u202f]")


def plain_amount(text: str) -> str:
    """An amount as ``Decimal`` reads it: currency signs and group separators out, the decimal
    mark a point. With both marks the last one is the decimal mark (1.234,50 and 1,234.50);
    with one, it is a group separator when it repeats or three digits follow it (1,200 and
    1.200.000), else the decimal mark (12,5)."""
    text = text.strip().lstrip("$€£").rstrip("$€£ ").strip()
    text = text.replace(" ", "").replace("\u00a0", "").replace("\u202f", "").replace("'", "")
    if "," in text and "." in text:
        decimal = "," if text.rfind(",") > text.rfind(".") else "."
        group = "." if decimal == "," else ","
        return text.replace(group, "").replace(decimal, ".")
    for mark in (",", "."):
        if mark in text:
            if text.count(mark) > 1 or _GROUPED_WHOLE.fullmatch(text):
                return text.replace(mark, "")
            return text.replace(mark, ".")
    return text


def named_headers(headers: list[str]) -> list[str]:
    """Every column with a name of its own: a blank one (a spreadsheet's trailing empty columns)
    is called "Column 4", a repeated one "Email (2)"."""
    named = [header or f"Column {index}" for index, header in enumerate(headers, start=1)]
    seen: dict[str, int] = {}
    result = []
    for header in named:
        seen[header] = seen.get(header, 0) + 1
        name = header if seen[header] == 1 else f"{header} ({seen[header]})"
        while name in named and name != header:
            name += "'"
        result.append(name)
    return result


def date_parts(text: str) -> list[str]:
    """The dates of one cell: a past-event column may hold several, ``;`` or ``|`` between them."""
    return [part for part in re.split(r"[;|]", text) if part.strip()]


def is_date_target(target: str) -> bool:
    """Whether a column mapped to ``target`` holds dates."""
    return target in ("created_on", "outcome_at") or target.startswith(EVENT_PREFIX)


def split_full_name(text: str) -> tuple[str, str]:
    """First and last name from one cell: "Smith, Mary Ann" or "Mary Ann Smith" -> ("Mary Ann",
    "Smith"); a single word is a first name."""
    if "," in text:
        last, _, first = text.partition(",")
        return " ".join(first.split()), " ".join(last.split())
    words = text.split()
    if len(words) < 2:
        return " ".join(words), ""
    return " ".join(words[:-1]), words[-1]


_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Fields whose text may go over lines (a quoted cell holding line breaks: notes). In any other
# field a line break means a quote that was not closed on its line and took the lines after it.
MULTI_LINE_FIELDS = ("need",)


def line_breaks(text: str) -> int:
    return len(_LINE_BREAK.findall(text)) if "\n" in text or "\r" in text else 0


def cell_lines(row: list[str], first_line: int) -> dict[int, tuple[int, int]]:
    """The cells of a row that go over lines, by index: the first and last line of the file each
    is on, for a row that starts on ``first_line`` (only a quoted cell can hold a line break)."""
    spans: dict[int, tuple[int, int]] = {}
    line = first_line
    for index, cell in enumerate(row):
        breaks = line_breaks(cell)
        if breaks:
            spans[index] = (line, line + breaks)
            line += breaks
    return spans


def takes_line_breaks(target: str, ctx: RowContext) -> bool:
    """Whether a column mapped to ``target`` may hold text over several lines."""
    if target in MULTI_LINE_FIELDS:
        return True
    spec = (
        ctx.attribute_specs.get(target.removeprefix(ATTRIBUTE_PREFIX)) if target.startswith(ATTRIBUTE_PREFIX) else None
    )
    return spec is not None and spec.field_type == "text"


def unclosed_quotes(row: list[str], first_line: int, columns: list[tuple[int, str]], ctx: RowContext) -> dict[str, str]:
    """Why the row is refused for each mapped one-line cell that goes over lines, by the field
    name its other reasons use: a quote opened in the cell was not closed on that line, and the
    lines after it (other rows, often) were read into the cell."""
    spans = cell_lines(row, first_line)
    reasons: dict[str, str] = {}
    mapped = dict(columns)
    for index, (first, last) in spans.items():
        target = mapped.get(index)
        if target is not None and not takes_line_breaks(target, ctx):
            name = target.removeprefix(ATTRIBUTE_PREFIX).removeprefix(EVENT_PREFIX)
        elif _holds_rows(row[index], ctx):
            # Free text, or a column the import leaves out: still refused when what it took in
            # reads as rows of the file, which would otherwise be lost without a word.
            name = target.removeprefix(ATTRIBUTE_PREFIX).removeprefix(EVENT_PREFIX) if target else f"column {index + 1}"
        else:
            continue
        reasons[name] = (
            f'{name}: a quote (") opened on line {first} is not closed on that line; '
            f"lines {first}-{last} were read as one cell"
        )
    return reasons


def _holds_rows(cell: str, ctx: RowContext) -> bool:
    """Whether a line after the first of a cell has as many delimiters as a row of the file."""
    if ctx.width < 2:
        return False
    return any(line.count(ctx.delimiter) >= ctx.width - 1 for line in _LINE_BREAK.split(cell)[1:])


def clean_row(cells: dict[str, str], ctx: RowContext) -> CleanRow | str:
    """Check one row (target -> cell text); return what to write, or the reasons it is refused."""
    errors: list[str] = []
    email = (cells.get("email") or "").strip().lower()
    # A bad address is reported with every other problem of the row, so that one fix will do.
    if not email:
        errors.append("email: missing")
    elif len(email) > 254:
        errors.append("email: longer than 254 characters")
    elif not _PLAIN_EMAIL.fullmatch(email):
        try:
            _email_validator(email)
        except ValidationError:
            errors.append(f"email: '{email[:80]}' is not a valid e-mail address")
    if email and is_reserved_email(email):
        errors.append(f"email: '{email[:80]}' is refused. {RESERVED_EMAIL_MESSAGE}")
    row = CleanRow(email=email)
    raw_attributes: dict[str, str] = {}
    for target, raw in cells.items():
        text = unquoted_cell(raw.strip())
        if not text or target == "email":
            continue
        if target == "full_name":
            for name, part in zip(("first_name", "last_name"), split_full_name(text), strict=True):
                limit = ctx.max_lengths.get(name)
                if limit and len(part) > limit:
                    errors.append(f"full_name: the {name.replace('_', ' ')} is longer than {limit} characters")
                elif part:
                    row.fields.setdefault(name, part)  # a first or last name column of its own wins
        elif target in TEXT_FIELDS:
            limit = ctx.max_lengths.get(target)
            if limit and len(text) > limit:
                errors.append(f"{target}: longer than {limit} characters")
            else:
                row.fields[target] = text
        elif target == "company_size":
            cleaned = _GROUPED.sub("", text) if _GROUPED_WHOLE.fullmatch(text) else text
            if not is_whole_number(cleaned):
                errors.append(f"company_size: '{text[:40]}' is not a whole number")
            else:
                row.fields[target] = int(cleaned)
        elif target == "annual_revenue":
            try:
                amount = Decimal(plain_amount(text))
            except InvalidOperation:
                errors.append(f"annual_revenue: '{text[:40]}' is not an amount")
                continue
            if not amount.is_finite() or amount < 0 or amount >= Decimal("1e13"):
                errors.append(f"annual_revenue: '{text[:40]}' is out of range")
            else:
                row.fields[target] = amount.quantize(Decimal("0.01"))
        elif target in ("email_opt_in", "do_not_call"):
            lowered = text.lower()
            if lowered in TRUE_WORDS:
                row.fields[target] = True
            elif lowered in FALSE_WORDS:
                row.fields[target] = False
            else:
                errors.append(f"{target}: '{text[:40]}' is not yes or no")
        elif target == "timezone":
            if text not in time_zone_names():
                errors.append(f"timezone: '{text[:60]}' is not a time zone name such as Europe/Berlin")
            else:
                row.fields[target] = text
        elif target in ("source", "campaign"):
            table = ctx.sources if target == "source" else ctx.campaigns
            found = table.get(text.lower())
            if found is None:
                errors.append(
                    f"{target}: no {target} named '{text[:60]}' (tick “Add the sources and campaigns the file "
                    "names” on the mapping page, or add it in the admin)"
                )
            else:
                row.fields[f"{target}_id"] = found
        elif target == "owner":
            found = ctx.owners.get(text.lower())
            if found is None:
                errors.append(f"owner: no active user with the username or e-mail '{text[:60]}'")
            else:
                row.fields["owner_id"] = found
        elif target == "created_on":
            try:
                row.created_on = parse_when(text, ctx.tz, ctx.date_order)
            except ValueError as exc:
                errors.append(f"created_on: '{text[:40]}' {exc}")
        elif target == "outcome":
            # Exports of other tools hold every status here ("Open", "Prospect"): only won and
            # lost are outcomes, anything else leaves the lead open.
            lowered = " ".join(re.split(r"[\s_-]+", text.lower()))
            if lowered in WON_WORDS:
                row.outcome = "won"
            elif lowered in LOST_WORDS:
                row.outcome = "lost"
        elif target == "outcome_at":
            try:
                row.outcome_at = parse_when(text, ctx.tz, ctx.date_order)
            except ValueError as exc:
                errors.append(f"outcome_at: '{text[:40]}' {exc}")
        elif target == "lost_reason":
            reason = ctx.lost_reasons.get(text.lower())
            if reason is None:
                errors.append(
                    f"lost_reason: '{text[:40]}' is not one of {', '.join(sorted(set(ctx.lost_reasons.values())))}"
                )
            else:
                row.lost_reason = reason
        elif target.startswith(ATTRIBUTE_PREFIX):
            raw_attributes[target[len(ATTRIBUTE_PREFIX) :]] = text
        elif target.startswith(EVENT_PREFIX):
            event_type = target[len(EVENT_PREFIX) :]
            for part in date_parts(text):
                try:
                    when = parse_when(part, ctx.tz, ctx.date_order)
                except ValueError as exc:
                    errors.append(f"{event_type}: '{part.strip()[:40]}' {exc}")
                    continue
                if when > ctx.now:
                    errors.append(f"{event_type}: {part.strip()} is in the future")
                else:
                    row.events.append((event_type, when))
    if raw_attributes:
        specs = [ctx.attribute_specs[k] for k in raw_attributes if k in ctx.attribute_specs]
        row.attributes, attribute_errors = clean_attributes(raw_attributes, specs)
        errors.extend(f"{key}: {message}" for key, message in attribute_errors.items() if key in raw_attributes)
    row.outcome_dated = row.outcome_at is not None
    if not row.outcome:
        row.outcome_at = None  # an open lead's close date is a plan, not an outcome
    elif row.outcome_at is None:
        row.outcome_at = row.created_on or ctx.now
    if row.outcome_at is not None and row.outcome_at > ctx.now:
        errors.append("outcome_at: is in the future")
    if row.created_on is not None and row.created_on > ctx.now:
        errors.append("created_on: is in the future")
    if row.created_on and row.outcome_at and row.outcome_at < row.created_on:
        errors.append("outcome_at: is before the date the lead was created")
    if row.lost_reason and row.outcome != "lost":
        errors.append("lost_reason: only for a lost outcome")
    if row.outcome == "lost" and not row.lost_reason:
        row.lost_reason = "other"
    if errors:
        return "; ".join(errors)
    return row


def read_csv_text(raw: bytes) -> str:
    """Decode an uploaded file: UTF-8 (with or without BOM), else Windows-1252 as spreadsheets write it."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def sniff_delimiter(text: str) -> str:
    """The delimiter of the header line: comma, semicolon, tab or pipe, whichever it holds most."""
    header = text.split("\n", 1)[0]
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def row_as_csv_line(values: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(values)
    return out.getvalue()
