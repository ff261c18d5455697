"""Thin Celery tasks: load by id, call one service."""

from celery import shared_task

from intake import csv_import, webhooks


@shared_task(name="bulk.csv_import_run")
def csv_import_run(import_id: int) -> None:
    csv_import.csv_import_run(import_id=import_id)


@shared_task(name="bulk.leads_analyze")
def leads_analyze() -> None:
    csv_import.leads_analyze()


@shared_task(name="intake.webhooks_scan")
def webhooks_scan() -> None:
    webhooks.webhooks_scan()


@shared_task(bind=True, name="intake.webhook_deliver", max_retries=webhooks.MAX_ATTEMPTS - 1)
def webhook_deliver(self, delivery_id: int) -> None:  # type: ignore[no-untyped-def]
    try:
        webhooks.webhook_deliver(
            delivery_id=delivery_id,
            final_attempt=self.request.retries >= self.max_retries,
            retries=self.request.retries,
        )
    except webhooks.TransientWebhookError as exc:
        raise self.retry(exc=exc, countdown=webhooks.retry_delay(self.request.retries)) from exc
