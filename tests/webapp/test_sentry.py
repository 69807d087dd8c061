"""Sentry: off without SENTRY_DSN; with one, the Django and RQ integrations and no personal data by default.

Nothing here reaches the network: the in-process client gets a transport that records envelopes,
and the settings checks run in a child process that sends no event (its DSN names a closed local port).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sentry_sdk
import structlog
from sentry_sdk.transport import Transport

from webapp.sentry import sentry_init

ROOT = Path(__file__).resolve().parents[2]
DUMMY_DSN = "http://public@127.0.0.1:9/1"  # the discard port: nothing would answer, and nothing is sent

_PROBE = (
    "import json, sentry_sdk; from django.conf import settings; client = sentry_sdk.get_client(); "
    "on = client.is_active(); "
    "print(json.dumps({'active': on, 'pii': client.should_send_default_pii() if on else None, "
    "'environment': client.options.get('environment'), "
    "'integrations': sorted(client.integrations) if on else []}))"
)


class RecordingTransport(Transport):
    def __init__(self, options=None) -> None:
        super().__init__(options)
        self.envelopes: list = []

    def capture_envelope(self, envelope) -> None:
        self.envelopes.append(envelope)


@pytest.fixture
def recording_client():
    """Sentry started in this process with a recording transport; stopped and detached afterwards."""
    transport = RecordingTransport()

    def start(**options) -> RecordingTransport:
        sentry_init(dsn=DUMMY_DSN, transport=transport, **options)
        return transport

    yield start
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)
    structlog.contextvars.clear_contextvars()


def _events(transport: RecordingTransport) -> list[dict]:
    return [item.payload.json for envelope in transport.envelopes for item in envelope.items if item.type == "event"]


def _settings_probe(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", _PROBE],
        cwd=ROOT,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_without_a_dsn_nothing_is_initialised():
    assert _settings_probe() == {"active": False, "pii": None, "environment": None, "integrations": []}


def test_with_a_dsn_the_settings_start_it_with_django_and_rq_and_pii_off():
    probe = _settings_probe(SENTRY_DSN=DUMMY_DSN)

    assert probe["active"] is True
    assert probe["pii"] is False
    assert probe["environment"] == "local"  # DJANGO_ENV when SENTRY_ENVIRONMENT is unset
    assert {"django", "rq"} <= set(probe["integrations"])


def test_pii_is_sent_only_when_opted_in():
    assert _settings_probe(SENTRY_DSN=DUMMY_DSN, SENTRY_SEND_DEFAULT_PII="true")["pii"] is True


def test_an_event_is_tagged_with_the_request_and_job_of_its_log_lines(recording_client):
    transport = recording_client(environment="test", release="abc123")
    structlog.contextvars.bind_contextvars(request_id="req-42", job_id="job-7", user="alice")

    try:
        raise RuntimeError("the store went away")
    except RuntimeError as error:
        sentry_sdk.capture_exception(error)
    sentry_sdk.flush()

    [event] = _events(transport)
    assert event["tags"]["request_id"] == "req-42" and event["tags"]["job_id"] == "job-7"
    assert (event["environment"], event["release"]) == ("test", "abc123")
    assert "user" not in event  # no personal data unless SENTRY_SEND_DEFAULT_PII opts in
    assert sentry_sdk.get_client().should_send_default_pii() is False


def test_a_trace_sample_rate_outside_zero_to_one_fails_start_up_naming_it():
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=clean | {"SENTRY_TRACES_SAMPLE_RATE": "2"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "SENTRY_TRACES_SAMPLE_RATE must be between 0 and 1, got 2.0" in result.stderr
