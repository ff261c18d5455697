import csv
import datetime
import io
import threading

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from intake import csv_import
from intake.models import CsvImport, ImportReject
from leads.models import Lead, StageChange
from scoring.models import EngagementEvent
from tests.factories import LeadFactory, LeadSourceFactory, manager, marketer, rep

pytestmark = pytest.mark.django_db


def _upload(user, text: str, name: str = "leads.csv") -> CsvImport:
    return csv_import.csv_import_create(user=user, filename=name, raw=text.encode())


def _run(item: CsvImport) -> CsvImport:
    csv_import.csv_import_start(csv_import=item)
    return csv_import.csv_import_run(import_id=item.pk)


def test_upload_suggests_a_mapping_and_counts_rows():
    item = _upload(marketer(), "Email,First Name,Company\na@example.com,Ann,Acme\n\nb@example.com,Bob,\n")

    assert item.headers == ["Email", "First Name", "Company"]
    assert item.mapping == {"Email": "email", "First Name": "first_name", "Company": "company"}
    assert item.total_rows == 2
    assert item.status == CsvImport.Status.UPLOADED


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "The file is empty."),
        (b"\x00\x01\x02binary", "This is not a text CSV file (save it as CSV from your spreadsheet)."),
        (b"email,name\n", "The file has a header line but no rows."),
    ],
)
def test_upload_refuses_unusable_files(raw, message):
    user = marketer()

    with pytest.raises(ValidationError) as exc:
        csv_import.csv_import_create(user=user, filename="x.csv", raw=raw)

    assert exc.value.message_dict == {"file": [message]}
    assert CsvImport.objects.count() == 0


def test_a_file_that_cannot_be_read_as_csv_is_refused_naming_the_line(monkeypatch):
    monkeypatch.setattr(csv_import, "CELL_MAX_CHARS", 40)

    with pytest.raises(ValidationError) as exc:
        _upload(marketer(), "email,notes\na@example.com,short\nb@example.com," + "x" * 41 + "\n")

    assert exc.value.message_dict == {
        "file": ["The file cannot be read as CSV: line 3: field larger than field limit (40)."]
    }
    assert CsvImport.objects.count() == 0


def test_windows_encoded_semicolon_file_is_read():
    raw = "E-Mail;Vorname;Firma\nzoe@example.com;Zoë;Müller GmbH\n".encode("cp1252")

    item = csv_import.csv_import_create(user=marketer(), filename="de.csv", raw=raw)
    done = _run(item)

    assert done.created_count == 1
    lead = Lead.objects.get()
    assert (lead.first_name, lead.company) == ("Zoë", "Müller GmbH")


def test_import_creates_updates_and_reports_rejects_keeping_good_rows():
    user = marketer()
    existing = LeadFactory(email="known@example.com", first_name="Kim", company="Old", phone="555")
    text = (
        "email,first_name,company,company_size\n"
        "new1@example.com,Nia,Acme,10\n"
        "KNOWN@example.com,,New Co,\n"
        "not-an-email,X,Y,1\n"
        "new2@example.com,Ned,Beta,lots\n"
        "new1@example.com,,Acme Corp,\n"
    )
    item = _upload(user, text)

    done = _run(item)

    assert (done.status, done.created_count, done.updated_count, done.rejected_count) == ("done", 1, 2, 2)
    assert done.processed_rows == 5
    assert done.content == ""
    existing.refresh_from_db()
    assert (existing.first_name, existing.company, existing.phone) == ("Kim", "New Co", "555")
    new1 = Lead.objects.get(email="new1@example.com")
    assert (new1.first_name, new1.company, new1.company_size) == ("Nia", "Acme Corp", 10)
    assert not Lead.objects.filter(email="new2@example.com").exists()
    assert StageChange.objects.filter(lead=new1, transition="create", to_stage="raw").count() == 1
    assert list(ImportReject.objects.values_list("row_number", "reason")) == [
        (4, "email: 'not-an-email' is not a valid e-mail address"),
        (5, "company_size: 'lots' is not a whole number"),
    ]


def test_rejects_download_has_line_reason_and_original_cells():
    item = _upload(marketer(), "email,first_name\nbad,=HYPERLINK(1)\nok@example.com,Ok\n")
    done = _run(item)

    rows = list(csv_import.csv_import_rejects_rows(csv_import=done))

    assert rows == [
        ["row", "reason", "email", "first_name"],
        ["2", "email: 'bad' is not a valid e-mail address", "bad", "=HYPERLINK(1)"],
    ]


def test_historical_outcome_and_past_events_are_imported():
    user = marketer()
    text = (
        "email,created,outcome,close date,lost reason,webinar_attended\n"
        "won@example.com,2025-01-05,won,2025-02-10,,2025-01-20\n"
        "lost@example.com,2025-01-05,lost,2025-03-01,competitor,\n"
    )
    item = _upload(user, text)
    assert item.mapping == {
        "email": "email",
        "created": "created_on",
        "outcome": "outcome",
        "close date": "outcome_at",
        "lost reason": "lost_reason",
        "webinar_attended": "event:webinar_attended",
    }

    done = _run(item)

    assert (done.created_count, done.rejected_count) == (2, 0)
    won = Lead.objects.get(email="won@example.com")
    assert won.stage == "won"
    assert won.created_at == datetime.datetime(2025, 1, 5, tzinfo=datetime.UTC)  # when it came in, not today
    assert won.stage_entered_at == datetime.datetime(2025, 2, 10, tzinfo=datetime.UTC)
    moves = list(StageChange.objects.filter(lead=won).order_by("changed_at").values_list("from_stage", "to_stage"))
    assert moves == [("", "raw"), ("raw", "won")]
    lost = Lead.objects.get(email="lost@example.com")
    assert (lost.stage, lost.lost_reason) == ("lost", "competitor")
    event = EngagementEvent.objects.get(lead=won)
    assert event.event_type.key == "webinar_attended"
    assert event.occurred_at == datetime.datetime(2025, 1, 20, tzinfo=datetime.UTC)


def test_a_repeated_new_address_logs_each_rows_past_events_once():
    text = (
        "email,first name,webinar_attended\n"
        "twice@example.com,Ann,2025-01-20\n"
        "twice@example.com,Annie,2025-02-03;2025-02-17\n"
    )

    done = _run(_upload(marketer(), text))

    assert (done.created_count, done.updated_count) == (1, 1)
    lead = Lead.objects.get(email="twice@example.com")
    assert lead.first_name == "Annie"
    days = sorted(e.occurred_at.date().isoformat() for e in EngagementEvent.objects.filter(lead=lead))
    assert days == ["2025-01-20", "2025-02-03", "2025-02-17"]


def test_the_same_file_imported_again_changes_nothing_and_says_so():
    text = (
        "email,first name,company,employees,webinar_attended\n"
        "ann@example.com,Ann,Acme,40,2025-01-20\n"
        "bob@example.com,Bob,Beta,,2025-02-03;2025-02-17\n"
    )
    _run(_upload(marketer(), text))
    before = {lead.email: lead.updated_at for lead in Lead.objects.all()}
    upload = _upload(marketer(), text, name="leads-again.csv")
    totals = csv_import.csv_import_totals(csv_import=upload)
    assert (totals.create, totals.update, totals.same, totals.skip) == (0, 0, 2, 0)
    assert [row.action for row in csv_import.csv_import_preview(csv_import=upload)] == ["same", "same"]

    again = _run(upload)

    assert (again.created_count, again.updated_count, again.unchanged_count, again.rejected_count) == (0, 0, 2, 0)
    assert {lead.email: lead.updated_at for lead in Lead.objects.all()} == before  # not written at all
    # The past events are the same events: not logged twice, so the scores do not double.
    assert EngagementEvent.objects.count() == 3


def test_a_file_that_changes_some_known_leads_counts_the_others_as_up_to_date():
    LeadFactory(email="same@example.com", company="Acme", attributes={"plan": "pro"})
    changed = LeadFactory(email="moved@example.com", company="Acme", attributes={"plan": "pro"})
    text = "email,company\nsame@example.com,Acme\nmoved@example.com,Beta\nSAME@example.com,\n"

    upload = _upload(marketer(), text)
    totals = csv_import.csv_import_totals(csv_import=upload)
    done = _run(upload)

    assert (totals.update, totals.same) == (1, 2)
    assert (done.created_count, done.updated_count, done.unchanged_count) == (0, 1, 2)
    changed.refresh_from_db()
    assert (changed.company, changed.attributes) == ("Beta", {"plan": "pro"})


def test_a_row_that_changes_no_field_but_brings_a_new_past_event_updates_its_lead():
    _run(_upload(marketer(), "email,company,webinar_attended\nann@example.com,Acme,2025-01-20\n"))
    text = "email,company,webinar_attended\nann@example.com,Acme,2025-01-20;2025-03-02\n"
    upload = _upload(marketer(), text)

    totals = csv_import.csv_import_totals(csv_import=upload)
    done = _run(upload)

    assert (totals.update, totals.same) == (1, 0)
    assert (done.updated_count, done.unchanged_count) == (1, 0)
    assert EngagementEvent.objects.count() == 2


def test_a_known_lead_whose_custom_field_or_consent_is_new_is_updated():
    lead = LeadFactory(email="c@example.com", attributes={"plan": "pro"}, email_opt_in=False, consent_at=None)
    done = _run(_upload(marketer(), "email,attr:plan,email opt-in\nc@example.com,pro,yes\n"))

    assert (done.updated_count, done.unchanged_count) == (1, 0)
    lead.refresh_from_db()
    assert lead.email_opt_in is True
    assert lead.consent_at is not None


def test_an_event_another_file_names_again_is_not_logged_twice():
    _run(_upload(marketer(), "email,webinar_attended\nann@example.com,2025-01-20 10:00\n"))

    done = _run(_upload(marketer(), "email,company,webinar_attended\nann@example.com,Acme,2025-01-20 10:00\n"))

    assert done.updated_count == 1
    assert EngagementEvent.objects.count() == 1


def test_outcome_for_a_known_lead_goes_through_the_lifecycle():
    lead = LeadFactory(email="k@example.com", stage_entered_at=datetime.datetime(2025, 12, 1, tzinfo=datetime.UTC))
    item = _upload(marketer(), "email,outcome,outcome_at,lost_reason\nk@example.com,lost,2026-01-02,no_budget\n")

    done = _run(item)

    lead.refresh_from_db()
    assert (lead.stage, lead.lost_reason, done.updated_count) == ("lost", "no_budget", 1)
    assert StageChange.objects.filter(lead=lead, to_stage="lost", transition="lose").count() == 1


def test_default_source_applies_to_new_rows_without_one():
    source = LeadSourceFactory(name="Trade fair")
    item = _upload(marketer(), "email\nfair@example.com\n")
    csv_import.csv_import_set_mapping(csv_import=item, mapping={"email": "email"}, default_source=source)

    _run(item)

    assert Lead.objects.get().source == source


def test_mapping_problems_are_refused():
    item = _upload(marketer(), "a,b\nx@example.com,y\n")

    with pytest.raises(ValidationError) as exc:
        csv_import.csv_import_set_mapping(csv_import=item, mapping={"a": "first_name", "b": "nope"})

    assert exc.value.message_dict["mapping"] == [
        "Column 'b': 'nope' is not something an import can fill.",
        "Choose the column that holds the e-mail address: leads are matched by e-mail.",
    ]
    item.refresh_from_db()
    assert item.mapping == {"a": "", "b": ""}


def test_an_import_pauses_the_garbage_collector_and_brings_it_back(monkeypatch):
    import gc

    real_import_chunk = csv_import._import_chunk
    seen = []

    def import_chunk(*args, **kwargs):
        seen.append(gc.isenabled())
        if len(seen) == 2:
            raise RuntimeError("disk full")
        return real_import_chunk(*args, **kwargs)

    monkeypatch.setattr(csv_import, "CHUNK_ROWS", 2)
    monkeypatch.setattr(csv_import, "_import_chunk", import_chunk)
    gc.enable()
    item = _upload(marketer(), "email\na@example.com\nb@example.com\nc@example.com\n")

    with pytest.raises(RuntimeError, match="disk full"):
        _run(item)

    assert seen == [False, False]
    assert gc.isenabled()


def test_an_import_runs_once():
    item = _upload(marketer(), "email\nonce@example.com\n")
    _run(item)

    again = csv_import.csv_import_run(import_id=item.pk)

    assert again.created_count == 1
    assert Lead.objects.count() == 1
    with pytest.raises(ValidationError):
        csv_import.csv_import_start(csv_import=again)


def test_preview_says_what_each_row_will_do():
    LeadFactory(email="known@example.com", company="Old")
    LeadFactory(email="same@example.com", company="Acme")
    item = _upload(
        marketer(),
        "email,company\nknown@example.com,New\nnew@example.com,\nbroken,\nNEW@example.com,\nsame@example.com,Acme\n",
    )

    preview = csv_import.csv_import_preview(csv_import=item, now=timezone.now())

    assert [(p.row_number, p.action, p.reason) for p in preview] == [
        (2, "update", ""),
        (3, "create", ""),
        (4, "reject", "email: 'broken' is not a valid e-mail address"),
        (5, "update", ""),
        (6, "same", ""),
    ]
    assert Lead.objects.count() == 2


def test_start_enqueues_the_task_after_commit(django_capture_on_commit_callbacks):
    item = _upload(marketer(), "email\nq@example.com\n")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        csv_import.csv_import_start(csv_import=item)

    assert len(callbacks) == 1
    item.refresh_from_db()
    assert item.status == "done"  # the task ran eagerly, as in tests
    assert Lead.objects.filter(email="q@example.com").exists()


def test_large_file_in_several_chunks(monkeypatch):
    monkeypatch.setattr(csv_import, "CHUNK_ROWS", 100)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["email", "first_name"])
    for i in range(250):
        writer.writerow([f"bulk{i}@example.com" if i != 120 else "bad", f"N{i}"])
    item = _upload(marketer(), out.getvalue())

    done = _run(item)

    assert (done.created_count, done.rejected_count, done.processed_rows) == (249, 1, 250)
    assert Lead.objects.count() == 249
    assert StageChange.objects.count() == 249


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_big_file_is_imported_on_two_connections_side_by_side(monkeypatch, settings):
    """On PostgreSQL, outside a transaction, rows are split by address over two connections:
    the figures and the leads come out as from one, and a repeated address still updates in file order."""
    from tests.e2e.conftest import _rerun_data_migrations

    _rerun_data_migrations()  # a transactional test starts from a flushed database
    settings.DATABASE_PARALLEL_WRITES = 2
    monkeypatch.setattr(csv_import, "CHUNK_ROWS", 40)
    known = LeadFactory(email="known7@example.com", company="Old name")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["email", "first_name", "company"])
    for i in range(300):
        writer.writerow([f"bulk{i}@example.com" if i % 50 != 3 else "not-an-address", f"N{i}", "Acme"])
    writer.writerow(["KNOWN7@example.com ", "Kay", "New name"])  # an update of a stored lead
    writer.writerow(["bulk10@example.com", "Later", "Acme"])  # the same address again: fills in
    item = _upload(marketer(), out.getvalue())
    threads = set()
    real_import_chunk = csv_import._import_chunk

    def import_chunk(*args, **kwargs):
        threads.add(threading.current_thread().name)
        return real_import_chunk(*args, **kwargs)

    monkeypatch.setattr(csv_import, "_import_chunk", import_chunk)

    done = _run(item)

    assert len(threads) == 2 and threading.main_thread().name not in threads
    assert done.status == "done"
    assert (done.processed_rows, done.created_count, done.updated_count, done.rejected_count) == (302, 294, 2, 6)
    assert Lead.objects.filter(email__startswith="bulk").count() == 294
    assert Lead.objects.get(email="bulk10@example.com").first_name == "Later"
    known.refresh_from_db()
    assert (known.first_name, known.company) == ("Kay", "New name")
    assert sorted(ImportReject.objects.filter(csv_import=done).values_list("row_number", flat=True)) == [
        i + 2 for i in range(300) if i % 50 == 3
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_failing_stream_stops_the_import_and_marks_it_failed(monkeypatch, settings):
    from tests.e2e.conftest import _rerun_data_migrations

    _rerun_data_migrations()
    settings.DATABASE_PARALLEL_WRITES = 2
    monkeypatch.setattr(csv_import, "CHUNK_ROWS", 20)
    real_import_chunk = csv_import._import_chunk
    calls = []

    def import_chunk(item, chunk, *args, **kwargs):
        calls.append(len(chunk))
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return real_import_chunk(item, chunk, *args, **kwargs)

    monkeypatch.setattr(csv_import, "_import_chunk", import_chunk)
    rows = "\n".join(f"s{i}@example.com,N{i}" for i in range(400))
    item = _upload(marketer(), f"email,first_name\n{rows}\n")

    with pytest.raises(RuntimeError, match="disk full"):  # the task runs at once in tests
        csv_import.csv_import_start(csv_import=item)

    item.refresh_from_db()
    assert item.status == "failed" and "disk full" in item.error
    assert item.processed_rows == Lead.objects.filter(email__startswith="s").count() < 400


def test_a_file_with_day_first_dates_is_read_day_first():
    text = (
        "email,created,webinar_attended\n"
        "eu1@example.com,03/04/2025,05/04/2025; 20/04/2025\n"  # 20/04 tells the order
        "eu2@example.com,4 Mar 2025,\n"
    )
    item = _upload(marketer(), text)
    assert item.date_order == "dmy"

    done = _run(item)

    assert (done.created_count, done.rejected_count) == (2, 0)
    first = Lead.objects.get(email="eu1@example.com")
    assert first.created_at == datetime.datetime(2025, 4, 3, tzinfo=datetime.UTC)
    days = sorted(e.occurred_at.date().isoformat() for e in EngagementEvent.objects.filter(lead=first))
    assert days == ["2025-04-05", "2025-04-20"]
    assert Lead.objects.get(email="eu2@example.com").created_at == datetime.datetime(2025, 3, 4, tzinfo=datetime.UTC)


def test_the_date_order_chosen_for_a_file_reads_its_dates_and_a_bad_choice_is_refused(settings):
    item = _upload(marketer(), "email,created\nus@example.com,03/04/2025\n")
    # 03/04 reads both ways, never year first: the site's language gives the start (US English)
    assert item.date_order == "mdy"
    assert csv_import.date_order_doubt(item) == ["created"]  # and the mapping page says so
    settings.LANGUAGE_CODE = "de"
    assert _upload(marketer(), "email,created\nde@example.com,03/04/2025\n").date_order == "dmy"

    with pytest.raises(ValidationError) as refused:
        csv_import.csv_import_set_mapping(csv_import=item, mapping=item.mapping, date_order="european")
    assert "Dates: choose one of" in str(refused.value)
    item.refresh_from_db()
    assert item.date_order == "mdy"

    csv_import.csv_import_set_mapping(csv_import=item, mapping=item.mapping, date_order="dmy")
    done = _run(item)

    assert done.created_count == 1
    assert Lead.objects.get(email="us@example.com").created_at == datetime.datetime(2025, 4, 3, tzinfo=datetime.UTC)


def test_a_name_column_becomes_first_and_last_name():
    known = LeadFactory(email="known@example.com", first_name="K", last_name="Old")
    item = _upload(marketer(), 'E-mail,Name\nnew@example.com,Mary Ann Smith\nknown@example.com,"Jones, Kim"\n')
    assert item.mapping == {"E-mail": "email", "Name": "full_name"}

    done = _run(item)

    assert (done.created_count, done.updated_count) == (1, 1)
    new = Lead.objects.get(email="new@example.com")
    assert (new.first_name, new.last_name) == ("Mary Ann", "Smith")
    known.refresh_from_db()
    assert (known.first_name, known.last_name) == ("Kim", "Jones")


def test_a_known_leads_outcome_is_never_dated_before_its_current_stage():
    entered = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)
    undated = LeadFactory(email="chloe@example.com", stage="mql", stage_entered_at=entered)
    early = LeadFactory(email="early@example.com", stage="mql", stage_entered_at=entered)
    text = (
        "email,created,status,close date\n"
        "chloe@example.com,2020-01-01,Won,\n"  # the created date is a new lead's, not hers
        "early@example.com,,Won,2026-02-01\n"  # before she became an MQL
    )
    before = timezone.now()

    done = _run(_upload(marketer(), text))

    undated.refresh_from_db()
    assert undated.stage == "won" and undated.stage_entered_at >= before  # moved now, as the import ran
    assert done.rejected_count == 1
    reject = ImportReject.objects.get(csv_import=done)
    assert reject.reason == "outcome_at: is before the lead's current stage began (2026-03-01 00:00)"
    early.refresh_from_db()
    assert early.stage == "mql"


def test_blank_and_repeated_column_names_are_named_not_refused():
    item = _upload(marketer(), "Email,First Name,,Email,\na@example.com,Ann,,old@example.com,\n")

    assert item.headers == ["Email", "First Name", "Column 3", "Email (2)", "Column 5"]
    assert item.mapping == {
        "Email": "email", "First Name": "first_name", "Column 3": "", "Email (2)": "", "Column 5": ""
    }  # fmt: skip
    assert _run(item).created_count == 1


def test_new_leads_of_an_import_get_their_fit_score_as_a_form_lead_does():
    from scoring.models import LeadScoringState
    from scoring.services import lead_create_scored

    by_form = lead_create_scored(email="vp-form@acme.example", title="VP Sales", company_size=500)
    assert by_form.fit_score > 0  # the default model likes a VP of a 500-person company

    done = _run(_upload(marketer(), "email,title,employees\nvp@acme.example,VP Sales,500\n"))

    assert done.created_count == 1
    imported = Lead.objects.get(email="vp@acme.example")
    assert (imported.fit_score, imported.score, imported.temperature) == (
        by_form.fit_score, by_form.score, by_form.temperature
    )  # fmt: skip
    assert LeadScoringState.objects.filter(lead=imported).exists()
    # Running the scoring again changes nothing: scored leads are skipped.
    from scoring.services import leads_score_unscored

    assert leads_score_unscored(first_id=imported.pk, last_id=imported.pk) == 0


def test_an_import_that_changes_a_known_leads_fit_fields_rescores_it():
    from scoring.services import lead_create_scored

    known = lead_create_scored(email="grows@acme.example", title="Intern", company_size=3)
    untouched = lead_create_scored(email="same@acme.example", title="Intern", company_size=3)
    like_it = lead_create_scored(email="like@acme.example", title="VP Sales", company_size=500)
    assert known.fit_score < like_it.fit_score

    done = _run(_upload(marketer(), "email,title,employees\ngrows@acme.example,VP Sales,500\n"))

    assert done.updated_count == 1
    known.refresh_from_db()
    assert (known.fit_score, known.score) == (like_it.fit_score, like_it.score)
    untouched.refresh_from_db()
    assert untouched.fit_score < like_it.fit_score


def test_preview_totals_count_every_row_as_the_import_will():
    LeadFactory(email="known@example.com")
    text = (
        "email,employees\n"
        "known@example.com,10\n"  # update
        "new@example.com,5\n"  # create
        "new@example.com,6\n"  # the same new address again: updates the lead the row above created
        "bad,3\n"  # skip
        "other@example.com,many\n"  # skip
        "\n"
        "third@example.com,\n"  # create
    )
    item = _upload(marketer(), text)

    totals = csv_import.csv_import_totals(csv_import=item)

    assert (totals.create, totals.update, totals.skip, totals.rows, totals.complete) == (2, 2, 2, 6, True)
    done = _run(item)
    assert (done.created_count, done.updated_count, done.rejected_count) == (2, 2, 2)


def test_sources_and_campaigns_the_file_names_can_be_added_by_the_import():
    from leads.models import Campaign, LeadSource

    webinar = LeadSourceFactory(name="Webinar")
    text = (
        "email,lead source,campaign\n"
        "fair@example.com,Trade Fair 2026,Spring push\n"
        "web@example.com,WEBINAR,spring push\n"  # existing source in another case; the same new campaign
        "long@example.com," + "x" * 150 + ",\n"  # too long for a source name: that row is refused
    )
    item = _upload(marketer(), text)
    csv_import.csv_import_set_mapping(
        csv_import=item, mapping={"email": "email", "lead source": "source", "campaign": "campaign"},
        add_missing_names=True,
    )  # fmt: skip

    totals = csv_import.csv_import_totals(csv_import=item)
    assert (totals.create, totals.skip) == (2, 1)
    assert not LeadSource.objects.filter(name="Trade Fair 2026").exists()  # the preview writes nothing

    done = _run(item)

    assert (done.created_count, done.rejected_count) == (2, 1)
    fair = Lead.objects.get(email="fair@example.com")
    assert (fair.source.name, fair.campaign.name) == ("Trade Fair 2026", "Spring push")
    web = Lead.objects.get(email="web@example.com")
    assert (web.source, web.campaign) == (webinar, fair.campaign)
    assert LeadSource.objects.filter(name__iexact="trade fair 2026").count() == 1
    assert not LeadSource.objects.filter(name__startswith="xxx").exists()  # the refused row's name
    assert Campaign.objects.count() == 1


def test_without_the_option_a_row_naming_an_unknown_source_is_refused():
    item = _upload(marketer(), "email,lead source\nfair@example.com,Trade Fair 2026\n")
    csv_import.csv_import_set_mapping(csv_import=item, mapping={"email": "email", "lead source": "source"})

    done = _run(item)

    assert done.rejected_count == 1
    assert ImportReject.objects.get().reason.startswith("lead source: no source named 'Trade Fair 2026'")


FAIR_FILE = "Mail,Contact,Notes on visit,Where\nann@example.com,Ann Lee,liked the demo,Trade Fair\n"


def _map_and_run(user, text, *, source=None):
    item = _upload(user, text, name="fair-march.csv")
    csv_import.csv_import_set_mapping(
        csv_import=item,
        mapping={"Mail": "email", "Contact": "full_name", "Notes on visit": "need", "Where": "source"},
        default_source=source,
        date_order="dmy",
        add_missing_names=True,
    )
    return _run(item)


def test_a_file_with_the_columns_of_an_earlier_import_starts_from_its_choices():
    user = marketer()
    fair = LeadSourceFactory(name="Fairs")
    earlier = _map_and_run(user, FAIR_FILE, source=fair)

    item = _upload(user, FAIR_FILE.replace("ann@", "bob@"), name="fair-april.csv")

    assert item.mapped_like == earlier
    assert item.mapping == {"Mail": "email", "Contact": "full_name", "Notes on visit": "need", "Where": "source"}
    assert (item.default_source, item.date_order, item.add_missing_names) == (fair, "dmy", True)
    # Another file, or the same columns in another order, starts from the suggestion.
    other = _upload(user, "Where,Mail,Contact,Notes on visit\nFair,c@example.com,Cy,\n")
    assert other.mapped_like is None
    assert other.mapping["Notes on visit"] == ""  # ignored


def test_only_an_import_the_user_may_see_and_that_was_started_is_remembered():
    from django.contrib.auth.models import Permission

    _map_and_run(marketer(), FAIR_FILE)
    never_started = _upload(marketer(), FAIR_FILE)
    importing_rep = rep()
    importing_rep.user_permissions.add(Permission.objects.get(codename="import_leads"))

    assert never_started.mapped_like is not None  # the team's earlier import, not this one
    assert _upload(importing_rep, FAIR_FILE).mapped_like is None  # sees only their own imports
    assert _upload(manager(), FAIR_FILE).mapped_like.filename == "fair-march.csv"


def test_a_remembered_mapping_whose_field_has_gone_is_not_used():
    from leads.models import CustomFieldDefinition

    CustomFieldDefinition.objects.create(key="booth", label="Booth")
    user = marketer()
    item = _upload(user, "Email,Booth\nann@example.com,B12\n")
    csv_import.csv_import_set_mapping(csv_import=item, mapping={"Email": "email", "Booth": "attributes.booth"})
    _run(item)
    CustomFieldDefinition.objects.all().delete()

    again = _upload(user, "Email,Booth\nbob@example.com,C3\n")

    assert again.mapped_like is None
    assert again.mapping == {"Email": "email", "Booth": ""}


def test_a_rejects_download_imported_again_starts_from_its_imports_mapping():
    user = marketer()
    first = _map_and_run(user, FAIR_FILE.replace("ann@example.com", "not-an-address"))
    rejects = "\n".join(",".join(row) for row in csv_import.csv_import_rejects_rows(csv_import=first))

    fixed = _upload(user, rejects.replace("not-an-address", "ann@example.com") + "\n", name="fair-march-rejects.csv")

    assert fixed.mapped_like == first
    assert fixed.mapping["row"] == fixed.mapping["reason"] == ""
    assert fixed.mapping["Notes on visit"] == "need"


def test_event_columns_and_regions_are_suggested_as_people_name_them():
    item = _upload(marketer(), "Email,Country/Region,Webinars attended\nann@example.com,Germany,2025-01-20\n")

    assert item.mapping == {
        "Email": "email",
        "Country/Region": "country",
        "Webinars attended": "event:webinar_attended",
    }


def test_a_manager_imports_leads_with_their_owners():
    boss = manager()
    rep(username="rita", email="rita@crm.example")
    rep(username="gone", is_active=False)
    LeadFactory(email="known@example.com", owner=rep(username="sam"))
    text = (
        "email,owner\n"
        "new@example.com,RITA\n"
        "mail@example.com,rita@crm.example\n"
        "known@example.com,rita\n"
        "stranger@example.com,nobody\n"
        "left@example.com,gone\n"
    )
    item = _upload(boss, text)
    assert item.mapping == {"email": "email", "owner": "owner"}

    done = _run(item)

    assert (done.created_count, done.updated_count, done.rejected_count) == (2, 1, 2)
    owners = dict(Lead.objects.values_list("email", "owner__username"))
    assert owners == {"new@example.com": "rita", "mail@example.com": "rita", "known@example.com": "rita"}
    assert sorted(ImportReject.objects.values_list("reason", flat=True)) == [
        "owner: no active user with the username or e-mail 'gone'",
        "owner: no active user with the username or e-mail 'nobody'",
    ]


def test_a_marketer_cannot_import_owners():
    user = marketer()
    rep(username="rita")
    item = _upload(user, "email,owner\nnew@example.com,rita\n")
    assert item.mapping["owner"] == ""  # not suggested to someone who may not assign

    with pytest.raises(ValidationError) as refused:
        csv_import.csv_import_set_mapping(csv_import=item, mapping={"email": "email", "owner": "owner"})

    assert "Only someone who may assign leads can import their owners" in str(refused.value)


def test_no_date_doubt_when_another_date_column_tells_the_order():
    item = _upload(marketer(), "email,close date,webinar_attended\na@example.com,14.03.2026,05.02.2026\n")

    assert item.date_order == "dmy"
    assert csv_import.date_order_doubt(item) == []


def test_a_remembered_date_order_wins_over_the_sites_guess_but_not_over_the_file():
    user = manager()
    first = _upload(user, "email,created\na@example.com,15/01/2026\n")
    assert first.date_order == "dmy"  # 15/01 tells
    _run(first)

    both_ways = _upload(user, "email,created\nb@example.com,01/03/2026\n")  # reads both ways
    month_first = _upload(user, "email,created\nc@example.com,01/31/2026\n")  # can only be month first

    assert (both_ways.mapped_like, both_ways.date_order) == (first, "dmy")  # not the site's month first
    assert month_first.date_order == "mdy"


def test_the_preview_says_a_known_leads_created_on_date_is_not_imported():
    LeadFactory(email="known@example.com")
    item = _upload(marketer(), "email,created\nknown@example.com,2025-03-01\nnew@example.com,2025-03-02\n")

    rows = csv_import.csv_import_preview(csv_import=item)

    assert rows[0].notes == {1: "not imported: the lead exists already"} and not rows[0].dates
    assert rows[1].notes == {} and rows[1].dates


def test_the_forecast_of_every_row_is_what_the_import_then_does_chunk_after_chunk(monkeypatch):
    """Repeated addresses in one chunk and across chunks, outcomes refused and past events
    logged once: the preview's rows and totals say what the import then counts and refuses."""
    monkeypatch.setattr(csv_import, "CHUNK_ROWS", 3)
    LeadFactory(email="k1@example.com", last_name="Stone")
    LeadFactory(email="won@example.com", stage="won")
    LeadFactory(
        email="mql@example.com", stage="mql", stage_entered_at=datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)
    )
    text = (
        "email,last_name,status,close date,webinar_attended\n"
        "k1@example.com,Smith,,,\n"  # 2: chunk 1
        "n@example.com,Nu,,,\n"
        "bad,,,,\n"
        "n@example.com,Nu,,,\n"  # 5: chunk 2, the lead line 3 created
        "k1@example.com,Stone,,,\n"  # 6: back to what it held before line 2
        "won@example.com,,lost,,\n"  # 7: a customer cannot be lost
        "mql@example.com,,won,2026-02-01,\n"  # 8: chunk 3, before her stage began
        "k1@example.com,Stone,,,2025-01-20\n"  # 9: a new past event
        "k1@example.com,Stone,,,2025-01-20\n"  # 10: the same again, in the same chunk
        "mql@example.com,,won,,\n"  # 11: chunk 4
        "n@example.com,Nu,,,2025-01-20\n"  # 12
        "k1@example.com,,,,\n"  # 13: nothing to change
        "n@example.com,Nu,,,2025-01-20\n"  # 14: chunk 5, that event logged already
    )
    item = _upload(marketer(), text)

    preview = csv_import.csv_import_preview(csv_import=item, limit=20)
    totals = csv_import.csv_import_totals(csv_import=item)
    done = _run(item)

    assert [(row.row_number, row.action) for row in preview] == [
        (2, "update"), (3, "create"), (4, "reject"), (5, "same"), (6, "update"), (7, "reject"), (8, "reject"),
        (9, "update"), (10, "update"), (11, "update"), (12, "update"), (13, "same"), (14, "same"),
    ]  # fmt: skip
    assert (totals.create, totals.update, totals.same, totals.skip) == (1, 6, 3, 3)
    assert (done.created_count, done.updated_count, done.unchanged_count, done.rejected_count) == (1, 6, 3, 3)
    assert sorted(ImportReject.objects.values_list("row_number", "reason")) == sorted(
        (row.row_number, row.reason) for row in preview if row.action == "reject"
    )
    assert Lead.objects.get(email="k1@example.com").last_name == "Stone"
