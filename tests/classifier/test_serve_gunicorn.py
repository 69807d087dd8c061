"""The container's entry point, deploy/sagemaker/serve: gunicorn with our config and app factory."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVE = ROOT / "deploy" / "sagemaker" / "serve"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_serve_entry_point_runs_gunicorn_on_the_configured_port(demo_model_dir):
    port = _free_port()
    env = {
        "PATH": f"{ROOT / '.venv' / 'bin'}:/usr/bin:/bin",
        "SERVE_PORT": str(port),
        "SERVE_MODEL_DIR": str(demo_model_dir),
        "HF_HUB_OFFLINE": "1",
        "CLASSIFIER_DEVICE": "cpu",
        "CLASSIFIER_DTYPE": "float32",
    }
    process = subprocess.Popen(
        [str(SERVE)], cwd="/", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        status, body = None, {}
        while time.monotonic() < deadline:
            try:
                status, body = _get(f"{base}/ping")
            except (urllib.error.URLError, ConnectionError):
                status = None  # gunicorn not listening yet
            if status == 200:
                break
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
            time.sleep(0.2)
        assert status == 200, body
        assert body["status"] == "ready" and body["model"] == demo_model_dir.name

        request = urllib.request.Request(
            f"{base}/invocations",
            data=json.dumps({"inputs": ["Great value, very happy.", "I hate it, it broke."]}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            predictions = json.loads(response.read())["predictions"]
        assert [p["label_name"] for p in predictions] == ["positive", "negative"]

        # gunicorn decodes chunked bodies, so a body without a length is read (and limited) too.
        chunked = urllib.request.Request(
            f"{base}/invocations",
            data=iter([b'{"inputs": ', b'["Wonderful, works perfectly."]}']),
            headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
            method="POST",
        )
        with urllib.request.urlopen(chunked, timeout=30) as response:
            assert json.loads(response.read())["predictions"][0]["label_name"] == "positive"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        process.stderr.close()
