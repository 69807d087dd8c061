"""Login throttling: failed logins lock a username, and a client address, for a time that doubles.

Both login pages (the site's `/accounts/login/` and the admin's `/admin/login/`) are wrapped in
`login_throttled`. A failed login counts against the username typed and against the client address;
LOGIN_FAILURES_PER_USERNAME failures of one username (password guessing against one account) or
LOGIN_FAILURES_PER_ADDRESS from one address (one place trying many accounts) within
LOGIN_FAILURE_WINDOW seconds lock it for LOGIN_LOCKOUT_SECONDS; every further failure after a lock
ends doubles the next one, up to LOGIN_LOCKOUT_MAX_SECONDS. While locked, every login is refused
(429, with a page that says when to try again), the right password too: otherwise a lock would only
slow guessing down, not stop it. A successful login clears its username's count, not its address's
(a guesser with one account of their own must not be able to wipe their address's count with it).

Unknown usernames are counted and locked like real ones, so a lock says nothing about whether an
account exists. Keys hold a hash of the username, never the text typed, and nothing here logs a
password. Counts live in Redis (shared by every web process). If Redis cannot answer, logins are
neither counted nor refused, as for the submission limit (dashboard/ratelimit.py): the limiter must
not be what keeps everyone out.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from redis.exceptions import RedisError

from dashboard import audit

log = logging.getLogger(__name__)

KEY_PREFIX = "login:"

# KEYS[1] the failure count, KEYS[2] the lock; ARGV: now, window s, limit, first lock s, longest lock s.
# Returns {failures, lock seconds set now (0: none)}. A lock holds the time it ends (the clock is the
# web process's, as for the rate limits, so tests can move it); Redis's expiry only cleans up. The
# count outlives the lock by a window, so a failure soon after a lock ends doubles the next lock
# instead of starting again from the first.
_FAILED = """
local failures = redis.call('INCR', KEYS[1])
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
if failures < limit then
  redis.call('EXPIRE', KEYS[1], window)
  return {failures, 0}
end
local lock = math.floor(math.min(tonumber(ARGV[4]) * 2 ^ (failures - limit), tonumber(ARGV[5])))
redis.call('SET', KEYS[2], tostring(now + lock), 'EX', lock + 1)
redis.call('EXPIRE', KEYS[1], window + lock)
return {failures, lock}
"""
_script = None


@dataclass(frozen=True)
class Lock:
    """A username or address that may not log in for `seconds` more."""

    scope: str  # "username" or "address"
    value: str
    seconds: int


def client_address(request: HttpRequest) -> str:
    """The client's IP: REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies the address the outermost one saw.

    Each proxy appends the address it was connected from to X-Forwarded-For, so with N proxies of
    ours the Nth entry from the right is the client's; anything left of it was sent by the client and
    proves nothing. A header that is too short or not an address falls back to REMOTE_ADDR.
    """
    remote = request.META.get("REMOTE_ADDR", "") or "unknown"
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if len(hops) < proxies:
        return remote
    try:
        return str(ipaddress.ip_address(hops[-proxies]))
    except ValueError:
        return remote


def _key(kind: str, scope: str, value: str) -> str:
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{KEY_PREFIX}{kind}:{scope}:{digest}"


def _subjects(*, username: str, address: str) -> list[tuple[str, str, int]]:
    """(scope, value, limit) for what one login attempt counts against."""
    subjects = [("address", address, settings.LOGIN_FAILURES_PER_ADDRESS)]
    if username:
        subjects.insert(0, ("username", username, settings.LOGIN_FAILURES_PER_USERNAME))
    return subjects


def _connection():
    from dashboard.queue import redis_connection

    return redis_connection()


def login_lock_get(*, username: str, address: str) -> Lock | None:
    """The lock that refuses this attempt now (the longest, if both are locked), or None."""
    subjects = _subjects(username=username, address=address)
    try:
        ends = _connection().mget([_key("lock", scope, value) for scope, value, _limit in subjects])
    except RedisError as error:
        log.warning("login throttle not checked (Redis: %s); allowing the attempt", error)
        return None
    now = time.time()
    locks = [
        Lock(scope=scope, value=value, seconds=math.ceil(float(end) - now))
        for (scope, value, _limit), end in zip(subjects, ends, strict=True)
        if end is not None and float(end) > now
    ]
    return max(locks, key=lambda lock: lock.seconds, default=None)


def login_failure_record(*, username: str, address: str) -> Lock | None:
    """Count a failed login; the lock it started (audited), or None when it started none."""
    global _script
    started = []
    try:
        connection = _connection()
        if _script is None:
            _script = connection.register_script(_FAILED)
        for scope, value, limit in _subjects(username=username, address=address):
            failures, seconds = _script(
                keys=[_key("failures", scope, value), _key("lock", scope, value)],
                args=[
                    f"{time.time():.3f}",
                    settings.LOGIN_FAILURE_WINDOW,
                    limit,
                    settings.LOGIN_LOCKOUT_SECONDS,
                    settings.LOGIN_LOCKOUT_MAX_SECONDS,
                ],
                client=connection,
            )
            if int(seconds):
                started.append((Lock(scope=scope, value=value, seconds=int(seconds)), int(failures)))
    except RedisError as error:
        log.warning("failed login not counted (Redis: %s)", error)
    for lock, failures in started:
        log.warning("login locked for %s %s for %d s after %d failures", lock.scope, lock.value, lock.seconds, failures)
        audit.audit_record(
            kind="auth",
            actor_name=address,
            action="login_locked",
            target=f"{lock.scope} {lock.value}",
            outcome="refused",
            count=failures,
            detail=f"{failures} failed logins within {settings.LOGIN_FAILURE_WINDOW} s; "
            f"logins refused for {lock.seconds} s.",
        )
    return max((lock for lock, _ in started), key=lambda lock: lock.seconds, default=None)


def login_success_record(*, username: str) -> None:
    """A successful login forgets its username's failures."""
    try:
        _connection().delete(_key("failures", "username", username))
    except RedisError as error:
        log.warning("login failures of a user not cleared (Redis: %s)", error)


def login_throttle_reset() -> None:
    """Forget every count and lock (tests, and an operator unlocking everyone at once)."""
    connection = _connection()
    keys = list(connection.scan_iter(match=f"{KEY_PREFIX}*", count=1000))
    if keys:
        connection.delete(*keys)


def login_throttled(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Refuse a login POST while its username or address is locked; count the ones the view refuses.

    Django's login views answer a failed login by showing the form again (200) and a successful one
    with a redirect, after `login()` has set `request.user`.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
        if request.method != "POST":
            return view(request, *args, **kwargs)
        username = str(request.POST.get("username", "")).strip().casefold()[:150]
        address = client_address(request)
        lock = login_lock_get(username=username, address=address)
        if lock is not None:
            log.warning("login refused: %s %s is locked for %d s more", lock.scope, lock.value, lock.seconds)
            return _locked(request, lock)
        response = view(request, *args, **kwargs)
        if response.status_code == 200:
            lock = login_failure_record(username=username, address=address)
            if lock is not None:
                return _locked(request, lock)
        elif 300 <= response.status_code < 400 and request.user.is_authenticated:
            login_success_record(username=username)
        return response

    return wrapped


def _locked(request: HttpRequest, lock: Lock) -> HttpResponse:
    until = datetime.fromtimestamp(time.time(), UTC) + timedelta(seconds=lock.seconds)
    context = {
        "scope": "from this address" if lock.scope == "address" else "with this username",
        "wait": _wait_text(lock.seconds),
        "until": until.strftime("%H:%M:%S UTC"),
        "back": request.path,
    }
    response = render(request, "registration/login_locked.html", context, status=429)
    response["Retry-After"] = str(lock.seconds)
    return response


def _wait_text(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    if not minutes:
        return f"{rest} s"
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"
