"""POST /api/v1/generate: SageMaker text generation, recorded in DynamoDB, with per-user limits.

Successful generations come from moto's sagemaker-runtime (server mode, seeded answers). What moto
cannot do (SageMaker's error answers, a slow endpoint, the request body we send) comes from a
scripted HTTP server; both are reached with real boto3 over HTTP (fixtures in tests/dashboard/conftest.py).
"""

from __future__ import annotations

import json
import socket
import time
import uuid

import pytest
from django.urls import reverse

from dashboard import ratelimit
from dashboard.aws import dynamodb
from dashboard.services import api_token_create
from tests.conftest import queue_unreachable
from tests.dashboard.sagemaker_fakes import ENDPOINT_NOT_FOUND, GPT2_ANSWER, Reply, aws_error

pytestmark = pytest.mark.django_db


def _stored() -> list[dict]:
    return dynamodb.generations_newest(limit=50)


def _api(client, payload, **extra):
    return client.post(reverse("api_generate"), json.dumps(payload), content_type="application/json", **extra)


def test_the_api_generates_and_returns_the_stored_record(user, client, generations_table, runtime):
    runtime.seed_invoke_results([{"generated_text": "Hello there, general."}])
    _, token = api_token_create(user=user)

    response = _api(client, {"prompt": "Hello there,", "max_new_tokens": 8}, HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 200
    body = response.json()
    # The container echoed the prompt; only the continuation is kept.
    assert body["generated_text"] == " general."
    assert body["status"] == "done" and body["stored"] is True
    assert (body["max_new_tokens"], body["temperature"]) == (8, 0.7)
    assert dynamodb.generation_get(generation_id=body["id"])["generated_text"] == " general."


def test_the_api_sends_the_hugging_face_contract(user_client, generations_table, scripted):
    server = scripted(Reply(body=GPT2_ANSWER))

    assert _api(user_client, {"prompt": "Once", "max_new_tokens": 12, "temperature": 0.5}).status_code == 200
    assert _api(user_client, {"prompt": "Twice", "max_new_tokens": 3, "temperature": 0}).status_code == 200

    sampled, greedy = server.requests
    assert sampled.path == "/endpoints/gpt2-demo/invocations"
    assert sampled.headers["Content-Type"] == "application/json"
    assert sampled.headers["Accept"] == "application/json"
    assert sampled.json() == {
        "inputs": "Once",
        "parameters": {"max_new_tokens": 12, "do_sample": True, "temperature": 0.5, "return_full_text": False},
    }
    # Greedy decoding: no temperature at all, since TGI rejects 0.
    assert greedy.json() == {
        "inputs": "Twice",
        "parameters": {"max_new_tokens": 3, "do_sample": False, "return_full_text": False},
    }


def test_the_endpoint_name_is_a_setting(user_client, generations_table, scripted, settings):
    settings.SAGEMAKER_GENERATE_ENDPOINT = "llama-staging"
    server = scripted(Reply(body=GPT2_ANSWER))

    assert _api(user_client, {"prompt": "Hi"}).status_code == 200
    assert server.requests[0].path == "/endpoints/llama-staging/invocations"
    assert _stored()[0]["endpoint"] == "llama-staging"


def test_the_api_requires_a_login_or_a_token(client, generations_table):
    response = _api(client, {"prompt": "Hi"})
    assert response.status_code == 401


def test_the_api_rejects_a_session_post_without_csrf(user, generations_table):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(user)
    assert _api(csrf_client, {"prompt": "Hi"}).status_code == 403


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({}, "prompt", "Field 'prompt' is required."),
        ({"prompt": ""}, "prompt", "Prompt is empty"),
        ({"prompt": 7}, "prompt", "Prompt must be a string."),
        ({"prompt": "x" * 4001}, "prompt", "the limit is 4,000"),
        ({"prompt": "bell \x07"}, "prompt", "control character (U+0007)"),
        ({"prompt": "Hi", "max_new_tokens": 0}, "max_new_tokens", "between 1 and 512"),
        ({"prompt": "Hi", "max_new_tokens": 513}, "max_new_tokens", "between 1 and 512"),
        ({"prompt": "Hi", "max_new_tokens": 2.5}, "max_new_tokens", "whole number"),
        ({"prompt": "Hi", "max_new_tokens": True}, "max_new_tokens", "whole number"),
        # str.isdigit() takes these, int() does not (or takes what is not an ASCII number): never a 500.
        ({"prompt": "Hi", "max_new_tokens": "²"}, "max_new_tokens", "whole number"),
        ({"prompt": "Hi", "max_new_tokens": "٣"}, "max_new_tokens", "whole number"),
        ({"prompt": "Hi", "max_new_tokens": "1_0"}, "max_new_tokens", "whole number"),
        ({"prompt": "Hi", "max_new_tokens": "-5"}, "max_new_tokens", "whole number"),
        ({"prompt": "Hi", "max_new_tokens": "9" * 5000}, "max_new_tokens", "whole number"),
        ({"prompt": "Hi", "max_new_tokens": 10**30}, "max_new_tokens", "between 1 and 512"),
        ({"prompt": "Hi", "max_new_tokens": [5]}, "max_new_tokens", "whole number"),
        ({"prompt": "Hi", "temperature": "nan"}, "temperature", "must be a number"),
        ({"prompt": "Hi", "temperature": "inf"}, "temperature", "must be a number"),
        ({"prompt": "Hi", "temperature": "1e0"}, "temperature", "must be a number"),
        ({"prompt": "Hi", "temperature": "١.٥"}, "temperature", "must be a number"),
        ({"prompt": "Hi", "temperature": True}, "temperature", "must be a number"),
        ({"prompt": "Hi", "temperature": 10**400}, "temperature", "between 0 and 2"),
        ({"prompt": "Hi", "temperature": {"value": 1}}, "temperature", "must be a number"),
        ({"prompt": "Hi", "temperature": -0.1}, "temperature", "between 0 and 2"),
        ({"prompt": "Hi", "temperature": 2.5}, "temperature", "between 0 and 2"),
        ({"prompt": "Hi", "temperature": "warm"}, "temperature", "must be a number"),
        ({"prompt": "Hi", "top_k": 5}, "top_k", "Unknown field(s): top_k."),
    ],
)
def test_the_api_rejects_bad_input_with_400_and_calls_nothing(
    user_client, generations_table, scripted, payload, field, message
):
    server = scripted(Reply(body=GPT2_ANSWER))

    response = _api(user_client, payload)

    assert response.status_code == 400
    assert message in response.json()["error"]
    assert field in response.json()["fields"]
    assert server.requests == []
    assert _stored() == []


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_the_api_rejects_a_temperature_that_is_not_finite(user_client, generations_table, scripted, literal):
    server = scripted(Reply(body=GPT2_ANSWER))
    body = '{"prompt": "Hi", "temperature": ' + literal + "}"

    response = user_client.post(reverse("api_generate"), body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["fields"] == {"temperature": "Temperature must be a number."}
    assert server.requests == []


@pytest.mark.parametrize(("tokens", "temperature"), [("8", "0.5"), (" 8 ", ".5"), (8, 0.5), (8.0, 1), ("8", "0")])
def test_the_api_accepts_numbers_and_plain_digit_strings(user_client, generations_table, scripted, tokens, temperature):
    server = scripted(Reply(body=GPT2_ANSWER))

    response = _api(user_client, {"prompt": "Hi", "max_new_tokens": tokens, "temperature": temperature})

    assert response.status_code == 200
    assert response.json()["max_new_tokens"] == 8
    assert server.requests[0].json()["parameters"]["max_new_tokens"] == 8


def test_the_api_rejects_a_body_that_is_not_json(user_client, generations_table):
    assert user_client.post(reverse("api_generate"), "prompt=hi", content_type="text/plain").status_code == 415
    response = user_client.post(reverse("api_generate"), "{nope", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "The body is not valid JSON."
    assert _api(user_client, ["Hi"]).status_code == 400


def test_the_max_new_tokens_limit_is_a_setting(user_client, generations_table, settings):
    settings.GENERATE_MAX_NEW_TOKENS = 64
    response = _api(user_client, {"prompt": "Hi", "max_new_tokens": 65})
    assert response.status_code == 400
    assert "between 1 and 64" in response.json()["error"]


# --- endpoint failures: clear message, right status, recorded as failed, never as done --------


@pytest.mark.parametrize(
    ("reply", "status", "message"),
    [
        (aws_error(400, "ValidationError", ENDPOINT_NOT_FOUND), 503, "not found. It must exist and be InService"),
        (aws_error(400, "ThrottlingException", "Rate exceeded"), 429, "is throttling requests"),
        (aws_error(429, "ModelNotReadyException", "Model is loading"), 503, "not ready to serve yet"),
        (
            aws_error(
                424,
                "ModelError",
                "Received server error (500) from primary",
                OriginalStatusCode=500,
                OriginalMessage="CUDA out of memory",
                LogStreamArn="arn:aws:logs:us-east-1:1:log-group:/aws/sagemaker/Endpoints/gpt2-demo",
            ),
            502,
            "The model behind 'gpt2-demo' failed: CUDA out of memory (logs: arn:aws:logs",
        ),
        (aws_error(503, "ServiceUnavailable", "Try later"), 503, "could not run endpoint"),
        (Reply(body={"predictions": [1]}), 502, "without a generated_text"),
        (Reply(body=b"<html>oops</html>", headers={"Content-Type": "text/html"}), 502, "not JSON"),
    ],
)
def test_an_endpoint_failure_is_a_clear_error_and_a_failed_record(
    user_client, generations_table, scripted, reply, status, message
):
    scripted(reply)

    response = _api(user_client, {"prompt": "Hello", "max_new_tokens": 5})

    assert response.status_code == status
    assert message in response.json()["error"]
    [item] = _stored()
    assert item["status"] == "failed"
    assert item["generated_text"] is None
    assert message in item["error"]


def test_throttling_and_a_missing_endpoint_tell_the_client_when_to_retry(user_client, generations_table, scripted):
    scripted(aws_error(400, "ThrottlingException", "Rate exceeded"))
    assert _api(user_client, {"prompt": "Hi"})["Retry-After"] == "5"


def test_a_throttled_call_is_retried_when_attempts_allow(user_client, generations_table, scripted, settings):
    server = scripted(aws_error(400, "ThrottlingException", "Rate exceeded"), Reply(body=GPT2_ANSWER))
    settings.SAGEMAKER_INVOKE_MAX_ATTEMPTS = 2

    response = _api(user_client, {"prompt": "Hi"})

    assert response.status_code == 200
    assert len(server.requests) == 2
    assert [item["status"] for item in _stored()] == ["done"]


def test_a_slow_endpoint_times_out_with_504(user_client, generations_table, scripted, settings):
    settings.SAGEMAKER_INVOKE_TIMEOUT = 0.5
    scripted(Reply(body=GPT2_ANSWER, delay=3))

    response = _api(user_client, {"prompt": "Hello"})

    assert response.status_code == 504
    assert "did not answer within 0.5 s" in response.json()["error"]
    assert _stored()[0]["status"] == "failed"


def test_sagemaker_unreachable_is_503(user_client, generations_table, settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.SAGEMAKER_RUNTIME_ENDPOINT_URL = f"http://127.0.0.1:{closed_port}"
    settings.SAGEMAKER_INVOKE_MAX_ATTEMPTS = 1

    response = _api(user_client, {"prompt": "Hello"})

    assert response.status_code == 503
    assert "could not be reached" in response.json()["error"]
    assert _stored()[0]["status"] == "failed"


def test_a_generation_that_cannot_be_stored_is_still_returned_marked_unsaved(user_client, scripted, settings):
    settings.DYNAMODB_GENERATIONS_TABLE = f"missing-{uuid.uuid4().hex[:8]}"
    scripted(Reply(body=GPT2_ANSWER))

    response = _api(user_client, {"prompt": "Hello"})
    assert response.status_code == 200
    assert response.json()["stored"] is False
    assert response.json()["generated_text"] == GPT2_ANSWER[0]["generated_text"]

    response = user_client.post(reverse("dashboard:generate"), {"prompt": "Hello"})
    assert response.status_code == 200  # nothing to redirect to: shown once, here
    page = response.content.decode()
    assert "this result is not saved" in page
    assert "does not exist; run `manage.py create_results_table`" in page


# --- per-user limits: tokens per minute, generations at once -----------------------------------


def test_the_api_charges_requested_tokens_and_refuses_over_the_limit_with_retry_after(
    user_client, user, django_user_model, generations_table, scripted, redis_conn, settings
):
    settings.GENERATE_TOKENS_PER_MINUTE = 100
    server = scripted(Reply(body=GPT2_ANSWER))

    assert _api(user_client, {"prompt": "Hi", "max_new_tokens": 60}).status_code == 200
    refused = _api(user_client, {"prompt": "Hi", "max_new_tokens": 60})

    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused.json()["retry_after"] == int(refused["Retry-After"])
    assert "100 new tokens per minute" in refused.json()["error"]
    assert len(server.requests) == 1  # the refused one never reached the endpoint...
    assert len(_stored()) == 1  # ...and left no record
    other = django_user_model.objects.create_user(username="bob", password="pw-bob-12345")
    user_client.force_login(other)
    assert _api(user_client, {"prompt": "Hi", "max_new_tokens": 60}).status_code == 200  # per user


def test_a_user_at_the_concurrency_cap_is_refused_and_charged_nothing(
    user_client, user, generations_table, scripted, redis_conn, settings
):
    settings.GENERATE_MAX_CONCURRENT = 2
    settings.GENERATE_TOKENS_PER_MINUTE = 100
    server = scripted(Reply(body=GPT2_ANSWER))

    with ratelimit.generation_admitted(user=user, tokens=1), ratelimit.generation_admitted(user=user, tokens=1):
        refused = _api(user_client, {"prompt": "Hi", "max_new_tokens": 90})

    assert refused.status_code == 429
    assert refused["Retry-After"] == str(ratelimit.SLOT_RETRY_AFTER)
    assert "You already have 2 generation(s) running" in refused.json()["error"]
    assert server.requests == []
    # Both slots are free again, and the refused request's 90 tokens were not charged (2 + 90 <= 100).
    assert _api(user_client, {"prompt": "Hi", "max_new_tokens": 90}).status_code == 200


def test_a_failed_generation_gives_its_slot_back(user_client, user, generations_table, scripted, redis_conn, settings):
    settings.GENERATE_MAX_CONCURRENT = 1
    scripted(aws_error(400, "ThrottlingException", "Rate exceeded"), Reply(body=GPT2_ANSWER))

    assert _api(user_client, {"prompt": "Hi"}).status_code == 429  # the endpoint's own throttling
    assert redis_conn.zcard(f"{ratelimit.GENERATE_SLOTS_PREFIX}{user.pk}") == 0
    assert _api(user_client, {"prompt": "Hi"}).status_code == 200


def test_a_slot_a_crashed_request_never_released_expires_on_its_own(
    user_client, user, generations_table, scripted, redis_conn, settings
):
    import time_machine

    settings.GENERATE_MAX_CONCURRENT = 1
    scripted(Reply(body=GPT2_ANSWER))
    crashed = ratelimit.generation_admitted(user=user, tokens=1)
    crashed.__enter__()  # and never exits: its process died
    assert _api(user_client, {"prompt": "Hi"}).status_code == 429

    later = time.time() + ratelimit.generation_slot_seconds() + 1
    with time_machine.travel(later, tick=False):
        assert _api(user_client, {"prompt": "Hi"}).status_code == 200


def test_generation_goes_on_when_redis_cannot_count(user_client, generations_table, scripted, settings):
    queue_unreachable(settings)
    settings.GENERATE_MAX_CONCURRENT = 1
    settings.GENERATE_TOKENS_PER_MINUTE = 1
    scripted(Reply(body=GPT2_ANSWER))

    assert _api(user_client, {"prompt": "Hi", "max_new_tokens": 50}).status_code == 200
    assert _api(user_client, {"prompt": "Hi", "max_new_tokens": 50}).status_code == 200


def test_a_scaled_to_zero_endpoint_answers_503_with_retry_after_its_start_time(
    user_client, generations_table, fake_endpoints, scripted
):
    server = scripted(Reply(body=GPT2_ANSWER))
    fake_endpoints("gpt2-demo", state="ScaledToZero")

    response = _api(user_client, {"prompt": "Hello", "max_new_tokens": 5})

    assert response.status_code == 503 and response["Retry-After"] == "480"
    assert "Starting the endpoint 'gpt2-demo', about 480 s" in response.json()["error"]
    assert server.requests == []


def test_a_paused_endpoint_answers_503_saying_so_without_retry_after(
    user_client, generations_table, fake_endpoints, scripted
):
    from dashboard.endpoints import records

    scripted(Reply(body=GPT2_ANSWER))
    fake_endpoints("gpt2-demo")
    records.pause_set("gpt2-demo", by="sam", now=0.0)

    response = _api(user_client, {"prompt": "Hello", "max_new_tokens": 5})

    assert response.status_code == 503 and "Retry-After" not in response
    assert "paused (by sam" in response.json()["error"]


def test_a_request_refused_while_the_endpoint_starts_is_not_charged_to_the_token_budget(
    user_client, generations_table, fake_endpoints, settings
):
    settings.GENERATE_TOKENS_PER_MINUTE = 60
    backend = fake_endpoints("gpt2-demo", state="ScaledToZero")

    assert _api(user_client, {"prompt": "Hello", "max_new_tokens": 50}).status_code == 503
    backend.finish("gpt2-demo")
    response = _api(user_client, {"prompt": "Hello", "max_new_tokens": 50})

    assert response.status_code == 200, response.content  # 50 + 50 would be over 60 had the refusal been charged
    assert _api(user_client, {"prompt": "Hello", "max_new_tokens": 50}).status_code == 429  # the budget still holds
