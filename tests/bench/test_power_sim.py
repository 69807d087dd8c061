"""bench/power_sim.py as a user runs it: its JSON has the endpoint fields, and the bursty day meets its targets.

A simulation (seconds to run): the policy code is the site's, only the clock and the cloud are simulated.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.power_sim import endpoint_ideal_seconds, simulate_endpoint, stretches

ROOT = Path(__file__).resolve().parents[2]
ENDPOINT_FIELDS = {"endpoint_hours", "endpoint_ideal_hours", "endpoint_always_on_hours", "endpoint_starts"}


def test_the_bursty_day_meets_the_endpoint_targets_without_flapping():
    result = subprocess.run(
        [sys.executable, "bench/power_sim.py", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert ENDPOINT_FIELDS <= set(report)
    assert report["endpoint_hours"] <= 1.3 * report["endpoint_ideal_hours"]
    assert report["endpoint_hours"] <= 0.25 * report["endpoint_always_on_hours"]
    assert report["endpoint_flaps"] == 0 and report["endpoint_starts"] <= report["endpoint_stretches"]


def test_a_lone_request_costs_a_start_and_the_idle_time_but_never_less_than_the_minimum_in_service():
    result = simulate_endpoint(
        [1000], start_s=480, delete_s=60, tick_s=10, idle_after=60, min_in_service=600, horizon=4000
    )
    assert result.starts == 1 and result.scale_downs == 1 and result.flaps == 0
    assert 600 <= result.billed_seconds <= 610  # held for min_in_service, not 480 + 60
    assert result.waits == [480]


def test_requests_closer_than_the_idle_time_share_one_start():
    requests = [100, 700, 1300, 1900]
    result = simulate_endpoint(
        requests, start_s=300, delete_s=60, tick_s=10, idle_after=900, min_in_service=0, horizon=5000
    )
    assert result.starts == 1 == stretches(requests, idle_after=900)
    assert endpoint_ideal_seconds(requests, start_s=300) == 300 + 1 + 3 * (300 + 1)
