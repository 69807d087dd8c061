"""Fixtures for the power-management tests: a moto server (EC2, SageMaker), a fleet in it, a fault proxy.

Import the fixtures you use into a test module (`from tests.dashboard.power_support import ...`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest

_FAULT_XML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}</Code>'
    "<Message>{message}</Message></Error></Errors><RequestID>test-request</RequestID></Response>"
)
FAULTS = {
    "InsufficientInstanceCapacity": (
        500,
        "We currently do not have sufficient g5.xlarge capacity in the Availability Zone you requested.",
    ),
    "RequestLimitExceeded": (503, "Request limit exceeded."),
    "UnauthorizedOperation": (403, "You are not authorized to perform this operation."),
}


@pytest.fixture(scope="session")
def moto_url():
    """A moto server for the session; each test resets it through `moto_reset`."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto_reset(moto_url):
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"))
    yield moto_url
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"))


def aws_client(service: str, url: str):
    return boto3.client(
        service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.fixture
def ec2_fleet(moto_reset, settings, redis_conn):
    """Two GPU instances in moto, stopped, managed by the console through COMPUTE_BACKEND=ec2."""
    ec2 = aws_client("ec2", moto_reset)
    reservation = ec2.run_instances(ImageId="ami-12c6146b", MinCount=2, MaxCount=2, InstanceType="g5.xlarge")
    ids = sorted(i["InstanceId"] for i in reservation["Instances"])
    ec2.stop_instances(InstanceIds=ids)
    settings.COMPUTE_BACKEND = "ec2"
    settings.EC2_INSTANCE_IDS = ids[:1]
    settings.EC2_ENDPOINT_URL = moto_reset
    settings.AWS_REGION = "us-east-1"
    settings.SAGEMAKER_ENDPOINTS = []
    settings.IDLE_STOP_AFTER = 60
    return {"ids": ids, "client": ec2, "url": moto_reset}


def ec2_state(fleet, instance_id: str) -> str:
    reservations = fleet["client"].describe_instances(InstanceIds=[instance_id])["Reservations"]
    return reservations[0]["Instances"][0]["State"]["Name"]


class FaultProxy:
    """Forwards EC2 calls to moto, except the actions given a fault: those get AWS's error response."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults: dict[str, str] = {}
        self.calls: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                action = next((p.split("=", 1)[1] for p in body.decode().split("&") if p.startswith("Action=")), "")
                proxy.calls.append(action)
                if action in proxy.faults:
                    code = proxy.faults[action]
                    status, message = FAULTS[code]
                    payload = _FAULT_XML.format(code=code, message=message).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "text/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "content-length"}}
                request = urllib.request.Request(proxy.upstream + self.path, data=body, headers=headers, method="POST")
                try:
                    with urllib.request.urlopen(request) as response:
                        status, payload, kind = response.status, response.read(), response.headers.get("Content-Type")
                except urllib.error.HTTPError as error:
                    status, payload, kind = error.code, error.read(), error.headers.get("Content-Type")
                self.send_response(status)
                self.send_header("Content-Type", kind or "text/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fault_proxy(ec2_fleet, settings):
    """EC2 through a proxy that can fail chosen actions the way AWS does."""
    proxy = FaultProxy(ec2_fleet["url"])
    settings.EC2_ENDPOINT_URL = proxy.url
    yield proxy
    with contextlib.suppress(Exception):
        proxy.close()
