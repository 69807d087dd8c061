"""requirements/'s hashed locks: the web lock holds no model stack, and a fresh venv from it serves the site."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements"
MODEL_STACK = {"torch", "transformers", "sentencepiece", "tokenizers", "safetensors"}


def _pins(lock: str) -> dict[str, str]:
    pins = {}
    for line in (REQUIREMENTS / lock).read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def test_the_web_lock_holds_no_model_stack():
    assert not MODEL_STACK & set(_pins("web.txt"))


def test_every_pin_carries_a_hash():
    for lock in ("web.txt", "worker.txt", "dev.txt"):
        text = (REQUIREMENTS / lock).read_text()
        blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 1)[1])
        for block in blocks:
            if "==" in block.split("\n", 1)[0]:
                assert "--hash=sha256:" in block, (lock, block.split("\n", 1)[0])


def test_each_lock_keeps_the_pins_of_the_lock_it_extends():
    web, worker, dev = _pins("web.txt"), _pins("worker.txt"), _pins("dev.txt")
    assert web.items() <= worker.items()
    assert worker.items() <= dev.items()


def test_the_worker_lock_has_the_cpu_torch_and_pinned_minors_for_patched_internals():
    worker = _pins("worker.txt")
    assert worker["torch"] == "2.13.0+cpu"  # PyPI's Linux 2.13.0 is the multi-GB CUDA build
    assert worker["transformers"].startswith("5.24.")  # classifier/xlnet_fast.py
    assert worker["botocore"].startswith("1.44.")  # dashboard/aws/dynamodb's fast parser


def test_the_units_install_the_lock_of_their_tier():
    for unit, lock in [
        ("console-web.service", "web"),
        ("console-power-tick.service", "web"),
        ("console-webhooks.service", "web"),
        ("console-worker.service", "worker"),
    ]:
        assert f"--require-hashes -r requirements/{lock}.txt" in (ROOT / "deploy" / "systemd" / unit).read_text()
    assert "COPY requirements/worker.txt" in (ROOT / "deploy" / "sagemaker" / "Dockerfile").read_text()


@pytest.mark.slow
def test_a_fresh_venv_from_the_web_lock_serves_the_site_without_torch(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--require-hashes", "-r", str(REQUIREMENTS / "web.txt")],
        check=True,
        timeout=600,
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV", "DJANGO"))}
    env["DJANGO_SETTINGS_MODULE"] = "webapp.settings"
    probe = (
        "import importlib.util, sys; import webapp.wsgi; "
        "assert importlib.util.find_spec('torch') is None; "
        "assert not {'torch', 'transformers'} & set(sys.modules), sorted(sys.modules)"
    )
    for argv in ([python, "-c", probe], [python, "manage.py", "check"]):
        result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, (argv, result.stdout + result.stderr)
