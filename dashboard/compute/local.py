"""The `local` backend: each "instance" is a `manage.py inference_worker` process on this machine.

The web tier is stateless and may run several processes, so an instance's state lives in Redis
(`power:local:<id>`: state, pid, the process's start time, worker name, timestamps), never in
memory. Any process can observe, start or stop an instance: a start spawns the worker in its own
session so it outlives the request that started it; a stop signals the process group recorded in
Redis after checking that the pid still belongs to that worker (pids are reused).

States follow EC2's: `stopped` → `pending` (simulated boot of LOCAL_BOOT_DELAY s, then the model
loads) → `running` (the worker has registered with RQ) → `stopping` (SIGTERM: RQ finishes the job
in hand, then exits) → `stopped`. A worker that exits on its own is seen as `stopped`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import django_rq
import psutil
from django.conf import settings
from redis.exceptions import WatchError
from rq import Worker

from dashboard.compute.base import PENDING, RUNNING, STOPPED, STOPPING, ComputeBackend, Instance
from dashboard.exceptions import ComputeError, ComputeNotFound, ComputeStateConflict

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent.parent
KEY_PREFIX = "power:local:"
# Sleeps for the simulated boot, then becomes the worker (exec keeps the pid we recorded).
_BOOT = "import os, sys, time; time.sleep(float(sys.argv[1])); os.execv(sys.argv[2], sys.argv[2:])"


def _redis():
    return django_rq.get_connection(settings.INFERENCE_QUEUE)


def process_start(pid: int) -> str:
    """When `pid` started, as text (psutil's create_time), to tell our process from a reused pid; "" if gone."""
    try:
        return f"{psutil.Process(pid).create_time():.2f}"
    except psutil.Error:
        return ""


def process_alive(pid: int, start: str = "") -> bool:
    """Whether `pid` is still the process we started (not a zombie, not a reused pid)."""
    if pid <= 0:
        return False
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            exited = process.status() in {psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD}
            reused = bool(start) and f"{process.create_time():.2f}" != start
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # someone else's process: alive, though not ours to inspect
    return not exited and not reused


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class LocalBackend(ComputeBackend):
    name = "local"
    supports_reboot = False

    def __init__(self, connection=None) -> None:
        self.redis = connection or _redis()

    def instance_ids(self) -> list[str]:
        return [f"local-{n}" for n in range(1, settings.LOCAL_INSTANCE_COUNT + 1)]

    def _key(self, instance_id: str) -> str:
        if instance_id not in self.instance_ids():
            raise ComputeNotFound(f"{instance_id} is not a local instance (LOCAL_INSTANCE_COUNT)")
        return KEY_PREFIX + instance_id

    def record(self, instance_id: str) -> dict[str, str]:
        raw = self.redis.hgetall(self._key(instance_id))
        record = {k.decode(): v.decode() for k, v in raw.items()}
        record.setdefault("state", STOPPED)
        return record

    def _transition(self, instance_id: str, expect: set[str], **fields: str | float | int) -> bool:
        """Set fields only if the state is still one of `expect` (compare-and-set across processes)."""
        key = self._key(instance_id)
        with self.redis.pipeline() as pipe:
            try:
                pipe.watch(key)
                current = (pipe.hget(key, "state") or STOPPED.encode()).decode()
                if current not in expect:
                    pipe.unwatch()
                    return False
                pipe.multi()
                pipe.hset(key, mapping={name: str(value) for name, value in fields.items()})
                pipe.execute()
                return True
            except WatchError:
                return False

    def _worker_registered(self, name: str) -> bool:
        return bool(name) and bool(self.redis.exists(Worker.redis_worker_namespace_prefix + name))

    def observe(self, instance_id: str) -> dict[str, str]:
        """Read an instance's record and move it along when its process says so."""
        record = self.record(instance_id)
        state = record["state"]
        pid = int(record.get("pid") or 0)
        alive = process_alive(pid, record.get("proc_start", ""))
        now = time.time()
        # Between claiming `pending` and recording the pid, another process must not call it dead.
        spawning = state == PENDING and pid == 0 and now - float(record.get("state_since") or 0) < 30
        if state in {PENDING, RUNNING} and not alive and not spawning:
            note = "the worker exited during boot" if state == PENDING else "the worker exited on its own"
            self._transition(instance_id, {state}, state=STOPPED, state_since=now, pid=0, note=note)
        elif state == PENDING and self._worker_registered(record.get("worker_name", "")):
            self._transition(instance_id, {PENDING}, state=RUNNING, state_since=now, note="")
        elif state == STOPPING and not alive:
            self._transition(instance_id, {STOPPING}, state=STOPPED, state_since=now, pid=0)
        elif state == STOPPING and now - float(record.get("state_since") or now) > settings.LOCAL_STOP_TIMEOUT:
            log.warning(
                "local instance %s did not stop within %ss; killing it", instance_id, settings.LOCAL_STOP_TIMEOUT
            )
            _signal_group(pid, signal.SIGKILL)
        else:
            return record
        return self.record(instance_id)

    def _instance(self, instance_id: str, record: dict[str, str]) -> Instance:
        launch = float(record.get("launch_time") or 0)
        pid = int(record.get("pid") or 0)
        return Instance(
            id=instance_id,
            state=record["state"],
            type="local process",
            launch_time=datetime.fromtimestamp(launch, UTC) if launch else None,
            private_address=f"127.0.0.1 (pid {pid})" if pid else "",
            detail=record.get("note", ""),
        )

    def instances(self) -> list[Instance]:
        return [self._instance(i, self.observe(i)) for i in self.instance_ids()]

    def start(self, instance_id: str) -> str:
        state = self.observe(instance_id)["state"]
        if state in {PENDING, RUNNING}:
            return state
        if state == STOPPING:
            raise ComputeStateConflict(f"{instance_id} is stopping; it can be started once it has stopped")
        worker_name = f"{instance_id}-{uuid.uuid4().hex[:8]}"
        now = time.time()
        claimed = self._transition(
            instance_id,
            {STOPPED},
            state=PENDING,
            state_since=now,
            launch_time=now,
            worker_name=worker_name,
            pid=0,
            proc_start="",
            note="",
        )
        if not claimed:
            return self.record(instance_id)["state"]  # another process started it a moment ago
        try:
            process = self._spawn(instance_id, worker_name)
        except OSError as error:
            self._transition(instance_id, {PENDING}, state=STOPPED, state_since=time.time(), note=str(error))
            raise ComputeError(f"Could not start the local worker: {error}", code="SpawnFailed") from error
        self.redis.hset(self._key(instance_id), mapping={"pid": process.pid, "proc_start": process_start(process.pid)})
        return PENDING

    def _spawn(self, instance_id: str, worker_name: str) -> subprocess.Popen:
        env = os.environ | {
            "REDIS_URL": settings.REDIS_URL,
            "REDIS_PASSWORD": settings.REDIS_PASSWORD,
            "DYNAMODB_TABLE": settings.DYNAMODB_TABLE,
            "CLASSIFIER_MODEL": settings.CLASSIFIER_MODEL,
            "AWS_REGION": settings.AWS_REGION,
            "COMPUTE_INSTANCE_ID": instance_id,
            "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
        }
        if settings.DYNAMODB_ENDPOINT_URL:
            env["DYNAMODB_ENDPOINT_URL"] = settings.DYNAMODB_ENDPOINT_URL
        # The web tier's multiprocess metrics directory is for its own processes: a worker started from a
        # web request serves its metrics on its own port, not into the web's /metrics.
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        log_dir = settings.VAR_DIR / "log"
        log_dir.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-c", _BOOT, str(settings.LOCAL_BOOT_DELAY), sys.executable]
        args += [str(ROOT / "manage.py"), "inference_worker", "--name", worker_name]
        with open(log_dir / f"{instance_id}.log", "ab") as output:
            process = subprocess.Popen(
                args,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: outlives this request, stoppable by group
            )
        # Reap it when it exits, so a long-lived web process keeps no zombie that looks alive.
        threading.Thread(target=process.wait, name=f"reap-{instance_id}", daemon=True).start()
        log.info("started local instance %s: pid %s, worker %s", instance_id, process.pid, worker_name)
        return process

    def stop(self, instance_id: str) -> str:
        record = self.observe(instance_id)
        state = record["state"]
        if state in {STOPPED, STOPPING}:
            return state
        if not self._transition(instance_id, {state}, state=STOPPING, state_since=time.time()):
            return self.record(instance_id)["state"]
        pid = int(record.get("pid") or 0)
        if process_alive(pid, record.get("proc_start", "")):
            _signal_group(pid, signal.SIGTERM)  # RQ's warm shutdown: the job in hand finishes first
        return self.observe(instance_id)["state"]
