"""The Generate page: SageMaker text generation through a form, recorded in DynamoDB and listed below it.

The fixtures (`generations_table`, moto's `runtime`, the `scripted` server) are in tests/dashboard/conftest.py;
the API's side of the same service is in tests/dashboard/api/test_generate.py.
"""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from dashboard.aws import dynamodb
from tests.dashboard.sagemaker_fakes import ENDPOINT_NOT_FOUND, GPT2_ANSWER, Reply, aws_error

pytestmark = pytest.mark.django_db


def _stored() -> list[dict]:
    return dynamodb.generations_newest(limit=50)


def test_the_page_requires_login(client):
    response = client.get(reverse("dashboard:generate"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_the_page_shows_the_form_the_endpoint_and_an_empty_history(user_client, generations_table):
    response = user_client.get(reverse("dashboard:generate"))

    page = response.content.decode()
    assert response.status_code == 200
    assert 'name="prompt"' in page and 'name="max_new_tokens"' in page and 'name="temperature"' in page
    assert "gpt2-demo" in page
    assert "No generations yet." in page
    assert 'src="/static/js/generate.js"' in page


def test_it_generates_shows_and_stores_the_text(user_client, generations_table, runtime):
    runtime.seed_invoke_results(GPT2_ANSWER)

    response = user_client.post(
        reverse("dashboard:generate"), {"prompt": "Once upon a time", "max_new_tokens": "40", "temperature": "0.9"}
    )

    [item] = _stored()
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('dashboard:generate')}?id={item['id']}"
    response = user_client.get(response["Location"])
    page = response.content.decode()
    assert response.status_code == 200
    assert "and the rest of the story was written by the model." in page
    assert item["status"] == "done"
    assert item["prompt"] == "Once upon a time"
    assert item["generated_text"] == GPT2_ANSWER[0]["generated_text"]
    assert (item["max_new_tokens"], item["temperature"]) == (40, 0.9)
    assert item["endpoint"] == "gpt2-demo"
    assert item["requested_by"] == "alice"
    assert item["error"] is None
    assert isinstance(item["duration_ms"], int) and item["duration_ms"] >= 0
    assert item["finished_at"] >= item["created_at"]
    # The new generation is listed in the history on the same page, and the form is ready for another try.
    assert page.count("Once upon a time") >= 3
    assert 'value="40"' in page and 'value="0.9"' in page


def test_reloading_a_result_shows_it_again_without_generating_again(user_client, generations_table, scripted):
    server = scripted(Reply(body=GPT2_ANSWER))
    location = user_client.post(reverse("dashboard:generate"), {"prompt": "Once"})["Location"]

    for _ in range(2):
        assert "written by the model" in user_client.get(location).content.decode()

    assert len(server.requests) == 1
    assert len(_stored()) == 1


@pytest.mark.parametrize("generation_id", ["0" * 32, "../etc"])
def test_an_unknown_generation_is_404(user_client, generations_table, generation_id):
    response = user_client.get(reverse("dashboard:generate"), {"id": generation_id})
    assert response.status_code == 404
    assert "No generation with that id" in response.content.decode()


def test_the_page_shows_field_errors_and_calls_nothing(user_client, generations_table, scripted):
    server = scripted(Reply(body=GPT2_ANSWER))

    response = user_client.post(
        reverse("dashboard:generate"), {"prompt": "  ", "max_new_tokens": "9999", "temperature": "hot"}
    )

    page = response.content.decode()
    assert response.status_code == 400
    assert "Prompt is empty" in page
    assert "between 1 and 512" in page
    assert "Temperature must be a number" in page
    assert server.requests == []
    assert _stored() == []


def test_the_page_shows_an_endpoint_failure_and_records_it_as_failed(user_client, generations_table, scripted):
    scripted(aws_error(400, "ValidationError", ENDPOINT_NOT_FOUND))

    response = user_client.post(
        reverse("dashboard:generate"), {"prompt": "Hello", "max_new_tokens": "5", "temperature": "0"}
    )

    [item] = _stored()
    assert response["Location"] == f"{reverse('dashboard:generate')}?id={item['id']}"
    page = user_client.get(response["Location"]).content.decode()
    assert "Not generated:" in page and "not found" in page and "InService" in page
    assert item["status"] == "failed"
    assert item["generated_text"] is None
    assert "not found" in item["error"]


def test_the_page_rejects_a_superscript_digit_with_a_field_error(user_client, generations_table, scripted):
    server = scripted(Reply(body=GPT2_ANSWER))

    response = user_client.post(
        reverse("dashboard:generate"), {"prompt": "Hi", "max_new_tokens": "²", "temperature": "½"}
    )

    page = response.content.decode()
    assert response.status_code == 400
    assert "Max new tokens must be a whole number." in page
    assert "Temperature must be a number." in page
    assert server.requests == []


def test_an_endpoint_failure_that_cannot_be_stored_is_shown_with_its_status(user_client, scripted, settings):
    settings.DYNAMODB_GENERATIONS_TABLE = f"missing-{uuid.uuid4().hex[:8]}"
    scripted(aws_error(400, "ThrottlingException", "Rate exceeded"))

    response = user_client.post(reverse("dashboard:generate"), {"prompt": "Hello"})

    assert response.status_code == 429
    assert "is throttling requests" in response.content.decode()


def test_the_page_says_when_the_token_limit_lets_it_generate_again(
    user_client, generations_table, scripted, redis_conn, settings
):
    settings.GENERATE_TOKENS_PER_MINUTE = 10
    server = scripted(Reply(body=GPT2_ANSWER))
    assert user_client.post(reverse("dashboard:generate"), {"prompt": "Hi", "max_new_tokens": "10"}).status_code == 302

    refused = user_client.post(reverse("dashboard:generate"), {"prompt": "Hi", "max_new_tokens": "10"})

    assert refused.status_code == 429
    assert refused["Retry-After"]
    page = refused.content.decode()
    assert "Not generated: Too many tokens asked for: the limit is 10 new tokens per minute" in page
    assert len(server.requests) == 1


def test_a_scaled_to_zero_endpoint_starts_and_the_page_says_so_with_retry_after(
    user_client, generations_table, fake_endpoints, scripted
):
    server = scripted(Reply(body=GPT2_ANSWER))
    backend = fake_endpoints("gpt2-demo", state="ScaledToZero")
    form = {"prompt": "Once upon a time", "max_new_tokens": "5"}

    response = user_client.post(reverse("dashboard:generate"), form)

    assert response.status_code == 503 and response["Retry-After"] == "480"
    html = response.content.decode()
    assert "Starting the endpoint" in html and "about 480 s" in html
    assert 'data-endpoint-starting="480"' in html and 'form="generate-form"' in html  # the Try again button
    assert "Once upon a time" in html  # the form keeps the prompt for the retry
    assert backend.count("scale_up") == 1 and server.requests == [] and _stored() == []


def test_a_paused_endpoint_gets_a_503_that_says_who_paused_it(user_client, generations_table, fake_endpoints, scripted):
    from dashboard.endpoints import records

    server = scripted(Reply(body=GPT2_ANSWER))
    fake_endpoints("gpt2-demo", state="ScaledToZero")
    records.pause_set("gpt2-demo", by="sam", now=0.0)

    response = user_client.post(reverse("dashboard:generate"), {"prompt": "Hi", "max_new_tokens": "5"})

    assert response.status_code == 503 and "Retry-After" not in response
    assert "is paused (by sam" in response.content.decode()
    assert server.requests == []


def test_a_page_request_refused_while_the_endpoint_starts_is_not_charged_to_the_token_budget(
    user_client, generations_table, fake_endpoints, settings
):
    settings.GENERATE_TOKENS_PER_MINUTE = 60
    backend = fake_endpoints("gpt2-demo", state="ScaledToZero")
    form = {"prompt": "Once upon a time", "max_new_tokens": "50"}

    assert user_client.post(reverse("dashboard:generate"), form).status_code == 503
    backend.finish("gpt2-demo")

    assert user_client.post(reverse("dashboard:generate"), form).status_code == 302  # generated, then shown
    assert user_client.post(reverse("dashboard:generate"), form).status_code == 429
