"""Real processes for the fault tests: `manage.py inference_worker` subprocesses, and a DynamoDB proxy we control."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dashboard.aws import dynamodb

ROOT = Path(__file__).resolve().parent.parent.parent
_ROUTINE = ("Loading model", "Model loaded")


class Workers:
    """Starts inference workers as real subprocesses; stops whatever is left at the end of the test."""

    def __init__(self, *, base_env: dict[str, str], log_dir: Path) -> None:
        self.base_env = base_env
        self.log_dir = log_dir
        self.started: list[tuple[subprocess.Popen, Path]] = []

    def start(self, name: str, **env: str) -> subprocess.Popen:
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, str(ROOT / "manage.py"), "inference_worker", "--name", name],
                env=os.environ | self.base_env | env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append((process, log_path))
        return process

    def log(self, process: subprocess.Popen) -> str:
        path = next(path for started, path in self.started if started is process)
        return path.read_text(errors="replace")

    def stop_all(self) -> None:
        for process, log_path in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            text = log_path.read_text(errors="replace")
            notable = [line for line in text.splitlines() if not line.startswith(_ROUTINE) and "rq.worker" not in line]
            print(f"--- {log_path.name} ---\n" + "\n".join(notable[-60:]))


@pytest.fixture
def workers(results_table, demo_model_dir, tmp_path):
    started = Workers(
        base_env={
            "DYNAMODB_TABLE": results_table,
            "CLASSIFIER_MODEL": str(demo_model_dir),
            "HF_HUB_OFFLINE": "1",
            "RECONCILE_QUEUED_AFTER": "0",
        },
        log_dir=tmp_path,
    )
    yield started
    started.stop_all()


def wait_finished(item_ids: list[str], *, timeout: float, alive: list[subprocess.Popen] = ()) -> dict[str, dict]:
    """Poll DynamoDB until every item is done or failed; returns the items (fails the test on timeout)."""
    deadline = time.monotonic() + timeout
    items: dict[str, dict] = {}
    while time.monotonic() < deadline:
        for process in alive:
            assert process.poll() is None, "a worker exited"
        items = dynamodb.items_get_many(item_ids=item_ids)
        if len(items) == len(item_ids) and all(item["status"] in {"done", "failed"} for item in items.values()):
            return items
        time.sleep(0.5)
    statuses = {status: sum(1 for i in items.values() if i["status"] == status) for status in dynamodb.STATUSES}
    raise AssertionError(f"items did not finish within {timeout:.0f} s: {statuses}")


class DynamoProxy:
    """Forwards DynamoDB calls to DynamoDB Local, except that it drops the connection for blocked operations.

    `blocked` holds operation names; `blocked_if` maps an operation to a piece of its request body,
    to block only those calls (TransactWriteItems both claims and writes results).
    """

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.blocked: set[str] = set()
        self.blocked_if: dict[str, bytes] = {}
        self.dropped: list[str] = []
        self.passed: list[str] = []
        self.bodies: list[tuple[str, bytes]] = []  # what passed, with the request: which items, which actions
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                operation = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
                marker = proxy.blocked_if.get(operation)
                if operation in proxy.blocked or (marker is not None and marker in body):
                    proxy.dropped.append(operation)
                    self.close_connection = True
                    self.connection.shutdown(2)  # as if DynamoDB were unreachable: no answer at all
                    return
                proxy.passed.append(operation)
                proxy.bodies.append((operation, body))
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                try:
                    upstream.request("POST", self.path, body=body, headers=dict(self.headers.items()))
                    response = upstream.getresponse()
                    payload = response.read()
                    self.send_response(response.status)
                    for key, value in response.getheaders():
                        if key.lower() not in {"transfer-encoding", "connection", "content-length"}:
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                finally:
                    upstream.close()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def dynamo_proxy():
    proxy = DynamoProxy(os.environ["DYNAMODB_ENDPOINT_URL"])
    yield proxy
    proxy.close()
