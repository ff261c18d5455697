"""Pages of the intake app: public capture forms, CSV import, export, duplicates and merge, data requests.

Thin views: they read through selectors, write through ``intake`` services.
"""

import csv
import dataclasses
import datetime
import itertools
import json
import math
import re
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.utils import timezone
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt

from core.text import is_whole_number
from intake import capture, csv_import, csv_rows
from intake import selectors as intake_selectors
from intake import services as intake_services
from intake.export import safe_cell
from intake.models import CaptureForm, CsvImport
from intake.services import capture_form_check, capture_form_specs, capture_form_submit
from leads.models import Lead, LeadSource
from leads.selectors import LeadFilters, custom_field_labels, lead_get_for_user
from web.forms import LeadFilterForm

TOKEN_SALT = "intake.capture-form"  # noqa: S105 - a signing namespace
TOKEN_MAX_AGE = 24 * 3600


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


# ---------------------------------------------------------------- capture forms


def _client_ip(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _rate_limited(request: HttpRequest) -> int:
    """Fixed-window counter per client address in the shared cache (Redis when REDIS_URL is set):
    0 when the submission may go on, else the seconds until the window ends (``Retry-After``)."""
    limit, window = _setting("INTAKE_RATE_LIMIT", (10, 60))
    now = time.time()
    bucket = int(now // window)
    prefix = _setting("INTAKE_RATE_LIMIT_PREFIX", "intake:capture")
    key = f"{prefix}:{_client_ip(request)}:{bucket}"
    cache.add(key, 0, timeout=window + 5)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=window + 5)
        count = 1
    return max(1, math.ceil((bucket + 1) * window - now)) if count > limit else 0


def _make_token(form: CaptureForm, now: float | None = None) -> str:
    """A signed render token: when ``form`` was shown (the time trap), and which form it was."""
    payload = {"t": now if now is not None else time.time(), "f": form.pk}
    return signing.dumps(payload, salt=TOKEN_SALT, compress=False)


def _rendered_at(token: Any, form: CaptureForm) -> float | None:
    """When ``form`` gave out this token, or None when it did not (or the token expired)."""
    try:
        return _token_time(token, form)
    except signing.BadSignature:  # SignatureExpired too
        return None


def _token_time(token: Any, form: CaptureForm) -> float | None:
    """When ``form`` gave out this token; None when it is no token of this form. Raises
    ``SignatureExpired`` for a token of ours past its age."""
    if not isinstance(token, str) or not token:
        return None
    try:
        payload = signing.loads(token, salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE)
    except signing.SignatureExpired:
        raise
    except signing.BadSignature:
        return None
    try:
        return float(payload["t"]) if payload["f"] == form.pk else None
    except (KeyError, TypeError, ValueError):
        return None


def _token_problem(token: Any, form: CaptureForm) -> str | None:
    """Why a render token is refused (time trap), or None when it is good."""
    if not isinstance(token, str) or not token:
        return (
            f"The form's token ({capture.TOKEN_FIELD}) is missing: load the form again "
            "(a script takes a fresh one from ?format=json) and submit it with the token."
        )
    try:
        rendered_at = _token_time(token, form)
    except signing.SignatureExpired:
        return "The form expired. Please submit it again."
    if rendered_at is None:
        return f"The form's token ({capture.TOKEN_FIELD}) is not one this form gave out. Load the form again."
    if time.time() - rendered_at < form.min_fill_seconds:
        return "That was quicker than a person can type. Please check the form and submit it again."
    return None


def _too_large(request: HttpRequest) -> bool:
    cap = _setting("INTAKE_MAX_BODY_BYTES", 16 * 1024)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return True
    return length > cap


def _is_json(request: HttpRequest) -> bool:
    return request.content_type == "application/json"


def _wants_json(request: HttpRequest) -> bool:
    return _is_json(request) or request.GET.get("format") == "json"


def _cors(response: HttpResponse) -> HttpResponse:
    # The JSON variant is meant to be read and posted from other sites' scripts.
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Allow-Headers"] = "Content-Type"
    response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response["Access-Control-Max-Age"] = "86400"
    return response


def _json(body: dict[str, Any], status: int = 200) -> HttpResponse:
    return _cors(JsonResponse(body, status=status))


def _field_rows(specs: list[capture.FieldSpec], values: dict[str, Any], errors: dict[str, Any]) -> list[dict]:
    rows = []
    for spec in specs:
        value = values.get(spec.html_name, "")
        rows.append(
            {
                "spec": spec,
                "value": value,
                "checked": spec.input_type == "checkbox" and capture.is_truthy(value or ""),
                "errors": errors.get(spec.key, []),
            }
        )
    return rows


def _error_lists(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {key: [str(m) for e in errs for m in e.messages] for key, errs in exc.error_dict.items()}
    return {"__all__": list(exc.messages)}


def _unavailable(request: HttpRequest, template: str) -> HttpResponse:
    """A form that does not exist, is switched off or is broken: 404, said plainly, in the shape
    asked for (an embedded form's page around it shows the message, not a broken frame)."""
    message = "This form is not accepting submissions."
    if _wants_json(request):
        return _json({"detail": message}, status=404)
    return render(request, template, {"unavailable": message, "embed": template.endswith("embed.html")}, status=404)


def _field_json(spec: capture.FieldSpec) -> dict[str, Any]:
    field: dict[str, Any] = {"name": spec.html_name, "label": spec.label, "type": spec.input_type}
    field["required"] = spec.required
    if spec.input_type == "select":
        field["choices"] = list(spec.choices)
    return field


def _capture(request: HttpRequest, slug: str, template: str) -> HttpResponse:
    if request.method == "OPTIONS":
        # A browser asks this before a script on another site posts JSON (CORS preflight).
        return _cors(HttpResponse(status=204))
    form = CaptureForm.objects.select_related("source", "campaign").filter(slug=slug, is_active=True).first()
    if form is None:
        return _unavailable(request, template)
    try:
        specs = capture_form_specs(form=form)
    except ValidationError:
        return _unavailable(request, template)
    if request.method in ("GET", "HEAD"):
        if _wants_json(request):
            return _json(
                {
                    "slug": form.slug,
                    "title": form.title or form.name,
                    "fields": [_field_json(spec) for spec in specs],
                    "consent_text": form.consent_text,
                    "token": _make_token(form),
                    "token_field": capture.TOKEN_FIELD,
                    "honeypot_field": capture.HONEYPOT_FIELD,
                }
            )
        # An embedded form gets the host page's address and its visitor's referrer from the
        # page's script (static/intake/embed.js) in its query string.
        tracking = capture.tracking_from(
            request.GET.dict(),
            referrer=request.headers.get("referer", ""),
            landing_page=request.GET.get("landing_page", ""),
        )
        return _render_form(request, form, template, specs, values={}, errors={}, tracking=tracking)
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD, POST, OPTIONS"})
    as_json = _is_json(request)
    if _too_large(request):
        body = {"detail": "The submission is too large."}
        return _json(body, status=413) if as_json else HttpResponse(body["detail"], status=413)
    limited = _rate_limited(request)
    if limited and as_json:
        body = {"detail": "Too many submissions from your address. Please try again in a minute."}
        response = _json(body, status=429)
        response["Retry-After"] = str(limited)
        return response
    if as_json:
        try:
            values = json.loads(request.body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _json({"detail": "The body is not valid JSON."}, status=400)
        if not isinstance(values, dict):
            return _json({"detail": "Send one JSON object with the form's fields."}, status=400)
        # Custom attributes may come as the lead API sends them: {"attributes": {"plan": "Pro"}}.
        nested = values.get("attributes")
        if isinstance(nested, dict):
            for key, value in nested.items():
                values.setdefault(f"{capture.ATTRIBUTE_PREFIX}{key}".replace(".", "__"), value)
    else:
        values = request.POST.dict()
    # Tracking keys may come at the top level, in a "utm" object, or both (the object wins).
    tracking_input = {k: v for k, v in values.items() if isinstance(v, str)}
    if isinstance(values.get("utm"), dict):
        tracking_input.update(values["utm"])
    tracking = capture.tracking_from(
        {k: v for k, v in tracking_input.items() if isinstance(v, str)},
        # A page's POST comes from the form itself: its referrer was kept in a hidden field at GET.
        referrer=request.headers.get("referer", "") if as_json else "",
        landing_page=values.get("landing_page", "") if isinstance(values.get("landing_page"), str) else "",
    )
    token = values.get(capture.TOKEN_FIELD)
    if limited:
        # The person's answers stay in the form; they only need to wait.
        message = f"Too many submissions from your address. Please wait {limited} seconds and send the form again."
        response = _render_form(
            request, form, template, specs, values=values, errors={"__all__": [message]}, tracking=tracking,
            status=429, token=token,
        )  # fmt: skip
        response["Retry-After"] = str(limited)
        return response
    if values.get(capture.HONEYPOT_FIELD):
        # A bot filled the hidden field: look successful, keep nothing.
        return _success(request, form, as_json, template, created=False)
    problem = _token_problem(values.get(capture.TOKEN_FIELD), form)
    if problem:
        # Say what else is wrong too, so that the second try is the last.
        errors: dict[str, list[str]] = {}
        try:
            capture_form_check(form=form, values=values)
        except ValidationError as exc:
            errors = _error_lists(exc)
        errors["__all__"] = [problem, *errors.get("__all__", [])]
        if as_json:
            named = {**_posted_names(errors, specs), capture.TOKEN_FIELD: [problem]}
            return _json({"detail": problem, "errors": named}, status=400)
        # A token this form gave out is shown again, so the time since the form first appeared
        # keeps counting: a quick person is not refused twice.
        return _render_form(
            request, form, template, specs, values=values, errors=errors, tracking=tracking, status=400, token=token
        )
    try:
        result = capture_form_submit(form=form, values=values, tracking=tracking)
    except ValidationError as exc:
        errors = _error_lists(exc)
        if as_json:
            named = _posted_names(errors, specs)
            return _json({"detail": "Please correct the fields named in errors.", "errors": named}, status=400)
        return _render_form(
            request, form, template, specs, values=values, errors=errors, tracking=tracking, status=400, token=token
        )
    return _success(request, form, as_json, template, created=result.created)


def _posted_names(errors: dict[str, list[str]], specs: list[capture.FieldSpec]) -> dict[str, list[str]]:
    """Errors keyed by the names a script posts (``attributes__plan``), as ``?format=json`` lists them."""
    names = {spec.key: spec.html_name for spec in specs}
    return {names.get(key, key): messages for key, messages in errors.items()}


def _success(request: HttpRequest, form: CaptureForm, as_json: bool, template: str, *, created: bool) -> HttpResponse:
    if as_json:
        return _json({"ok": True, "message": form.thank_you_message, "redirect_url": form.redirect_url or None}, 201)
    embed = template.endswith("embed.html")
    if form.redirect_url and not embed:
        return HttpResponseRedirect(form.redirect_url)
    # A frame may not move the page around it: the embedded thank-you asks the page to follow the
    # redirect (static/intake/embed.js) and offers a link for a page without the script.
    context = {"form": form, "done": True, "embed": embed, "redirect_url": form.redirect_url}
    return render(request, template, context)


def _render_form(
    request: HttpRequest,
    form: CaptureForm,
    template: str,
    specs: list[capture.FieldSpec],
    *,
    values: dict[str, Any],
    errors: dict[str, list[str]],
    tracking: dict[str, str],
    status: int = 200,
    token: Any = None,
) -> HttpResponse:
    """The form (again); ``token``, the one submitted, is kept when this form gave it out."""
    context = {
        "form": form,
        "rows": _field_rows(specs, values, errors),
        "form_errors": errors.get("__all__", []),
        "has_errors": bool(errors),
        "tracking": tracking,
        "token": token if _rendered_at(token, form) is not None else _make_token(form),
        "token_field": capture.TOKEN_FIELD,
        "honeypot_field": capture.HONEYPOT_FIELD,
        "embed": template.endswith("embed.html"),
    }
    return render(request, template, context, status=status)


# Anonymous public forms carry no session to protect; the signed render token stands in for CSRF,
# and an embedded form on another site could not send our CSRF cookie anyway.
@csrf_exempt
def capture_form_page(request: HttpRequest, slug: str) -> HttpResponse:
    return _capture(request, slug, "intake/form_page.html")


@csrf_exempt
@xframe_options_exempt
def capture_form_embed(request: HttpRequest, slug: str) -> HttpResponse:
    return _capture(request, slug, "intake/form_embed.html")


# ---------------------------------------------------------------- CSV import

IMPORT_PERM = "intake.import_leads"


@login_required
@permission_required(IMPORT_PERM, raise_exception=True)
def import_upload(request: HttpRequest) -> HttpResponse:
    errors: list[str] = []
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            errors = ["Choose a CSV file to upload."]
        elif upload.size and upload.size > csv_import.MAX_FILE_BYTES:
            errors = [f"The file is larger than {csv_import.MAX_FILE_BYTES // (1024 * 1024)} MB; split it."]
        else:
            try:
                created = csv_import.csv_import_create(
                    user=request.user,  # type: ignore[arg-type]  # login_required
                    filename=upload.name or "upload.csv",
                    raw=upload.read(),
                )
            except ValidationError as exc:
                errors = [m for messages in _error_lists(exc).values() for m in messages]
            else:
                return redirect("import_mapping", import_id=created.pk)
    context = {"errors": errors, "imports": intake_selectors.csv_imports_for_user(user=request.user)}
    return render(request, "intake/import_upload.html", context, status=400 if errors else 200)


def _sample_values(item: CsvImport, rows: int = 3) -> dict[str, list[str]]:
    samples: dict[str, list[str]] = {header: [] for header in item.headers}
    for cells in csv_import.csv_import_sample_rows(csv_import=item, limit=rows):
        for index, header in enumerate(item.headers):
            if index < len(cells) and cells[index].strip():
                text = cells[index].strip()
                samples[header].append(text if len(text) <= 60 else text[:59] + "…")
    return samples


@login_required
@permission_required(IMPORT_PERM, raise_exception=True)
def import_mapping(request: HttpRequest, import_id: int) -> HttpResponse:
    item = intake_selectors.csv_import_get_for_user(user=request.user, import_id=import_id)
    if item.status != CsvImport.Status.UPLOADED:
        return redirect("import_progress", import_id=item.pk)
    errors: list[str] = []
    mapping = dict(item.mapping)
    if request.method == "POST":
        mapping = {header: request.POST.get(f"col_{index}", "") for index, header in enumerate(item.headers)}
        source_id = request.POST.get("default_source") or ""
        source = LeadSource.objects.filter(pk=int(source_id)).first() if is_whole_number(source_id) else None
        try:
            csv_import.csv_import_set_mapping(
                csv_import=item,
                mapping=mapping,
                default_source=source,
                date_order=request.POST.get("date_order") or None,
                add_missing_names=bool(request.POST.get("add_missing_names")),
            )
        except ValidationError as exc:
            errors = [m for messages in _error_lists(exc).values() for m in messages]
        else:
            return redirect("import_preview", import_id=item.pk)
    samples = _sample_values(item)
    context = {
        "item": item,
        "columns": [
            {"index": i, "header": h, "target": mapping.get(h, ""), "samples": samples.get(h, [])}
            for i, h in enumerate(item.headers)
        ],
        "targets": csv_import.import_targets(request.user),
        "sources": LeadSource.objects.all(),
        "date_orders": csv_rows.DATE_ORDERS.items(),
        "date_order": request.POST.get("date_order", item.date_order),
        "date_doubt": csv_import.date_order_doubt(item),
        "errors": errors,
    }
    return render(request, "intake/import_mapping.html", context, status=400 if errors else 200)


@login_required
@permission_required(IMPORT_PERM, raise_exception=True)
def import_preview(request: HttpRequest, import_id: int) -> HttpResponse:
    item = intake_selectors.csv_import_get_for_user(user=request.user, import_id=import_id)
    if item.status != CsvImport.Status.UPLOADED:
        return redirect("import_progress", import_id=item.pk)
    errors: list[str] = []
    if request.method == "POST":
        try:
            csv_import.csv_import_start(csv_import=item)
        except ValidationError as exc:
            errors = [m for messages in _error_lists(exc).values() for m in messages]
        else:
            return redirect("import_progress", import_id=item.pk)
    labels = dict(csv_import.import_targets(item.created_by))  # its mapping was checked against them
    columns = [(i, h, labels.get(item.mapping.get(h, ""), "")) for i, h in enumerate(item.headers)]
    mapped = [(i, h, label) for i, h, label in columns if item.mapping.get(h)]
    forecast = csv_import.csv_import_forecast(csv_import=item, limit=15)
    rows = forecast.rows
    context = {
        "item": item,
        "mapped": mapped,
        "rows": [
            {
                "row": r,
                "cells": [
                    {
                        "text": r.cells[i] if i < len(r.cells) else "",
                        "dates": r.dates.get(i, []),
                        "note": r.notes.get(i, ""),
                    }
                    for i, _, _ in mapped
                ],
            }
            for r in rows
        ],
        "all_skipped": bool(rows) and all(r.action == "reject" for r in rows),
        "totals": forecast.totals,
        "errors": errors,
    }
    return render(request, "intake/import_preview.html", context, status=400 if errors else 200)


IMPORT_WAIT_NOTICE = datetime.timedelta(seconds=15)


@login_required
@permission_required(IMPORT_PERM, raise_exception=True)
def import_progress(request: HttpRequest, import_id: int) -> HttpResponse:
    item = intake_selectors.csv_import_get_for_user(user=request.user, import_id=import_id)
    context = {
        "item": item,
        "running": item.status in (CsvImport.Status.QUEUED, CsvImport.Status.RUNNING),
        # Queued for a while: no worker has taken it (none running, or all busy).
        "waiting": item.status == CsvImport.Status.QUEUED and timezone.now() - item.updated_at > IMPORT_WAIT_NOTICE,
        "rejects": list(item.rejects.all()[:50]) if item.status == CsvImport.Status.DONE else [],
    }
    if getattr(request, "htmx", False):
        return render(request, "intake/_import_progress.html", context)
    return render(request, "intake/import_progress.html", context)


@login_required
@permission_required(IMPORT_PERM, raise_exception=True)
def import_rejects_csv(request: HttpRequest, import_id: int) -> StreamingHttpResponse:
    item = intake_selectors.csv_import_get_for_user(user=request.user, import_id=import_id)
    rows = csv_import.csv_import_rejects_rows(csv_import=item)
    stem = item.filename.rsplit(".", 1)[0] if "." in item.filename else item.filename
    filename = re.sub(r"[^\w.-]+", "-", f"{stem}-rejects.csv")  # the upload's name, safe in a header
    # In the upload's delimiter: a spreadsheet that wrote semicolons (German Excel) reads them back.
    return _csv_response(([safe_cell(c) for c in row] for row in rows), filename, delimiter=item.delimiter)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_response(rows: Iterable[list[str]], filename: str, delimiter: str = ",") -> StreamingHttpResponse:
    writer = csv.writer(_Echo(), delimiter=delimiter)
    # A byte-order mark first, so that spreadsheets open the UTF-8 as UTF-8 (Excel guesses otherwise).
    lines = itertools.chain(["\ufeff"], (writer.writerow(row) for row in rows))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# ---------------------------------------------------------------- CSV export


def _export_filters(request: HttpRequest) -> LeadFilters:
    """The filters of the list the export link was on, read as the list reads them (a value
    the list ignores, such as another rep as owner for a rep, the export ignores too)."""
    filters = LeadFilterForm(request.GET or None, user=request.user).filters()  # type: ignore[arg-type]
    min_score = request.GET.get("min_score", "")
    return dataclasses.replace(
        filters, q=filters.q[:200], min_score=int(min_score) if is_whole_number(min_score) else None
    )


@login_required
@permission_required("intake.export_leads", raise_exception=True)
def lead_export_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The /leads/ list with the same filters, as CSV, limited to what the user can see."""
    rows = intake_selectors.lead_export_rows(user=request.user, filters=_export_filters(request))
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    return _csv_response(rows, f"leads-{stamp}.csv")


# ---------------------------------------------------------------- data requests


@login_required
@permission_required("intake.export_lead_data", raise_exception=True)
def lead_data_json(request: HttpRequest, lead_id: int) -> HttpResponse:
    """Everything stored about one lead, as a JSON download (subject-access request)."""
    data = intake_selectors.lead_data_export(user=request.user, lead_id=lead_id)
    response = JsonResponse(data, json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="lead-{lead_id}.json"'
    return response


ERASE_CONFIRMATION = "ERASE"


@login_required
@permission_required("intake.erase_lead", raise_exception=True)
def lead_erase(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = lead_get_for_user(user=request.user, lead_id=lead_id)
    errors: list[str] = []
    if request.method == "POST":
        if request.POST.get("confirm", "").strip() != ERASE_CONFIRMATION:
            errors = [f"Type {ERASE_CONFIRMATION} to confirm; nothing was erased."]
        else:
            result = intake_services.lead_erase(lead=lead, actor=request.user)
            messages.success(
                request,
                f"Personal data of lead #{lead.pk} erased; "
                + (
                    f"{result.touches_cancelled} pending touch{pluralize(result.touches_cancelled, 'es')} cancelled."
                    if result.touches_cancelled
                    else "no pending touches to cancel."
                ),
            )
            return redirect("lead_detail", lead_id=lead.pk)
    context = {"lead": lead, "errors": errors, "confirmation": ERASE_CONFIRMATION}
    return render(request, "intake/lead_erase.html", context, status=400 if errors else 200)


# ---------------------------------------------------------------- duplicates and merge

MERGE_PERM = "intake.merge_leads"


@login_required
@permission_required(MERGE_PERM, raise_exception=True)
def duplicate_list(request: HttpRequest) -> HttpResponse:
    context = {
        "groups": intake_selectors.lead_duplicate_groups(user=request.user),
        "merges": intake_selectors.merge_records(user=request.user, limit=10),
    }
    return render(request, "intake/duplicates.html", context)


def _shown(value: Any) -> Any:
    """A value of the merge page as the rest of the app shows it (people by name, amounts grouped)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return f"{value:,.2f}".removesuffix(".00")
    if isinstance(value, int):  # a head count
        return f"{value:,}"
    if hasattr(value, "get_full_name"):
        return value.get_full_name() or value.get_username()
    return value


def _merge_table(survivor: Any, other: Any, choices: dict[str, str]) -> dict[str, Any]:
    """The rows to choose from, and the labels of the fields empty on both sides (nothing to choose)."""
    rows, empty = [], []
    for row in _merge_rows(survivor, other, choices):
        if row["survivor"] in (None, "") and row["other"] in (None, ""):
            empty.append(row["label"])
        else:
            rows.append(row)
    return {"rows": rows, "empty_on_both": empty}


def _merge_rows(survivor: Any, other: Any, choices: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for field in intake_services.MERGE_FIELDS:
        mine, theirs = getattr(survivor, field), getattr(other, field)
        rows.append(
            {
                "field": field,
                "label": getattr(Lead._meta.get_field(field), "verbose_name", field),
                "survivor": _shown(mine),
                "other": _shown(theirs),
                # a real choice: two different values (an empty side takes the other by default)
                "differs": mine != theirs and mine not in (None, "") and theirs not in (None, ""),
                "choice": choices.get(field)
                or ("other" if (mine in (None, "") and theirs not in (None, "")) else "survivor"),
            }
        )
    return rows


OPT_OUTS = (("unsubscribed", "Unsubscribed"), ("do_not_call", "Do not call"), ("bounced", "E-mail bounced"))


def _kept_without_asking(survivor: Lead, other: Lead) -> list[str]:
    """What the merge decides by itself, said before it happens: opt-outs, consent, custom fields."""
    kept = []
    for flag, label in OPT_OUTS:
        holders = [f"#{lead.pk}" for lead in (survivor, other) if getattr(lead, flag)]
        if holders:
            kept.append(f"{label} (on {' and '.join(holders)}): kept. An opt-out on either lead stays.")
    if survivor.unsubscribed or other.unsubscribed:
        if survivor.email_opt_in or other.email_opt_in:
            kept.append("Marketing e-mail consent: withdrawn, as the merged lead is unsubscribed.")
    elif other.email_opt_in != survivor.email_opt_in:
        answers = {lead.pk: "given" if lead.email_opt_in else "not given" for lead in (survivor, other)}
        kept.append(
            "Marketing e-mail consent goes with the e-mail address kept: "
            f"{answers[survivor.pk]} with #{survivor.pk}'s, {answers[other.pk]} with #{other.pk}'s."
        )
    labels = custom_field_labels()
    for key in sorted(set(survivor.attributes) | set(other.attributes)):
        label = labels.get(key, key.replace("_", " ").capitalize())
        mine, theirs = survivor.attributes.get(key), other.attributes.get(key)
        if key not in survivor.attributes:
            kept.append(f"{label}: {_shown(theirs)}, from #{other.pk} (#{survivor.pk} has none).")
        elif key in other.attributes and mine != theirs:
            kept.append(f"{label}: {_shown(mine)}, #{survivor.pk}'s (#{other.pk} has {_shown(theirs)}).")
    return kept


def _seen(source: QueryDict, survivor: Lead, other: Lead) -> dict[int, str]:
    """What the page showed of each lead (``merge_fingerprint``), from the form's hidden fields
    (a post without them is not checked)."""
    fields = ((survivor, "seen_survivor"), (other, "seen_other"))
    return {lead.pk: str(source.get(name)) for lead, name in fields if name in source}


@login_required
@permission_required(MERGE_PERM, raise_exception=True)
def lead_merge(request: HttpRequest) -> HttpResponse:
    """Side by side: pick the surviving lead and, field by field, which value to keep."""
    source = request.POST if request.method == "POST" else request.GET
    try:
        survivor = lead_get_for_user(user=request.user, lead_id=source.get("survivor"))
        other = lead_get_for_user(user=request.user, lead_id=source.get("other"))
    except Http404:
        # A lead merged away already: say where it went.
        record = intake_selectors.merge_record_of(user=request.user, lead_id=source.get("other"))
        record = record or intake_selectors.merge_record_of(user=request.user, lead_id=source.get("survivor"))
        if record is None:
            raise
        actor = record.actor
        context = {"merged": record, "by": (actor.get_full_name() or actor.get_username()) if actor else ""}
        return render(request, "intake/merge.html", context, status=404)
    errors: list[str] = []
    blocked = ""
    if survivor.pk == other.pk:
        blocked = "Choose two different leads."
    elif erased := next((lead for lead in (survivor, other) if lead.is_erased), None):
        blocked = f"Lead #{erased.pk} was erased on request; it cannot be merged."
    choices = {field: source.get(f"choose_{field}", "") for field in intake_services.MERGE_FIELDS}
    if request.method == "POST" and not blocked:
        try:
            record = intake_services.lead_merge(
                survivor=survivor,
                other=other,
                choices={k: v for k, v in choices.items() if v},
                actor=request.user,
                seen=_seen(source, survivor, other),
            )
        except ValidationError as exc:
            errors = [m for msgs in _error_lists(exc).values() for m in msgs]
        else:
            messages.success(request, f"Lead #{record.merged_lead_id} was merged into this lead.")
            return redirect("lead_detail", lead_id=record.survivor_id)
    context = {
        "survivor": survivor,
        "other": other,
        "stage_move": intake_services.merge_stage_move(survivor, other),
        "seen_survivor": intake_services.merge_fingerprint(survivor),
        "seen_other": intake_services.merge_fingerprint(other),
        **_merge_table(survivor, other, {k: v for k, v in choices.items() if v}),
        "kept_without_asking": _kept_without_asking(survivor, other),
        "errors": [blocked] if blocked else errors,
        "blocked": bool(blocked),
    }
    return render(request, "intake/merge.html", context, status=400 if errors or blocked else 200)
