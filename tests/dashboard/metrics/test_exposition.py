"""The web tier's /metrics: a token or an allowed address reads it, anyone else gets a 404; a source
that is down leaves its families out; gunicorn's worker processes are summed (multiprocess mode)."""

from __future__ import annotations

import ipaddress
import os
import runpy
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import queue_unreachable
from tests.dashboard.metrics.support import parse, value

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]
URL = "/metrics"


@pytest.fixture
def locked(settings):
    """Only the token opens it: no address range is allowed."""
    settings.METRICS_TOKEN = "scrape-secret"
    settings.METRICS_ALLOWED_NETWORKS = []
    return settings


def test_the_token_reads_the_metrics(client, results_table, redis_conn, locked):
    response = client.get(URL, headers={"Authorization": "Bearer scrape-secret"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = parse(response.content.decode())
    assert value(samples, "console_queue_depth", queue="inference") == 0
    assert value(samples, "console_metrics_source_up", source="dynamodb") == 1


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer "}, {"Authorization": "Basic c2NyYXBl"}],
    ids=["no-token", "wrong-token", "empty-token", "other-scheme"],
)
def test_anyone_else_gets_a_404(client, redis_conn, locked, headers):
    assert client.get(URL, headers=headers).status_code == 404
    assert client.post(URL, headers=headers).status_code == 404


def test_a_wrong_token_is_refused_even_from_an_allowed_network(client, redis_conn, settings):
    settings.METRICS_TOKEN = "scrape-secret"
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]

    assert client.get(URL, headers={"Authorization": "Bearer wrong"}).status_code == 404
    assert client.get(URL).status_code == 200


def test_no_token_set_means_no_token_opens_it(client, redis_conn, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = []

    assert client.get(URL, headers={"Authorization": "Bearer "}).status_code == 404


def test_an_allowed_network_reads_the_metrics_whatever_the_host(client, results_table, redis_conn, locked):
    locked.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]

    # Prometheus addresses a target by its IP, which is not in ALLOWED_HOSTS.
    inside = client.get(URL, REMOTE_ADDR="10.1.2.3", HTTP_HOST="10.0.1.23:8000")
    outside = client.get(URL, REMOTE_ADDR="192.0.2.7")

    assert (inside.status_code, outside.status_code) == (200, 404)
    assert b"console_queue_depth" in inside.content


def test_behind_the_load_balancer_the_client_address_decides_not_the_balancers(client, redis_conn, locked):
    locked.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
    locked.TRUSTED_PROXY_COUNT = 1

    through_balancer = client.get(URL, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="10.9.9.9, 203.0.113.9")

    assert through_balancer.status_code == 404


def test_other_methods_are_not_allowed_to_an_allowed_caller(client, redis_conn, locked):
    assert client.post(URL, headers={"Authorization": "Bearer scrape-secret"}).status_code == 405


def test_a_store_that_cannot_be_read_leaves_its_families_out_not_a_500(client, redis_conn, settings):
    settings.DYNAMODB_TABLE = "no-such-table"  # DynamoDB answers, but with ResourceNotFound for every read

    response = client.get(URL)

    assert response.status_code == 200
    samples = parse(response.content.decode())
    assert value(samples, "console_metrics_source_up", source="dynamodb") == 0
    assert value(samples, "console_metrics_source_up", source="redis") == 1
    assert not any(name == "console_items" for name, _ in samples)
    assert value(samples, "console_queue_depth", queue="inference") == 0


def test_redis_down_leaves_the_queue_families_out_and_the_rest_is_served(client, results_table, redis_conn, settings):
    queue_unreachable(settings)

    response = client.get(URL)

    assert response.status_code == 200
    samples = parse(response.content.decode())
    assert value(samples, "console_metrics_source_up", source="redis") == 0
    assert not any(name == "console_queue_depth" for name, _ in samples)
    assert value(samples, "console_metrics_source_up", source="dynamodb") == 1


def test_a_bad_allowed_network_fails_start_up_naming_the_setting():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=os.environ | {"METRICS_ALLOWED_NETWORKS": "10.0.0.0/8,not-a-network"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "METRICS_ALLOWED_NETWORKS must be comma-separated addresses or CIDR ranges" in result.stderr


# --- gunicorn: every worker process's counters, summed ---------------------------------------------


def _count_in_own_process(directory: Path, amount: int) -> None:
    code = f"from dashboard.metrics import SUBMISSIONS_ACCEPTED; SUBMISSIONS_ACCEPTED.inc({amount})"
    env = os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=60)


def test_under_gunicorn_a_scrape_sums_every_worker_process(client, results_table, redis_conn, tmp_path, monkeypatch):
    _count_in_own_process(tmp_path, 2)
    _count_in_own_process(tmp_path, 3)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

    samples = parse(client.get(URL).content.decode())

    assert value(samples, "console_submissions_accepted_total") == 5  # this process's own count is not in it
    assert value(samples, "console_queue_depth", queue="inference") == 0


def test_gunicorn_gives_each_start_a_clean_directory_and_forgets_a_dead_worker(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    config = runpy.run_path(str(ROOT / "webapp" / "gunicorn.conf.py"))
    (tmp_path / "counter_111.db").write_bytes(b"left by the last run")
    keep = tmp_path / "notes.txt"
    keep.write_text("not ours")

    config["on_starting"](SimpleNamespace())
    (tmp_path / "gauge_liveall_4242.db").write_bytes(b"")
    config["child_exit"](SimpleNamespace(), SimpleNamespace(pid=4242))

    config["on_exit"](SimpleNamespace())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # a chosen directory is kept


def test_gunicorn_makes_a_fresh_directory_when_none_is_chosen(monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")  # so that the one the master sets is undone after the test
    config = runpy.run_path(str(ROOT / "webapp" / "gunicorn.conf.py"))
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == ""  # reading the config changes nothing

    config["on_starting"](SimpleNamespace())

    made = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert made.is_dir() and not any(made.iterdir())
    config["on_exit"](SimpleNamespace())
    assert not made.exists()
