"""Per-user rate limits on submissions and text generation, shared by every web process through Redis.

A generic cell rate algorithm (GCRA, a leaky bucket kept as one timestamp per user): a user may
submit `SUBMISSIONS_PER_MINUTE` items per minute, in bursts of up to a minute's worth. A batch
costs one per item. A batch larger than a minute's worth is let through when the bucket is full
and puts the user in debt, so the next submission waits until the debt is paid: big uploads work,
and the long-run rate still holds. Refusals say exactly when to retry (`Retry-After`).

The check is one Lua script call (atomic across web processes). If Redis cannot answer, the
submission is allowed: it would fail at enqueue anyway with a clear 503, and a limiter must never
be the reason an accepted item is lost.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from redis.exceptions import RedisError

from dashboard.exceptions import RateLimited

log = logging.getLogger(__name__)

KEY_PREFIX = "ratelimit:submissions:"
LABELS_KEY_PREFIX = "ratelimit:labels:"
BURST_SECONDS = 60.0

# KEYS[1] the user's bucket; ARGV: now, seconds per item, burst seconds, cost.
# Returns {1, 0} when allowed, {0, retry_after_ms} when not.
_GCRA = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local need = math.min(cost * interval, burst)
local allow_at = tat + need - burst
if now < allow_at then
  return {0, math.ceil((allow_at - now) * 1000)}
end
local new_tat = tat + cost * interval
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
return {1, 0}
"""
_script = None


def _connection():
    from dashboard.queue import redis_connection

    return redis_connection()


def submissions_charge(*, user, cost: int = 1) -> None:
    """Count `cost` submissions against the user; raise RateLimited (with retry_after seconds) if over."""
    limit = settings.SUBMISSIONS_PER_MINUTE
    retry_after = _charge(key=f"{KEY_PREFIX}{getattr(user, 'pk', None)}", per_minute=limit, cost=cost, user=user)
    if retry_after:
        raise RateLimited(
            f"Too many submissions: the limit is {limit} per minute. Try again in {retry_after} s.",
            retry_after=retry_after,
        )


def labels_charge(*, user, cost: int = 1) -> None:
    """Count `cost` labels (one per item labelled) against the user; RateLimited if over LABELS_PER_MINUTE."""
    limit = settings.LABELS_PER_MINUTE
    retry_after = _charge(key=f"{LABELS_KEY_PREFIX}{getattr(user, 'pk', None)}", per_minute=limit, cost=cost, user=user)
    if retry_after:
        raise RateLimited(
            f"Too many labels: the limit is {limit} per minute. Try again in {retry_after} s.", retry_after=retry_after
        )


def _charge(*, key: str, per_minute: int, cost: int, user) -> int:
    """Charge `cost` to the GCRA bucket at `key`: 0 when allowed, else the seconds to wait. Fails open."""
    global _script
    if per_minute <= 0 or cost <= 0 or getattr(user, "pk", None) is None:
        return 0
    try:
        connection = _connection()
        if _script is None:
            _script = connection.register_script(_GCRA)
        allowed, retry_ms = _script(
            keys=[key],
            args=[f"{time.time():.6f}", 60.0 / per_minute, BURST_SECONDS, cost],
            client=connection,
        )
    except RedisError as error:
        log.warning("rate limit %s not checked (Redis: %s); allowing the request", key, error)
        return 0
    return 0 if int(allowed) else max(1, math.ceil(int(retry_ms) / 1000))


def submissions_reset(*, user) -> None:
    """Forget a user's buckets (tests, and an operator lifting a limit at once)."""
    _connection().delete(f"{KEY_PREFIX}{user.pk}", f"{LABELS_KEY_PREFIX}{user.pk}")


def rate_limited(*, api: bool, cost: Callable[[HttpRequest], int] | None = None):
    """Answer 429 with Retry-After when the view (or `cost`, charged before it on POST) is over the limit.

    `cost(request)` charges up front (single submissions: 1 per POST). Views that only know the
    count after parsing (batches) call `submissions_charge` themselves and let RateLimited escape.
    """

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            try:
                if cost is not None and request.method == "POST" and getattr(request.user, "is_authenticated", False):
                    submissions_charge(user=request.user, cost=cost(request))
                return view(request, *args, **kwargs)
            except RateLimited as error:
                return _too_many(request, error, api=api)

        return wrapped

    return decorate


def _too_many(request: HttpRequest, error: RateLimited, *, api: bool) -> HttpResponse:
    response: HttpResponse
    if api:
        from dashboard.auth import api_error

        response = api_error(429, str(error), retry_after=error.retry_after)
    else:
        response = render(
            request, "dashboard/rate_limited.html", {"message": str(error), "back": request.path}, status=429
        )
    response["Retry-After"] = str(error.retry_after)
    return response


# --- Text generation: tokens per minute and generations at once, per user -------------------
# A generation costs what it asks for (`max_new_tokens`), charged before the endpoint is called, so a
# user cannot keep the paid endpoint busy by asking for the maximum in a loop. Generations at once
# are slots in a sorted set scored by their expiry: a request that dies without releasing its slot
# (a killed web worker) loses it when its expiry passes, and that slot alone, however busy the user is.

GENERATE_TOKENS_PREFIX = "ratelimit:generate-tokens:"
GENERATE_SLOTS_PREFIX = "ratelimit:generate-slots:"
# The wait suggested to a user at the concurrency cap: one of their generations usually ends by then.
SLOT_RETRY_AFTER = 5

# KEYS[1] the user's slots; ARGV: now (ms), slot expiry (ms from now), cap, slot id.
# Returns 1 when the slot was taken, 0 at the cap.
_SLOT_TAKE = """
local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[4])
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
"""
_slot_script = None


def generation_slot_seconds() -> float:
    """How long a slot is held at most: the longest a generation request can wait on the endpoint."""
    attempts = settings.SAGEMAKER_INVOKE_MAX_ATTEMPTS
    return attempts * (settings.SAGEMAKER_INVOKE_TIMEOUT + settings.SAGEMAKER_CONNECT_TIMEOUT) + 30.0


@contextmanager
def generation_admitted(*, user, tokens: int) -> Iterator[None]:
    """Hold one of the user's GENERATE_MAX_CONCURRENT slots and charge `tokens`; RateLimited if either is out.

    A refused request is charged nothing. The slot is released when the block ends, however it ends.
    """
    slot = _slot_take(user=user)
    try:
        limit = settings.GENERATE_TOKENS_PER_MINUTE
        key = f"{GENERATE_TOKENS_PREFIX}{getattr(user, 'pk', None)}"
        retry_after = _charge(key=key, per_minute=limit, cost=tokens, user=user)
        if retry_after:
            raise RateLimited(
                f"Too many tokens asked for: the limit is {limit:,} new tokens per minute. "
                f"Try again in {retry_after} s, or ask for fewer.",
                retry_after=retry_after,
            )
        yield
    finally:
        _slot_release(user=user, slot=slot)


def _slot_take(*, user) -> str | None:
    """A slot id, or None when no slot was needed or Redis could not be asked (fail open, as above)."""
    global _slot_script
    cap = settings.GENERATE_MAX_CONCURRENT
    if cap <= 0 or getattr(user, "pk", None) is None:
        return None
    slot = uuid.uuid4().hex
    try:
        connection = _connection()
        if _slot_script is None:
            _slot_script = connection.register_script(_SLOT_TAKE)
        taken = _slot_script(
            keys=[f"{GENERATE_SLOTS_PREFIX}{user.pk}"],
            args=[int(time.time() * 1000), int(generation_slot_seconds() * 1000), cap, slot],
            client=connection,
        )
    except RedisError as error:
        log.warning("generation concurrency not checked (Redis: %s); allowing the request", error)
        return None
    if not int(taken):
        raise RateLimited(
            f"You already have {cap} generation(s) running, the most at once. "
            f"Try again when one has finished (in about {SLOT_RETRY_AFTER} s).",
            retry_after=SLOT_RETRY_AFTER,
        )
    return slot


def _slot_release(*, user, slot: str | None) -> None:
    if slot is None:
        return
    try:
        _connection().zrem(f"{GENERATE_SLOTS_PREFIX}{user.pk}", slot)
    except RedisError as error:  # the slot's expiry frees it
        log.warning("generation slot of user %s not released (Redis: %s)", user.pk, error)


def generation_limits_reset(*, user) -> None:
    """Forget a user's generation tokens and slots (tests, and an operator lifting a limit at once)."""
    _connection().delete(f"{GENERATE_TOKENS_PREFIX}{user.pk}", f"{GENERATE_SLOTS_PREFIX}{user.pk}")
