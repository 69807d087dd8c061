"""A real delivery, verified with exactly the function docs/webhooks.md tells receivers to use."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path

import pytest

from dashboard.webhooks import signing
from dashboard.webhooks.events import event_emit
from tests.dashboard.webhooks.support import webhooks_drain

pytestmark = pytest.mark.django_db

DOCS = Path(__file__).resolve().parents[3] / "docs" / "webhooks.md"


def _documented_verify():
    text = DOCS.read_text()
    section = text.split("## Verifying the signature", 1)[1]
    [code] = re.findall(r"```python\n(.*?)```", section, flags=re.S)[:1]
    namespace: dict = {}
    exec(compile(code, str(DOCS), "exec"), namespace)
    return namespace["verify_signature"]


def _deliver_one(webhook, receiver):
    event_emit(
        event_type="item.done",
        key="item.done:it-1:now",
        data={"item": {"id": "it-1"}},
        user=webhook.user,
        callback_url="",
        subject="item:it-1",
    )
    webhooks_drain()
    [received] = receiver.requests
    return received


def test_a_received_delivery_verifies_with_the_documented_function(webhook, receiver):
    verify_signature = _documented_verify()

    received = _deliver_one(webhook, receiver)

    header = received.headers[signing.SIGNATURE_HEADER]
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    assert verify_signature(webhook.secret_shown, header, received.body)
    assert not verify_signature(webhook.secret_shown, header, received.body + b" ")
    assert not verify_signature("whsec_another", header, received.body)
    assert json.loads(received.body)["id"] == received.headers[signing.EVENT_HEADER]


def test_the_documented_function_refuses_an_old_timestamp_and_a_malformed_header():
    verify_signature = _documented_verify()
    header = signing.signature_header(secret="s", timestamp=1_000_000_000, body=b"{}")

    assert not verify_signature("s", header, b"{}")
    assert not verify_signature("s", "v1=abc", b"{}")
    assert not verify_signature("s", "nonsense", b"{}")


def test_the_signature_is_hmac_sha256_over_the_timestamp_a_dot_and_the_raw_body():
    body = b'{"id":"evt_1"}'
    expected = hmac.new(b"whsec_k", b"1764650000." + body, hashlib.sha256).hexdigest()

    assert signing.signature_header(secret="whsec_k", timestamp=1764650000, body=body) == f"t=1764650000,v1={expected}"


def test_a_callback_secret_is_stable_per_subject_and_differs_between_subjects():
    assert signing.callback_secret(subject="item:a") == signing.callback_secret(subject="item:a")
    assert signing.callback_secret(subject="item:a") != signing.callback_secret(subject="batch:a")
    assert signing.callback_secret(subject="item:a").startswith(signing.SECRET_PREFIX)
