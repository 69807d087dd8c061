"""The `Console-Signature` header, as Stripe signs: HMAC-SHA256 over "<timestamp>.<raw body>".

    Console-Signature: t=<unix seconds>,v1=<hex of HMAC-SHA256(secret, "<t>.<raw body>")>

The timestamp is signed too, so a receiver can refuse an old delivery replayed (docs/webhooks.md
shows how to verify). A webhook's secret is made at random and stored; a callback URL's secret is
derived from SECRET_KEY and the submission or batch id, so it is never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.utils.crypto import salted_hmac

SIGNATURE_HEADER = "Console-Signature"
EVENT_HEADER = "Console-Event-Id"
SECRET_PREFIX = "whsec_"
_CALLBACK_SALT = "dashboard.webhooks.callback"


def secret_new() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def callback_secret(*, subject: str) -> str:
    """The signing secret of a submission's or batch's callback (`subject`: "item:<id>" or "batch:<id>")."""
    return SECRET_PREFIX + salted_hmac(_CALLBACK_SALT, subject, algorithm="sha256").hexdigest()


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(*, secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret=secret, timestamp=timestamp, body=body)}"
