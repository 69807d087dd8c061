from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from dashboard.services import api_token_revoke


class Command(BaseCommand):
    help = "Revoke API tokens by their prefix (the first 12 characters, as listed in the admin)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("prefix")

    def handle(self, *args, **options) -> None:
        count = api_token_revoke(prefix=options["prefix"], via="manage.py revoke_api_token")
        if not count:
            raise CommandError(f"No active token starts with {options['prefix']!r}.")
        self.stdout.write(f"Revoked {count} token(s).")
