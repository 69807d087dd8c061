from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from dashboard.services import api_token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print it. Only its hash is stored: copy it now."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="A note to recognise the token by.")
        parser.add_argument(
            "--expires-days", type=int, default=None, help="Refuse the token after this many days (default: never)."
        )

    def handle(self, *args, **options) -> None:
        try:
            user = get_user_model().objects.get_by_natural_key(options["username"])
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named {options['username']!r}.") from None
        days = options["expires_days"]
        if days is not None and days < 1:
            raise CommandError("--expires-days must be 1 or more.")
        expires_at = None if days is None else timezone.now() + timedelta(days=days)
        token, raw = api_token_create(
            user=user, name=options["name"], expires_at=expires_at, via="manage.py create_api_token"
        )
        self.stderr.write(f"Token {token.prefix}… created for {user.get_username()}; it is shown once:")
        self.stdout.write(raw)
