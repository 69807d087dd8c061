"""Per-user rate limit on submissions, shared by every web process through Redis.

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
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from redis.exceptions import RedisError

from dashboard.exceptions import RateLimited

log = logging.getLogger(__name__)

KEY_PREFIX = "ratelimit:submissions:"
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
    global _script
    limit = settings.SUBMISSIONS_PER_MINUTE
    if limit <= 0 or cost <= 0 or getattr(user, "pk", None) is None:
        return
    try:
        connection = _connection()
        if _script is None:
            _script = connection.register_script(_GCRA)
        allowed, retry_ms = _script(
            keys=[f"{KEY_PREFIX}{user.pk}"],
            args=[f"{time.time():.6f}", 60.0 / limit, BURST_SECONDS, cost],
            client=connection,
        )
    except RedisError as error:
        log.warning("rate limit not checked (Redis: %s); allowing the submission", error)
        return
    if not int(allowed):
        retry_after = max(1, math.ceil(int(retry_ms) / 1000))
        raise RateLimited(
            f"Too many submissions: the limit is {limit} per minute. Try again in {retry_after} s.",
            retry_after=retry_after,
        )


def submissions_reset(*, user) -> None:
    """Forget a user's bucket (tests, and an operator lifting a limit at once)."""
    _connection().delete(f"{KEY_PREFIX}{user.pk}")


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
    if api:
        from dashboard.auth import api_error

        response = api_error(429, str(error), retry_after=error.retry_after)
    else:
        response = render(
            request, "dashboard/rate_limited.html", {"message": str(error), "back": request.path}, status=429
        )
    response["Retry-After"] = str(error.retry_after)
    return response
