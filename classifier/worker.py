"""The inference worker: load the model once, then serve RQ jobs in this same process.

RQ's default worker forks a child per job; a CUDA context cannot survive fork() and a model load
per job is exactly the cost this product exists to remove, so we run jobs in-process.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import structlog
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from classifier.contracts import MODEL_LOAD_ERROR_FIELD, SERVING_MODEL_KEY, WORKER_META_PREFIX

log = logging.getLogger(__name__)


class InferenceWorker(SimpleWorker):
    """An RQ worker that executes jobs in its own process, next to the loaded model."""

    # Set by `worker_run`: after each job the worker's meta is published again, so the panel sees
    # the memory the batches used and the engine's out-of-memory counters, not only the load's.
    engine: Any = None
    # Loads a model version from its source (a directory or hub id); None: this worker does not
    # follow the registry (the SageMaker stand-in, whose endpoint is the model).
    engine_loader: Callable[[str], Any] | None = None
    # The version that failed to load, so it is not tried again before every job.
    _refused_version: str | None = None

    def execute_job(self, job: Any, queue: Any) -> None:
        """Run a job with its log fields (request, job, items, batch, user) bound to every line, RQ's
        own included, and nothing left bound for the next: jobs run one after another in this process.

        Before it, the worker turns to the version the registry says is serving, if that changed: the
        job before has finished, and this one waits in this process for the load, so none is lost or
        run twice."""
        from classifier.jobs import job_log_fields

        self.serving_follow()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(worker=self.name, **job_log_fields(job))
        try:
            super().execute_job(job, queue)
        finally:
            structlog.contextvars.clear_contextvars()
            self._meta_refresh()

    def serving_follow(self) -> bool:
        """Load the registry's serving version when it is not this worker's; True when the engine changed.

        A version that does not load leaves the current engine serving; the reason is published in
        this worker's hash (`MODEL_LOAD_ERROR_FIELD`) for the Fleet page, and logged.
        """
        if self.engine_loader is None or self.engine is None:
            return False
        try:
            raw = self.connection.get(SERVING_MODEL_KEY)
            wanted = json.loads(raw) if raw else None
        except Exception:
            log.warning("could not read the serving model version", exc_info=True)
            return False
        if not isinstance(wanted, dict) or not wanted.get("id") or not wanted.get("source"):
            return False
        version, source = str(wanted["id"]), str(wanted["source"])
        if version in {self.engine.model_name, self._refused_version}:
            return False
        log.info(
            "worker %s loading %s from %s (serving %s until it has)", self.name, version, source, self.engine.model_name
        )
        try:
            engine = self.engine_loader(source)
        except Exception as error:
            self._refused_version = version
            reason = f"could not load {version} from {source}: {error}"[:2000]
            log.error("worker %s keeps %s: %s", self.name, self.engine.model_name, reason)
            self._publish_error(reason)
            return False
        engine.model_name = version
        self.engine_install(engine)
        self._refused_version = None
        self._publish_error("")
        log.info("worker %s now serves %s (loaded in %.1f s)", self.name, version, getattr(engine, "load_seconds", 0.0))
        return True

    def engine_install(self, engine: Any) -> None:
        from classifier import jobs

        jobs.engine_set(engine)
        self.engine = engine
        self._meta_refresh()

    def _publish_error(self, reason: str) -> None:
        try:
            self.connection.hset(WORKER_META_PREFIX + self.name, MODEL_LOAD_ERROR_FIELD, reason)
        except Exception:
            log.warning("could not publish worker %s's model load error", self.name, exc_info=True)

    def _meta_refresh(self) -> None:
        if self.engine is None:
            return
        try:
            worker_meta_publish(worker_name=self.name, connection=self.connection, engine=self.engine)
        except Exception:
            log.warning("could not refresh worker %s meta", self.name, exc_info=True)


def worker_run(
    *,
    queue_names: list[str],
    connection: Any,
    engine: Any,
    burst: bool = False,
    name: str | None = None,
    engine_loader: Callable[[str], Any] | None = None,
) -> bool:
    """Serve jobs with `engine` until stopped; with `engine_loader`, follow the registry's serving version."""
    from classifier import jobs

    jobs.engine_set(engine)
    worker = InferenceWorker(queue_names, connection=connection, serializer=JSONSerializer, name=name)
    worker.engine = engine
    worker.engine_loader = engine_loader
    log.info(
        "worker %s ready: model=%s device=%s dtype=%s forward=%s load=%.1fs",
        worker.name,
        getattr(engine, "model_name", "?"),
        getattr(engine, "device", "?"),
        getattr(engine, "dtype", "?"),
        getattr(engine, "implementation", "?"),
        getattr(engine, "load_seconds", float("nan")),
    )
    meta_key = worker_meta_publish(worker_name=worker.name, connection=connection, engine=engine)
    reconcile_at_start()
    started = time.monotonic()
    try:
        result = worker.work(burst=burst, with_scheduler=False, logging_level="INFO")
    finally:
        connection.delete(meta_key)
    log.info("worker %s stopped after %.0f s", worker.name, time.monotonic() - started)
    return result


def worker_meta_publish(*, worker_name: str, connection: Any, engine: Any) -> str:
    """Publish model, device, dtype, memory, load time and the instance this worker runs on; returns the key.

    The memory fields and the engine's counters come from `Engine.device_report` (an empty string
    where a figure does not apply, e.g. GPU memory on a CPU); an engine without one (the SageMaker
    stand-in) publishes device and dtype only.
    """
    key = WORKER_META_PREFIX + worker_name
    report_of = getattr(engine, "device_report", None)
    report = report_of() if callable(report_of) else {}
    connection.hset(
        key,
        mapping={
            **{name: "" if value is None else str(value) for name, value in report.items()},
            "model": str(getattr(engine, "model_name", "")),
            "device": str(getattr(engine, "device", "")),
            "dtype": str(getattr(engine, "dtype", "")),
            "implementation": str(getattr(engine, "implementation", "")),
            "load_seconds": f"{float(getattr(engine, 'load_seconds', 0.0)):.3f}",
            # Set by the local backend, and from instance metadata by deploy/ec2/user-data.sh.
            "instance_id": os.environ.get("COMPUTE_INSTANCE_ID", ""),
            "hostname": socket.gethostname(),
            "pid": str(os.getpid()),
        },
    )
    connection.expire(key, 7 * 86400)  # a worker killed outright leaves it behind; the panel ignores stale ones
    return key


def reconcile_at_start() -> None:
    """Take back the items a worker that died on this host left `running`, before taking new work, so none is lost.

    A restarted worker is the first to know its predecessor is gone; waiting for the periodic run
    would leave those items stuck for up to a power_tick interval. Never stops the worker from starting.
    """
    try:
        from dashboard.reconcile import reconcile

        report = reconcile(ensure_capacity=False)
        log.info(report.summary())
    except Exception:
        log.exception("reconcile at worker start failed; power_tick's periodic run will retry")
