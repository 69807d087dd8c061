"""Writes: every change the console makes goes through a function here."""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from dashboard.aws import dynamodb
from dashboard.exceptions import QueueUnavailable
from dashboard.models import ApiToken
from dashboard.queue import classify_enqueue

log = logging.getLogger(__name__)

TOKEN_PREFIX = "xlc_"


def submission_create(*, text: str, submitted_by: str) -> dict[str, Any]:
    """Store a queued item, then enqueue its job. The item is written first so no job runs on nothing.

    If the queue is down the item is marked failed with the reason rather than left queued unseen.
    """
    item = dynamodb.new_item(item_id=uuid.uuid4().hex, text=text)
    item["submitted_by"] = submitted_by
    dynamodb.item_put_new(item=item)
    try:
        classify_enqueue(item_ids=[item["id"]])
    except QueueUnavailable as error:
        log.error("enqueue failed for %s: %s", item["id"], error)
        submission_fail_unqueued(item_id=item["id"], reason=str(error))
        raise
    return item


def submission_fail_unqueued(*, item_id: str, reason: str) -> None:
    """Mark an item that never reached the queue as failed, with the reason."""
    holder = f"web:{uuid.uuid4().hex[:8]}"
    if dynamodb.item_claim(item_id=item_id, claimed_by=holder) is not None:
        dynamodb.item_finish(item_id=item_id, status="failed", claimed_by=holder, error=reason)


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(*, user: AbstractBaseUser, name: str = "") -> tuple[ApiToken, str]:
    """Make a token for a user. Returns the stored record and the raw token, which is not kept."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=raw[:12], key_hash=_token_hash(raw))
    return token, raw


def api_token_authenticate(*, raw: str) -> AbstractBaseUser | None:
    """The active user a raw token belongs to, or None."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    token = ApiToken.objects.select_related("user").filter(key_hash=_token_hash(raw), revoked_at__isnull=True).first()
    if token is None or not token.user.is_active:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token.user


def api_token_revoke(*, prefix: str, user: AbstractBaseUser | None = None) -> int:
    """Revoke tokens by their prefix (optionally only a user's). Returns how many were revoked."""
    tokens = ApiToken.objects.filter(prefix=prefix, revoked_at__isnull=True)
    if user is not None:
        tokens = tokens.filter(user=user)
    return tokens.update(revoked_at=timezone.now())
