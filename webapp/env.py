"""Reading settings from the environment: small typed helpers that fail loudly on bad values.

`webapp.settings` is the one caller. `DJANGO_ENV` is read here first, because whether a missing value
is an error depends on it: in production, each missing required setting is collected in `missing`,
so start-up fails once naming all of them.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any
from urllib.parse import quote, urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from environs import Env
from marshmallow.validate import Range

missing: list[str] = []
# environs parses and validates; a bad value fails start-up with `Environment variable "NAME" invalid: ...`.
env = Env()


def _given(name: str) -> bool:
    """An empty value means the default, as an unset one does: `.env.example` (a systemd EnvironmentFile)
    lists optional settings with no value."""
    return os.environ.get(name, "") != ""


def _at_least(minimum: int | None) -> Range | None:
    return None if minimum is None else Range(min=minimum, error="must be at least {min}, got {input}")


def env_str(name: str, default: str | None = None, *, required_in_production: bool = False) -> str:
    if not _given(name):
        if required_in_production and PRODUCTION:
            # Collected, so start-up fails once naming every missing setting (below).
            missing.append(name)
            return ""
        return default if default is not None else ""
    return env.str(name)


def env_bool(name: str, default: bool) -> bool:
    return env.bool(name) if _given(name) else default


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    return env.int(name, validate=_at_least(minimum)) if _given(name) else default


def env_float(name: str, default: float) -> float:
    return env.float(name) if _given(name) else default


def env_list(name: str, default: list[str] | None = None, *, required_in_production: bool = False) -> list[str]:
    raw = env_str(name, "", required_in_production=required_in_production)
    items = [part.strip() for part in raw.split(",") if part.strip()]
    return items if items else list(default or [])


def env_map(name: str, parse: Any, *, allowed: tuple[str, ...] | None = None) -> dict[str, Any]:
    """`key:value,key:value` as a dict, each value through `parse` (int, float, or a choice check).

    A pair without a colon, an empty key, a repeated key or a value `parse` refuses fails start-up naming
    the setting and the pair."""
    raw = env_str(name, "")
    found: dict[str, Any] = {}
    for pair in (part.strip() for part in raw.split(",")):
        if not pair:
            continue
        key, colon, value = (piece.strip() for piece in pair.rpartition(":"))
        if not colon or not key or not value or key in found:
            raise ImproperlyConfigured(f"{name} must be name:value pairs separated by commas, got {pair!r}")
        if allowed is not None and value not in allowed:
            raise ImproperlyConfigured(f"{name}: {key!r} must be one of {', '.join(allowed)}, got {value!r}")
        try:
            found[key] = parse(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {key!r} has a value that is not a number: {value!r}") from None
        if isinstance(found[key], int | float) and found[key] < 0:
            raise ImproperlyConfigured(f"{name}: {key!r} must not be negative, got {value!r}")
    return found


# Each web thread keeps its database connection between requests: opening and closing a SQLite
# connection cost 0.5 ms of CPU per API request, four times the token lookup it served.
# A kept connection is checked before a request reuses it, so one the database closed is reopened.
_KEEP_CONNECTIONS: dict[str, Any] = {"conn_max_age": 60, "conn_health_checks": True}


def database_from_url(url: str) -> dict:
    """Django's DATABASES entry for `url` (dj-database-url); query options such as `?sslmode=` go to OPTIONS."""
    scheme = urlparse(url).scheme
    if scheme not in {"postgres", "postgresql", "sqlite"}:
        raise ImproperlyConfigured(f"DATABASE_URL must start with postgres:// or sqlite://, got {scheme!r}")
    return dict(dj_database_url.parse(url, **_KEEP_CONNECTIONS))


def redis_url_with_password(url: str, password: str = "") -> str:
    """REDIS_URL with REDIS_PASSWORD in it (`scheme://[user]:password@host:port/db`), for every client.

    Accepts `redis://` (plain TCP) and `rediss://` (TLS). A password given both ways is refused rather
    than one silently winning.
    """
    parsed = urlparse(url)
    if parsed.scheme not in {"redis", "rediss"} or not parsed.hostname:
        raise ImproperlyConfigured(f"REDIS_URL must be redis://host:port/db or rediss://host:port/db, got {url!r}")
    if not password:
        return url
    if parsed.password:
        raise ImproperlyConfigured("The Redis password is set twice: in REDIS_URL and in REDIS_PASSWORD. Keep one.")
    userinfo, _, hostinfo = parsed.netloc.rpartition("@")
    return parsed._replace(netloc=f"{userinfo}:{quote(password, safe='')}@{hostinfo}").geturl()


def redis_is_insecure(url: str) -> bool:
    """Plain TCP with no password: anyone who reaches the port can enqueue a job, i.e. run code on a worker."""
    parsed = urlparse(url)
    return parsed.scheme == "redis" and not parsed.password


def networks_parse(name: str, values: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Addresses or CIDR ranges (`10.0.0.0/8`, `2001:db8::/32`); a bad one fails start-up naming `name`."""
    try:
        return [ipaddress.ip_network(value, strict=False) for value in values]
    except ValueError as error:
        raise ImproperlyConfigured(f"{name} must be comma-separated addresses or CIDR ranges: {error}") from None


DJANGO_ENV = os.environ.get("DJANGO_ENV", "") or "local"
if DJANGO_ENV not in {"local", "production"}:
    raise ImproperlyConfigured(f"DJANGO_ENV must be 'local' or 'production', got {DJANGO_ENV!r}")
PRODUCTION = DJANGO_ENV == "production"
