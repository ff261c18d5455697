"""Outbound webhooks: ``lead.created``, ``lead.stage_changed``, ``lead.became_hot``.

How deliveries are found: a periodic task (``intake.webhooks_scan``, every minute) reads the
stage history (``StageChange``) past a stored cursor, and hot leads not yet announced
(``HotNotice``), and writes one ``WebhookDelivery`` row per subscribed endpoint. The apps below
intake never call it, so stage moves made anywhere (pages, API, scoring rules, imports) are
announced without domain signals. Each scan re-reads a small overlap behind the cursor, so a
stage change committed late by a slower transaction is still announced; a unique key per
(endpoint, origin) keeps a re-read from doubling a delivery.

How they are sent: the ``intake.webhook_deliver`` task POSTs the JSON body with
``X-LeadCRM-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``, retrying
transient failures (network errors, timeouts, 408, 429, 5xx) with exponential backoff, up to
``MAX_ATTEMPTS``. Every attempt is logged on the delivery (time, HTTP status or error, how
long it took, the start of the response), with the time of the next try while it retries;
``webhook_deliveries_resend`` sends chosen deliveries again (the admin's "Send again").
"""

import datetime
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from intake.models import HotNotice, WebhookCursor, WebhookDelivery, WebhookEndpoint
from leads.models import Lead, StageChange, Temperature

MAX_ATTEMPTS = 6
TIMEOUT_SECONDS = 10
SCAN_OVERLAP_IDS = 500
SCAN_BATCH = 5000
SIGNATURE_HEADER = "X-LeadCRM-Signature"
TRANSIENT_STATUSES = {408, 425, 429, 500, 502, 503, 504}
ATTEMPTS_LOGGED = 20
RESPONSE_LOGGED = 500


def retry_delay(retries: int) -> int:
    """Seconds before the next try after ``retries`` retries: 30 s, 1, 2, 4, 8 min (far below the
    broker's visibility timeout)."""
    return min(30 * 2**retries, 480)


class TransientWebhookError(Exception):
    """The receiver may accept the delivery later: try again after a while."""


def sign(*, secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return mac.hexdigest()


def signature_header(*, secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={sign(secret=secret, timestamp=timestamp, body=body)}"


def verify(*, secret: str, header: str, body: bytes, now: float | None = None, tolerance: int = 300) -> bool:
    """What a receiver does: check the signature in constant time and refuse stale timestamps."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(parts.get("v1", ""), sign(secret=secret, timestamp=timestamp, body=body))


def _lead_json(lead: Lead) -> dict[str, Any]:
    return {
        "id": lead.pk,
        "email": lead.email,
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "company": lead.company,
        "stage": lead.stage,
        "temperature": lead.temperature,
        "score": lead.score,
        "owner": lead.owner.get_username() if lead.owner else None,
        "source": lead.source.name if lead.source else None,
    }


def _endpoints_for(endpoints: list[WebhookEndpoint], event: str, change_id: int | None = None) -> list[WebhookEndpoint]:
    return [e for e in endpoints if event in (e.events or []) and (change_id is None or change_id > e.starts_after_id)]


def webhook_endpoint_save(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Save an endpoint; a new one receives what happens from now on, not the past history."""
    unknown = sorted(set(endpoint.events or []) - set(WebhookEndpoint.Event.values))
    if unknown or not endpoint.events:
        raise ValidationError({"events": f"Choose from: {', '.join(WebhookEndpoint.Event.values)}."})
    endpoint.full_clean()
    with transaction.atomic():
        if endpoint.pk is None:
            endpoint.starts_after_id = StageChange.objects.order_by("-id").values_list("id", flat=True).first() or 0
        endpoint.save()
    return endpoint


def webhooks_scan(*, now: datetime.datetime | None = None) -> list[int]:
    """Write deliveries for new stage changes and newly hot leads; return the ids to send."""
    now = now or timezone.now()
    with transaction.atomic():
        cursor, _ = WebhookCursor.objects.select_for_update().get_or_create(name="stage_changes")
        endpoints = list(WebhookEndpoint.objects.filter(is_active=True))
        changes = list(
            StageChange.objects.filter(id__gt=max(cursor.last_id - SCAN_OVERLAP_IDS, 0))
            .select_related("lead__owner", "lead__source")
            .order_by("id")[:SCAN_BATCH]
        )
        deliveries: list[WebhookDelivery] = []
        for change in changes:
            event = "lead.created" if change.transition == "create" else "lead.stage_changed"
            targets = _endpoints_for(endpoints, event, change.pk)
            if not targets:
                continue
            payload = {
                "event": event,
                "occurred_at": change.changed_at,
                "lead": _lead_json(change.lead),
                "stage_change": {
                    "from": change.from_stage or None,
                    "to": change.to_stage,
                    "transition": change.transition,
                    "at": change.changed_at,
                },
            }
            body = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
            deliveries += [
                WebhookDelivery(
                    endpoint=endpoint, event=event, origin=f"stagechange:{change.pk}", lead_id=change.lead_id,
                    payload=body, created_at=now,
                )
                for endpoint in targets
            ]  # fmt: skip
        if changes:
            cursor.last_id = max(cursor.last_id, changes[-1].pk)
            cursor.save(update_fields=["last_id"])
        # Hot leads: announce each once per heating; a lead that cools down may be announced again later.
        HotNotice.objects.exclude(lead__temperature=Temperature.HOT).delete()
        newly_hot = list(
            Lead.objects.filter(temperature=Temperature.HOT)
            .exclude(Exists(HotNotice.objects.filter(lead_id=OuterRef("pk"))))
            .select_related("owner", "source")[:SCAN_BATCH]
        )
        HotNotice.objects.bulk_create([HotNotice(lead=lead, noticed_at=now) for lead in newly_hot])
        hot_targets = _endpoints_for(endpoints, "lead.became_hot")
        for lead in newly_hot:
            body = json.loads(
                json.dumps(
                    {"event": "lead.became_hot", "occurred_at": now, "lead": _lead_json(lead)}, cls=DjangoJSONEncoder
                )
            )
            deliveries += [
                WebhookDelivery(
                    endpoint=endpoint, event="lead.became_hot", origin=f"hot:{lead.pk}:{int(now.timestamp())}",
                    lead_id=lead.pk, payload=body, created_at=now,
                )
                for endpoint in hot_targets
            ]  # fmt: skip
        WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
        origins = {d.origin for d in deliveries}
        ids = list(
            WebhookDelivery.objects.filter(origin__in=origins, status=WebhookDelivery.Status.PENDING, attempts=0)
            .order_by("id")  # queued in the order the events happened (workers may still overlap)
            .values_list("id", flat=True)
        )
        transaction.on_commit(lambda: _enqueue(ids))
    return ids


def _enqueue(ids: list[int]) -> None:
    from intake.tasks import webhook_deliver

    for delivery_id in ids:
        webhook_deliver.delay(delivery_id)


def webhook_deliver(*, delivery_id: int, final_attempt: bool = False, retries: int = 0) -> WebhookDelivery:
    """POST one delivery. Raises ``TransientWebhookError`` when a later try may succeed (the task
    retries after ``retry_delay(retries)``); on the last try (``final_attempt``), or on a permanent
    refusal, the delivery is marked failed."""
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.RETRYING]
    ).update(status=WebhookDelivery.Status.RETRYING, next_attempt_at=None)
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    if not claimed:
        return delivery  # already delivered or given up
    body = json.dumps({"id": f"{delivery.endpoint_id}-{delivery.origin}", **delivery.payload}).encode()
    timestamp = int(time.time())
    request = urllib.request.Request(  # noqa: S310 - an http(s) URL set by an admin
        delivery.endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "LeadCRM-Webhooks/1",
            "X-LeadCRM-Event": delivery.event,
            "X-LeadCRM-Delivery": str(delivery.pk),
            SIGNATURE_HEADER: signature_header(secret=delivery.endpoint.secret, timestamp=timestamp, body=body),
        },
    )
    status: int | None = None
    response_body = ""
    error = ""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            status = response.status
            response_body = response.read(2000).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        status = exc.code
        response_body = exc.read(2000).decode(errors="replace") if exc.fp else ""
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        error = f"{exc.__class__.__name__}: {getattr(exc, 'reason', exc)}"
    took_ms = round((time.monotonic() - started) * 1000)
    now = timezone.now()
    transient = status is None or status in TRANSIENT_STATUSES
    if status is not None and 200 <= status < 300:
        new_status = WebhookDelivery.Status.SUCCEEDED
    elif transient and not final_attempt:
        new_status = WebhookDelivery.Status.RETRYING
    else:
        new_status = WebhookDelivery.Status.FAILED
    if not error and new_status != WebhookDelivery.Status.SUCCEEDED:
        error = f"HTTP {status}"
    attempt = {"at": now.isoformat(), "status": status, "error": error, "ms": took_ms}
    attempt["response"] = response_body[:RESPONSE_LOGGED]
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=new_status,
        attempts=delivery.attempts + 1,
        response_status=status,
        response_body=response_body,
        last_error=error,
        attempt_log=[*delivery.attempt_log, attempt][-ATTEMPTS_LOGGED:],
        next_attempt_at=(
            now + datetime.timedelta(seconds=retry_delay(retries))
            if new_status == WebhookDelivery.Status.RETRYING
            else None
        ),
        delivered_at=now if new_status == WebhookDelivery.Status.SUCCEEDED else None,
    )
    delivery.refresh_from_db()
    if new_status == WebhookDelivery.Status.RETRYING:
        raise TransientWebhookError(delivery.last_error)
    return delivery


def webhook_deliveries_resend(*, delivery_ids: list[int]) -> list[int]:
    """Send these deliveries again, each with a new round of tries (a receiver that was down or
    refused them is fixed now). Deliveries being sent or waiting for their next try are left to
    it. Returns the ids queued; the attempt log keeps the earlier tries."""
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.filter(pk__in=delivery_ids)
            .exclude(status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.RETRYING])
            .order_by("id")
            .values_list("id", flat=True)
        )
        WebhookDelivery.objects.filter(pk__in=ids).update(
            status=WebhookDelivery.Status.PENDING, next_attempt_at=None, delivered_at=None
        )
        transaction.on_commit(lambda: _enqueue(ids))
    return ids
