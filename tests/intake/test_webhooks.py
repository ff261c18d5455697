import datetime
import http.server
import json
import threading

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from intake import tasks, webhooks
from intake.models import WebhookDelivery, WebhookEndpoint
from leadcrm.celery import app as celery_app
from leads.models import Lead
from leads.services import lead_create, lead_transition
from tests.factories import LeadFactory, manager

pytestmark = pytest.mark.django_db


class Receiver:
    """A webhook receiver on 127.0.0.1 that answers with the queued statuses (then 200) and records requests."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": self.headers, "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"try later")

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def retries_run_eagerly(monkeypatch):
    # Eagerly run tasks chain their retries only when retries are not raised to the caller.
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", False)


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def _endpoint(url: str, events=("lead.created", "lead.stage_changed", "lead.became_hot")) -> WebhookEndpoint:
    return webhooks.webhook_endpoint_save(
        endpoint=WebhookEndpoint(name="CRM sync", url=url, secret="s3cret", events=list(events))
    )


def test_signature_round_trip_and_tamper_detection():
    body = b'{"a": 1}'
    header = webhooks.signature_header(secret="k", timestamp=1_700_000_000, body=body)

    assert webhooks.verify(secret="k", header=header, body=body, now=1_700_000_010)
    assert not webhooks.verify(secret="k", header=header, body=b'{"a": 2}', now=1_700_000_010)
    assert not webhooks.verify(secret="other", header=header, body=body, now=1_700_000_010)
    assert not webhooks.verify(secret="k", header=header, body=body, now=1_700_000_000 + 301)
    assert not webhooks.verify(secret="k", header="garbage", body=body)


def test_scan_announces_created_stage_changed_and_hot_leads_once(receiver, django_capture_on_commit_callbacks):
    _endpoint(receiver.url)
    lead = lead_create(email="hook@example.com", first_name="Hu")
    lead_transition(lead=lead, to_stage="mql", actor=manager())
    Lead.objects.filter(pk=lead.pk).update(temperature="hot")

    with django_capture_on_commit_callbacks(execute=True):
        ids = webhooks.webhooks_scan()
    with django_capture_on_commit_callbacks(execute=True):
        again = webhooks.webhooks_scan()

    assert len(ids) == 3
    assert again == []
    events = [json.loads(r["body"])["event"] for r in receiver.requests]
    assert sorted(events) == ["lead.became_hot", "lead.created", "lead.stage_changed"]
    changed = next(
        json.loads(r["body"]) for r in receiver.requests if r["headers"]["X-LeadCRM-Event"] == "lead.stage_changed"
    )
    assert changed["lead"]["email"] == "hook@example.com"
    assert changed["stage_change"]["from"] == "raw"
    assert changed["stage_change"]["to"] == "mql"
    for request in receiver.requests:
        assert webhooks.verify(secret="s3cret", header=request["headers"]["X-LeadCRM-Signature"], body=request["body"])
    assert set(WebhookDelivery.objects.values_list("status", "attempts", "response_status")) == {("succeeded", 1, 200)}


def test_a_lead_that_cools_and_heats_again_is_announced_again(receiver, django_capture_on_commit_callbacks):
    _endpoint(receiver.url, events=["lead.became_hot"])
    lead = LeadFactory(temperature="hot")
    start = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.webhooks_scan(now=start)
    Lead.objects.filter(pk=lead.pk).update(temperature="warm")
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.webhooks_scan(now=start + datetime.timedelta(minutes=1))
    Lead.objects.filter(pk=lead.pk).update(temperature="hot")

    with django_capture_on_commit_callbacks(execute=True):
        webhooks.webhooks_scan(now=start + datetime.timedelta(minutes=2))

    assert [json.loads(r["body"])["event"] for r in receiver.requests] == ["lead.became_hot", "lead.became_hot"]


def test_transient_errors_are_retried_until_delivered(receiver, retries_run_eagerly):
    _endpoint(receiver.url, events=["lead.created"])
    receiver.statuses = [503, 502]
    lead_create(email="retry@example.com")

    (delivery_id,) = webhooks.webhooks_scan()
    # The task as a worker runs it, retries included (eagerly, without the countdowns).
    tasks.webhook_deliver.apply(args=[delivery_id])

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_status, delivery.response_body) == (
        "succeeded", 3, 200, "ok",
    )  # fmt: skip
    assert len(receiver.requests) == 3
    # The delivery's log keeps every try, the failed ones too.
    assert [(a["status"], a["error"], a["response"]) for a in delivery.attempt_log] == [
        (503, "HTTP 503", "try later"), (502, "HTTP 502", "try later"), (200, "", "ok"),
    ]  # fmt: skip
    assert delivery.next_attempt_at is None


def test_a_delivery_waiting_to_be_tried_again_says_when(receiver):
    _endpoint(receiver.url, events=["lead.created"])
    receiver.statuses = [503]
    lead_create(email="later@example.com")
    (delivery_id,) = webhooks.webhooks_scan()
    before = timezone.now()

    with pytest.raises(webhooks.TransientWebhookError):
        webhooks.webhook_deliver(delivery_id=delivery_id, retries=2)  # the third try: 2 min to the next

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "retrying"
    wait = (delivery.next_attempt_at - before).total_seconds()
    assert webhooks.retry_delay(2) == 120 and 120 <= wait <= 125


def test_permanent_refusal_is_not_retried(receiver, retries_run_eagerly):
    _endpoint(receiver.url, events=["lead.created"])
    receiver.statuses = [410]
    lead_create(email="gone@example.com")

    (delivery_id,) = webhooks.webhooks_scan()
    # The task as a worker runs it, retries included (eagerly, without the countdowns).
    tasks.webhook_deliver.apply(args=[delivery_id])

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_status, delivery.last_error) == (
        "failed", 1, 410, "HTTP 410",
    )  # fmt: skip
    assert len(receiver.requests) == 1


def test_unreachable_receiver_gives_up_after_the_last_attempt(retries_run_eagerly):
    _endpoint("http://127.0.0.1:9/nothing-listens", events=["lead.created"])
    lead_create(email="nobody@example.com")

    (delivery_id,) = webhooks.webhooks_scan()
    # The task as a worker runs it, retries included (eagerly, without the countdowns).
    tasks.webhook_deliver.apply(args=[delivery_id])

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("failed", webhooks.MAX_ATTEMPTS, None)
    assert delivery.last_error.startswith("URLError")


def test_no_endpoint_no_delivery_but_the_cursor_moves():
    lead_create(email="quiet@example.com")

    assert webhooks.webhooks_scan() == []
    assert WebhookDelivery.objects.count() == 0
    _endpoint("http://127.0.0.1:9/x", events=["lead.created"])
    assert webhooks.webhooks_scan() == []  # history from before the endpoint existed is not sent to it
    lead_create(email="later@example.com")
    assert len(webhooks.webhooks_scan()) == 1


def test_endpoint_needs_known_events():
    with pytest.raises(ValidationError) as exc:
        webhooks.webhook_endpoint_save(
            endpoint=WebhookEndpoint(name="x", url="https://example.com/h", secret="s", events=["lead.deleted"])
        )
    assert exc.value.message_dict == {"events": ["Choose from: lead.created, lead.stage_changed, lead.became_hot."]}
    assert WebhookEndpoint.objects.count() == 0


def test_a_failed_delivery_is_sent_again_with_its_earlier_tries_kept(receiver, retries_run_eagerly):
    _endpoint(receiver.url, events=["lead.created"])
    receiver.statuses = [410]  # the receiver refused it, then was fixed
    lead_create(email="again@example.com")
    (delivery_id,) = webhooks.webhooks_scan()
    tasks.webhook_deliver.apply(args=[delivery_id])
    assert WebhookDelivery.objects.get().status == "failed"

    queued = webhooks.webhook_deliveries_resend(delivery_ids=[delivery_id])
    assert queued == [delivery_id]
    tasks.webhook_deliver.apply(args=[delivery_id])

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("succeeded", 2, "")
    assert [a["status"] for a in delivery.attempt_log] == [410, 200]
    assert len(receiver.requests) == 2
    # The receiver tells the two apart from a new event by the same id.
    assert len({json.loads(r["body"])["id"] for r in receiver.requests}) == 1


def test_a_delivery_still_being_tried_is_not_queued_twice():
    endpoint = _endpoint("http://127.0.0.1:9/nothing-listens", events=["lead.created"])
    waiting = WebhookDelivery.objects.create(
        endpoint=endpoint, event="lead.created", origin="stagechange:1", status="retrying", created_at=timezone.now()
    )

    assert webhooks.webhook_deliveries_resend(delivery_ids=[waiting.pk]) == []
    assert WebhookDelivery.objects.get().status == "retrying"


def test_a_marketer_sends_failed_deliveries_again_from_the_admin(client, django_capture_on_commit_callbacks):
    from tests.factories import marketer, rep

    endpoint = _endpoint("http://127.0.0.1:9/nothing-listens", events=["lead.created"])
    failed = WebhookDelivery.objects.create(
        endpoint=endpoint, event="lead.created", origin="stagechange:1", status="failed", attempts=6,
        attempt_log=[{"at": "2026-11-23T04:00:00+00:00", "status": None, "error": "URLError: refused", "ms": 3}],
        created_at=timezone.now(),
    )  # fmt: skip
    client.force_login(rep())  # not staff: the admin sends a rep to its login page
    assert client.get(f"/admin/intake/webhookdelivery/{failed.pk}/change/").status_code == 302

    client.force_login(marketer())
    page = client.get(f"/admin/intake/webhookdelivery/{failed.pk}/change/").content.decode()
    assert "URLError: refused" in page  # the tries, in a table
    with django_capture_on_commit_callbacks() as queued:
        response = client.post(
            "/admin/intake/webhookdelivery/", {"action": "send_again", "_selected_action": [failed.pk]}, follow=True
        )

    assert "1 delivery queued to be sent again." in response.content.decode()
    assert WebhookDelivery.objects.get().status == "pending"
    assert len(queued) == 1
