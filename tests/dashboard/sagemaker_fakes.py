"""Servers the SageMaker tests talk to over real HTTP with real boto3.

- `MotoServer`: moto in server mode (SageMaker control plane and sagemaker-runtime), with
  `seed_invoke_results` for moto's queue of invoke_endpoint answers.
- `ScriptedAws`: a tiny HTTP server that answers from a script of responses, for what moto cannot
  do: SageMaker's error answers (missing endpoint, throttling, ModelError), slow answers for
  timeouts, DescribeEndpoint sequences that end in Failed. It records every request it gets.
- `RuntimeShim`: sagemaker-runtime's `POST /endpoints/<name>/invocations` forwarded to a running
  `classifier/serve.py`, so a job's call goes through our real serving app.
- `GPT2_ANSWER`, `ENDPOINT_NOT_FOUND`: a text-generation container's answer, and SageMaker's message
  for an endpoint that does not exist, as the Generate tests (page and API) script them.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from moto.server import ThreadedMotoServer

GPT2_ANSWER = [{"generated_text": " and the rest of the story was written by the model."}]
ENDPOINT_NOT_FOUND = "Endpoint gpt2-demo of account 123456789012 not found."


class MotoServer:
    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)

    def start(self) -> MotoServer:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        _post_json(f"{self.url}/moto-api/reset", {})

    def seed_invoke_results(self, *bodies: Any, content_type: str = "application/json") -> None:
        """Queue invoke_endpoint answers; moto hands them out in order, one per distinct request."""
        results = [
            {"Body": body if isinstance(body, str) else json.dumps(body), "ContentType": content_type}
            for body in bodies
        ]
        _post_json(f"{self.url}/moto-api/static/sagemaker/endpoint-results", {"results": results})


def _post_json(url: str, payload: Any) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


@dataclass
class Reply:
    status: int = 200
    body: Any = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def encoded(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


def aws_error(status: int, code: str, message: str, **extra: Any) -> Reply:
    """An error the way AWS's JSON protocols send it: the code in x-amzn-ErrorType, the message in the body."""
    return Reply(status=status, body={"message": message, **extra}, headers={"x-amzn-ErrorType": code})


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class ScriptedAws:
    """Answers each request with the next scripted reply; the last reply repeats."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with owner._lock:
                    owner.requests.append(Recorded("POST", self.path, dict(self.headers), body))
                    reply = owner.replies.pop(0) if len(owner.replies) > 1 else owner.replies[0]
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.encoded()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.headers.get("Content-Type", "application/json"))
                    for name, value in reply.headers.items():
                        if name != "Content-Type":
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test); nothing to answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> ScriptedAws:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class RuntimeShim:
    """sagemaker-runtime in front of a serve.py base URL: records which endpoint each call named."""

    def __init__(self, serve_url: str) -> None:
        self.serve_url = serve_url
        self.calls: list[tuple[str, int]] = []  # (endpoint name, number of texts)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = self.path.split("/")  # /endpoints/<name>/invocations
                owner.calls.append((parts[2], len(json.loads(body).get("inputs", []))))
                request = urllib.request.Request(
                    f"{owner.serve_url}/invocations",
                    data=body,
                    headers={"Content-Type": self.headers["Content-Type"], "Accept": self.headers.get("Accept", "")},
                    method="POST",
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        status, payload = response.status, response.read()
                except urllib.error.HTTPError as error:
                    # SageMaker wraps a container's non-200 answer in a ModelError.
                    original = error.read().decode()
                    status = 424
                    payload = json.dumps(
                        {
                            "message": "Received client error",
                            "OriginalStatusCode": error.code,
                            "OriginalMessage": original,
                        }
                    ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if status != 200:
                    self.send_header("x-amzn-ErrorType", "ModelError")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> RuntimeShim:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
