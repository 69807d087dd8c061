"""gunicorn settings for the web tier: `gunicorn -c webapp/gunicorn.conf.py webapp.wsgi`."""

from __future__ import annotations

import multiprocessing
import os
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

# prometheus-client's multiprocess mode: each worker writes its counters to files here and /metrics
# sums them (dashboard/metrics/exposition.py). Set before any worker is forked (and before
# prometheus_client is imported) so every worker inherits it; a fresh directory per start, as files
# left by an earlier run would be counted again. Set PROMETHEUS_MULTIPROC_DIR to choose the place.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="console-metrics-")


def on_starting(server) -> None:
    """Remove the metrics files a previous run left in a chosen directory (only prometheus-client's `*.db`)."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for left in directory.glob("*.db"):
        left.unlink(missing_ok=True)


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
