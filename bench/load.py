"""Load test: N concurrent clients submit texts through the real HTTP API, then wait for every result.

    .venv/bin/python bench/load.py [--clients 32] [--texts 1000] [--json]
    .venv/bin/python bench/load.py --url https://console.example.com --token xlc_... [--clients 32]

Without `--url` it starts what it needs: Redis and DynamoDB Local (dashboard.devservices, unless
REDIS_URL / DYNAMODB_ENDPOINT_URL point at running ones), a fresh results table and SQLite
database, gunicorn with webapp/gunicorn.conf.py, and one `manage.py inference_worker` with the
demo model (niced, in production it has a GPU box of its own); it removes them afterwards. DynamoDB
Local's JVM runs with `--dynamodb-jvm-flags` (C1 compiler only by default; see DYNAMODB_JVM_FLAGS)
and is warmed up on a scratch table before the measurement (`--dynamodb-warmup`).
The bench user's rate limit is off (SUBMISSIONS_PER_MINUTE=0 for this gunicorn): the
limit is per user, and one user submitting 1,000 texts a second is the load, not the abuse the
limit is for.

Prints accepted submissions per second, submit latency (p50/p95/p99), time from submission to
`done` (p50/p95, server timestamps), and how many accepted submissions were lost (never reached
done/failed) or duplicated (an id twice, an extra item in the table, or a result written twice;
the last two only when it started the site itself). Both must be 0. When it started the site, also
the CPU each process (gunicorn, DynamoDB Local, the worker, these clients) used per accepted
submission while submitting, read with psutil.

The baseline, measured in the same run with the same clients and the same gunicorn, is the rate
of `GET /healthz` (a view that does nothing): the ratio says how much of the web tier's raw
request rate a submission keeps, which stays meaningful on a busier or quieter machine.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# DynamoDB Local stands in for AWS's DynamoDB, whose CPU is not ours. Its JVM's optimising (C2)
# compiler spends 2-3 ms of CPU per submission compiling during a fresh server's first minutes, on
# the same two cores as the web tier; the C1 compiler alone serves it with a fraction of that.
# Measured both ways in docs/benchmarks.md; `--dynamodb-jvm-flags ''` runs the stock JVM.
DYNAMODB_JVM_FLAGS = "-XX:TieredStopAtLevel=1"

WORDS = (
    "the service was quick and the staff were friendly but the room was cold and the food arrived late "
    "I loved the film it was wonderful terrible awful great value would buy again never again"
).split()


def texts(count: int, *, seed: int = 7) -> list[str]:
    import random

    rng = random.Random(seed)
    return [f"{n}: " + " ".join(rng.choices(WORDS, k=rng.randint(8, 40))) for n in range(count)]


def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class Client:
    """One keep-alive HTTP connection per client thread, as a real API client would hold."""

    def __init__(self, base_url: str, token: str) -> None:
        parts = urlsplit(base_url)
        self.https = parts.scheme == "https"
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        payload = json.dumps(body).encode() if body is not None else None
        for attempt in range(2):  # a keep-alive connection the server closed is reopened once
            if self.connection is None:
                kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
                self.connection = kind(self.host, self.port, timeout=60)
            try:
                self.connection.request(method, self.prefix + path, body=payload, headers=self.headers)
                response = self.connection.getresponse()
                data = response.read()
                return response.status, (json.loads(data) if data.startswith(b"{") else {})
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()
                self.connection = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


def run_clients(count: int, clients: list[Client], work: Callable[[Client, int], None]) -> float:
    """Run `work(client, n)` for n in range(count) across the clients; returns the wall time."""
    cursor = iter(range(count))
    lock = threading.Lock()

    def loop(client: Client) -> None:
        while True:
            with lock:
                n = next(cursor, None)
            if n is None:
                return
            work(client, n)

    threads = [threading.Thread(target=loop, args=(client,)) for client in clients]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def submit_all(base_url: str, token: str, corpus: list[str], clients: int) -> dict:
    pool = [Client(base_url, token) for _ in range(clients)]
    latencies: list[float] = []
    accepted: list[str] = []
    refused: dict[int, int] = {}
    lock = threading.Lock()

    def submit(client: Client, n: int) -> None:
        started = time.perf_counter()
        status, body = client.request("POST", "/api/v1/submissions", {"text": corpus[n]})
        elapsed = time.perf_counter() - started
        with lock:
            latencies.append(elapsed)
            if status == 202:
                accepted.append(body["id"])
            else:
                refused[status] = refused.get(status, 0) + 1

    wall = run_clients(len(corpus), pool, submit)
    return {"wall": wall, "latencies": latencies, "accepted": accepted, "refused": refused, "pool": pool}


def healthz_rate(pool: list[Client], requests: int) -> float:
    def ping(client: Client, n: int) -> None:
        status, _ = client.request("GET", "/healthz")
        assert status == 200, status

    run_clients(min(100, requests), pool, ping)  # warm-up
    return requests / run_clients(requests, pool, ping)


def wait_done(pool: list[Client], ids: list[str], timeout: float) -> dict[str, dict]:
    """Poll the API until every accepted id is done or failed (or the timeout passes)."""
    finished: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    lock = threading.Lock()
    while time.monotonic() < deadline:
        pending = [item_id for item_id in ids if item_id not in finished]
        if not pending:
            break

        def look(client: Client, n: int, pending: list[str] = pending) -> None:
            status, body = client.request("GET", f"/api/v1/submissions/{pending[n]}")
            if status == 200 and body.get("status") in {"done", "failed"}:
                with lock:
                    finished[pending[n]] = body

        run_clients(len(pending), pool, look)
        if len(finished) < len(ids):
            time.sleep(0.5)
    return finished


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    from classifier.contracts import timestamp_parse

    started, ended = timestamp_parse(start), timestamp_parse(end)
    return (ended - started).total_seconds() if started and ended else None


# --- starting the site ourselves ------------------------------------------------------------


@contextlib.contextmanager
def site(
    *,
    workers: int,
    threads: int,
    log_dir: Path,
    jvm_flags: str = "",
    log_level: str = "INFO",
    worker_nice: int = 19,
) -> Iterator[dict[str, str]]:
    """Services, a table, a database, a user with a token, gunicorn and a worker; torn down afterwards.

    The worker runs at `worker_nice` (19: behind the web tier measured here; see below)."""
    from dashboard.devservices import free_port, services

    with _java_options(jvm_flags), services(persistent=False, honour_env=True) as service_env:
        table = f"bench-load-{uuid.uuid4().hex[:8]}"
        database = log_dir / "bench.sqlite3"
        port = free_port()
        env = (
            os.environ
            | service_env
            | {
                "DJANGO_ENV": "local",
                "DJANGO_DEBUG": "false",
                "DYNAMODB_TABLE": table,
                "DATABASE_URL": f"sqlite:///{database}",
                "SUBMISSIONS_PER_MINUTE": "0",
                "GUNICORN_BIND": f"127.0.0.1:{port}",
                "GUNICORN_WORKERS": str(workers),
                "GUNICORN_THREADS": str(threads),
                "HF_HUB_OFFLINE": "1",
                "LOG_LEVEL": log_level,
                "LOG_FORMAT": "json",  # production's format, to files, as a log shipper would read them
            }
        )
        os.environ.update({k: v for k, v in env.items() if k in service_env or k in {"DYNAMODB_TABLE"}})
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, check=True)
        subprocess.run([*manage, "create_results_table"], env=env, check=True, stdout=subprocess.DEVNULL)
        token = (
            subprocess.run(
                [*manage, "shell", "--no-imports", "-c", _MAKE_TOKEN],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        processes: list[subprocess.Popen] = []
        try:
            processes.append(
                subprocess.Popen(
                    # Niced: in production the worker has a GPU box of its own; here it shares two cores
                    # with the web tier it is meant to be measured apart from.
                    ["nice", "-n", str(worker_nice), *manage, "inference_worker", "--name", f"bench-{table}"],
                    env=env,
                    stdout=open(log_dir / "worker.log", "wb"),
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            _autogroup_nice(processes[-1].pid, worker_nice)
            processes.append(
                subprocess.Popen(
                    [
                        str(Path(sys.executable).parent / "gunicorn"),
                        "-c",
                        str(ROOT / "webapp" / "gunicorn.conf.py"),
                        "--access-logfile",
                        "/dev/null",
                        "webapp.wsgi",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=open(log_dir / "gunicorn.log", "wb"),
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            url = f"http://127.0.0.1:{port}"
            _wait_http(url + "/healthz", processes[-1])
            _wait_worker(log_dir / "worker.log", processes[0])
            store_port = urlsplit(service_env["DYNAMODB_ENDPOINT_URL"]).port
            groups = {"web": processes[1].pid, "worker": processes[0].pid, "store": _java_group(store_port)}
            yield {"url": url, "token": token, "table": table, "groups": groups}
        finally:
            for process in processes:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                from dashboard.aws import dynamodb

                dynamodb.table_delete(name=table)


@contextlib.contextmanager
def _java_options(flags: str) -> Iterator[None]:
    """JVM flags for the DynamoDB Local that `services` starts (the only JVM here), then as before."""
    before = os.environ.get("JAVA_TOOL_OPTIONS")
    if flags:
        os.environ["JAVA_TOOL_OPTIONS"] = f"{before} {flags}" if before else flags
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("JAVA_TOOL_OPTIONS", None)
        else:
            os.environ["JAVA_TOOL_OPTIONS"] = before


def _autogroup_nice(pid: int, nice: int = 19) -> None:
    """Make the worker's nice count against the web tier too, not only within its own session.

    With Linux's scheduler autogroups (on by default on desktops and this machine), every session is
    one scheduling group that gets an equal share of the CPU whatever its processes' nice values: a
    worker started in a session of its own took a third of the cores from gunicorn despite `nice 19`.
    The group's own nice (`/proc/PID/autogroup`) is what ranks it against the others.
    """
    with contextlib.suppress(OSError):  # no autogroups (disabled, not Linux): plain nice applies
        Path(f"/proc/{pid}/autogroup").write_text(str(nice))


_MAKE_TOKEN = (
    "from django.contrib.auth import get_user_model; from dashboard.services import api_token_create; "
    "user, _ = get_user_model().objects.get_or_create(username='bench-load'); "
    "print(api_token_create(user=user, name='bench/load.py')[1])"
)


def _wait_http(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        time.sleep(0.2)
    raise SystemExit("gunicorn did not answer /healthz in time")


def _wait_worker(log: Path, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the worker exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        if "waiting for jobs" in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise SystemExit("the worker did not load its model in time")


def dynamodb_warmup(*, items: int) -> None:
    """Run every DynamoDB call a submission's life makes on a scratch table, so the stand-in's JVM is
    compiled before the measured window (docs/benchmarks.md shows both). AWS's DynamoDB has no cold
    start to pay for, and a long-running DynamoDB Local (`make run`) has paid for it long ago."""
    from django.conf import settings

    from dashboard.aws import dynamodb

    table, real = f"bench-warmup-{uuid.uuid4().hex[:8]}", settings.DYNAMODB_TABLE
    settings.DYNAMODB_TABLE = table
    try:
        dynamodb.table_ensure(name=table)
        for start in range(0, items, 50):
            batch = [dynamodb.new_item(item_id=uuid.uuid4().hex, text=text) for text in texts(50, seed=start)]
            for group in range(0, len(batch), 10):
                dynamodb.items_put_many(items=batch[group : group + 10])
            ids = [item["id"] for item in batch]
            claimed = dynamodb.items_claim_many(item_ids=ids, claimed_by="warmup", job_id="warmup")
            outcomes = [{"item_id": i["id"], "status": "done", "claimed_by": "warmup", "label": 1} for i in claimed]
            dynamodb.items_finish_many(outcomes=outcomes)
            for item_id in ids[:10]:
                dynamodb.item_get(item_id=item_id)
    finally:
        settings.DYNAMODB_TABLE = real
        dynamodb.table_delete(name=table)


# --- where the CPU goes while submitting (psutil) ---------------------------------------------


def _java_group(port: int | None) -> int | None:
    """The process group of the DynamoDB Local listening on `port`, when it runs on this machine."""
    for process in psutil.process_iter(["cmdline"]):
        argv = process.info["cmdline"] or []
        if any("DynamoDBLocal" in arg for arg in argv) and str(port) in argv:
            with contextlib.suppress(OSError):
                return os.getpgid(process.pid)
    return None


def _cpu_seconds(groups: dict[str, int | None]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each process group, and by this process (the clients)."""
    used: dict[str, float] = dict.fromkeys(groups, 0.0)
    by_group = {pgid: name for name, pgid in groups.items() if pgid}
    for process in psutil.process_iter(["cpu_times"]):
        with contextlib.suppress(OSError):
            name = by_group.get(os.getpgid(process.pid))
            times = process.info["cpu_times"]
            if name and times is not None:
                used[name] += times.user + times.system
    return used | {"client": time.process_time()}


def _cpu_report(before: dict[str, float], after: dict[str, float], *, accepted: int, wall: float) -> dict:
    """CPU per accepted submission in the submit phase, by process: what each one costs, in one run."""
    if len(before) <= 1 or not accepted:
        return {}
    used = {name: after[name] - before[name] for name in before}
    return {
        "cpu_ms_per_accepted": {name: round(1000 * seconds / accepted, 2) for name, seconds in used.items()},
        "cpu_cores_busy": round(sum(used.values()) / wall, 2),
        "cpus": os.cpu_count(),
    }


def table_check(table: str, accepted: list[str]) -> dict[str, int]:
    """Items in the table beyond those accepted, and results written more than once."""
    from django.conf import settings

    from dashboard.aws import dynamodb

    settings.DYNAMODB_TABLE = table
    count, extra_writes, kwargs = 0, 0, {"TableName": table, "ProjectionExpression": "id, result_writes"}
    while True:
        response = dynamodb.client().scan(**kwargs)
        for raw in response["Items"]:
            count += 1
            writes = int(raw.get("result_writes", {}).get("N", "0"))
            extra_writes += max(writes - 1, 0)
        if "LastEvaluatedKey" not in response:
            break
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return {"extra_items": max(count - len(set(accepted)), 0), "extra_writes": extra_writes, "items": count}


def measure(
    url: str,
    token: str,
    *,
    clients: int,
    count: int,
    wait_timeout: float,
    table: str | None,
    groups: dict[str, int | None] | None = None,
) -> dict:
    corpus = texts(count)
    pool = [Client(url, token) for _ in range(clients)]
    baseline = healthz_rate(pool, requests=count)
    cpu_before = _cpu_seconds(groups or {})
    submitted = submit_all(url, token, corpus, clients)
    cpu_after = _cpu_seconds(groups or {})
    accepted = submitted["accepted"]
    finished = wait_done(submitted["pool"], accepted, timeout=wait_timeout)
    done_s = [
        seconds
        for body in finished.values()
        if (seconds := _seconds_between(body.get("created_at"), body.get("finished_at"))) is not None
    ]
    duplicated = len(accepted) - len(set(accepted))
    checked = table_check(table, accepted) if table else {}
    duplicated += checked.get("extra_items", 0) + checked.get("extra_writes", 0)
    accepted_per_s = len(accepted) / submitted["wall"]
    latencies_ms = [seconds * 1000 for seconds in submitted["latencies"]]
    return {
        "submitted": count,
        "accepted": len(accepted),
        "refused": submitted["refused"],
        "clients": clients,
        "accepted_per_s": round(accepted_per_s, 1),
        "p50_submit_ms": round(percentile(latencies_ms, 50), 1),
        "p95_submit_ms": round(percentile(latencies_ms, 95), 1),
        "p99_submit_ms": round(percentile(latencies_ms, 99), 1),
        "p50_done_s": round(percentile(done_s, 50), 2),
        "p95_done_s": round(percentile(done_s, 95), 2),
        "done": sum(1 for body in finished.values() if body["status"] == "done"),
        "failed": sum(1 for body in finished.values() if body["status"] == "failed"),
        "lost": len(set(accepted)) - len(finished),
        "duplicated": duplicated,
        "baseline_healthz_per_s": round(baseline, 1),
        "ratio_to_healthz": round(accepted_per_s / baseline, 3),
        "target_accepted_per_s": 300,
    } | _cpu_report(cpu_before, cpu_after, accepted=len(accepted), wall=submitted["wall"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--url", help="A running site (needs --token); otherwise everything is started here.")
    parser.add_argument("--token", default=os.environ.get("LOAD_TOKEN", ""), help="API token for --url.")
    # One process per core, and threads enough that each process's submissions share their writes
    # (dashboard.submit_batcher); docs/benchmarks.md compares this with 1 x 32, 3 x 8 and 4 x 8.
    parser.add_argument("--gunicorn-workers", type=int, default=int(os.environ.get("GUNICORN_WORKERS", "2")))
    parser.add_argument("--gunicorn-threads", type=int, default=int(os.environ.get("GUNICORN_THREADS", "16")))
    parser.add_argument(
        "--dynamodb-jvm-flags",
        default=DYNAMODB_JVM_FLAGS,
        help=f"JVM flags for the DynamoDB Local started here ('' = JVM defaults; default {DYNAMODB_JVM_FLAGS!r}).",
    )
    parser.add_argument(
        "--dynamodb-warmup",
        type=int,
        default=1000,
        help="Items to write, claim, finish and read on a scratch table before measuring (0: a cold JVM).",
    )
    parser.add_argument("--wait", type=float, default=600.0, help="Seconds to wait for every result.")
    parser.add_argument(
        "--log-level",
        default="INFO",
        help="LOG_LEVEL of the site and worker started here (INFO: every line production writes; WARNING: quiet).",
    )
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    args = parser.parse_args(argv)
    # SIGTERM (a timeout, a CI runner) unwinds like Ctrl-C, so the services started here are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    if args.url:
        if not args.token:
            parser.error("--url needs --token (or LOAD_TOKEN)")
        result = measure(
            args.url, args.token, clients=args.clients, count=args.texts, wait_timeout=args.wait, table=None
        )
    else:
        with tempfile.TemporaryDirectory(prefix="bench-load-") as scratch:
            with site(
                workers=args.gunicorn_workers,
                threads=args.gunicorn_threads,
                log_dir=Path(scratch),
                log_level=args.log_level,
                jvm_flags=args.dynamodb_jvm_flags,
            ) as started:
                import django

                django.setup()
                if args.dynamodb_warmup:
                    dynamodb_warmup(items=args.dynamodb_warmup)
                result = measure(
                    started["url"],
                    started["token"],
                    clients=args.clients,
                    count=args.texts,
                    wait_timeout=args.wait,
                    table=started["table"],
                    groups=started["groups"],
                )
                result |= {
                    "gunicorn_workers": args.gunicorn_workers,
                    "gunicorn_threads": args.gunicorn_threads,
                    "dynamodb_jvm_flags": args.dynamodb_jvm_flags,
                }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['accepted']}/{result['submitted']} accepted by {result['clients']} clients: "
            f"{result['accepted_per_s']:.0f}/s (target 300/s), refused {result['refused'] or 'none'}\n"
            f"submit latency p50 {result['p50_submit_ms']:.1f} ms, p95 {result['p95_submit_ms']:.1f} ms, "
            f"p99 {result['p99_submit_ms']:.1f} ms\n"
            f"time to done p50 {result['p50_done_s']:.2f} s, p95 {result['p95_done_s']:.2f} s "
            f"({result['done']} done, {result['failed']} failed)\n"
            f"lost {result['lost']}, duplicated {result['duplicated']}\n"
            f"baseline GET /healthz {result['baseline_healthz_per_s']:.0f}/s; "
            f"submissions are {result['ratio_to_healthz']:.2f}x of it"
        )
        if "cpu_ms_per_accepted" in result:
            parts = ", ".join(f"{name} {ms:.1f} ms" for name, ms in result["cpu_ms_per_accepted"].items())
            print(f"CPU per accepted submission: {parts} ({result['cpu_cores_busy']} of {result['cpus']} cores busy)")
    return 0 if result["lost"] == 0 and result["duplicated"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
