"""Thin Celery tasks: load by id, call one service."""

from celery import shared_task

from intake import csv_import


@shared_task(name="bulk.csv_import_run")
def csv_import_run(import_id: int) -> None:
    csv_import.csv_import_run(import_id=import_id)
