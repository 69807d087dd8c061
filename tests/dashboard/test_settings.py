from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def test_bad_values_fail_loudly():
    result = _check({"SUBMISSION_MAX_CHARS": "lots"})
    assert result.returncode != 0
    assert "SUBMISSION_MAX_CHARS must be an integer" in result.stderr


def test_database_connections_are_kept_between_requests_whatever_the_database():
    from django.conf import settings

    from webapp.settings import database_from_url

    assert database_from_url("sqlite:////tmp/console.sqlite3")["CONN_MAX_AGE"] == 60
    assert database_from_url("postgres://console:secret@db.internal:5432/console")["CONN_MAX_AGE"] == 60
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] == 60
