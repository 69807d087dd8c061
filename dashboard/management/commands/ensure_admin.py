from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Make sure a local staff account named 'admin' exists. Its password comes from "
        "DASHBOARD_ADMIN_PASSWORD, or is generated and printed once when the account is created."
    )

    def handle(self, *args, **options) -> None:
        users = get_user_model()
        wanted = os.environ.get("DASHBOARD_ADMIN_PASSWORD") or None
        user = users.objects.filter(username="admin").first()
        if user is None:
            password = wanted or secrets.token_urlsafe(12)
            users.objects.create_superuser(username="admin", email="", password=password)
            shown = "from DASHBOARD_ADMIN_PASSWORD" if wanted else password
            self.stdout.write(f"Created staff account admin, password: {shown}")
        elif wanted and not user.check_password(wanted):
            user.set_password(wanted)
            user.save(update_fields=["password"])
            self.stdout.write("Updated the admin password from DASHBOARD_ADMIN_PASSWORD.")
        else:
            self.stdout.write("Staff account admin exists (password unchanged).")
