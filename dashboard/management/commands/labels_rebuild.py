"""`manage.py labels_rebuild`: make the evaluation's rows again from the labels in the results table."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from dashboard.exceptions import StoreUnavailable
from dashboard.labels.services import evaluation_rebuild


class Command(BaseCommand):
    help = (
        "Rewrite the live evaluation's rows from the people's labels stored on the results (one Scan of the "
        "table): after restoring either store from a backup, or if a label's second write ever failed."
    )

    def handle(self, *args, **options) -> None:
        try:
            outcome = evaluation_rebuild()
        except StoreUnavailable as error:
            raise CommandError(f"The results table cannot be read: {error}") from error
        self.stdout.write(f"{outcome['written']} labelled item(s) written, {outcome['removed']} stale row(s) removed.")
