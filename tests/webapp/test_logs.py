"""The log formatter every process uses: JSON lines or console lines, the bound context, no secrets."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import structlog

from webapp.logs import REDACTED, log_formatter

ROOT = Path(__file__).resolve().parents[2]

# Made up, in the shapes the real ones have (the key id is built here, so the scan for committed
# credentials in tests/dashboard/test_security.py does not find it in this file).
API_TOKEN = "xlc_Zm9vYmFyYmF6cXV4LXNlY3JldC10b2tlbi12YWx1ZQ"
AWS_KEY_ID = "AKIA" + "IOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
PASSWORD = "hunter2-correct-horse"


@pytest.fixture
def render():
    """A logger of its own whose lines go through `log_formatter(fmt=...)`; returns what it wrote."""
    made: list[tuple[logging.Logger, logging.Handler]] = []

    def logger(fmt: str) -> tuple[logging.Logger, io.StringIO]:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(log_formatter(fmt=fmt))
        log = logging.getLogger(f"tests.logs.{fmt}.{len(made)}")
        log.addHandler(handler)
        log.propagate = False
        log.setLevel(logging.INFO)
        made.append((log, handler))
        return log, stream

    yield logger
    for log, handler in made:
        log.removeHandler(handler)
    structlog.contextvars.clear_contextvars()


def test_a_json_line_is_one_object_with_the_bound_context_and_the_extra_fields(render):
    log, stream = render("json")
    structlog.contextvars.bind_contextvars(request_id="req-1", user="alice")

    log.info("job enqueued for %d item(s)", 2, extra={"job_id": "job-1", "item_ids": ["a", "b"]})

    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["event"] == "job enqueued for 2 item(s)"
    assert (line["level"], line["logger"]) == ("info", log.name)
    assert (line["request_id"], line["user"], line["job_id"], line["item_ids"]) == (
        "req-1",
        "alice",
        "job-1",
        ["a", "b"],
    )
    assert line["timestamp"].endswith("Z")


def test_an_extra_field_wins_over_the_bound_one_of_the_same_name(render):
    log, stream = render("json")
    structlog.contextvars.bind_contextvars(request_id="the-job's")

    log.info("item classified", extra={"request_id": "the-item's"})

    assert json.loads(stream.getvalue())["request_id"] == "the-item's"


def test_a_traceback_is_one_json_field_and_the_line_stays_one_line(render):
    log, stream = render("json")
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        log.exception("it failed")

    [line] = stream.getvalue().splitlines()
    parsed = json.loads(line)
    assert parsed["level"] == "error"
    assert "RuntimeError: boom" in parsed["exception"] and "Traceback" in parsed["exception"]


def test_a_console_line_reads_as_text_with_key_value_fields(render):
    log, stream = render("console")
    structlog.contextvars.bind_contextvars(request_id="req-2")

    log.warning("result write failed", extra={"item_id": "i-1"})

    text = stream.getvalue()
    assert "result write failed" in text and "warning" in text
    assert "item_id=i-1" in text and "request_id=req-2" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_a_console_traceback_shows_no_local_variables(render):
    log, stream = render("console")

    def fails(password: str) -> None:
        raise ValueError("bad")

    try:
        fails(PASSWORD)
    except ValueError:
        log.exception("it failed")

    text = stream.getvalue()
    assert "ValueError: bad" in text
    assert PASSWORD not in text


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_secrets_never_reach_a_line_in_any_field_or_traceback(render, fmt):
    log, stream = render(fmt)
    structlog.contextvars.bind_contextvars(authorization=f"Bearer {API_TOKEN}")

    log.warning(
        "calling with Authorization: Bearer %s and token %s as %s / %s",
        API_TOKEN,
        API_TOKEN,
        AWS_KEY_ID,
        f"aws_secret_access_key={AWS_SECRET}",
        extra={
            "password": PASSWORD,
            "headers": {"Authorization": f"Basic {PASSWORD}", "Cookie": f"sessionid={PASSWORD}"},
            "url": f"rediss://:{PASSWORD}@cache.example.com:6379/0",
            "settings": repr({"aws_secret_access_key": AWS_SECRET}),
        },
    )
    try:
        raise ConnectionError(f"could not connect to postgres://app:{PASSWORD}@db:5432/console with {API_TOKEN}")
    except ConnectionError:
        log.exception("database away")

    text = stream.getvalue()
    for secret in (API_TOKEN.removeprefix("xlc_"), AWS_KEY_ID, AWS_SECRET, PASSWORD):
        assert secret not in text
    assert REDACTED in text
    assert "could not connect to postgres://app:" in text  # the rest of the message stays readable
    if fmt == "json":
        assert all(json.loads(line) for line in text.splitlines())


def test_ordinary_fields_are_left_as_they_are(render):
    log, stream = render("json")

    log.info("done", extra={"item_id": "0123456789abcdef", "max_new_tokens": 64, "label_name": "positive"})

    line = json.loads(stream.getvalue())
    assert (line["item_id"], line["max_new_tokens"], line["label_name"]) == ("0123456789abcdef", 64, "positive")


def test_an_unknown_log_format_fails_start_up_naming_the_setting():
    env = {k: v for k, v in os.environ.items() if k != "LOG_FORMAT"} | {"LOG_FORMAT": "xml"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode != 0
    assert "LOG_FORMAT must be one of json, console, got 'xml'" in result.stderr


def test_production_writes_json_lines_and_local_runs_console_lines():
    code = "from django.conf import settings; print(settings.LOG_FORMAT)"
    base = {k: v for k, v in os.environ.items() if k not in {"LOG_FORMAT", "DJANGO_ENV"}}
    production = base | {
        "DJANGO_ENV": "production",
        "SECRET_KEY": "x" * 60,
        "ALLOWED_HOSTS": "console.example.com",
        "REDIS_URL": "rediss://cache.example.com:6379/0",
        "REDIS_PASSWORD": "not-used-here",
        "AWS_REGION": "us-east-1",
        "DYNAMODB_TABLE": "classifier-results",
    }
    for env, expected in ((base, "console"), (production, "json")):
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.stdout.strip().splitlines()[-1] == expected, result.stderr


def test_a_django_request_line_keeps_the_method_and_path_only(render, rf):
    log, stream = render("json")
    request = rf.get("/results/", {"q": "private words"})

    log.warning("Not Found: %s", request.path, extra={"status_code": 404, "request": request})

    line = json.loads(stream.getvalue())
    assert (line["request"], line["status_code"]) == ("GET /results/", 404)
    assert "private" not in stream.getvalue()


def test_a_line_another_handler_formatted_first_gets_no_message_field(render):
    log, stream = render("json")
    plain = logging.StreamHandler(io.StringIO())
    plain.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.handlers.insert(0, plain)

    log.info("twice")
    log.removeHandler(plain)

    line = json.loads(stream.getvalue())
    assert line["event"] == "twice" and "message" not in line and "asctime" not in line
