import dataclasses
import datetime
from decimal import Decimal

import pytest

from intake import csv_rows
from leads.attributes import AttributeSpec

NOW = datetime.datetime(2026, 6, 1, 12, 0, tzinfo=datetime.UTC)


def _ctx() -> csv_rows.RowContext:
    return csv_rows.RowContext(
        max_lengths={"first_name": 100, "company": 200, "phone": 40},
        sources={"webinar": 7},
        campaigns={},
        attribute_specs={"plan": AttributeSpec(key="plan", label="Plan", field_type="choice", choices=("free", "pro"))},
        lost_reasons={"no_budget": "no_budget", "no budget": "no_budget", "other": "other"},
        now=NOW,
    )


def test_suggest_mapping_reads_common_header_names():
    headers = [
        "E-mail Address",
        "First Name",
        "Surname",
        "Company Name",
        "Job Title",
        "Employees",
        "Notes",
        "Plan",
        "?",
    ]

    mapping = csv_rows.suggest_mapping(headers, ["plan"], ["webinar_attended"])

    assert mapping == {
        "E-mail Address": "email",
        "First Name": "first_name",
        "Surname": "last_name",
        "Company Name": "company",
        "Job Title": "title",
        "Employees": "company_size",
        "Notes": "",  # free text: not the qualification field "need"
        "Plan": "attributes.plan",
        "?": "",
    }


def test_suggest_mapping_never_maps_two_columns_to_one_field():
    assert csv_rows.suggest_mapping(["Email", "Mail"], [], []) == {"Email": "email", "Mail": ""}


def test_check_mapping_needs_email_and_refuses_unknown_and_doubled_targets():
    problems = csv_rows.check_mapping({"a": "first_name", "b": "first_name", "c": "password"}, ["a", "b", "c"], [], [])

    assert problems == [
        "Columns 'a' and 'b' both fill first_name; choose one.",
        "Column 'c': 'password' is not something an import can fill.",
        "Choose the column that holds the e-mail address: leads are matched by e-mail.",
    ]


def test_clean_row_coerces_values_and_skips_blank_cells():
    row = csv_rows.clean_row(
        {
            "email": " Ada@Example.com ",
            "first_name": "Ada",
            "company": "",
            "company_size": "1,200",
            "annual_revenue": "$2500000.5",
            "email_opt_in": "Yes",
            "source": "Webinar",
            "attributes.plan": "pro",
        },
        _ctx(),
    )

    assert isinstance(row, csv_rows.CleanRow)
    assert row.email == "ada@example.com"
    assert row.fields == {
        "first_name": "Ada",
        "company_size": 1200,
        "annual_revenue": Decimal("2500000.50"),
        "email_opt_in": True,
        "source_id": 7,
    }
    assert row.attributes == {"plan": "pro"}


def test_clean_row_reports_every_problem_of_a_row():
    reason = csv_rows.clean_row(
        {
            "email": "ok@example.com",
            "company_size": "many",
            "email_opt_in": "perhaps",
            "source": "Radio",
            "attributes.plan": "gold",
            "first_name": "x" * 101,
        },
        _ctx(),
    )

    assert reason == (
        "company_size: 'many' is not a whole number; email_opt_in: 'perhaps' is not yes or no; "
        "source: no source named 'Radio' (tick “Add the sources and campaigns the file names” on the mapping "
        "page, or add it in the admin); first_name: longer than 100 characters; "
        "plan: Plan must be one of: free, pro"
    )


def test_clean_row_refuses_missing_or_bad_email():
    assert csv_rows.clean_row({"email": ""}, _ctx()) == "email: missing"
    assert csv_rows.clean_row({"email": "nope"}, _ctx()) == "email: 'nope' is not a valid e-mail address"


def test_a_bad_email_is_reported_with_the_rows_other_problems():
    reason = csv_rows.clean_row({"email": "nope", "company_size": "abc"}, _ctx())

    assert reason == "email: 'nope' is not a valid e-mail address; company_size: 'abc' is not a whole number"


def test_cells_quoted_by_our_export_import_as_they_were():
    row = csv_rows.clean_row({"email": "a@example.com", "phone": "'+49 30 123", "company": "'Acme"}, _ctx())

    assert isinstance(row, csv_rows.CleanRow)
    assert row.fields == {"phone": "+49 30 123", "company": "'Acme"}  # only a quote our export adds goes


def test_historical_outcome_and_past_events():
    row = csv_rows.clean_row(
        {
            "email": "old@example.com",
            "created_on": "2025-01-10",
            "outcome": "Lost",
            "outcome_at": "2025-03-01 10:30",
            "lost_reason": "No budget",
            "event:webinar_attended": "2025-01-15; 2025-02-01",
        },
        _ctx(),
    )

    assert isinstance(row, csv_rows.CleanRow)
    assert row.created_on == datetime.datetime(2025, 1, 10, tzinfo=datetime.UTC)
    assert (row.outcome, row.lost_reason) == ("lost", "no_budget")
    assert row.outcome_at == datetime.datetime(2025, 3, 1, 10, 30, tzinfo=datetime.UTC)
    assert row.events == [
        ("webinar_attended", datetime.datetime(2025, 1, 15, tzinfo=datetime.UTC)),
        ("webinar_attended", datetime.datetime(2025, 2, 1, tzinfo=datetime.UTC)),
    ]


def test_outcome_problems():
    ctx = _ctx()
    open_lead = csv_rows.clean_row({"email": "a@example.com", "outcome": "Open", "outcome_at": "2026-09-30"}, ctx)
    assert (open_lead.outcome, open_lead.outcome_at) == ("", None)  # a status, and an expected close date
    assert csv_rows.clean_row({"email": "a@example.com", "outcome": "won", "outcome_at": "2030-01-01"}, ctx) == (
        "outcome_at: is in the future"
    )
    assert csv_rows.clean_row(
        {"email": "a@example.com", "outcome": "won", "created_on": "2025-05-01", "outcome_at": "2025-04-01"}, ctx
    ) == ("outcome_at: is before the date the lead was created")


def test_sniff_delimiter():
    assert csv_rows.sniff_delimiter("email;name\na;b") == ";"
    assert csv_rows.sniff_delimiter("email\tname\n") == "\t"
    assert csv_rows.sniff_delimiter("email\n") == ","


def _at(*parts: int) -> datetime.datetime:
    return datetime.datetime(*parts, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("text", "order", "expected"),
    [
        ("2026-03-04", "dmy", _at(2026, 3, 4)),  # ISO whatever the order
        ("2026-03-04T09:15:00+02:00", "mdy", datetime.datetime.fromisoformat("2026-03-04T09:15:00+02:00")),
        ("2026/03/04", "ymd", _at(2026, 3, 4)),
        ("03/04/2026", "dmy", _at(2026, 4, 3)),
        ("03/04/2026", "mdy", _at(2026, 3, 4)),
        ("31.12.2025 17:45", "dmy", _at(2025, 12, 31, 17, 45)),
        ("12/31/25", "mdy", _at(2025, 12, 31)),
        ("12/31/2025 3:45 PM", "mdy", _at(2025, 12, 31, 15, 45)),
        ("4 Mar 2026", "ymd", _at(2026, 3, 4)),  # a month as a word reads one way only
        ("March 4, 2026", "dmy", _at(2026, 3, 4)),
        ("Mar  4 2026", "mdy", _at(2026, 3, 4)),
        ("04-Mar-2026", "ymd", _at(2026, 3, 4)),
    ],
)
def test_dates_are_read_in_the_files_order(text, order, expected):
    assert csv_rows.parse_when(text, datetime.UTC, order) == expected


def test_a_day_and_month_date_in_a_year_first_file_says_where_to_choose_the_order():
    reason = csv_rows.clean_row({"email": "a@example.com", "created_on": "03/04/2026"}, _ctx())

    assert reason == (
        "created_on: '03/04/2026' is not a date in this file's order (year first): "
        "choose day first or month first under 'Dates in this file' when mapping the columns"
    )
    month_first = dataclasses.replace(_ctx(), date_order="mdy")
    assert csv_rows.clean_row({"email": "a@example.com", "created_on": "31/03/2026"}, month_first) == (
        "created_on: '31/03/2026' is not a date (use YYYY-MM-DD, or month first (03/31/2026))"
    )
    assert csv_rows.clean_row({"email": "a@example.com", "created_on": "soon"}, _ctx()) == (
        "created_on: 'soon' is not a date (use YYYY-MM-DD, or year first (2026-03-31))"
    )


@pytest.mark.parametrize(
    ("values", "evidence"),
    [
        (["2026-03-04", "4 Mar 2026", ""], ("", False)),  # nothing to choose
        (["03/04/2026", "05/06/2026"], ("", True)),  # both readings possible
        (["03/04/2026", "31/03/2026"], ("dmy", False)),
        (["03/04/2026", "12/31/2026 10:00"], ("mdy", False)),
        (["31/03/2026", "12/31/2026"], ("", True)),  # the file contradicts itself: the user decides
        (["03/04/2025", "11/15/2024", "13/45/2025"], ("mdy", False)),  # a typo tells nothing
        (["13/45/2025", "99/01/2025"], ("", False)),
    ],
)
def test_the_order_of_a_files_dates_is_told_by_a_day_past_12(values, evidence):
    assert csv_rows.date_order_evidence(values) == evidence


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mary Ann Smith", ("Mary Ann", "Smith")),
        ("Smith, Mary Ann", ("Mary Ann", "Smith")),
        ("  Cher ", ("Cher", "")),
        ("Ludwig  van Beethoven", ("Ludwig van", "Beethoven")),
    ],
)
def test_a_full_name_is_split_into_first_and_last(text, expected):
    assert csv_rows.split_full_name(text) == expected


def test_a_name_column_fills_first_and_last_name_unless_they_have_columns_of_their_own():
    assert csv_rows.suggest_mapping(["Name", "E-mail"], [], [])["Name"] == "full_name"
    row = csv_rows.clean_row({"email": "a@example.com", "full_name": "Ana María López"}, _ctx())
    assert row.fields == {"first_name": "Ana María", "last_name": "López"}

    own = csv_rows.clean_row({"email": "a@example.com", "full_name": "Ana López", "first_name": "Anita"}, _ctx())
    assert own.fields == {"first_name": "Anita", "last_name": "López"}
    first = csv_rows.clean_row({"email": "a@example.com", "first_name": "Anita", "full_name": "Ana López"}, _ctx())
    assert first.fields == {"first_name": "Anita", "last_name": "López"}

    too_long = csv_rows.clean_row({"email": "a@example.com", "full_name": "A" * 120 + " Smith"}, _ctx())
    assert too_long == "full_name: the first name is longer than 100 characters"


@pytest.mark.parametrize(
    ("cell", "outcome"),
    [("Closed Won", "won"), ("closed-won", "won"), ("Customer", "won"), ("Closed_Lost", "lost"),
     ("Disqualified", "lost"), ("Prospect", ""), ("In progress", "")],
)  # fmt: skip
def test_only_won_and_lost_statuses_are_outcomes(cell, outcome):
    row = csv_rows.clean_row({"email": "a@example.com", "outcome": cell}, _ctx())
    assert row.outcome == outcome


@pytest.mark.parametrize(
    ("cell", "size"),
    [("1,200", 1200), ("1.200", 1200), ("12 500", 12500), ("1'200", 1200), ("1\u202f200", 1200), ("85", 85)],
)
def test_employee_counts_may_group_their_digits(cell, size):
    assert csv_rows.clean_row({"email": "a@example.com", "company_size": cell}, _ctx()).fields["company_size"] == size


@pytest.mark.parametrize(
    ("cell", "amount"),
    [
        ("$1,200,000", "1200000.00"),
        ("1.234.567,89 €", "1234567.89"),
        ("1,234,567.89", "1234567.89"),
        ("12,5", "12.50"),
        ("1.200", "1200.00"),
        ("99.95", "99.95"),
    ],
)
def test_amounts_are_read_with_either_decimal_mark(cell, amount):
    row = csv_rows.clean_row({"email": "a@example.com", "annual_revenue": cell}, _ctx())
    assert str(row.fields["annual_revenue"]) == amount


def test_a_date_with_day_equal_to_month_reads_the_same_in_any_order():
    assert csv_rows.parse_when("01/01/2020", datetime.UTC) == _at(2020, 1, 1)


def test_a_cell_over_lines_is_refused_in_a_one_line_field_and_taken_in_free_text():
    ctx = dataclasses.replace(
        _ctx(),
        attribute_specs={
            "remarks": AttributeSpec(key="remarks", label="Remarks", field_type="text"),
            "plan": AttributeSpec(key="plan", label="Plan", field_type="choice", choices=("free", "pro")),
        },
    )
    row = ["a@example.com", "Two\nlines", "Notes\nover\nthree", "pro\nx", "One\r\nmore"]
    columns = [(0, "email"), (1, "need"), (2, "attributes.remarks"), (3, "attributes.plan"), (4, "company")]

    reasons = csv_rows.unclosed_quotes(row, 7, columns, ctx)

    assert csv_rows.cell_lines(row, 7) == {1: (7, 8), 2: (8, 10), 3: (10, 11), 4: (11, 12)}
    assert reasons == {
        "plan": 'plan: a quote (") opened on line 10 is not closed on that line; lines 10-11 were read as one cell',
        "company": 'company: a quote (") opened on line 11 is not closed on that line; '
        "lines 11-12 were read as one cell",
    }
