"""Writes: every change the console makes goes through a function here."""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import uuid
from collections.abc import Iterator
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from dashboard import audit
from dashboard.aws import dynamodb
from dashboard.exceptions import BatchConflict, ItemsExist, QueueUnavailable, RateLimited, StoreUnavailable
from dashboard.models import ApiToken
from dashboard.queue import classify_enqueue, log_context_current
from dashboard.ratelimit import submissions_charge
from dashboard.submit_batcher import GroupCommitter

log = logging.getLogger(__name__)

TOKEN_PREFIX = "xlc_"


def submission_create(*, text: str, submitted_by: str, callback_url: str | None = None) -> dict[str, Any]:
    """Store a queued item, then enqueue its job. The item is written first so no job runs on nothing.

    Concurrent submissions in this process are committed together (`dashboard.submit_batcher`): one
    BatchWriteItem and one job for the group, and each request returns once both are done. If
    DynamoDB fails, StoreUnavailable is raised and nothing is enqueued; if the queue is down, the items
    are marked failed with the reason rather than left queued unseen, and QueueUnavailable is raised.
    """
    item = dynamodb.new_item(item_id=uuid.uuid4().hex, text=text)
    item["submitted_by"] = submitted_by
    if callback_url:  # vetted by the caller (dashboard.webhooks.services.webhook_url_clean)
        item["callback_url"] = callback_url
    request_id = log_context_current().get("request_id")
    if request_id:
        _request_ids[item["id"]] = request_id
    try:
        first = _submissions.submit(item)
    finally:
        _request_ids.pop(item["id"], None)
    if first:  # once per group: the group's job is enqueued now
        from dashboard.power import capacity_ensure  # power on an instance for it; never raises

        capacity_ensure(trigger="submission")
    return item


# The request each waiting submission came in, by item id, for its job's log context: the committer
# thread that enqueues a group does not see the requests' context. Set before the hand-over and
# removed once the request has its answer (the group is enqueued by then, or given up).
_request_ids: dict[str, str] = {}


def _submissions_log_context(items: list[dict[str, Any]]) -> dict[str, Any]:
    by_item = {item["id"]: _request_ids[item["id"]] for item in items if item["id"] in _request_ids}
    users = {item.get("submitted_by") for item in items}
    context: dict[str, Any] = {"user": users.pop()} if len(users) == 1 and None not in users else {}
    if len(set(by_item.values())) == 1 and len(by_item) == len(items):
        context["request_id"] = next(iter(by_item.values()))
    elif by_item:
        context["item_request_ids"] = by_item
    return context


def _submissions_write(items: list[dict[str, Any]]) -> None:
    # Unconditional puts (BatchWriteItem has no conditions) cannot overwrite anything here: every id is
    # a uuid4 this process just made, never one a user chose. Paths that take ids from users use
    # conditional puts (`dynamodb.item_put_new`, `dynamodb.items_put_new_many`). On failure,
    # items_put_many deletes whatever part of the group it wrote, so a refused group leaves nothing.
    dynamodb.items_put_many(items=items)


def _submissions_publish(items: list[dict[str, Any]]) -> None:
    ids = [item["id"] for item in items]
    try:
        classify_enqueue(
            item_ids=ids,
            log_context=_submissions_log_context(items),
            texts={item["id"]: item["text"] for item in items},
        )
    except QueueUnavailable as error:
        log.error("enqueue failed for %d submission(s) %s: %s", len(ids), ids, error)
        for item_id in ids:
            submission_fail_unqueued(item_id=item_id, reason=str(error))
        raise


def _submissions_abandon(items: list[dict[str, Any]]) -> None:
    for item in items:
        submission_fail_unqueued(
            item_id=item["id"], reason="The request gave up waiting for the store before this item was queued."
        )


_submissions = GroupCommitter(
    write=_submissions_write,
    publish=_submissions_publish,
    abandon=_submissions_abandon,
    name="submissions",
    committers=settings.SUBMIT_COMMITTERS,
)


def submissions_committer_start() -> None:
    """Start this process's submission committer (gunicorn's post_worker_init), before any request."""
    _submissions.start()


def submission_fail_unqueued(*, item_id: str, reason: str) -> None:
    """Mark an item that never reached the queue as failed, with the reason."""
    holder = f"web:{uuid.uuid4().hex[:8]}"
    if dynamodb.item_claim(item_id=item_id, claimed_by=holder) is not None:
        dynamodb.item_finish(item_id=item_id, status="failed", claimed_by=holder, error=reason)


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(
    *,
    user: User,
    name: str = "",
    expires_at: datetime | None = None,
    actor: User | None = None,
    via: str = "",
) -> tuple[ApiToken, str]:
    """Make a token for a user, valid until `expires_at` (for good when None). Returns the stored record
    and the raw token, which is not kept.

    Audited with `actor` (who made it; the token's user when not known) and `via` (where, e.g. a command).
    """
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=raw[:12], key_hash=_token_hash(raw), expires_at=expires_at
    )
    audit.audit_record(
        kind="token",
        actor=actor or user,
        action="token_create",
        target=token.prefix,
        outcome="ok",
        detail=_token_detail(user=user, name=name, expires_at=expires_at, via=via),
    )
    return token, raw


def _token_detail(
    *, user: User | None, name: str = "", expires_at: datetime | None = None, via: str = "", none: bool = False
) -> str:
    parts = [
        "no active token has this prefix" if none else "",
        f"for {user.get_username()}" if user is not None else "",
        f"name {name!r}" if name else "",
        f"expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at is not None else "",
        via,
    ]
    return "; ".join(part for part in parts if part)


def api_token_authenticate(*, raw: str) -> User | None:
    """The active user a raw token belongs to, or None. Revocation and expiry take effect on the next request."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    found = _token_lookup(key_hash=_token_hash(raw))
    if found is None:
        return None
    token_id, last_used_at, expires_at, user = found
    now = timezone.now()
    if not user.is_active or (expires_at is not None and expires_at <= now):
        return None
    # A minute's precision is enough to see which tokens are in use; a write per request was a
    # database write lock per API call under load (bench/load.py).
    # abs(): after the clock was set back, a last use "in the future" is corrected rather than kept.
    if last_used_at is None or abs(now - last_used_at) > timedelta(seconds=60):
        ApiToken.objects.filter(pk=token_id).update(last_used_at=now)
    return user


# The token check runs on every API request, and building its queryset and compiling it to SQL
# cost ten times the query itself: 0.77 ms of CPU against 0.07 ms (docs/benchmarks.md, "Load").
# So each thread compiles the query once, with Django's own compiler (its connection's SQL dialect
# and value converters), and runs it with the hash as its parameter.
_TOKEN_SENTINEL = "\x00token-hash\x00"
_token_query = threading.local()


def _token_lookup(*, key_hash: str) -> tuple[int, Any, Any, User] | None:
    """(token id, its last_used_at, its expires_at, its user) for an unrevoked token with this hash, or None."""
    from django.contrib.auth import get_user_model
    from django.db import connections, router

    user_model = get_user_model()
    alias = router.db_for_read(ApiToken)
    compiled = _token_query.__dict__.get(alias)
    if compiled is None:
        user_fields = [field.attname for field in user_model._meta.concrete_fields]
        query = (
            ApiToken.objects.filter(key_hash=_TOKEN_SENTINEL, revoked_at__isnull=True)
            .order_by()
            .values_list("pk", "last_used_at", "expires_at", *(f"user__{name}" for name in user_fields))[:1]
            .query
        )
        compiler = query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        converters = compiler.get_converters([column for column, _, _ in compiler.select])
        compiled = _token_query.__dict__[alias] = (compiler, sql, list(params), converters, user_fields)
    compiler, sql, params, converters, user_fields = compiled
    params = [key_hash if param == _TOKEN_SENTINEL else param for param in params]
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    if converters:
        row = next(iter(compiler.apply_converters([row], converters)))
    return row[0], row[1], row[2], user_model.from_db(alias, user_fields, row[3:])


def api_token_revoke(
    *,
    prefix: str,
    user: User | None = None,
    token_id: int | None = None,
    actor: User | None = None,
    via: str = "",
) -> int:
    """Revoke tokens by their prefix (optionally only a user's, or only the one with `token_id`).
    Returns how many were revoked.

    Audited with `actor` (who revoked; the tokens' user when not known), also when nothing matched.
    """
    tokens = ApiToken.objects.filter(prefix=prefix, revoked_at__isnull=True)
    if user is not None:
        tokens = tokens.filter(user=user)
    if token_id is not None:
        tokens = tokens.filter(pk=token_id)
    owners = list({token.user for token in tokens.select_related("user")})
    count = tokens.update(revoked_at=timezone.now())
    owner = owners[0] if len(owners) == 1 else user
    audit.audit_record(
        kind="token",
        actor=actor or owner,
        action="token_revoke",
        target=prefix,
        outcome="ok" if count else "error",
        count=count,
        detail=_token_detail(user=owner if count else None, via=via, none=not count),
    )
    return count


# --- Results explorer and bulk submission --------------------------------------------------


def preference_set(*, user: User, key: str, value: Any) -> None:
    from dashboard.models import UserPreference

    UserPreference.objects.update_or_create(user=user, key=key, defaults={"value": value})


def _enqueue_chunks(item_ids: list[str], *, batch_id: str = "") -> None:
    size = settings.BATCH_ENQUEUE_CHUNK
    context = log_context_current() | ({"batch_id": batch_id} if batch_id else {})
    for start in range(0, len(item_ids), size):
        classify_enqueue(item_ids=item_ids[start : start + size], log_context=context)


def items_delete(*, item_ids: list[str], actor: User | None = None) -> int:
    """Delete items for good. Returns how many deletes DynamoDB accepted. Audited, failures included."""
    try:
        deleted = dynamodb.items_delete_many(item_ids=item_ids)
    except StoreUnavailable as error:
        _data_audit(actor, "delete", outcome="error", count=len(item_ids), detail=str(error))
        raise
    _data_audit(actor, "delete", outcome="ok", count=deleted, detail=_ids_detail(item_ids))
    return deleted


def items_rerun(
    *, item_ids: list[str], user: User | None = None, action: str = "rerun", target: str = "selection"
) -> dict[str, list[str]]:
    """Reset finished items to queued and enqueue them (queued ones are enqueued again; a job that finds
    an item already claimed skips it). Running and missing items are left alone.

    Each id selected costs one submission against the user's rate limit, charged before anything is
    read: a re-run is new work for the GPU as a submission is. RateLimited is raised (and audited as
    refused) when the user is over it.

    Returns {"queued": [...], "skipped": [...]}. If the queue is down, the reset items are marked failed
    with the reason, as a single submission is, and QueueUnavailable is raised. Audited as `action` on
    `target` (the selection, or what `failed_requeue` chose by).
    """
    ids = list(dict.fromkeys(item_ids))
    try:
        submissions_charge(user=user, cost=len(ids))
    except RateLimited as error:
        _data_audit(user, action, target=target, outcome="refused", count=len(ids), detail=str(error))
        raise
    try:
        requeued, skipped = _items_reset(ids)
    except StoreUnavailable as error:
        _data_audit(user, action, target=target, outcome="error", count=len(ids), detail=str(error))
        raise
    try:
        _enqueue_chunks(requeued)
    except QueueUnavailable as error:
        for item_id in requeued:
            submission_fail_unqueued(item_id=item_id, reason=str(error))
        _data_audit(
            user,
            action,
            target=target,
            outcome="error",
            count=len(requeued),
            detail=f"not queued, marked failed: {error}",
        )
        raise
    _data_audit(
        user,
        action,
        target=target,
        outcome="ok",
        count=len(requeued),
        detail=f"{len(skipped)} running or missing left alone",
    )
    if requeued:
        _capacity_ensure(trigger="re-run" if action == "rerun" else action)
    return {"queued": requeued, "skipped": skipped}


def _items_reset(ids: list[str]) -> tuple[list[str], list[str]]:
    requeued: list[str] = []
    skipped: list[str] = []
    current = dynamodb.items_get_many(item_ids=ids)
    for item_id in ids:
        item = current.get(item_id)
        if item is None or item["status"] == "running":
            skipped.append(item_id)
        elif item["status"] == "queued" or dynamodb.item_requeue(item_id=item_id):
            requeued.append(item_id)
        else:
            skipped.append(item_id)  # it started running between our read and our reset
    return requeued, skipped


def _data_audit(
    actor: User | None, action: str, *, outcome: str, count: int, detail: str = "", target: str = "selection"
) -> None:
    audit.audit_record(
        kind="data", actor=actor, action=action, target=target, outcome=outcome, count=count, detail=detail
    )


def failed_requeue(
    *, user: User, item_filter: dynamodb.ItemFilter | None = None, batch_id: str | None = None
) -> dict[str, Any]:
    """Re-run the `failed` items that match a filter (its status is taken as failed) or belong to a batch.

    At most REQUEUE_MAX_ITEMS per call, newest first: `more` says that more
    matched, and another call takes the next ones (the requeued items are no longer failed). Charged,
    reset, enqueued and audited as `items_rerun` does (as action `requeue`, on the filter or batch).
    Returns {"queued": [...], "skipped": [...], "more": bool, "limit": int}.
    """
    limit = settings.REQUEUE_MAX_ITEMS
    if batch_id is not None:
        target = f"batch {batch_id}"
        found: Iterator[str] = (
            item_id for item_id, status in dynamodb.batch_item_statuses(batch_id=batch_id) if status == "failed"
        )
    else:
        chosen = replace(item_filter or dynamodb.ItemFilter(), status="failed")
        shown = ", ".join(f"{key}={value}" for key, value in asdict(chosen).items() if value)
        target = f"filter {shown}"
        found = (item["id"] for item in dynamodb.items_iter(item_filter=chosen))
    ids = list(islice(found, limit + 1))
    outcome: dict[str, Any] = items_rerun(item_ids=ids[:limit], user=user, action="requeue", target=target)
    if batch_id is not None and outcome["queued"]:
        from dashboard.models import Batch

        Batch.objects.filter(pk=batch_id).update(completed_at=None)  # it has work again: followed live
    return outcome | {"more": len(ids) > limit, "limit": limit}


def requeue_message(outcome: dict[str, Any]) -> str:
    """What `failed_requeue` did, in words: the API's `message` and the pages' notice."""
    message = f"Requeued {len(outcome['queued'])} failed item(s)."
    if outcome["skipped"]:
        message += f" {len(outcome['skipped'])} had changed meanwhile and were left alone."
    if outcome["more"]:
        message += (
            f" More match: at most {outcome['limit']:,} are requeued per request; requeue again for the next ones."
        )
    return message


def _ids_detail(item_ids: list[str]) -> str:
    shown = ", ".join(item_ids[:20])
    return shown + (f" and {len(item_ids) - 20} more" if len(item_ids) > 20 else "")


def _capacity_ensure(*, trigger: str) -> None:
    from dashboard.power import capacity_ensure  # power on an instance for the new work; never raises

    capacity_ensure(trigger=trigger)


def batch_create(*, rows: list, source: str, submitted_by: User | None, filename: str = "", callback_url: str = ""):
    """Store a validated batch and enqueue it in chunks. All or nothing: on any failure nothing is kept.

    `rows` are `dashboard.csv_upload.BatchRow`s. Ids given by the user must be new: they are written
    with conditional puts, so a stored item (or one a concurrent batch wrote first) is never overwritten;
    BatchConflict names the ids that were taken. A rollback deletes only items that carry this batch's id.
    """
    from dashboard.models import Batch

    given = [row.item_id for row in rows if row.item_id]
    if given:
        existing = dynamodb.items_get_many(item_ids=given)  # to name every taken id at once, not a chunk's
        if existing:
            raise _batch_conflict(rows, sorted(existing))
    batch_id = uuid.uuid4().hex
    username = submitted_by.get_username() if submitted_by is not None else ""
    items = []
    for row in rows:
        item = dynamodb.new_item(item_id=row.item_id or uuid.uuid4().hex, text=row.text)
        item["batch_id"] = batch_id
        item["submitted_by"] = username
        items.append(item)
    if given:
        try:
            dynamodb.items_put_new_many(items=items, batch_id=batch_id)
        except ItemsExist as error:
            raise _batch_conflict(rows, sorted(error.ids)) from error
    else:
        dynamodb.items_put_many(items=items)  # every id is a uuid4 made just now: nothing to overwrite
    ids = [item["id"] for item in items]
    try:
        batch = Batch.objects.create(
            id=batch_id,
            created_by=submitted_by,
            source=source,
            filename=filename[:255],
            total=len(items),
            counts={"queued": len(items)},
            callback_url=callback_url,
        )
        _enqueue_chunks(ids, batch_id=batch_id)
    except Exception:
        # Jobs already enqueued find their items gone and do nothing.
        left = len(ids) - dynamodb.items_delete_own(item_ids=ids, batch_id=batch_id)
        if left:
            log.error("batch %s failed; %d of its %d item(s) could not be deleted", batch_id, left, len(ids))
        Batch.objects.filter(pk=batch_id).delete()
        raise
    _capacity_ensure(trigger="batch")
    return batch


def _batch_conflict(rows: list, taken: list[str]) -> BatchConflict:
    numbers = {row.item_id: number for number, row in enumerate(rows, start=1)}
    problems = [(numbers.get(item_id), f"id {item_id!r} already exists.") for item_id in taken]
    return BatchConflict(f"{len(taken)} id(s) already exist; nothing was submitted.", ids=taken, problems=problems)


def batch_progress(*, batch) -> dict[str, int]:
    """Current status counts of a batch; marks it complete (and stops reading DynamoDB) when nothing is left.

    The batch index is eventually consistent, so a batch whose items do not all show yet is only
    called complete once a minute has passed (items deleted from the explorer never show again).
    """
    if batch.completed_at:
        return batch.counts
    counts = dynamodb.batch_status_counts(batch_id=batch.id)
    settled = not counts.get("queued") and not counts.get("running")
    all_seen = sum(counts.values()) >= batch.total
    if settled and (all_seen or timezone.now() - batch.created_at > timedelta(minutes=1)):
        batch.completed_at = timezone.now()
    if counts != batch.counts or batch.completed_at:
        batch.counts = counts
        batch.save(update_fields=["counts", "completed_at"])
    if batch.completed_at:
        from dashboard.webhooks.queue import batch_check_enqueue  # its end event, made once, on the webhooks queue

        batch_check_enqueue(batch_id=batch.id, attempt=0)
    return counts
