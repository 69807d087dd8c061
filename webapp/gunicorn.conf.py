"""gunicorn settings for the web tier: `gunicorn -c webapp/gunicorn.conf.py webapp.wsgi`."""

from __future__ import annotations

import multiprocessing
import os

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
