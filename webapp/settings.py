"""Settings for the console, read from the environment.

Every variable is listed in `.env.example`. Local defaults are safe for a laptop; with
`DJANGO_ENV=production` the settings that must not be guessed are required and start-up
fails with a message naming each one that is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from webapp.env import (
    DJANGO_ENV,
    PRODUCTION,
    database_from_url,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_map,
    env_str,
    missing,
    networks_parse,
    redis_is_insecure,
    redis_url_with_password,
)
from webapp.logs import log_level_check, logging_config
from webapp.sentry import sentry_init

# A settings module that failed is executed again in the same process (manage.py reads the settings,
# keeps the error, and imports them again), while webapp.env stays imported: start from an empty list.
missing.clear()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"


DEBUG = env_bool("DJANGO_DEBUG", not PRODUCTION)
SECRET_KEY = env_str("SECRET_KEY", "local-only-insecure-key-change-me", required_in_production=True)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"], required_in_production=True)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_rq",
    "django_htmx",
    "dashboard",
]

MIDDLEWARE = [
    # First, so every response carries X-Request-ID and every line logged while answering has the id.
    "dashboard.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # `request.htmx`: a view answers an htmx poll with the fragment it swaps in.
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": database_from_url(env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:results"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Queue (Redis + RQ) -------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0", required_in_production=True)
# The AUTH token (ElastiCache's, from Secrets Manager), kept out of REDIS_URL so the URL can be shown.
REDIS_PASSWORD = env_str("REDIS_PASSWORD", "")
# Production refuses redis:// with no password: RQ runs whatever function a job names, so writing to
# Redis is running code on the workers (docs/operations.md). This says the network alone protects it.
REDIS_ALLOW_INSECURE = env_bool("REDIS_ALLOW_INSECURE", False)
# What every Redis client connects with: the queue, locks and rate limits (RQ_QUEUES) and CACHES.
REDIS_CONNECTION_URL = redis_url_with_password(REDIS_URL, REDIS_PASSWORD) if REDIS_URL else ""
if PRODUCTION and REDIS_URL and redis_is_insecure(REDIS_CONNECTION_URL) and not REDIS_ALLOW_INSECURE:
    raise ImproperlyConfigured(
        "REDIS_URL is plain redis:// with no password: anyone who reaches Redis can run code on the workers. "
        "Use rediss:// with REDIS_PASSWORD (the AUTH token), or set REDIS_ALLOW_INSECURE=true."
    )
INFERENCE_QUEUE = "inference"
# Long enough for one large micro-batch on a cold CPU; a GPU batch takes well under a second.
INFERENCE_JOB_TIMEOUT = env_int("INFERENCE_JOB_TIMEOUT", 600, minimum=1)
# Enqueue at once: our items live in DynamoDB, not in a Django transaction to wait for, and an
# enqueue failure must surface in the request that caused it.
RQ = {"COMMIT_MODE": "auto"}
# Fine-tuning runs from the console (dashboard/finetune) go on their own queue, served by the worker
# hosts: by the inference workers between classification jobs (classification waits while a run
# trains) unless FINETUNE_ON_INFERENCE_WORKERS is false, when `manage.py rqworker training
# --worker-class rq.SimpleWorker` on another instance serves it.
FINETUNE_QUEUE = "training"
FINETUNE_ON_INFERENCE_WORKERS = env_bool("FINETUNE_ON_INFERENCE_WORKERS", True)
FINETUNE_JOB_TIMEOUT = env_int("FINETUNE_JOB_TIMEOUT", 6 * 3600, minimum=60)
# Where a run writes its model on the worker host: <dir>/<name>-<run id>, registered as its source.
FINETUNE_OUTPUT_DIR = env_str("FINETUNE_OUTPUT_DIR", str(VAR_DIR / "models" / "finetuned"))
FINETUNE_MAX_UPLOAD_BYTES = env_int("FINETUNE_MAX_UPLOAD_BYTES", 20 * 2**20, minimum=1)
FINETUNE_MAX_ROWS = env_int("FINETUNE_MAX_ROWS", 200_000, minimum=1)
FINETUNE_MIN_ROWS_PER_LABEL = env_int("FINETUNE_MIN_ROWS_PER_LABEL", 5, minimum=2)
# Items one shadow comparison runs a candidate on at most (it runs on the training queue too).
SHADOW_MAX_ITEMS = env_int("SHADOW_MAX_ITEMS", 10_000, minimum=1)
# Webhook deliveries run on their own queue and worker (`manage.py webhooks_worker`), so
# a slow receiver never holds up classification (docs/webhooks.md).
WEBHOOKS_QUEUE = "webhooks"
RQ_QUEUES = {
    INFERENCE_QUEUE: {
        "URL": REDIS_CONNECTION_URL,
        "DEFAULT_TIMEOUT": INFERENCE_JOB_TIMEOUT,
        "SERIALIZER": "rq.serializers.JSONSerializer",
    },
    WEBHOOKS_QUEUE: {
        "URL": REDIS_CONNECTION_URL,
        "DEFAULT_TIMEOUT": 120,
        "SERIALIZER": "rq.serializers.JSONSerializer",
    },
    FINETUNE_QUEUE: {
        "URL": REDIS_CONNECTION_URL,
        "DEFAULT_TIMEOUT": FINETUNE_JOB_TIMEOUT,
        "SERIALIZER": "rq.serializers.JSONSerializer",
    },
}
# Django's cache is on the same Redis, shared by every web process (charts are read once for all of
# them, not once per process). A cache that does not answer within the socket timeouts is skipped.
CACHE_TIMEOUT = env_int("CACHE_TIMEOUT", 300, minimum=1)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_CONNECTION_URL,
        "KEY_PREFIX": "console-cache",
        "TIMEOUT": CACHE_TIMEOUT,
        "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 1.0},
    }
}

# --- AWS ----------------------------------------------------------------------------------
AWS_REGION = env_str("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
# Unset means real DynamoDB through the default credential chain.
DYNAMODB_ENDPOINT_URL = env_str("DYNAMODB_ENDPOINT_URL", "") or None
DYNAMODB_TABLE = env_str("DYNAMODB_TABLE", "classifier-results", required_in_production=True)
# How long one batched read or write retries the keys/items DynamoDB left unprocessed (throttling)
# before it gives up with StoreUnavailable: a request must not wait on a throttled table forever.
DYNAMODB_UNPROCESSED_RETRY_SECONDS = env_float("DYNAMODB_UNPROCESSED_RETRY_SECONDS", 10.0)

# --- Submissions and the classifier -------------------------------------------------------
SUBMISSION_MAX_CHARS = env_int("SUBMISSION_MAX_CHARS", 5000, minimum=1)
CLASSIFIER_MODEL = env_str("CLASSIFIER_MODEL", str(VAR_DIR / "models" / "demo"))
RESULTS_PAGE_SIZE = env_int("RESULTS_PAGE_SIZE", 25, minimum=1)
# Long polling, `GET /api/v1/submissions/<id>?wait=N` (dashboard/result_events.py). The longest wait
# a request may ask for: under gunicorn's GUNICORN_TIMEOUT (30 s), so that even a sync worker, whose
# request is its heartbeat, is never killed for waiting.
SUBMISSION_WAIT_MAX_S = env_float("SUBMISSION_WAIT_MAX_S", 20.0)
if not 0 < SUBMISSION_WAIT_MAX_S <= 25:
    raise ImproperlyConfigured(f"SUBMISSION_WAIT_MAX_S must be more than 0 and at most 25, got {SUBMISSION_WAIT_MAX_S}")
# How often a waiting request reads the item besides the announcements: what a wait costs DynamoDB
# when an announcement is lost or Redis is down.
SUBMISSION_WAIT_POLL_S = env_float("SUBMISSION_WAIT_POLL_S", 1.0)
if SUBMISSION_WAIT_POLL_S <= 0:
    raise ImproperlyConfigured(f"SUBMISSION_WAIT_POLL_S must be more than 0, got {SUBMISSION_WAIT_POLL_S}")
# Waits one web process holds at once; one more is answered at once with the item as it is. By
# default one fewer than its request threads, so a wait never takes the last one.
SUBMISSION_WAIT_MAX_WAITERS = env_int(
    "SUBMISSION_WAIT_MAX_WAITERS", max(env_int("GUNICORN_THREADS", 4, minimum=1) - 1, 0), minimum=0
)

# --- Inference worker: micro-batching across queued jobs (see classifier/microbatch.py) ------
# The largest batch one forward pass takes, and how long a job that found others queued waits for
# more work to join it; a job with nothing queued behind it runs at once.
MICROBATCH_MAX_SIZE = env_int("MICROBATCH_MAX_SIZE", 64, minimum=1)
MICROBATCH_MAX_WAIT_MS = env_int("MICROBATCH_MAX_WAIT_MS", 5, minimum=0)

# --- SageMaker: text generation, the classifier backend switch, deployments ----------------
# The text-generation endpoint the Generate page calls (a Hugging Face inference container).
SAGEMAKER_GENERATE_ENDPOINT = env_str("SAGEMAKER_GENERATE_ENDPOINT", "gpt2-demo")
# Where classification runs: `worker` (our model on the GPU worker) or `sagemaker` (our classifier
# served by `classifier/serve.py` on SAGEMAKER_CLASSIFIER_ENDPOINT; the worker then needs no GPU).
CLASSIFIER_BACKEND = env_str("CLASSIFIER_BACKEND", "worker")
if CLASSIFIER_BACKEND not in {"worker", "sagemaker"}:
    raise ImproperlyConfigured(f"CLASSIFIER_BACKEND must be 'worker' or 'sagemaker', got {CLASSIFIER_BACKEND!r}")
SAGEMAKER_CLASSIFIER_ENDPOINT = env_str("SAGEMAKER_CLASSIFIER_ENDPOINT", "")
if CLASSIFIER_BACKEND == "sagemaker" and not SAGEMAKER_CLASSIFIER_ENDPOINT:
    raise ImproperlyConfigured("CLASSIFIER_BACKEND=sagemaker needs SAGEMAKER_CLASSIFIER_ENDPOINT (the endpoint name).")
# Texts per invoke_endpoint call from a job; well under SageMaker's 6 MB request limit for our texts.
SAGEMAKER_CLASSIFIER_BATCH = env_int("SAGEMAKER_CLASSIFIER_BATCH", 32, minimum=1)
# SageMaker itself gives a real-time invocation 60 s; waiting longer only hides a stuck endpoint.
SAGEMAKER_INVOKE_TIMEOUT = env_float("SAGEMAKER_INVOKE_TIMEOUT", 60.0)
SAGEMAKER_CONNECT_TIMEOUT = env_float("SAGEMAKER_CONNECT_TIMEOUT", 5.0)
# Attempts per invocation including the first; retries cover throttling and dropped connections.
SAGEMAKER_INVOKE_MAX_ATTEMPTS = env_int("SAGEMAKER_INVOKE_MAX_ATTEMPTS", 2, minimum=1)
# Unset means real AWS; tests point it at moto or a local fake. `sagemaker_deploy` uses the
# control plane's SAGEMAKER_ENDPOINT_URL (power-management section below).
SAGEMAKER_RUNTIME_ENDPOINT_URL = env_str("SAGEMAKER_RUNTIME_ENDPOINT_URL", "") or None
# The role SageMaker assumes to pull the image and model.tar.gz (`sagemaker_deploy --role-arn` overrides).
SAGEMAKER_EXECUTION_ROLE_ARN = env_str("SAGEMAKER_EXECUTION_ROLE_ARN", "")
# Generations live in their own table: a different schema from classification results.
DYNAMODB_GENERATIONS_TABLE = env_str("DYNAMODB_GENERATIONS_TABLE", "classifier-generations")
GENERATE_MAX_PROMPT_CHARS = env_int("GENERATE_MAX_PROMPT_CHARS", 4000, minimum=1)
GENERATE_MAX_NEW_TOKENS = env_int("GENERATE_MAX_NEW_TOKENS", 512, minimum=1)

# --- Limits: login throttling, generation per user, SageMaker retries -----------------------
# New tokens one user may ask the generation endpoint for per minute (each request's
# max_new_tokens, charged before the call); 0 turns the limit off.
GENERATE_TOKENS_PER_MINUTE = env_int("GENERATE_TOKENS_PER_MINUTE", 20_000, minimum=0)
# Generations one user may have waiting on the endpoint at once; 0 turns the cap off.
GENERATE_MAX_CONCURRENT = env_int("GENERATE_MAX_CONCURRENT", 2, minimum=0)
# Failed logins before a lock: per username, and per client address (many usernames from one place),
# counted over LOGIN_FAILURE_WINDOW seconds since the last failure. Each failure past the limit
# doubles the lock, from LOGIN_LOCKOUT_SECONDS up to LOGIN_LOCKOUT_MAX_SECONDS.
LOGIN_FAILURES_PER_USERNAME = env_int("LOGIN_FAILURES_PER_USERNAME", 5, minimum=1)
LOGIN_FAILURES_PER_ADDRESS = env_int("LOGIN_FAILURES_PER_ADDRESS", 20, minimum=1)
LOGIN_FAILURE_WINDOW = env_int("LOGIN_FAILURE_WINDOW", 15 * 60, minimum=1)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 60, minimum=1)
LOGIN_LOCKOUT_MAX_SECONDS = env_int("LOGIN_LOCKOUT_MAX_SECONDS", 60 * 60, minimum=1)
# Proxies in front of the site that append to X-Forwarded-For: production runs behind one load
# balancer. 0 means the client address is REMOTE_ADDR and the header, which anyone can send, is ignored.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1 if PRODUCTION else 0, minimum=0)
# How long a classify job keeps retrying an endpoint that throttles, times out or is not in service
# (exponential backoff with jitter) before the job fails and RQ runs it again.
SAGEMAKER_RETRY_SECONDS = env_float("SAGEMAKER_RETRY_SECONDS", 120.0)

# --- Power management: GPU instances on when work arrives, off when idle -------------------
# `local` runs `manage.py inference_worker` as the "instance" (started on demand, stopped when idle);
# `ec2` starts and stops EC2_INSTANCE_IDS. See docs/power.md.
COMPUTE_BACKEND = env_str("COMPUTE_BACKEND", "local")
if COMPUTE_BACKEND not in {"local", "ec2"}:
    raise ImproperlyConfigured(f"COMPUTE_BACKEND must be 'local' or 'ec2', got {COMPUTE_BACKEND!r}")
EC2_INSTANCE_IDS = env_list("EC2_INSTANCE_IDS")
if COMPUTE_BACKEND == "ec2" and not EC2_INSTANCE_IDS:
    raise ImproperlyConfigured("COMPUTE_BACKEND=ec2 needs EC2_INSTANCE_IDS (comma-separated instance ids).")
# Unset means real AWS; tests point these at a moto server.
EC2_ENDPOINT_URL = env_str("EC2_ENDPOINT_URL", "") or None
SAGEMAKER_ENDPOINT_URL = env_str("SAGEMAKER_ENDPOINT_URL", "") or None
# Where endpoints run: `aws` (SageMaker) or `local` (a process per endpoint on this machine serving the
# same container contract, like SageMaker local mode), the default, as COMPUTE_BACKEND=local is for EC2.
SAGEMAKER_BACKEND = env_str("SAGEMAKER_BACKEND", "local")
if SAGEMAKER_BACKEND not in {"local", "aws"}:
    raise ImproperlyConfigured(f"SAGEMAKER_BACKEND must be 'local' or 'aws', got {SAGEMAKER_BACKEND!r}")
# The local backend's endpoints: SAGEMAKER_GENERATE_ENDPOINT serves the gpt2-demo generator built by
# `make model` (text-generation contract), LOCAL_CLASSIFIER_ENDPOINT serves CLASSIFIER_MODEL (our
# classifier's contract); `sagemaker_deploy` registers more. Each starts on first use, not at `make run`.
LOCAL_GENERATOR_MODEL = env_str("LOCAL_GENERATOR_MODEL", str(VAR_DIR / "models" / "gpt2-demo"))
LOCAL_CLASSIFIER_ENDPOINT = env_str("LOCAL_CLASSIFIER_ENDPOINT", "classifier-demo")
# Seconds a starting local endpoint has to answer /ping 200 before it is Failed, and a stopping one to
# exit after SIGTERM before it is killed.
LOCAL_ENDPOINT_START_TIMEOUT = env_int("LOCAL_ENDPOINT_START_TIMEOUT", 120, minimum=1)
LOCAL_ENDPOINT_STOP_TIMEOUT = env_int("LOCAL_ENDPOINT_STOP_TIMEOUT", 10, minimum=1)
# Endpoints shown on the status panel: names, or `*` for every endpoint in the region.
SAGEMAKER_ENDPOINTS = env_list("SAGEMAKER_ENDPOINTS")
# Seconds with no queued or running job before an instance is stopped. About one boot's worth of
# GPU time: waiting that long before giving up the instance never costs more than twice the ideal.
IDLE_STOP_AFTER = env_int("IDLE_STOP_AFTER", 90, minimum=0)
# Another instance is started for every this many waiting or running jobs.
POWER_BACKLOG_PER_INSTANCE = env_int("POWER_BACKLOG_PER_INSTANCE", 200, minimum=1)
# How often `manage.py power_tick` checks the fleet (idle stops, retries, waiting for `stopped`).
POWER_TICK_SECONDS = env_int("POWER_TICK_SECONDS", 10, minimum=1)
# An instance that has been pending or running this long while work waits, with no worker reporting
# from it, is stopped (it costs money and does nothing) and not started again for as long.
POWER_BOOT_TIMEOUT = env_int("POWER_BOOT_TIMEOUT", 600, minimum=30)
# Queued or running items older than this with no job behind them do not keep the GPU on.
POWER_ORPHAN_AFTER = env_int("POWER_ORPHAN_AFTER", 3600, minimum=60)
# Price of one instance-hour, for the panel's cost estimate (g5.xlarge on-demand, us-east-1).
GPU_HOURLY_PRICE = env_float("GPU_HOURLY_PRICE", 1.006)
# SageMaker endpoints under power management (docs/power.md#endpoints). Each managed endpoint is
# `realtime` (scaled to zero by deleting the endpoint and keeping its config) or `async` (application
# auto scaling of its instance count to 0); name:kind pairs, realtime when not listed.
SAGEMAKER_ENDPOINT_KINDS = env_map("SAGEMAKER_ENDPOINT_KINDS", str, allowed=("realtime", "async"))
# Seconds with no invocation before an endpoint goes to zero (0: never); name:seconds overrides it per endpoint.
SAGEMAKER_IDLE_SCALE_AFTER = env_int("SAGEMAKER_IDLE_SCALE_AFTER", 15 * 60, minimum=0)
SAGEMAKER_ENDPOINT_IDLE = env_map("SAGEMAKER_ENDPOINT_IDLE", int)
# An endpoint the console started stays up at least this long, whatever the idle timer says: a
# re-create costs minutes, so a start is never undone by the next quiet moment.
SAGEMAKER_MIN_IN_SERVICE = env_int("SAGEMAKER_MIN_IN_SERVICE", 10 * 60, minimum=0)
# Seconds a start typically takes, per kind (`local` for the local backend), until measured: the
# "starting the endpoint, about N s" estimate and the Retry-After of a 503.
SAGEMAKER_START_SECONDS = {"realtime": 480, "async": 300, "local": 20} | env_map("SAGEMAKER_START_SECONDS", int)
# How long a classification job waits for a starting endpoint before its run fails and RQ runs it again
# (keep it under INFERENCE_JOB_TIMEOUT).
SAGEMAKER_START_WAIT_SECONDS = env_int("SAGEMAKER_START_WAIT_SECONDS", 480, minimum=0)
# Price of one endpoint instance-hour by instance type, for the panel's cost (on-demand, us-east-1).
SAGEMAKER_HOURLY_PRICES = {"ml.g5.xlarge": 1.408, "ml.g4dn.xlarge": 0.7364, "ml.m5.large": 0.115} | env_map(
    "SAGEMAKER_HOURLY_PRICES", float
)
# Unset means real AWS; tests point it at a moto server (async endpoints' scaling).
APPLICATION_AUTOSCALING_ENDPOINT_URL = env_str("APPLICATION_AUTOSCALING_ENDPOINT_URL", "") or None
# The local backend: how many worker "instances", a simulated boot before the worker starts, and
# how long a stopping worker may take to finish its job before it is killed.
LOCAL_INSTANCE_COUNT = env_int("LOCAL_INSTANCE_COUNT", 1, minimum=1)
LOCAL_BOOT_DELAY = env_float("LOCAL_BOOT_DELAY", 3.0)
LOCAL_STOP_TIMEOUT = env_int("LOCAL_STOP_TIMEOUT", 60, minimum=1)


# --- Metrics for Prometheus (dashboard/metrics/, docs/operations.md "Metrics") -------------
# The web tier's /metrics answers a bearer token of this value, or a caller from these ranges (its
# address as login throttling sees it, through TRUSTED_PROXY_COUNT); everyone else gets a 404.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = networks_parse(
    "METRICS_ALLOWED_NETWORKS", env_list("METRICS_ALLOWED_NETWORKS", [] if PRODUCTION else ["127.0.0.0/8", "::1/128"])
)
# The ports the inference worker and `power_tick` serve their own metrics on; 0 is off (the local
# default: `make run` may run several workers on one machine).
METRICS_WORKER_PORT = env_int("METRICS_WORKER_PORT", 9101 if PRODUCTION else 0, minimum=0)
METRICS_POWER_TICK_PORT = env_int("METRICS_POWER_TICK_PORT", 9102 if PRODUCTION else 0, minimum=0)
# Dollars of GPU time a day before the spend alert fires (deploy/observability/); 0 exposes no budget.
GPU_DAILY_BUDGET = env_float("GPU_DAILY_BUDGET", 0.0)

# --- Results explorer and bulk submission --------------------------------------------------
# Page sizes the explorer offers; RESULTS_PAGE_SIZE above is the default one.
RESULTS_PAGE_SIZES = (10, 25, 50, 100, 200, 300)
# Index entries one explorer request may read when a filter discards some (text contains, or two
# filters at once); the page then says how many it scanned and offers to continue.
EXPLORER_SCAN_BUDGET = env_int("EXPLORER_SCAN_BUDGET", 5000, minimum=100)
# A bulk upload: largest file (bytes) and most rows accepted in one batch.
BATCH_MAX_BYTES = env_int("BATCH_MAX_BYTES", 5 * 1024 * 1024, minimum=1024)
BATCH_MAX_ROWS = env_int("BATCH_MAX_ROWS", 10_000, minimum=1)
# Room for a multipart body's boundary and part headers around a file of BATCH_MAX_BYTES.
BATCH_FRAMING_BYTES = 64 * 1024
# Django refuses a body (files aside) over this with RequestDataTooBig, answered as a 413 that names
# the limit (dashboard.middleware). A batch sent as a JSON or text/csv body of BATCH_MAX_BYTES must
# fit, so the default is derived from it and a smaller value is a configuration error.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int(
    "DATA_UPLOAD_MAX_MEMORY_SIZE",
    BATCH_MAX_BYTES + BATCH_FRAMING_BYTES,
    minimum=BATCH_MAX_BYTES + BATCH_FRAMING_BYTES,
)
# Uploaded files over this are spooled to a temporary file while they are parsed, so a few large
# uploads at once do not each hold a copy in the web process's memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("FILE_UPLOAD_MAX_MEMORY_SIZE", 1024 * 1024, minimum=0)
# Item ids per inference job when a batch is enqueued: one job is one engine call on the worker,
# so this is the worker's micro-batch ceiling for bulk work.
BATCH_ENQUEUE_CHUNK = env_int("BATCH_ENQUEUE_CHUNK", 32, minimum=1)

# --- Webhooks: signed deliveries of item and batch events (see docs/webhooks.md) -----------
# Hosts or addresses (comma-separated) a webhook may reach although they are not public, e.g.
# `127.0.0.1,localhost` for a receiver on a developer's machine. Empty in production.
WEBHOOK_ALLOWED_HOSTS = [host.lower() for host in env_list("WEBHOOK_ALLOWED_HOSTS")]
# One attempt's connect and read timeout.
WEBHOOK_TIMEOUT_S = env_float("WEBHOOK_TIMEOUT_S", 10.0)
# Retries wait base * 2^(attempt-1), capped, with jitter, until the window since the event has passed.
WEBHOOK_RETRY_BASE_S = env_float("WEBHOOK_RETRY_BASE_S", 30.0)
WEBHOOK_RETRY_MAX_S = env_float("WEBHOOK_RETRY_MAX_S", 3600.0)
WEBHOOK_RETRY_WINDOW_S = env_int("WEBHOOK_RETRY_WINDOW_S", 86400, minimum=1)
# A webhook whose every delivery failed for this long is disabled, with the reason shown.
WEBHOOK_DISABLE_AFTER_S = env_int("WEBHOOK_DISABLE_AFTER_S", 86400, minimum=1)

# --- Faults, recovery, security (see docs/operations.md) -----------------------------------
# Runs of a classify job after the first, when it fails (DynamoDB away at the result write) or its
# worker dies (RQ's abandoned-job handling). Each retry first waits RESULT_WRITE_BACKOFF_S × 2^n.
INFERENCE_JOB_RETRIES = env_int("INFERENCE_JOB_RETRIES", 3, minimum=1)
# How long a job keeps retrying a failed result write (exponential backoff from RESULT_WRITE_BACKOFF_S)
# before it stashes the results in the job and fails, so that its retry writes them.
RESULT_WRITE_RETRY_SECONDS = env_float("RESULT_WRITE_RETRY_SECONDS", 60.0)
RESULT_WRITE_BACKOFF_S = env_float("RESULT_WRITE_BACKOFF_S", 0.5)
# The reconciler (dashboard/reconcile.py): an item `queued` this long with no RQ job carrying it is
# enqueued again; an item `running` longer than the lease is taken back even if its holder looks
# alive; after this many recoveries an item is marked failed with the reason. power_tick runs it
# every RECONCILE_EVERY_TICKS checks, and every worker once at start.
RECONCILE_QUEUED_AFTER = env_int("RECONCILE_QUEUED_AFTER", 60, minimum=0)
RECONCILE_RUNNING_LEASE = env_int("RECONCILE_RUNNING_LEASE", INFERENCE_JOB_TIMEOUT + 120, minimum=1)
RECONCILE_MAX_RECOVERIES = env_int("RECONCILE_MAX_RECOVERIES", 3, minimum=1)
RECONCILE_EVERY_TICKS = env_int("RECONCILE_EVERY_TICKS", 3, minimum=1)
# Items per minute one user may submit (form, API, batches counted by items); 0 turns the limit off.
SUBMISSIONS_PER_MINUTE = env_int("SUBMISSIONS_PER_MINUTE", 600, minimum=0)
# Labels per minute one user may set (each item of a selection counts one); 0 turns the limit off.
# Review mode at a person's pace stays far below it; a script relabelling the table does not.
LABELS_PER_MINUTE = env_int("LABELS_PER_MINUTE", 300, minimum=0)
# Items one labelling of a selection (explorer or API) takes at most.
LABELS_MAX_SELECTION = env_int("LABELS_MAX_SELECTION", 1000, minimum=1)
# Failed items one "requeue by filter or batch" resets at most; the answer says when more matched.
# Each item is also charged against SUBMISSIONS_PER_MINUTE, as a re-run is.
REQUEUE_MAX_ITEMS = env_int("REQUEUE_MAX_ITEMS", 1000, minimum=1)
# Threads per web process that write single submissions in groups (dashboard/submit_batcher.py):
# while one group's write is in flight, another takes what arrived meanwhile (2 gave 4-12 % more
# accepted submissions/s than 1 under bench/load.py, docs/benchmarks.md).
SUBMIT_COMMITTERS = env_int("SUBMIT_COMMITTERS", 2, minimum=1)

# Login everywhere but the login page, health checks and the API (which answers 401 JSON itself);
# security headers and the Content Security Policy right after SecurityMiddleware, so they are on
# every response, including redirects and errors from the middleware below it.
MIDDLEWARE = [*MIDDLEWARE, "django.contrib.auth.middleware.LoginRequiredMiddleware"]
_after_security = MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1
MIDDLEWARE.insert(_after_security, "dashboard.middleware.SecurityHeadersMiddleware")
# Health checks are answered before anything reads the Host header (a load balancer sends its IP).
MIDDLEWARE.insert(_after_security + 1, "dashboard.middleware.HealthCheckMiddleware")
# A body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 that names the limit (JSON under /api/); it reads
# form posts before CsrfViewMiddleware does, whose refusal would be Django's bare 400.
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.csrf.CsrfViewMiddleware"), "dashboard.middleware.RequestTooLargeMiddleware"
)
# django-rq's pages raise on a job or queue that does not exist: a 404, not a 500.
MIDDLEWARE.append("dashboard.middleware.AdminLookupNotFoundMiddleware")
# Old keys still accepted for sessions and signed values while a rotated SECRET_KEY takes over.
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# The load balancer's health checks come over plain HTTP; redirecting them would read as down.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
if PRODUCTION:
    # The region the results table lives in: the default credential chain supplies keys, not this.
    if not (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")):
        missing.append("AWS_REGION")
    if DEBUG:
        raise ImproperlyConfigured("DJANGO_DEBUG must be off in production: it shows settings and stack traces.")
    if SECRET_KEY and (len(SECRET_KEY) < 50 or SECRET_KEY.startswith(("django-insecure", "local-only"))):
        raise ImproperlyConfigured("SECRET_KEY is too weak for production: use 50+ random characters.")

# --- Production hardening -----------------------------------------------------------------
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    if missing:
        raise ImproperlyConfigured(
            "Production settings are missing: " + ", ".join(missing) + ". Set them in the environment."
        )

# --- Logs and error reporting (docs/operations.md, "Logs") ----------------------------------
# One JSON object per line in production (for the log shipper), readable `key=value` lines locally.
LOG_FORMAT = env_str("LOG_FORMAT", "json" if PRODUCTION else "console")
try:
    LOGGING = logging_config(level=log_level_check(env_str("LOG_LEVEL", "INFO")), fmt=LOG_FORMAT)
except ValueError as error:
    raise ImproperlyConfigured(str(error)) from error
# Sentry only when a DSN is given; users' names, addresses and cookies stay out unless opted in.
SENTRY_DSN = env_str("SENTRY_DSN", "")
SENTRY_ENVIRONMENT = env_str("SENTRY_ENVIRONMENT", DJANGO_ENV)
SENTRY_RELEASE = env_str("SENTRY_RELEASE", "")
SENTRY_SEND_DEFAULT_PII = env_bool("SENTRY_SEND_DEFAULT_PII", False)
SENTRY_TRACES_SAMPLE_RATE = env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0)
if not 0.0 <= SENTRY_TRACES_SAMPLE_RATE <= 1.0:
    raise ImproperlyConfigured(f"SENTRY_TRACES_SAMPLE_RATE must be between 0 and 1, got {SENTRY_TRACES_SAMPLE_RATE}")
if SENTRY_DSN:
    sentry_init(
        dsn=SENTRY_DSN,
        environment=SENTRY_ENVIRONMENT,
        release=SENTRY_RELEASE,
        send_default_pii=SENTRY_SEND_DEFAULT_PII,
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
    )
