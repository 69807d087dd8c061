"""The text-generation contract of classifier/serve.py (SERVE_TASK=text-generation), over real HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest

from classifier import serve, serve_generation
from classifier.generator import TextGenerator
from tests.classifier.test_serve import request, wait_for_ping


@pytest.fixture(scope="module")
def generator(tiny_generator):
    return TextGenerator(tiny_generator)


@pytest.fixture
def address(generator) -> Iterator[tuple[str, int]]:
    app = serve_generation.create_generation_app(
        "gpt2-tiny",
        max_body_bytes=4096,
        limits=serve_generation.GenerationLimits(max_new_tokens=40, max_input_tokens=30),
        loader=lambda model: generator,
    )
    server = serve.make_server_for(app, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert wait_for_ping(("127.0.0.1", server.server_port)) == 200
        yield "127.0.0.1", server.server_port
    finally:
        server.shutdown()
        server.server_close()


def generate(address, payload) -> tuple[int, object]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    status, _, raw = request(address, "POST", "/invocations", body, {"Content-Type": "application/json"})
    return status, json.loads(raw)


def test_it_answers_the_hugging_face_text_generation_contract(address, generator):
    status, answer = generate(address, {"inputs": "I love it", "parameters": {"max_new_tokens": 8}})
    assert status == 200
    assert isinstance(answer, list) and list(answer[0]) == ["generated_text"]
    assert answer[0]["generated_text"].startswith("I love it")  # return_full_text defaults to true, as HF's
    continuation = generate(
        address, {"inputs": "I love it", "parameters": {"max_new_tokens": 8, "return_full_text": False}}
    )[1]
    assert answer[0]["generated_text"] == "I love it" + continuation[0]["generated_text"]


def test_sampling_parameters_are_honoured(address):
    parameters = {"max_new_tokens": 6, "do_sample": True, "temperature": 0.9, "top_p": 0.8, "seed": 3}
    first = generate(address, {"inputs": "The", "parameters": parameters})
    assert first[0] == 200
    assert generate(address, {"inputs": "The", "parameters": parameters}) == first


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"max_new_tokens": 41}, "max_new_tokens must be a whole number from 1 to 40"),
        ({"max_new_tokens": 0}, "max_new_tokens must be a whole number from 1 to 40"),
        ({"max_new_tokens": "5"}, "max_new_tokens must be a whole number"),
        ({"temperature": 0}, "temperature must be a number above 0"),
        ({"temperature": -1.0}, "temperature must be a number above 0"),
        ({"top_p": 1.5}, "top_p must be a number above 0 and at most 1"),
        ({"do_sample": "yes"}, "do_sample must be true or false"),
        ({"beams": 4}, "Unknown parameter(s): beams"),
    ],
)
def test_parameters_out_of_range_are_422_with_the_reason(address, parameters, message):
    status, answer = generate(address, {"inputs": "Hello", "parameters": parameters})
    assert status == 422
    assert message in answer["error"]


def test_an_input_over_the_token_limit_is_422(address):
    status, answer = generate(address, {"inputs": "word " * 80})
    assert status == 422
    assert "this endpoint takes at most 30" in answer["error"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b'{"inputs": ["a", "b"]}', 400, '"inputs": the prompt, a string'),
        (b'{"inputs": "a", "extra": 1}', 400, "Unknown field(s): extra"),
        (b'{"inputs": "   "}', 422, '"inputs" is empty'),
        (b'{"inputs": "a", "parameters": [1]}', 400, '"parameters" must be a JSON object'),
    ],
)
def test_malformed_bodies_are_refused_with_a_message(address, body, status, message):
    answered, answer = generate(address, body)
    assert answered == status
    assert message in answer["error"]


def test_a_body_over_the_limit_is_413_and_other_content_types_415(address):
    status, answer = generate(address, {"inputs": "x" * 5000})
    assert status == 413 and "larger than the limit of 4,096 bytes" in answer["error"]
    status, _, raw = request(address, "POST", "/invocations", "hello", {"Content-Type": "text/csv"})
    assert status == 415 and "send application/json" in json.loads(raw)["error"]


def test_ping_reports_the_generator_once_loaded(address):
    status, _, raw = request(address, "GET", "/ping")
    assert status == 200 and json.loads(raw)["status"] == "ready"
