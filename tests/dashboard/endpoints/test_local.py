"""The local endpoint backend with real gunicorn processes: its whole cycle, crashes and error mapping."""

from __future__ import annotations

import json
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import psutil
import pytest

from dashboard.devservices import free_port
from dashboard.endpoints.base import CREATING, FAILED, IN_SERVICE, SCALED_TO_ZERO
from dashboard.endpoints.local import KEY_PREFIX
from dashboard.exceptions import (
    DeployError,
    EndpointModelError,
    EndpointNotReady,
    EndpointThrottled,
    EndpointTimeout,
    EndpointUnavailable,
)
from tests.dashboard.endpoints.conftest import wait_for

GENERATE = json.dumps({"inputs": "I love", "parameters": {"max_new_tokens": 5}}).encode()


def _invoke(backend, name, body=GENERATE):
    return backend.invoke(name, body=body, content_type="application/json", accept="application/json")


def test_the_endpoints_come_from_settings_and_start_scaled_to_zero(local_endpoints, settings):
    names = local_endpoints.endpoint_names()
    assert names == [settings.SAGEMAKER_GENERATE_ENDPOINT, settings.LOCAL_CLASSIFIER_ENDPOINT]
    for endpoint in local_endpoints.endpoints():
        assert endpoint.state == SCALED_TO_ZERO and endpoint.instance_count == 0 and not endpoint.billed


def test_an_endpoint_goes_from_zero_to_in_service_answers_and_back_to_zero_and_up_again(local_endpoints, settings):
    name = settings.SAGEMAKER_GENERATE_ENDPOINT
    with pytest.raises(EndpointNotReady, match="scaled to zero"):
        _invoke(local_endpoints, name)

    started = local_endpoints.scale_up(name)
    assert started.state in {CREATING, IN_SERVICE} and started.billed
    pid = int(local_endpoints.record(name)["pid"])
    assert local_endpoints.scale_up(name).state in {CREATING, IN_SERVICE}  # a second call starts nothing
    assert int(local_endpoints.record(name)["pid"]) == pid
    assert wait_for(local_endpoints, name, {IN_SERVICE, FAILED}).state == IN_SERVICE

    answer = _invoke(local_endpoints, name)
    assert answer.content_type.startswith("application/json")
    assert json.loads(answer.body)[0]["generated_text"].startswith("I love")

    children = psutil.Process(pid).children(recursive=True)
    assert children  # gunicorn's worker
    stopped = local_endpoints.scale_to_zero(name)
    assert stopped.state == SCALED_TO_ZERO and stopped.instance_count == 0
    assert not any(process.is_running() and process.status() != psutil.STATUS_ZOMBIE for process in children)
    with pytest.raises(EndpointNotReady):
        _invoke(local_endpoints, name)

    local_endpoints.scale_up(name)
    assert wait_for(local_endpoints, name, {IN_SERVICE, FAILED}).state == IN_SERVICE
    assert int(local_endpoints.record(name)["pid"]) != pid
    assert json.loads(_invoke(local_endpoints, name).body)[0]["generated_text"]


def test_a_crashed_process_is_failed_with_its_last_stderr_lines_and_can_start_again(local_endpoints, settings):
    name = settings.SAGEMAKER_GENERATE_ENDPOINT
    local_endpoints.scale_up(name)
    assert wait_for(local_endpoints, name, {IN_SERVICE, FAILED}).state == IN_SERVICE
    os.killpg(int(local_endpoints.record(name)["pid"]), signal.SIGKILL)

    failed = wait_for(local_endpoints, name, {FAILED}, timeout=20)
    assert failed.state == FAILED
    assert "exited on its own" in failed.failure_reason
    assert "Booting worker" in failed.failure_reason or "Listening at" in failed.failure_reason
    with pytest.raises(EndpointNotReady, match="failed: The endpoint's process exited"):
        _invoke(local_endpoints, name)


def test_a_model_that_cannot_load_fails_the_endpoint_with_the_reason(local_endpoints, settings, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    settings.LOCAL_GENERATOR_MODEL = str(broken)
    name = settings.SAGEMAKER_GENERATE_ENDPOINT
    local_endpoints.scale_up(name)
    failed = wait_for(local_endpoints, name, {IN_SERVICE, FAILED})
    assert failed.state == FAILED
    assert "The model failed to load" in failed.failure_reason and "ModelLoadError" in failed.failure_reason


def test_failures_map_to_the_endpoint_errors_sagemaker_gives(local_endpoints, settings, redis_conn):
    name = settings.SAGEMAKER_GENERATE_ENDPOINT
    with pytest.raises(EndpointNotReady, match="does not exist locally"):
        _invoke(local_endpoints, "no-such-endpoint")
    local_endpoints.scale_up(name)
    assert wait_for(local_endpoints, name, {IN_SERVICE, FAILED}).state == IN_SERVICE

    # The container's 4xx: a model error carrying the container's own message, not retryable.
    too_many = json.dumps({"inputs": "Hi", "parameters": {"max_new_tokens": 100_000}}).encode()
    with pytest.raises(EndpointModelError, match="answered 422: max_new_tokens must be") as error:
        _invoke(local_endpoints, name, too_many)
    assert not error.value.retryable

    # A container that does not answer in time: stop its processes, so the connection waits.
    settings.SAGEMAKER_INVOKE_TIMEOUT = 0.5
    group = int(local_endpoints.record(name)["pid"])
    os.killpg(group, signal.SIGSTOP)
    try:
        with pytest.raises(EndpointTimeout, match=r"did not answer within 0\.5 s"):
            _invoke(local_endpoints, name)
    finally:
        os.killpg(group, signal.SIGCONT)

    # Nothing listening on the recorded port: unreachable, retryable.
    real_port = local_endpoints.record(name)["port"]
    redis_conn.hset(KEY_PREFIX + name, "port", free_port())
    with pytest.raises(EndpointUnavailable, match="could not be reached") as error:
        _invoke(local_endpoints, name)
    assert error.value.retryable

    # A container that answers 429: throttled.
    server = HTTPServer(("127.0.0.1", 0), _Throttling)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        redis_conn.hset(KEY_PREFIX + name, "port", server.server_port)
        with pytest.raises(EndpointThrottled):
            _invoke(local_endpoints, name)
    finally:
        server.shutdown()
        server.server_close()
        redis_conn.hset(KEY_PREFIX + name, "port", real_port)


class _Throttling(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(429)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args) -> None:
        pass


def test_a_registered_endpoint_serves_our_classifier_and_is_removed_on_unregister(
    local_endpoints, demo_model_dir, redis_conn
):
    name = "registered-classifier"
    local_endpoints.endpoint_register(name=name, task="classification", model_dir=str(demo_model_dir))
    with pytest.raises(DeployError, match="already exists"):
        local_endpoints.endpoint_register(name=name, task="classification", model_dir=str(demo_model_dir))
    assert name in local_endpoints.endpoint_names()
    local_endpoints.scale_up(name)
    assert wait_for(local_endpoints, name, {IN_SERVICE, FAILED}).state == IN_SERVICE
    body = json.dumps({"inputs": ["I love it", "I hate it"]}).encode()
    answer = json.loads(_invoke(local_endpoints, name, body).body)
    assert [p["label_name"] for p in answer["predictions"]] == ["positive", "negative"]
    pid = int(local_endpoints.record(name)["pid"])

    assert local_endpoints.endpoint_unregister(name=name)
    assert name not in local_endpoints.endpoint_names()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not redis_conn.exists(KEY_PREFIX + name)


def test_registering_needs_a_model_and_a_known_task(local_endpoints, tmp_path):
    with pytest.raises(DeployError, match="holds no model"):
        local_endpoints.endpoint_register(name="x", task="classification", model_dir=str(tmp_path))
    with pytest.raises(DeployError, match="Task 'translation' is not one of"):
        local_endpoints.endpoint_register(name="x", task="translation", model_dir=str(tmp_path))
