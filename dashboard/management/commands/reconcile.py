"""Run the reconciler once: re-enqueue lost queued items, take back items whose worker died."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from dashboard.reconcile import reconcile


class Command(BaseCommand):
    help = (
        "Find items DynamoDB says are queued or running that no live job carries (Redis lost them, a worker "
        "died) and enqueue them again; mark items out of retries failed with the reason. Safe to run any time."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--queued-after", type=float, default=None, help="Seconds (default RECONCILE_QUEUED_AFTER)."
        )
        parser.add_argument("--lease", type=float, default=None, help="Seconds (default RECONCILE_RUNNING_LEASE).")

    def handle(self, *args, **options) -> None:
        report = reconcile(queued_after=options["queued_after"], lease=options["lease"])
        self.stdout.write(report.summary())
        for label, ids in (("re-enqueued", report.requeued), ("took back", report.released), ("failed", report.failed)):
            for item_id in ids:
                self.stdout.write(f"  {label}: {item_id}")
