"""Abuse bench: what refusing an oversized bulk batch costs the web process, per parser.

    .venv/bin/python bench/abuse.py [--rows 2600000] [--repeat 3] [--json]

It starts what it needs, as bench/load.py does: Redis and DynamoDB Local (dashboard.devservices,
unless REDIS_URL / DYNAMODB_ENDPOINT_URL point at running ones), a fresh results table and SQLite
database, a user with a password and an API token, and gunicorn (webapp/gunicorn.conf.py) with one
worker process of one thread, so the process measured is the one that parses. No inference worker:
nothing here is classified. Everything it started is stopped afterwards, also on Ctrl-C or SIGTERM.

The abusive body is the issue's: a CSV of 2.6 million one-letter rows, 5.2 MB, inside BATCH_MAX_BYTES
and 260 times BATCH_MAX_ROWS. Each parser gets it in its own shape:

- csv_upload: the CSV as a multipart file to POST /api/v1/batches
- text_csv: the same bytes as a text/csv body to /api/v1/batches
- json_list: {"texts": ["a", ...]} of the same size to /api/v1/batches
- pasted_lines: the same lines pasted into the bulk page's form (POST /batches/, logged in)

Each parser is measured on a fresh gunicorn worker (a HUP to the master), warmed up with a few tiny
bad batches on the same route, so that memory one parser left behind is not counted against, or
reused by, the next. Per parser:

- refuse_seconds: from sending the request to the end of the answer (median of --repeat);
- refuse_rss_growth_mb: the worker's peak resident memory while it answered, over its resident
  memory just before (Linux: VmHWM after resetting it through /proc/PID/clear_refs; without that,
  resident memory after the answer, read with psutil). The largest of the repeats.

The baseline, in the same run and the same worker: the time to refuse a tiny bad batch (a CSV
without a text column), median of 20; each parser's ratio says how many tiny refusals one abusive
refusal costs. Targets (the issue's): every refusal under 1 s and 50 MB. Exits 1 if one is missed
or a body is not refused.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_SECONDS = 1.0
TARGET_GROWTH_MB = 50.0
# The issue's measurement of the same file against `make run` before the parsers streamed.
ISSUE_BEFORE = {"refuse_seconds": 7.4, "rss_before_mb": 94, "rss_after_mb": 697, "refuse_rss_growth_mb": 603}
PASSWORD = "bench-abuse-password"

_MAKE_USER = (
    "from django.contrib.auth import get_user_model; from dashboard.services import api_token_create; "
    "user = get_user_model().objects.create_user(username='bench-abuse', password='" + PASSWORD + "'); "
    "print(api_token_create(user=user, name='bench/abuse.py')[1])"
)


# --- HTTP -----------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: bytes
    seconds: float


@dataclass
class Browser:
    """Plain HTTP with a cookie jar: enough for the login form and the bulk page, as a browser posts them."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> Answer:
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        try:
            started = time.perf_counter()
            try:
                connection.request(method, path, body=body, headers=headers)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered and closed before it read the whole body: its answer may be readable
            try:
                response = connection.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                return Answer(0, b"", time.perf_counter() - started)  # no answer: a reset connection
            seconds = time.perf_counter() - started
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    cookie, _, rest = value.partition("=")
                    self.cookies[cookie.strip()] = rest.split(";", 1)[0]
            return Answer(response.status, data, seconds)
        finally:
            connection.close()

    def log_in(self, username: str, password: str) -> None:
        self.request("GET", "/accounts/login/")
        form = {"username": username, "password": password, "csrfmiddlewaretoken": self.cookies["csrftoken"]}
        answer = self.request(
            "POST",
            "/accounts/login/",
            urlencode(form).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        if answer.status != 302 or "sessionid" not in self.cookies:
            raise SystemExit(f"could not log in to the bulk page (HTTP {answer.status})")


def multipart(fields: dict[str, bytes], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in fields.items():
        parts += [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode(), value, b"\r\n"]
    for name, (filename, data) in files.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        parts += [(head + "Content-Type: text/csv\r\n\r\n").encode(), data, b"\r\n"]
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


# --- the bodies -----------------------------------------------------------------------------


@dataclass
class Parser:
    name: str
    send: Callable[[Browser, int], Answer]  # posts `rows` one-letter rows in this parser's shape; 0: a tiny bad batch
    refused: Callable[[Answer], bool]  # the answer a refused batch gets


def abusive_csv(rows: int) -> bytes:
    return b"text\n" + b"a\n" * rows


TINY_BAD_CSV = b"texte\nbonjour\n"  # no text column: refused after reading one line


def parsers(token: str) -> list[Parser]:
    api = {"Authorization": f"Bearer {token}"}

    def csv_upload(browser: Browser, rows: int) -> Answer:
        body, content_type = multipart({}, {"file": ("abuse.csv", abusive_csv(rows) if rows else TINY_BAD_CSV)})
        return browser.request("POST", "/api/v1/batches", body, api | {"Content-Type": content_type})

    def text_csv(browser: Browser, rows: int) -> Answer:
        body = abusive_csv(rows) if rows else TINY_BAD_CSV
        return browser.request("POST", "/api/v1/batches", body, api | {"Content-Type": "text/csv"})

    def json_list(browser: Browser, rows: int) -> Answer:
        # As many bytes as the CSV, as {"texts":["a","a",...]}: four bytes an entry.
        texts = ["a"] * ((len(abusive_csv(rows)) - len('{"texts":[]}')) // 4) if rows else [5]
        body = json.dumps({"texts": texts}, separators=(",", ":")).encode()
        return browser.request("POST", "/api/v1/batches", body, api | {"Content-Type": "application/json"})

    def pasted_lines(browser: Browser, rows: int) -> Answer:
        # "\n" line ends, as a script pastes them (a browser sends "\r\n", a third more bytes).
        lines = b"a\n" * rows if rows else b"\x01 a control character\n"
        token_field = browser.cookies["csrftoken"].encode()
        body, content_type = multipart({"csrfmiddlewaretoken": token_field, "lines": lines}, {})
        return browser.request("POST", "/batches/", body, {"Content-Type": content_type})

    def api_refused(answer: Answer) -> bool:
        return answer.status in {400, 413} and answer.body.startswith(b"{")

    def page_refused(answer: Answer) -> bool:
        said = b"Nothing was submitted" in answer.body or b"Nothing from this request" in answer.body
        return answer.status in {400, 413} and said

    return [
        Parser("csv_upload", csv_upload, api_refused),
        Parser("text_csv", text_csv, api_refused),
        Parser("json_list", json_list, api_refused),
        Parser("pasted_lines", pasted_lines, page_refused),
    ]


# --- the web process's memory (psutil; the peak through Linux /proc, which psutil does not reset) ---


def _peak_kb(pid: int) -> int | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name == "VmHWM":
                return int(rest.split()[0])
    return None


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def peak_reset(pid: int) -> bool:
    """Reset the process's peak resident memory to its current one (Linux 4.0+, our own process)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return _peak_kb(pid) is not None


def peak_mb(pid: int) -> float:
    return (_peak_kb(pid) or 0) / 1024


def measure_once(pid: int, send: Callable[[], Answer]) -> tuple[Answer, float]:
    """The answer, and how far the worker's resident memory rose above where it was just before."""
    has_peak = peak_reset(pid)
    before = rss_mb(pid)
    answer = send()
    after = peak_mb(pid) if has_peak else rss_mb(pid)
    return answer, max(after - before, 0.0)


# --- starting the site ourselves ------------------------------------------------------------


def _children(pid: int) -> set[int]:
    try:
        return {child.pid for child in psutil.Process(pid).children()}
    except psutil.NoSuchProcess:
        return set()


def _wait_http(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            if Browser(port).request("GET", "/healthz").status == 200:
                return
        time.sleep(0.2)
    raise SystemExit("gunicorn did not answer /healthz in time")


def fresh_worker(master: subprocess.Popen, port: int, old: int | None, timeout: float = 60) -> int:
    """Have gunicorn replace its worker (HUP), and return the new worker's pid once it serves."""
    if old is not None:
        os.kill(master.pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = _children(master.pid)
        if len(children) == 1 and old not in children:
            _wait_http(port, master)
            return children.pop()
        time.sleep(0.1)
    raise SystemExit("gunicorn did not start a fresh worker in time")


@contextlib.contextmanager
def site(log_dir: Path) -> Iterator[dict]:
    """Services, a table, a database, a user with a token, and gunicorn with one worker; torn down afterwards."""
    from dashboard.devservices import free_port, services

    with services(persistent=False, honour_env=True) as service_env:
        table, port = f"bench-abuse-{uuid.uuid4().hex[:8]}", free_port()
        env = (
            os.environ
            | service_env
            | {
                "DJANGO_ENV": "local",
                "DJANGO_DEBUG": "false",
                "DYNAMODB_TABLE": table,
                "DATABASE_URL": f"sqlite:///{log_dir / 'bench.sqlite3'}",
                "SUBMISSIONS_PER_MINUTE": "0",
                "GUNICORN_BIND": f"127.0.0.1:{port}",
                "GUNICORN_WORKERS": "1",
                "GUNICORN_THREADS": "1",
                "GUNICORN_TIMEOUT": "300",  # a parser that reads everything must still answer, to be measured
                "HF_HUB_OFFLINE": "1",
                "LOG_LEVEL": "WARNING",
            }
        )
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, check=True)
        subprocess.run([*manage, "create_results_table"], env=env, check=True, stdout=subprocess.DEVNULL)
        made = subprocess.run(
            [*manage, "shell", "--no-imports", "-c", _MAKE_USER], env=env, check=True, capture_output=True, text=True
        )
        token = made.stdout.strip().splitlines()[-1]
        gunicorn = subprocess.Popen(
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
        try:
            _wait_http(port, gunicorn)
            started = {name: url for name, url in service_env.items() if os.environ.get(name) != url}
            yield {"port": port, "token": token, "master": gunicorn, "started": started}
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(gunicorn.pid, signal.SIGTERM)
            try:
                gunicorn.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(gunicorn.pid, signal.SIGKILL)
                gunicorn.wait()
            with contextlib.suppress(Exception):
                os.environ["DYNAMODB_ENDPOINT_URL"] = service_env["DYNAMODB_ENDPOINT_URL"]
                _table_delete(table)


def _table_delete(table: str) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    django.setup()
    from dashboard.aws import dynamodb

    dynamodb.table_delete(name=table)


# --- the measurement ------------------------------------------------------------------------


def measure(started: dict, *, rows: int, repeat: int) -> dict:
    port, master = started["port"], started["master"]
    browser = Browser(port)
    browser.log_in("bench-abuse", PASSWORD)
    worker = fresh_worker(master, port, None)
    text_csv = next(parser for parser in parsers(started["token"]) if parser.name == "text_csv")
    for _ in range(5):  # warm-up: the first requests import and connect
        text_csv.send(browser, 0)
    tiny = [measure_once(worker, lambda: text_csv.send(browser, 0)) for _ in range(20)]
    if not all(text_csv.refused(answer) for answer, _ in tiny):
        raise SystemExit(f"the tiny bad batch was not refused: HTTP {tiny[0][0].status}")
    baseline = statistics.median(answer.seconds for answer, _ in tiny)
    results: dict[str, dict] = {}
    for parser in parsers(started["token"]):
        worker = fresh_worker(master, port, worker)
        for _ in range(3):
            parser.send(browser, 0)
        runs = [measure_once(worker, lambda parser=parser: parser.send(browser, rows)) for _ in range(repeat)]
        seconds = statistics.median(answer.seconds for answer, _ in runs)
        growth = max(grown for _, grown in runs)
        results[parser.name] = {
            "refuse_seconds": round(seconds, 3),
            "refuse_seconds_max": round(max(answer.seconds for answer, _ in runs), 3),
            "refuse_rss_growth_mb": round(growth, 1),
            "ratio_to_baseline": round(seconds / baseline, 1),
            "status": runs[0][0].status,
            "refused": all(parser.refused(answer) for answer, _ in runs),
            "message": _message(runs[0][0]),
        }
    return {
        "parsers": results,
        "baseline_seconds": round(baseline, 4),
        "baseline_rss_growth_mb": round(max(grown for _, grown in tiny), 1),
        "body_bytes": len(abusive_csv(rows)),
        "rows": rows,
        "repeat": repeat,
        "peak_measured": peak_reset(worker),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "target_seconds": TARGET_SECONDS,
        "target_rss_growth_mb": TARGET_GROWTH_MB,
        "issue_before": ISSUE_BEFORE,
        "started": started["started"] | {"gunicorn_pid": master.pid},
    }


def _message(answer: Answer) -> str:
    """The first reason the answer gives: the JSON's first problem, or the page's first "There are ..."."""
    if answer.body.startswith(b"{"):
        body = json.loads(answer.body)
        return str((body.get("problems") or [{"reason": body.get("error", "")}])[0]["reason"])
    text = answer.body.decode(errors="replace")
    start = text.find("There are")
    return text[start : text.find("<", start)] if start >= 0 else ""


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    import platform

    return platform.processor() or platform.machine()


def missed(result: dict) -> list[str]:
    problems = []
    for name, figures in result["parsers"].items():
        if not figures["refused"]:
            problems.append(f"{name}: not refused (HTTP {figures['status']})")
        if figures["refuse_seconds"] >= TARGET_SECONDS:
            problems.append(f"{name}: {figures['refuse_seconds']} s to refuse (target < {TARGET_SECONDS} s)")
        if figures["refuse_rss_growth_mb"] >= TARGET_GROWTH_MB:
            problems.append(f"{name}: +{figures['refuse_rss_growth_mb']} MB (target < {TARGET_GROWTH_MB} MB)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_600_000, help="One-letter rows in the abusive CSV.")
    parser.add_argument("--repeat", type=int, default=3, help="Abusive requests per parser.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    args = parser.parse_args(argv)
    # The JSON list has half as many entries as the CSV has rows (four bytes an entry, not two):
    # fewer than the row limit would be a batch the site accepts, not abuse it refuses.
    limit = int(os.environ.get("BATCH_MAX_ROWS") or 10_000)
    if args.rows <= 2 * (limit + 2):
        parser.error(f"--rows must be more than {2 * (limit + 2):,} (twice BATCH_MAX_ROWS, {limit:,}, and a little)")
    # SIGTERM (a timeout, a CI runner) unwinds like Ctrl-C, so what was started here is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="bench-abuse-") as scratch, site(Path(scratch)) as started:
        result = measure(started, rows=args.rows, repeat=args.repeat)
    failures = missed(result)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['rows']:,} one-letter rows, {result['body_bytes']:,} bytes; {result['cpu']}")
        print(f"baseline: a tiny bad batch is refused in {1000 * result['baseline_seconds']:.1f} ms")
        for name, figures in result["parsers"].items():
            print(
                f"{name:>13}: refused in {figures['refuse_seconds']:.3f} s "
                f"({figures['ratio_to_baseline']:.0f}x baseline), +{figures['refuse_rss_growth_mb']:.1f} MB, "
                f"HTTP {figures['status']}: {figures['message']}"
            )
        print(
            f"targets: < {TARGET_SECONDS:.0f} s and < {TARGET_GROWTH_MB:.0f} MB each; "
            f"the issue measured {ISSUE_BEFORE['refuse_seconds']} s and +{ISSUE_BEFORE['refuse_rss_growth_mb']} MB"
        )
    sys.stdout.flush()
    for failure in failures:
        print(f"missed: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
