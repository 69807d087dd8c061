"""bench/load.py as a user runs it, shrunk: it starts its own services, and its JSON has the issue's fields.

Not a performance test (those live in the benchmark and docs/benchmarks.md): it fails if the bench
breaks, loses or duplicates a submission, or drops a field from its report.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {"submitted", "accepted_per_s", "p50_submit_ms", "p99_submit_ms", "p95_done_s", "lost", "duplicated"}

pytestmark = pytest.mark.slow


def test_the_load_bench_runs_end_to_end_and_reports_every_field():
    result = subprocess.run(
        [sys.executable, "bench/load.py", "--json", "--texts", "30", "--clients", "4", "--dynamodb-warmup", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert FIELDS <= report.keys()
    assert report["submitted"] == report["accepted"] == report["done"] == 30
    assert report["lost"] == 0 and report["duplicated"] == 0 and report["failed"] == 0
    assert report["accepted_per_s"] > 0 and report["baseline_healthz_per_s"] > 0
    assert report["p50_submit_ms"] <= report["p99_submit_ms"]
