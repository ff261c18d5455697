import datetime

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from intake.models import CsvImport
from leads.models import Lead
from tests.factories import LeadFactory, manager, marketer, rep

pytestmark = pytest.mark.django_db

CSV = b"Email,First Name,Company,Employees\nana@example.com,Ana,Acme,12\nbroken,Bo,Beta,3\nbob@example.com,Bob,,x\n"


def _upload(client, content=CSV, name="contacts.csv"):
    return client.post(reverse("import_upload"), {"file": SimpleUploadedFile(name, content, "text/csv")})


def test_full_import_flow_in_the_browser(client, django_capture_on_commit_callbacks):
    user = marketer()
    client.force_login(user)

    response = _upload(client)
    item = CsvImport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("import_mapping", args=[item.pk])

    mapping_page = client.get(response["Location"])
    html = mapping_page.content.decode()
    assert mapping_page.status_code == 200
    assert '<option value="email" selected>' in html
    assert "ana@example.com" in html  # example values help choosing
    assert "Past event: Attended webinar (dates)" in html  # event types by their labels

    response = client.post(
        reverse("import_mapping", args=[item.pk]),
        {"col_0": "email", "col_1": "first_name", "col_2": "company", "col_3": "company_size"},
    )
    assert response["Location"] == reverse("import_preview", args=[item.pk])

    preview = client.get(response["Location"]).content.decode()
    assert "Email: &#x27;broken&#x27; is not a valid e-mail address" in preview  # the file's column names
    totals = " ".join(preview.split('id="import-totals">', 1)[1].split("</p>", 1)[0].split())
    assert totals == (
        '<span class="badge text-bg-success">1</span> will create a lead, <span class="badge text-bg-info">0</span> '
        'will update a known lead, <span class="badge text-bg-danger">2</span> will be skipped.'
    )
    assert "Employees: &#x27;x&#x27; is not a whole number" in preview

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("import_preview", args=[item.pk]))
    assert response["Location"] == reverse("import_progress", args=[item.pk])

    result = client.get(response["Location"]).content.decode()
    assert "1</div>lead created" in result and "2</div>rows not imported" in result
    assert "Download them as CSV" in result
    item.refresh_from_db()
    assert (item.status, item.created_count, item.rejected_count) == ("done", 1, 2)
    assert list(Lead.objects.values_list("email", "first_name", "company_size")) == [("ana@example.com", "Ana", 12)]

    rejects = client.get(reverse("import_rejects_csv", args=[item.pk]))
    assert rejects["Content-Type"] == "text/csv; charset=utf-8"
    assert rejects["Content-Disposition"] == 'attachment; filename="contacts-rejects.csv"'
    content = b"".join(rejects.streaming_content)
    assert content.startswith(b"\xef\xbb\xbf")  # UTF-8 as spreadsheets recognise it
    assert content.decode("utf-8-sig").splitlines() == [
        "row,reason,Email,First Name,Company,Employees",
        "3,Email: 'broken' is not a valid e-mail address,broken,Bo,Beta,3",
        "4,Employees: 'x' is not a whole number,bob@example.com,Bob,,x",
    ]


def test_progress_fragment_polls_while_running(client):
    user = marketer()
    client.force_login(user)
    _upload(client)
    item = CsvImport.objects.get()
    CsvImport.objects.filter(pk=item.pk).update(status="running", processed_rows=1, total_rows=3)

    fragment = client.get(reverse("import_progress", args=[item.pk]), HTTP_HX_REQUEST="true").content.decode()

    assert fragment.startswith('<div id="import-progress" hx-get=')
    assert 'hx-trigger="every 1s"' in fragment
    assert "33%" in fragment
    assert "<nav" not in fragment


def test_an_import_no_worker_takes_says_what_it_waits_for(client):
    client.force_login(marketer())
    _upload(client)
    item = CsvImport.objects.get()
    CsvImport.objects.filter(pk=item.pk).update(status="queued")
    url = reverse("import_progress", args=[item.pk])

    assert "import-waiting" not in client.get(url, HTTP_HX_REQUEST="true").content.decode()  # just queued

    CsvImport.objects.filter(pk=item.pk).update(updated_at=timezone.now() - datetime.timedelta(minutes=1))
    fragment = client.get(url, HTTP_HX_REQUEST="true").content.decode()

    assert "Waiting for a background worker" in fragment
    assert 'hx-trigger="every 1s"' in fragment  # and it keeps watching


def test_bad_upload_shows_the_reason(client):
    client.force_login(marketer())

    empty = _upload(client, content=b"")
    missing = client.post(reverse("import_upload"), {})

    assert empty.status_code == 400
    assert "The submitted file is empty." in empty.content.decode() or "The file is empty." in empty.content.decode()
    assert missing.status_code == 400
    assert "Choose a CSV file to upload." in missing.content.decode()
    assert CsvImport.objects.count() == 0


def test_mapping_without_email_is_refused_with_a_message(client):
    client.force_login(marketer())
    _upload(client)
    item = CsvImport.objects.get()

    response = client.post(reverse("import_mapping", args=[item.pk]), {"col_0": "", "col_1": "first_name"})

    assert response.status_code == 400
    assert "Choose the column that holds the e-mail address" in response.content.decode()


def test_reps_cannot_import_and_others_imports_are_not_found(client):
    client.force_login(rep())
    assert client.get(reverse("import_upload")).status_code == 403

    client.force_login(marketer())
    _upload(client)
    item = CsvImport.objects.get()
    importer = rep()  # may import, but sees only their own leads and so only their own imports
    importer.user_permissions.add(Permission.objects.get(codename="import_leads"))
    client.force_login(importer)
    assert client.get(reverse("import_progress", args=[item.pk])).status_code == 404
    assert client.get(reverse("import_rejects_csv", args=[item.pk])).status_code == 404
    client.force_login(manager())  # managers see every import
    assert client.get(reverse("import_progress", args=[item.pk])).status_code == 200


def test_the_mapping_page_asks_how_dates_are_written_when_the_file_cannot_tell(client):
    client.force_login(marketer())
    _upload(client, b"Email,Created on\nus@example.com,03/04/2025\nus2@example.com,05/06/2025\n")
    item = CsvImport.objects.get()

    html = client.get(reverse("import_mapping", args=[item.pk])).content.decode()
    assert "The dates in Created on can be read two ways" in html
    assert '<option value="mdy" selected>' in html  # never year first for 03/04/2025; US English: month first

    refused = client.post(
        reverse("import_mapping", args=[item.pk]), {"col_0": "email", "col_1": "created_on", "date_order": "xyz"}
    )
    assert refused.status_code == 400
    assert "Dates: choose one of" in refused.content.decode()

    assert 'name="add_missing_names"' in html
    client.post(
        reverse("import_mapping", args=[item.pk]),
        {"col_0": "email", "col_1": "created_on", "date_order": "mdy", "add_missing_names": "on"},
    )
    item.refresh_from_db()
    assert item.date_order == "mdy"
    assert item.add_missing_names
    preview = client.get(reverse("import_preview", args=[item.pk])).content.decode()
    assert "not a date" not in preview
    assert "read as 4 Mar 2025" in preview  # 03/04/2025, month first
    assert "read as 6 May 2025" in preview


def test_the_preview_warns_when_no_row_can_be_imported_and_reads_the_dates_of_skipped_rows(client):
    client.force_login(marketer())
    _upload(client, b"Email,Created on\nnot-an-email,03/04/2025\nalso-bad,05/06/2025\n")
    item = CsvImport.objects.get()
    client.post(
        reverse("import_mapping", args=[item.pk]), {"col_0": "email", "col_1": "created_on", "date_order": "dmy"}
    )

    preview = client.get(reverse("import_preview", args=[item.pk])).content.decode()

    assert 'id="all-skipped"' in preview
    assert "read as 3 Apr 2025" in preview  # a skipped row's date: still shown as it is read


def test_the_preview_says_an_open_leads_close_date_is_not_imported(client):
    client.force_login(marketer())
    _upload(client, b"Email,Status,Close Date\nopen@example.com,Open,2027-09-30\nwon@example.com,Won,2025-06-01\n")
    item = CsvImport.objects.get()

    preview = client.get(reverse("import_preview", args=[item.pk])).content.decode()

    assert preview.count("not imported: no outcome in this row") == 1
    assert "read as 1 Jun 2025" in preview and "read as 30 Sep 2027" not in preview


def test_the_preview_says_how_each_status_is_read(client):
    client.force_login(marketer())
    _upload(client, b"Email,Status\na@example.com,Closed Won\nb@example.com,Disqualified\nc@example.com,Open\n")
    item = CsvImport.objects.get()

    preview = client.get(reverse("import_preview", args=[item.pk])).content.decode()

    assert "read as won" in preview
    assert "read as lost (reason: other)" in preview
    assert "not an outcome: the stage stays as it is" in preview


def test_the_preview_says_how_grouped_numbers_are_read(client):
    client.force_login(marketer())
    _upload(client, "Email;Mitarbeiter;Umsatz\na@example.com;1.200;1.234,50 €\nb@example.com;40;99\n".encode())
    item = CsvImport.objects.get()
    client.post(
        reverse("import_mapping", args=[item.pk]),
        {"col_0": "email", "col_1": "company_size", "col_2": "annual_revenue", "date_order": "ymd"},
    )

    preview = client.get(reverse("import_preview", args=[item.pk])).content.decode()

    assert "read as 1,200" in preview and "read as 1,234.50" in preview
    assert "read as 40" not in preview  # written as it is read: nothing to say


def test_a_file_imported_twice_says_its_rows_were_already_up_to_date(client):
    from intake import csv_import

    user = marketer()
    client.force_login(user)
    items = []
    for name in ("contacts.csv", "contacts-again.csv"):
        item = csv_import.csv_import_create(user=user, filename=name, raw=CSV)
        csv_import.csv_import_start(csv_import=item)
        items.append(csv_import.csv_import_run(import_id=item.pk))

    first = client.get(reverse("import_progress", args=[items[0].pk])).content.decode()
    again = client.get(reverse("import_progress", args=[items[1].pk])).content.decode()

    assert "import-unchanged" not in first
    assert "0</div>leads updated" in again
    assert '<div class="fs-3 fw-semibold">1</div>row already up to date' in again
    listing = client.get(reverse("import_upload")).content.decode()
    assert "1 up to date" in listing


def test_the_mapping_page_says_which_earlier_import_it_took_its_choices_from(client):
    from intake import csv_import

    first_user, user = marketer(username="mia"), marketer()
    earlier = csv_import.csv_import_create(user=first_user, filename="fair-march.csv", raw=CSV)
    csv_import.csv_import_set_mapping(
        csv_import=earlier, mapping={"Email": "email", "First Name": "first_name", "Company": "company"}
    )
    csv_import.csv_import_start(csv_import=earlier)
    client.force_login(user)

    _upload(client, name="fair-april.csv")
    item = CsvImport.objects.get(filename="fair-april.csv")
    page = client.get(reverse("import_mapping", args=[item.pk])).content.decode()

    assert "This file has the same columns as" in page
    assert "fair-march.csv</a>, imported" in page and "by mia" in page
    assert '<option value="" selected>' in page.split('id="col_3"')[1].split("</select>")[0]  # Employees: ignored


def test_the_owner_target_is_offered_only_to_those_who_may_assign(client):
    for user, offered in ((marketer(), False), (manager(), True)):
        client.force_login(user)
        _upload(client, b"Email,Owner\na@example.com,rep1\n", name=f"{user.username}.csv")
        item = CsvImport.objects.get(filename=f"{user.username}.csv")

        page = client.get(reverse("import_mapping", args=[item.pk])).content.decode()

        assert ('<option value="owner"' in page) is offered


def _map(client, item, columns):
    return client.post(reverse("import_mapping", args=[item.pk]), {f"col_{i}": t for i, t in enumerate(columns)})


def _start(client, item, capture):
    with capture(execute=True):
        client.post(reverse("import_preview", args=[item.pk]))
    return client.get(reverse("import_progress", args=[item.pk])).content.decode()


def test_a_cell_over_the_csv_modules_limit_refuses_only_its_row(client, django_capture_on_commit_callbacks):
    client.force_login(marketer())
    notes = "Long story. " * 20_000  # 240,000 characters: more than one cell of csv's default limit (131,072)
    content = (
        f"Email,First Name,Notes\ngood1@example.com,Ann,Short\nhuge@example.com,Hu,{notes}\ngood2@example.com,Bo,\n"
    )

    response = _upload(client, content.encode())
    item = CsvImport.objects.get()
    assert response.status_code == 302
    assert item.total_rows == 3
    _map(client, item, ["email", "first_name", "need"])
    preview = client.get(reverse("import_preview", args=[item.pk])).content.decode()
    result = _start(client, item, django_capture_on_commit_callbacks)

    assert "Notes: longer than 5000 characters" in preview
    assert "2</div>leads created" in result
    assert "<td>3</td><td>Notes: longer than 5000 characters</td>" in result
    assert sorted(Lead.objects.values_list("email", "need")) == [
        ("good1@example.com", "Short"),
        ("good2@example.com", ""),
    ]
    rejects = b"".join(client.get(reverse("import_rejects_csv", args=[item.pk])).streaming_content)
    assert rejects.decode("utf-8-sig").splitlines()[1] == (
        f"3,Notes: longer than 5000 characters,huge@example.com,Hu,{notes}"  # nothing of the row is lost
    )


def test_a_quote_left_open_refuses_its_row_naming_the_lines_it_took(client, django_capture_on_commit_callbacks):
    client.force_login(marketer())
    content = b'Email,First Name,Company\nq1@example.com,"Unclosed,Acme\nq2@example.com,Ok,Fine\n'

    _upload(client, content)
    item = CsvImport.objects.get()
    preview = client.get(reverse("import_preview", args=[item.pk])).content.decode()
    result = _start(client, item, django_capture_on_commit_callbacks)

    reason = "First Name: a quote (&quot;) opened on line 2 is not closed on that line; lines 2-3 were read as one cell"
    assert reason in preview
    assert f"<td>2</td><td>{reason}</td>" in result
    assert "0</div>leads created" in result and "1</div>row not imported" in result
    assert not Lead.objects.exists()
    rejects = b"".join(client.get(reverse("import_rejects_csv", args=[item.pk])).streaming_content)
    assert rejects.decode("utf-8-sig").splitlines()[1:] == [  # the lines it took are in the download, to fix
        '2,"First Name: a quote ("") opened on line 2 is not closed on that line; lines 2-3 were read as one cell",'
        'q1@example.com,"Unclosed,Acme',
        'q2@example.com,Ok,Fine"',
    ]


def test_quoted_notes_over_several_lines_are_imported_and_later_rows_keep_their_line_numbers(
    client, django_capture_on_commit_callbacks
):
    client.force_login(marketer())
    content = b'Email,First Name,Notes\na@example.com,Ann,"Call in May.\r\nAsk for Bo."\nbad,Cy,x\nb@example.com,Bo,\n'

    _upload(client, content)
    item = CsvImport.objects.get()
    _map(client, item, ["email", "first_name", "need"])
    preview = client.get(reverse("import_preview", args=[item.pk])).content.decode()
    result = _start(client, item, django_capture_on_commit_callbacks)

    assert "one cell over lines 2-3" in preview
    assert "<td>4</td><td>Email: &#x27;bad&#x27; is not a valid e-mail address</td>" in result  # line 4 of the file
    assert "2</div>leads created" in result
    assert Lead.objects.get(email="a@example.com").need == "Call in May.\r\nAsk for Bo."


def test_a_quote_left_open_in_a_column_left_out_does_not_swallow_rows_unsaid(
    client, django_capture_on_commit_callbacks
):
    client.force_login(marketer())
    content = (
        b"Email,First Name,Comment,Company\n"
        b'q1@example.com,Quinn,"likes tea,Q1 Corp\n'
        b"q2@example.com,Quinn2,fine,Q2 Corp\n"
        b'q3@example.com,Quinn3,closes" here,Q3 Corp\n'
        b'q4@example.com,Quinn4,"two lines,\nno more",Q4 Corp\n'
    )

    _upload(client, content)
    item = CsvImport.objects.get()
    _map(client, item, ["email", "first_name", "", "company"])  # the comment column left out
    result = _start(client, item, django_capture_on_commit_callbacks)

    reason = "column 3: a quote (&quot;) opened on line 2 is not closed on that line; lines 2-4 were read as one cell"
    assert f"<td>2</td><td>{reason}</td>" in result
    # The row that swallowed the others is refused, saying so; a comment over two lines is not.
    assert not Lead.objects.filter(email="q1@example.com").exists()
    assert Lead.objects.get(email="q4@example.com").company == "Q4 Corp"


def test_the_rejects_of_a_semicolon_file_come_back_with_semicolons_and_import_again(
    client, django_capture_on_commit_callbacks
):
    client.force_login(marketer())
    _upload(client, b"E-Mail;Vorname;Mitarbeiter\nana@example.com;Ana;12\nbo@example.com;Bo;viele\n", "messe.csv")
    item = CsvImport.objects.get()
    _map(client, item, ["email", "first_name", "company_size"])
    _start(client, item, django_capture_on_commit_callbacks)

    download = b"".join(client.get(reverse("import_rejects_csv", args=[item.pk])).streaming_content)
    text = download.decode("utf-8-sig")

    assert text.splitlines() == [
        "row;reason;E-Mail;Vorname;Mitarbeiter",
        "3;Mitarbeiter: 'viele' is not a whole number;bo@example.com;Bo;viele",
    ]
    _upload(client, text.replace("Bo;viele", "Bo;40").encode("utf-8-sig"), "messe-rejects.csv")
    again = CsvImport.objects.get(filename="messe-rejects.csv")
    assert again.mapping == {
        "row": "",
        "reason": "",
        "E-Mail": "email",
        "Vorname": "first_name",
        "Mitarbeiter": "company_size",
    }
    result = _start(client, again, django_capture_on_commit_callbacks)
    assert "1</div>lead created" in result and "0</div>rows not imported" in result
    assert Lead.objects.get(email="bo@example.com").company_size == 40


def test_a_repeated_address_is_previewed_as_the_import_treats_it(client, django_capture_on_commit_callbacks):
    client.force_login(marketer())
    LeadFactory(email="sam@example.com", first_name="Sam", last_name="Stone")
    _upload(client, b"Email,Last Name\nsam@example.com,Smith\nsam@example.com,Stone\n")
    item = CsvImport.objects.get()

    preview = client.get(reverse("import_preview", args=[item.pk])).content.decode()
    result = _start(client, item, django_capture_on_commit_callbacks)

    totals = " ".join(preview.split('id="import-totals">', 1)[1].split("</p>", 1)[0].split())
    assert '<span class="badge text-bg-info">0</span> will update a known lead' in totals
    assert '<span class="badge text-bg-secondary">2</span> are already up to date' in totals
    assert preview.count('<span class="badge text-bg-secondary">up to date</span>') == 2  # line 2 and line 3
    assert "not kept: line 3 gives this lead a later value" in preview  # line 2's Smith
    assert "0</div>leads updated" in result
    assert '<div class="fs-3 fw-semibold">2</div>rows already up to date' in result
    assert Lead.objects.get().last_name == "Stone"


def test_the_preview_of_a_file_without_a_mapped_e_mail_column_says_why_each_row_is_skipped(client):
    client.force_login(marketer())
    _upload(client, b"Name,Company\nAda,Engines\n")
    item = CsvImport.objects.get()
    assert "email" not in item.mapping.values()

    preview = client.get(reverse("import_preview", args=[item.pk]))

    assert preview.status_code == 200
    assert "Why line 2 is skipped:</span> email: missing" in preview.content.decode()
