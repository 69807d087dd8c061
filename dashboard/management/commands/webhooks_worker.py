"""Deliver webhooks: the `webhooks` queue's RQ worker, with the scheduler that starts retries when due.

It runs on the web tier (`deploy/systemd/console-webhooks.service`; `make run` starts one). Several
are harmless: RQ gives each job to one worker, and one scheduler at a time holds the queue's lock.
The queue's jobs are JSON (settings.RQ_QUEUES), which a plain `rqworker` would read as pickles.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from rq import Worker

from dashboard.webhooks.delivery import deliveries_resume
from dashboard.webhooks.queue import webhooks_queue


class Command(BaseCommand):
    help = "Make and send webhook deliveries from the webhooks queue, retrying failures (docs/webhooks.md)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--burst", action="store_true", help="Exit once the queue is empty.")

    def handle(self, *args: Any, **options: Any) -> None:
        deliveries_resume()  # those whose job was lost while no worker ran
        queue = webhooks_queue()
        worker = Worker([queue], connection=queue.connection, serializer=queue.serializer)
        worker.work(burst=options["burst"], with_scheduler=True, logging_level="INFO")
