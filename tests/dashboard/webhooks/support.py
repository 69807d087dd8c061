"""A real HTTP receiver for webhook deliveries, and a way to run the `webhooks` queue in a test.

with Receiver() as receiver:           # http://127.0.0.1:<free port>/hook
    receiver.replies = [(500, {}, b"down"), (200, {}, b"ok")]   # then 200s
    ...
    webhooks_drain()                    # runs queued and due scheduled jobs until none is left
    receiver.requests                   # [Received(path, headers, body), ...]
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    def __init__(self, path: str = "/hook") -> None:
        self.path = path
        self.requests: list[Received] = []
        self.replies: list[tuple[int, dict[str, str], bytes]] = []
        self.delay_s = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.requests.append(Received(self.path, {k: v for k, v in self.headers.items()}, body))
                time.sleep(receiver.delay_s)
                status, headers, reply = receiver.replies.pop(0) if receiver.replies else (200, {}, b"ok")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def webhooks_drain(*, timeout_s: float = 20.0) -> None:
    """Run the `webhooks` queue here until it is empty, moving retries in when RQ's scheduler would.

    In this process and thread (rq's SimpleWorker), so the jobs see the test's database.
    """
    from rq import SimpleWorker
    from rq.scheduler import RQScheduler

    from dashboard.webhooks.queue import webhooks_queue

    queue = webhooks_queue()
    scheduler = RQScheduler([queue], connection=queue.connection, serializer=queue.serializer)
    scheduler.acquire_locks()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            scheduler.enqueue_scheduled_jobs()
            if queue.count:
                SimpleWorker([queue], connection=queue.connection, serializer=queue.serializer).work(burst=True)
                continue
            if not queue.scheduled_job_registry.count:
                return
            time.sleep(0.05)
        raise AssertionError("the webhooks queue still had jobs after the timeout")
    finally:
        scheduler.release_locks()
