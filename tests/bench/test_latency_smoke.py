"""bench/latency.py as a user runs it, shrunk: it starts its own services, and its JSON has the issue's fields.

Not a performance test (the figures live in docs/benchmarks.md): it fails if the bench breaks, if a
text is not done, if a long poll needs more than one request, or if a field drops from its report.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "samples",
    "long_poll",
    "short_poll",
    "submit_wait",
    "baseline_healthz_p50_ms",
    "dynamodb_jvm_flags",
}
STAGES = {"web", "queue_wait", "claim", "inference", "result_write"}

pytestmark = pytest.mark.slow


def test_the_latency_bench_runs_end_to_end_and_reports_every_field():
    result = subprocess.run(
        [sys.executable, "bench/latency.py", "--json", "--texts", "5", "--warmup", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert FIELDS <= report.keys()
    assert report["samples"] == 5
    assert report["dynamodb_jvm_flags"] == "-XX:TieredStopAtLevel=1"  # bench/load.py's, unless told otherwise
    for way in ("long_poll", "short_poll", "submit_wait"):
        assert report[way]["not_done"] == 0
        assert STAGES <= report[way]["breakdown_p50_ms"].keys()
        assert 0 < report[way]["p50_ms"] <= report[way]["p99_ms"]
    assert report["long_poll"]["reads_per_text"] == 1.0  # answered by the announcement, never re-asked
    assert report["submit_wait"]["reads_per_text"] == 0.0  # the submit itself was answered with the result
