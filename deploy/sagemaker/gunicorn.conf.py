"""gunicorn settings for the SageMaker serving container (`serve` runs `classifier.serve:app_from_env()`).

One worker process by default: every worker loads its own copy of the model (and on a GPU its own
CUDA context), so a second worker doubles memory for little gain, since the engine already batches
the texts of each request. Threads let /ping answer while a batch is being predicted; the engine
itself is used by one thread at a time (see classifier/serve.py).

No preload: the model must load after the fork, in the worker, because a CUDA context does not
survive fork(). The app factory starts the load in a background thread, so the worker answers
/ping (503, then 200) and gunicorn's heartbeat keeps running during a long load.
"""

from __future__ import annotations

import os

# Every interface in the container; the local endpoint backend binds 127.0.0.1 (SERVE_HOST).
bind = f"{os.environ.get('SERVE_HOST', '0.0.0.0')}:{os.environ.get('SERVE_PORT', '8080')}"
# SageMaker's own knob for model-server workers; set it above 1 only with memory for as many models.
workers = int(os.environ.get("SAGEMAKER_MODEL_SERVER_WORKERS", "1"))
worker_class = "gthread"
threads = int(os.environ.get("SERVE_THREADS", "4"))
preload_app = False
# gthread workers heartbeat from their main loop, not from request threads, so a slow batch does not
# trip this; it catches a worker that is truly stuck. SageMaker gives an invocation 60 s.
timeout = int(os.environ.get("SAGEMAKER_MODEL_SERVER_TIMEOUT", "60")) + 60
graceful_timeout = 30
# SageMaker's front end reuses connections; keep them longer than its idle interval.
keepalive = 75
# Never recycle workers: a new worker means a new model load.
max_requests = 0
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
