from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _check(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ALLOWED_HOSTS", "REDIS_URL"}}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_without_its_settings_and_names_them():
    result = _check({"DJANGO_ENV": "production"})
    assert result.returncode != 0
    assert "Production settings are missing: SECRET_KEY, ALLOWED_HOSTS, REDIS_URL" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("SUBMISSION_MAX_CHARS", "lots", "Not a valid integer"),
        ("RESULTS_PAGE_SIZE", "0", "must be at least 1, got 0"),
        ("REDIS_ALLOW_INSECURE", "maybe", "Not a valid boolean"),
        ("GPU_HOURLY_PRICE", "cheap", "Not a valid number"),
    ],
)
def test_a_bad_value_fails_start_up_naming_the_variable(name, value, reason):
    result = _check({name: value})
    assert result.returncode != 0
    assert f'Environment variable "{name}" invalid' in result.stderr
    assert reason in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("SAGEMAKER_ENDPOINT_KINDS", "gpt2-demo:serverless", "must be one of realtime, async, got 'serverless'"),
        ("SAGEMAKER_ENDPOINT_IDLE", "gpt2-demo", "must be name:value pairs separated by commas, got 'gpt2-demo'"),
        ("SAGEMAKER_HOURLY_PRICES", "ml.g5.xlarge:cheap", "has a value that is not a number: 'cheap'"),
    ],
)
def test_a_bad_name_value_list_fails_start_up_naming_the_setting_and_the_pair(name, value, reason):
    result = _check({name: value})
    assert result.returncode != 0
    assert name in result.stderr and reason in result.stderr


_SHOW_PAGE_SIZE_AND_DEBUG = "from django.conf import settings; print(settings.RESULTS_PAGE_SIZE, settings.DEBUG)"


def test_an_empty_value_means_the_default_as_in_an_environment_file():
    result = _manage(
        ["shell", "--no-imports", "-c", _SHOW_PAGE_SIZE_AND_DEBUG],
        {"RESULTS_PAGE_SIZE": "", "DJANGO_DEBUG": ""},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["25", "True"]


def test_database_connections_are_kept_and_checked_whatever_the_database():
    from django.conf import settings

    from webapp.settings import VAR_DIR, database_from_url

    for url in ("sqlite:////tmp/console.sqlite3", "postgres://console:secret@db.internal:5432/console"):
        database = database_from_url(url)
        assert database["CONN_MAX_AGE"] == 60 and database["CONN_HEALTH_CHECKS"] is True
    default = settings.DATABASES["default"]
    assert default["CONN_MAX_AGE"] == 60 and default["CONN_HEALTH_CHECKS"] is True
    show_name = "from django.conf import settings; print(settings.DATABASES['default']['NAME'])"
    result = _manage(["shell", "--no-imports", "-c", show_name], {"DATABASE_URL": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(VAR_DIR / "db.sqlite3")


def test_a_database_url_keeps_its_credentials_and_query_options():
    from webapp.settings import database_from_url

    database = database_from_url("postgres://console:p%40ss@db.internal:5432/console?sslmode=verify-full")
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["USER"], database["PASSWORD"], database["HOST"]) == ("console", "p@ss", "db.internal")
    assert (database["NAME"], str(database["PORT"])) == ("console", "5432")
    assert database["OPTIONS"] == {"sslmode": "verify-full"}


def test_a_database_url_it_cannot_use_fails_loudly():
    from django.core.exceptions import ImproperlyConfigured

    from webapp.settings import database_from_url

    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL must start with postgres:// or sqlite://"):
        database_from_url("mysql://console@db.internal/console")


# --- Redis: TLS, AUTH, and who may skip them --------------------------------------------------

_PRODUCTION = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "x" * 20 + "-production-settings-test-key-0123456789",
    "ALLOWED_HOSTS": "console.example.com",
    "DYNAMODB_TABLE": "classifier-results",
    "AWS_REGION": "eu-west-1",
}
_REDIS_VARIABLES = {"REDIS_URL", "REDIS_PASSWORD", "REDIS_ALLOW_INSECURE", "DJANGO_DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}


def _manage(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in _REDIS_VARIABLES | set(_PRODUCTION)}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean | env, capture_output=True, text=True, timeout=120
    )


def test_the_password_goes_into_the_url_every_client_connects_with():
    import redis

    from webapp.settings import redis_url_with_password

    url = redis_url_with_password("rediss://cache.internal:6379/0", "to:ken/with@odd")
    assert url == "rediss://:to%3Aken%2Fwith%40odd@cache.internal:6379/0"
    pool = redis.Redis.from_url(url).connection_pool
    assert pool.connection_kwargs["password"] == "to:ken/with@odd"
    assert pool.connection_class is redis.SSLConnection
    assert redis_url_with_password("redis://app@[::1]:6380/2", "t") == "redis://app:t@[::1]:6380/2"
    assert redis_url_with_password("redis://127.0.0.1:6379/0", "") == "redis://127.0.0.1:6379/0"


def test_a_redis_url_it_cannot_use_or_a_password_set_twice_fails_loudly():
    from django.core.exceptions import ImproperlyConfigured

    from webapp.settings import redis_url_with_password

    for url in ("http://cache.internal:6379/0", "cache.internal:6379", "rediss://"):
        with pytest.raises(ImproperlyConfigured, match="REDIS_URL must be"):
            redis_url_with_password(url, "")
    with pytest.raises(ImproperlyConfigured, match="set twice"):
        redis_url_with_password("rediss://:one@cache.internal:6379/0", "two")


_SHOW_CONNECTIONS = (
    "from django.core.cache import cache\n"
    "from dashboard.queue import redis_connection\n"
    "queue = redis_connection().connection_pool\n"
    "shared = cache._cache._get_connection_pool(True)\n"
    "for pool in (queue, shared):\n"
    "    print(pool.connection_kwargs.get('password'), pool.connection_class.__name__)\n"
)


def test_the_queue_and_the_cache_connect_over_tls_with_the_password():
    env = _PRODUCTION | {"REDIS_URL": "rediss://cache.internal:6379/0", "REDIS_PASSWORD": "auth-token"}
    result = _manage(["shell", "--no-imports", "-c", _SHOW_CONNECTIONS], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["auth-token", "SSLConnection", "auth-token", "SSLConnection"]


@pytest.mark.parametrize(
    ("redis_env", "refused"),
    [
        ({"REDIS_URL": "redis://cache.internal:6379/0"}, True),
        ({"REDIS_URL": "redis://cache.internal:6379/0", "REDIS_ALLOW_INSECURE": "true"}, False),
        ({"REDIS_URL": "redis://cache.internal:6379/0", "REDIS_PASSWORD": "auth-token"}, False),
        ({"REDIS_URL": "redis://:auth-token@cache.internal:6379/0"}, False),
        ({"REDIS_URL": "rediss://cache.internal:6379/0", "REDIS_PASSWORD": "auth-token"}, False),
    ],
)
def test_production_refuses_plain_redis_without_a_password_unless_told_to(redis_env, refused):
    result = _manage(["check"], _PRODUCTION | redis_env)
    assert (result.returncode != 0) is refused, result.stderr
    assert ("REDIS_URL is plain redis:// with no password" in result.stderr) is refused


def test_locally_plain_redis_is_fine():
    result = _manage(["check"], {"REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert result.returncode == 0, result.stderr
