"""gunicorn settings for the web tier: `gunicorn -c webapp/gunicorn.conf.py webapp.wsgi`."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# The web tier does I/O (DynamoDB, Redis), so threads per worker carry most of the concurrency.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 20
keepalive = 5
accesslog = "-"
errorlog = "-"
# Never preload: boto3 clients and Redis connections are made per process after the fork.
preload_app = False
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

_made_directories: list[Path] = []


def on_starting(server) -> None:
    """prometheus-client's multiprocess mode: each worker writes its counters to files in one directory,
    and /metrics sums them (dashboard/metrics/exposition.py).

    Set in the master before any worker is forked (and so before a worker imports prometheus_client),
    so every worker inherits it. A fresh temporary directory per start, or PROMETHEUS_MULTIPROC_DIR
    emptied of the files (`*.db`) a previous run left, which would otherwise be counted again.
    """
    chosen = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    directory = Path(chosen or tempfile.mkdtemp(prefix="console-metrics-"))
    if not chosen:
        _made_directories.append(directory)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for left in directory.glob("*.db"):
        left.unlink(missing_ok=True)


def on_exit(server) -> None:
    """Remove the temporary metrics directory this master made (a chosen one is left where it is)."""
    for directory in _made_directories:
        shutil.rmtree(directory, ignore_errors=True)


def child_exit(server, worker) -> None:
    """A worker that exits stops counting: its live gauges go; its counters stay in the sums."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker) -> None:
    """Make this worker's DynamoDB client and Redis client, and start its submission committer, now.

    Done lazily they cost a worker's first submissions ~0.3 s of CPU (botocore loads and parses the
    DynamoDB service model), paid again by every worker gunicorn starts. After the fork, as the
    adapters require; nothing here touches the network, so a store that is down does not stop a boot.
    """
    try:
        from dashboard.aws import dynamodb
        from dashboard.power import capacity_ensure  # noqa: F401  (imported by the first submission otherwise)
        from dashboard.queue import inference_queue
        from dashboard.services import submissions_committer_start

        dynamodb.client()
        inference_queue()
        submissions_committer_start()
    except Exception:  # a cold start is slower, never broken
        worker.log.exception("could not prepare the worker's clients ahead of its first request")
