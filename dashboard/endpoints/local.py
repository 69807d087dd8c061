"""The `local` endpoint backend: each endpoint is a gunicorn process on this machine, like SageMaker local mode.

The process runs production's container entry point (`deploy/sagemaker/serve`: gunicorn with
`deploy/sagemaker/gunicorn.conf.py` and `classifier.serve:app_from_env()`), so it speaks the same
contract as the SageMaker container: `GET /ping`, `POST /invocations`. SERVE_TASK picks the
classifier or the text-generation app, SERVE_MODEL_DIR the model.

Which endpoints exist: the generator (SAGEMAKER_GENERATE_ENDPOINT, from LOCAL_GENERATOR_MODEL), the
classifier (LOCAL_CLASSIFIER_ENDPOINT, from CLASSIFIER_MODEL), and those `sagemaker_deploy`
registered (`endpoint_register`). As for the local EC2 stand-in (dashboard/compute/local.py), the
web tier may run several processes, so each endpoint's state lives in Redis
(`endpoints:local:<name>`: state, pid, the process's start time, port, reason), never in memory.

States: `ScaledToZero` (no process) → `scale_up` spawns gunicorn on a free port → `Creating` until
/ping answers 200 → `InService`; `scale_to_zero` → `Deleting` (SIGTERM to the process group, SIGKILL
after LOCAL_ENDPOINT_STOP_TIMEOUT) → `ScaledToZero`. A process that dies, a model that fails to
load, or a /ping that stays unanswered past LOCAL_ENDPOINT_START_TIMEOUT → `Failed`, with the
process's last stderr lines (var/log/endpoints/<name>.log) as the reason; `scale_up` starts it again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import django_rq
import psutil
import urllib3
from django.conf import settings
from redis.exceptions import RedisError, WatchError

from dashboard.compute.local import process_alive, process_start
from dashboard.devservices import free_port
from dashboard.endpoints.base import (
    CREATING,
    DELETING,
    FAILED,
    IN_SERVICE,
    SCALED_TO_ZERO,
    Endpoint,
    EndpointBackend,
    Invocation,
)
from dashboard.exceptions import (
    DeployError,
    EndpointModelError,
    EndpointNotReady,
    EndpointStatusUnavailable,
    EndpointThrottled,
    EndpointTimeout,
    EndpointUnavailable,
)

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent.parent
SERVE = ROOT / "deploy" / "sagemaker" / "serve"
KEY_PREFIX = "endpoints:local:"
# Endpoints `sagemaker_deploy` added: name → {"task", "model_dir"} as JSON.
REGISTRY_KEY = "endpoints:local-registry"
CLASSIFICATION = "classification"
TEXT_GENERATION = "text-generation"
TASKS = (CLASSIFICATION, TEXT_GENERATION)
INSTANCE_TYPE = "local process"
REASON_LINES = 8
# Container answers that mean "not now" rather than "not this input" (as SageMaker's OriginalStatusCode).
_CONTAINER_BUSY = {502, 503, 504}


@dataclass(frozen=True)
class LocalEndpointSpec:
    name: str
    task: str
    model_dir: str


def _redis():
    return django_rq.get_connection(settings.INFERENCE_QUEUE)


_pools: dict[int, urllib3.PoolManager] = {}


def _pool() -> urllib3.PoolManager:
    """One connection pool per process (created after any fork, like the boto3 clients)."""
    pid = os.getpid()
    if pid not in _pools:
        _pools[pid] = urllib3.PoolManager(num_pools=8, maxsize=32, retries=False)
    return _pools[pid]


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def log_path(name: str) -> Path:
    return Path(settings.VAR_DIR) / "log" / "endpoints" / f"{name}.log"


def _log_tail(name: str, offset: int) -> str:
    """The last stderr lines the endpoint's process wrote since it started (its log from `offset`)."""
    try:
        with log_path(name).open("rb") as handle:
            handle.seek(offset)
            lines = handle.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in lines[-REASON_LINES:] if line.strip())


def _stop_group(name: str, pid: int) -> None:
    """SIGTERM to gunicorn's master (its graceful stop: requests in hand finish first), SIGKILL to the whole
    process group after LOCAL_ENDPOINT_STOP_TIMEOUT, and back only once every process of it is gone."""
    try:
        group = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM)
    _, alive = psutil.wait_procs(group, timeout=settings.LOCAL_ENDPOINT_STOP_TIMEOUT)
    if alive:
        log.warning("local endpoint %s did not stop in %ss; killing it", name, settings.LOCAL_ENDPOINT_STOP_TIMEOUT)
        _signal_group(pid, signal.SIGKILL)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(alive, timeout=5)


class LocalEndpoints(EndpointBackend):
    name = "local"

    def __init__(self, connection=None) -> None:
        self.redis = connection or _redis()

    # --- which endpoints exist ----------------------------------------------------------------

    def specs(self) -> dict[str, LocalEndpointSpec]:
        built_in = [
            LocalEndpointSpec(
                settings.SAGEMAKER_GENERATE_ENDPOINT, TEXT_GENERATION, str(settings.LOCAL_GENERATOR_MODEL)
            ),
            LocalEndpointSpec(settings.LOCAL_CLASSIFIER_ENDPOINT, CLASSIFICATION, str(settings.CLASSIFIER_MODEL)),
        ]
        found = {spec.name: spec for spec in built_in if spec.name}
        try:
            registered = self.redis.hgetall(REGISTRY_KEY)
        except RedisError as error:
            raise EndpointStatusUnavailable(f"The local endpoints' registry cannot be read: {error}") from error
        for raw_name, raw in registered.items():
            entry = json.loads(raw)
            name = raw_name.decode()
            found.setdefault(name, LocalEndpointSpec(name, entry["task"], entry["model_dir"]))
        return found

    def endpoint_names(self) -> list[str]:
        return list(self.specs())

    def _spec(self, name: str) -> LocalEndpointSpec:
        spec = self.specs().get(name)
        if spec is None:
            raise EndpointNotReady(
                f"Endpoint {name!r} does not exist locally: the local endpoints are {', '.join(self.specs())}."
            )
        return spec

    def endpoint_register(self, *, name: str, task: str, model_dir: str) -> Endpoint:
        """Add an endpoint (`sagemaker_deploy` with SAGEMAKER_BACKEND=local); it starts scaled to zero."""
        if task not in TASKS:
            raise DeployError(f"Task {task!r} is not one of {', '.join(TASKS)}.")
        if not (Path(model_dir) / "config.json").is_file():
            raise DeployError(f"{model_dir} holds no model (no config.json).")
        if name in self.specs():
            raise DeployError(
                f"Endpoint {name!r} already exists ({self.endpoint_describe(name).state}). "
                f"Remove it first with `manage.py sagemaker_undeploy --name {name}`, or choose another name."
            )
        spec = {"task": task, "model_dir": str(Path(model_dir).resolve())}
        self.redis.hset(REGISTRY_KEY, name, json.dumps(spec))
        return self.endpoint_describe(name)

    def endpoint_unregister(self, *, name: str) -> bool:
        """Stop and forget a registered endpoint; False if `name` was not registered."""
        if not self.redis.hexists(REGISTRY_KEY, name):
            return False
        self.scale_to_zero(name)
        self.redis.hdel(REGISTRY_KEY, name)
        self.redis.delete(KEY_PREFIX + name)
        return True

    # --- state --------------------------------------------------------------------------------

    def record(self, name: str) -> dict[str, str]:
        try:
            raw = self.redis.hgetall(KEY_PREFIX + name)
        except RedisError as error:
            raise EndpointStatusUnavailable(f"The state of local endpoint {name!r} cannot be read: {error}") from error
        record = {k.decode(): v.decode() for k, v in raw.items()}
        record.setdefault("state", SCALED_TO_ZERO)
        return record

    def _transition(self, name: str, expect: set[str], **fields: str | float | int) -> bool:
        """Set fields only if the state is still one of `expect` (compare-and-set across processes)."""
        key = KEY_PREFIX + name
        with self.redis.pipeline() as pipe:
            try:
                pipe.watch(key)
                current = (pipe.hget(key, "state") or SCALED_TO_ZERO.encode()).decode()
                if current not in expect:
                    pipe.unwatch()
                    return False
                pipe.multi()
                pipe.hset(key, mapping={field: str(value) for field, value in fields.items()})
                pipe.execute()
                return True
            except WatchError:
                return False

    def _fail(self, name: str, record: dict[str, str], reason: str) -> None:
        pid = int(record.get("pid") or 0)
        if process_alive(pid, record.get("proc_start", "")):
            _signal_group(pid, signal.SIGKILL)
        self._transition(name, {record["state"]}, state=FAILED, state_since=time.time(), pid=0, reason=reason)

    def observe(self, name: str) -> dict[str, str]:
        """Read an endpoint's record and move it along when its process or /ping says so."""
        record = self.record(name)
        state = record["state"]
        if state not in {CREATING, IN_SERVICE}:
            return record
        pid = int(record.get("pid") or 0)
        since = float(record.get("state_since") or 0)
        # Between claiming `Creating` and recording the pid, another process must not call it dead.
        spawning = state == CREATING and pid == 0 and time.time() - since < 30
        if spawning:
            return record
        tail = _log_tail(name, int(record.get("log_offset") or 0))
        if not process_alive(pid, record.get("proc_start", "")):
            during = "while starting" if state == CREATING else "on its own"
            self._fail(name, record, f"The endpoint's process exited {during}: {tail or 'it wrote nothing'}")
        elif state == CREATING:
            status, answer = self._ping(record)
            if status == 200:
                self._transition(name, {CREATING}, state=IN_SERVICE, state_since=time.time(), reason="")
            elif status == 500:
                self._fail(name, record, f"The model failed to load: {answer.get('error') or tail}")
            elif time.time() - since > settings.LOCAL_ENDPOINT_START_TIMEOUT:
                timeout = settings.LOCAL_ENDPOINT_START_TIMEOUT
                self._fail(name, record, f"/ping did not answer 200 within {timeout} s: {tail or 'no output'}")
            else:
                return record
        else:
            return record
        return self.record(name)

    def _ping(self, record: dict[str, str]) -> tuple[int, dict]:
        try:
            response = _pool().request(
                "GET", f"http://127.0.0.1:{record.get('port')}/ping", timeout=urllib3.Timeout(connect=1.0, read=2.0)
            )
        except urllib3.exceptions.HTTPError:
            return 0, {}  # not listening yet
        try:
            answer = json.loads(response.data)
        except ValueError:
            answer = {}
        return response.status, answer if isinstance(answer, dict) else {}

    def endpoint_describe(self, name: str) -> Endpoint:
        spec = self._spec(name)
        record = self.observe(name)
        modified = float(record.get("state_since") or 0)
        running = record["state"] in {CREATING, IN_SERVICE, DELETING}
        return Endpoint(
            name=name,
            state=record["state"],
            instance_type=f"{INSTANCE_TYPE} ({spec.task})",
            instance_count=1 if running else 0,
            failure_reason=record.get("reason", "") if record["state"] == FAILED else "",
            last_modified=datetime.fromtimestamp(modified, UTC) if modified else None,
            config_name=spec.model_dir,
        )

    # --- lifecycle ----------------------------------------------------------------------------

    def scale_up(self, name: str) -> Endpoint:
        spec = self._spec(name)
        state = self.observe(name)["state"]
        if state in {CREATING, IN_SERVICE}:
            return self.endpoint_describe(name)
        if state == DELETING:
            raise DeployError(f"Endpoint {name!r} is scaling to zero; it can be brought back once it has stopped.")
        port = free_port()
        now = time.time()
        path = log_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        offset = path.stat().st_size if path.exists() else 0
        claimed = self._transition(
            name, {SCALED_TO_ZERO, FAILED}, state=CREATING, state_since=now, pid=0, proc_start="", port=port,
            log_offset=offset, reason="",
        )  # fmt: skip
        if not claimed:
            return self.endpoint_describe(name)  # another process brought it up a moment ago
        try:
            process = self._spawn(spec, port, path)
        except OSError as error:
            self._transition(name, {CREATING}, state=FAILED, state_since=time.time(), reason=str(error))
            raise DeployError(f"Could not start local endpoint {name!r}: {error}") from error
        self.redis.hset(KEY_PREFIX + name, mapping={"pid": process.pid, "proc_start": process_start(process.pid)})
        return self.endpoint_describe(name)

    def _spawn(self, spec: LocalEndpointSpec, port: int, path: Path) -> subprocess.Popen:
        env = os.environ | {
            # deploy/sagemaker/serve runs `gunicorn` from PATH: this interpreter's.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "SERVE_HOST": "127.0.0.1",
            "SERVE_PORT": str(port),
            "SERVE_MODEL_DIR": spec.model_dir,
            "SERVE_TASK": spec.task,
            "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
            "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
            "TOKENIZERS_PARALLELISM": "false",
        }
        with open(path, "ab") as errors:
            process = subprocess.Popen(
                [str(SERVE)],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # gunicorn's access log; the error log goes to stderr
                stderr=errors,
                start_new_session=True,  # its own process group: outlives this request, stoppable by group
            )
        # Reap it when it exits, so a long-lived web process keeps no zombie that looks alive.
        threading.Thread(target=process.wait, name=f"reap-endpoint-{spec.name}", daemon=True).start()
        log.info("started local endpoint %s: pid %s, port %s, model %s", spec.name, process.pid, port, spec.model_dir)
        return process

    def scale_to_zero(self, name: str) -> Endpoint:
        self._spec(name)
        record = self.observe(name)
        if record["state"] in {SCALED_TO_ZERO, DELETING}:
            return self.endpoint_describe(name)
        if not self._transition(name, {record["state"]}, state=DELETING, state_since=time.time()):
            return self.endpoint_describe(name)
        pid = int(record.get("pid") or 0)
        if process_alive(pid, record.get("proc_start", "")):
            _stop_group(name, pid)
        self._transition(name, {DELETING}, state=SCALED_TO_ZERO, state_since=time.time(), pid=0, port="")
        return self.endpoint_describe(name)

    # --- invocation ---------------------------------------------------------------------------

    def invoke(self, name: str, *, body: bytes, content_type: str, accept: str) -> Invocation:
        endpoint = self.endpoint_describe(name)
        if not endpoint.in_service:
            raise EndpointNotReady(_not_in_service(endpoint))
        port = self.record(name).get("port")
        try:
            response = _pool().request(
                "POST",
                f"http://127.0.0.1:{port}/invocations",
                body=body,
                headers={"Content-Type": content_type, "Accept": accept},
                timeout=urllib3.Timeout(
                    connect=settings.SAGEMAKER_CONNECT_TIMEOUT, read=settings.SAGEMAKER_INVOKE_TIMEOUT
                ),
            )
        except urllib3.exceptions.NewConnectionError as error:  # urllib3 files it under timeouts; it is a refusal
            raise EndpointUnavailable(
                f"Local endpoint {name!r} could not be reached on port {port}: {error}"
            ) from error
        except urllib3.exceptions.TimeoutError as error:
            raise EndpointTimeout(
                f"Endpoint {name!r} did not answer within {settings.SAGEMAKER_INVOKE_TIMEOUT:g} s. "
                f"Try a shorter request, or check its log ({log_path(name)})."
            ) from error
        except urllib3.exceptions.HTTPError as error:
            raise EndpointUnavailable(
                f"Local endpoint {name!r} could not be reached on port {port}: {error}"
            ) from error
        if response.status == 429:
            raise EndpointThrottled(f"Endpoint {name!r} is throttling requests; try again in a few seconds.")
        if response.status >= 400:
            raise EndpointModelError(
                f"The model behind {name!r} failed: {_container_message(response)}",
                retryable=response.status in _CONTAINER_BUSY,
            )
        return Invocation(body=response.data, content_type=response.headers.get("Content-Type", ""))


def _not_in_service(endpoint: Endpoint) -> str:
    name = endpoint.name
    if endpoint.state == SCALED_TO_ZERO:
        return f"Endpoint {name!r} is scaled to zero (no process is running); it must be brought up first."
    if endpoint.state == FAILED:
        return f"Endpoint {name!r} failed: {endpoint.failure_reason or 'no reason recorded'}"
    return f"Endpoint {name!r} is not ready to serve yet ({endpoint.state})."


def _container_message(response: urllib3.BaseHTTPResponse) -> str:
    """The container's own status and error message, as SageMaker's ModelError carries them."""
    try:
        answer = json.loads(response.data)
    except ValueError:
        answer = None
    message = answer.get("error") if isinstance(answer, dict) else None
    text = message if isinstance(message, str) else response.data[:300].decode(errors="replace")
    return f"the container answered {response.status}: {text}"
