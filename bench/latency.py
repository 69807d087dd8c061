"""Submit-to-result latency: one text at a time through the HTTP API, from the submit to seeing `done`.

    .venv/bin/python bench/latency.py [--texts 100] [--poll-ms 5] [--json]
    .venv/bin/python bench/latency.py --microbatch-wait-ms 0   # the worker's wait for company, A/B

It starts what it needs with bench/load.py's `site`: Redis and DynamoDB Local, a fresh table and
database, gunicorn with webapp/gunicorn.conf.py, and one warm `manage.py inference_worker` with the
demo model; everything is removed afterwards. DynamoDB Local's JVM runs with bench/load.py's flags
(C1 compiler only: the stock JVM's optimising compiler keeps compiling on the same two cores for the
first minutes, which AWS's DynamoDB does not; `--dynamodb-jvm-flags ''` runs the stock JVM). One
client, one text in flight at a time, so every figure is latency and none is queueing behind other
texts. Each text is followed one of three ways:

- short: `GET /api/v1/submissions/<id>` every `--poll-ms` until it is done;
- long: `GET /api/v1/submissions/<id>?wait=5`, answered as soon as the result is written;
- submit-wait: `POST /api/v1/submissions?wait=5`, the submit itself answered with the result (a 202
  there, which would mean the result took over 5 s, is followed by long polls).

Per way: p50, p95, p99 and max from sending the submit to reading `done` (client clock), and the
breakdown's p50s, from the item's stored timestamps and its RQ job (all on this machine's clock):
web (submit sent -> job enqueued), queue wait (enqueued -> the worker took the job), claim (took ->
items claimed, with the micro-batch wait), inference, result write (inference end -> `done` read
by the client: the write, the notification and the answer; in short polling also up to one poll).

The baseline, in the same run and on the same connection: a `GET /healthz` round trip (a view that
does nothing). The ratios say how many of those a result costs, and what long polling saves over
short polling; they hold up better than absolute times on a busy machine. The top-level p50_ms,
p95_ms, p99_ms and samples are long polling's, the way the targets are stated for (the issue's:
p50 <= 25 ms, p99 <= 100 ms); submit-wait's are reported beside them. Exits 1 when a text is not
done or long polling misses one.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.abuse import cpu_model  # noqa: E402
from bench.load import DYNAMODB_JVM_FLAGS, Client, dynamodb_warmup, percentile, site, texts  # noqa: E402

FINAL = {"done", "failed", "cancelled"}
LONG_WAIT_S = 5
TARGET_P50_MS, TARGET_P99_MS = 25.0, 100.0
STAGES = ("web", "queue_wait", "claim", "inference", "result_write")


MODES = ("short", "long", "submit_wait")


def follow(client: Client, text: str, *, mode: str, poll_s: float) -> dict[str, Any]:
    """Submit one text and read it until it is final; client wall-clock times of the submit and the read."""
    sent = time.time()
    wait = f"?wait={LONG_WAIT_S}" if mode == "submit_wait" else ""
    status, body = client.request("POST", f"/api/v1/submissions{wait}", {"text": text})
    accepted = time.time()
    if status == 200 and mode == "submit_wait" and body["status"] in FINAL:
        return {"id": body["id"], "sent": sent, "accepted": accepted, "seen": accepted, "reads": 0} | {
            "status": body["status"]
        }
    if status != 202:
        raise SystemExit(f"submission refused: {status} {body}")
    item_id, reads = body["id"], 0
    path = f"/api/v1/submissions/{item_id}" + ("" if mode == "short" else f"?wait={LONG_WAIT_S}")
    deadline = sent + 60
    while time.time() < deadline:
        status, body = client.request("GET", path)
        reads += 1
        if status == 200 and body["status"] in FINAL:
            return {"id": item_id, "sent": sent, "accepted": accepted, "seen": time.time(), "reads": reads} | {
                "status": body["status"]
            }
        if mode == "short":
            time.sleep(poll_s)
    raise SystemExit(f"{item_id} was not done within 60 s")


def stored_times(samples: list[dict[str, Any]]) -> None:
    """Add each sample's stored moments (epoch seconds): its job's enqueue and the worker's three marks."""
    from rq.job import Job
    from rq.serializers import JSONSerializer

    from classifier.contracts import timestamp_parse
    from dashboard.aws import dynamodb
    from dashboard.queue import redis_connection

    items = dynamodb.items_get_many(item_ids=[sample["id"] for sample in samples])
    job_ids = [items[sample["id"]].get("claim_job") or "" for sample in samples]
    jobs = Job.fetch_many(job_ids, connection=redis_connection(), serializer=JSONSerializer)
    for sample, job in zip(samples, jobs, strict=True):
        item = items[sample["id"]]
        moments = {name: timestamp_parse(item.get(name)) for name in dynamodb.ITEM_TIMING_FIELDS}
        moments["enqueued_at"] = timestamp_parse(job.enqueued_at.isoformat()) if job and job.enqueued_at else None
        sample |= {name: moment.timestamp() if moment else None for name, moment in moments.items()}


def breakdown(sample: dict[str, Any]) -> dict[str, float | None]:
    marks = [
        sample["sent"],
        sample["enqueued_at"],
        sample["dequeued_at"],
        sample["inference_started_at"],
        sample["inference_finished_at"],
        sample["seen"],
    ]
    return {
        stage: (1000 * (end - start) if start is not None and end is not None else None)
        for stage, start, end in zip(STAGES, marks[:-1], marks[1:], strict=True)
    }


def summary(samples: list[dict[str, Any]]) -> dict[str, Any]:
    totals = [1000 * (s["seen"] - s["sent"]) for s in samples]
    stages = [breakdown(s) for s in samples]
    p50s = {}
    for stage in STAGES:
        values = [row[stage] for row in stages if row[stage] is not None]
        p50s[stage] = round(statistics.median(values), 2) if values else None
    return {
        "samples": len(samples),
        "p50_ms": round(percentile(totals, 50), 2),
        "p95_ms": round(percentile(totals, 95), 2),
        "p99_ms": round(percentile(totals, 99), 2),
        "max_ms": round(max(totals), 2),
        "min_ms": round(min(totals), 2),
        "p50_submit_ms": round(percentile([1000 * (s["accepted"] - s["sent"]) for s in samples], 50), 2),
        "reads_per_text": round(sum(s["reads"] for s in samples) / len(samples), 2),
        "breakdown_p50_ms": p50s,
        "not_done": sum(1 for s in samples if s["status"] != "done"),
    }


def healthz_ms(client: Client, requests: int) -> float:
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        status, _ = client.request("GET", "/healthz")
        times.append(1000 * (time.perf_counter() - started))
        assert status == 200, status
    return percentile(times, 50)


def measure(url: str, token: str, *, count: int, poll_s: float, warmup: int) -> dict[str, Any]:
    client = Client(url, token)
    corpus = texts(warmup + len(MODES) * count, seed=11)
    for n in range(warmup):  # the first requests of each gunicorn process and the worker's first batches
        follow(client, corpus[n], mode=MODES[n % len(MODES)], poll_s=poll_s)
    baseline = healthz_ms(client, 200)
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    for n in range(count):  # interleaved, so a busier moment of the machine falls on every way alike
        for offset, mode in enumerate(MODES):
            text = corpus[warmup + len(MODES) * n + offset]
            runs[mode].append(follow(client, text, mode=mode, poll_s=poll_s))
    for samples in runs.values():
        stored_times(samples)
    short, long, submit_wait = (summary(runs[mode]) for mode in MODES)
    return {
        "p50_ms": long["p50_ms"],
        "p95_ms": long["p95_ms"],
        "p99_ms": long["p99_ms"],
        "samples": long["samples"],
        "long_poll": long,
        "short_poll": short | {"poll_ms": round(1000 * poll_s, 1)},
        "submit_wait": submit_wait,
        "baseline_healthz_p50_ms": round(baseline, 2),
        "long_vs_short_p50": round(long["p50_ms"] / short["p50_ms"], 3),
        "submit_wait_vs_long_p50": round(submit_wait["p50_ms"] / long["p50_ms"], 3),
        "long_p50_in_healthz": round(long["p50_ms"] / baseline, 1),
        "target_p50_ms": TARGET_P50_MS,
        "target_p99_ms": TARGET_P99_MS,
        "target_met": long["p50_ms"] <= TARGET_P50_MS and long["p99_ms"] <= TARGET_P99_MS,
        "submit_wait_target_met": submit_wait["p50_ms"] <= TARGET_P50_MS and submit_wait["p99_ms"] <= TARGET_P99_MS,
    }


def report(result: dict[str, Any]) -> str:
    lines = [f"{result['cpu_model']}, {result['cpus']} CPUs; micro-batch wait {result['microbatch_wait_ms']} ms"]
    for mode in ("short_poll", "long_poll", "submit_wait"):
        r = result[mode]
        stages = ", ".join(f"{stage} {ms}" for stage, ms in r["breakdown_p50_ms"].items())
        lines.append(
            f"{mode}: p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, p99 {r['p99_ms']} ms, max {r['max_ms']} ms "
            f"over {r['samples']} texts ({r['reads_per_text']} reads each)\n  breakdown p50 (ms): {stages}"
        )
    lines.append(
        f"baseline GET /healthz p50 {result['baseline_healthz_p50_ms']} ms; long-poll p50 is "
        f"{result['long_p50_in_healthz']}x of it and {result['long_vs_short_p50']}x of short polling's; "
        f"submit-wait's p50 is {result['submit_wait_vs_long_p50']}x of long polling's"
    )
    met = "met" if result["target_met"] else "missed"
    also = "met" if result["submit_wait_target_met"] else "missed"
    lines.append(f"target p50 <= {TARGET_P50_MS:.0f} ms and p99 <= {TARGET_P99_MS:.0f} ms (long polling): {met}")
    lines.append(f"the same target with submit-wait: {also}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=100, help="Texts per way (short, long, submit-wait).")
    parser.add_argument("--warmup", type=int, default=20, help="Texts followed before measuring.")
    parser.add_argument("--poll-ms", type=float, default=5.0, help="Short polling's interval.")
    parser.add_argument(
        "--microbatch-wait-ms",
        type=int,
        default=None,
        help="MICROBATCH_MAX_WAIT_MS for the worker started here (default: the setting's default).",
    )
    # Production's threads per process (webapp/gunicorn.conf.py); two processes, one per core here.
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--gunicorn-threads", type=int, default=4)
    parser.add_argument(
        "--dynamodb-jvm-flags",
        default=DYNAMODB_JVM_FLAGS,
        help=f"JVM flags for the DynamoDB Local started here ('' = JVM defaults; default {DYNAMODB_JVM_FLAGS!r}).",
    )
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.microbatch_wait_ms is not None:
        os.environ["MICROBATCH_MAX_WAIT_MS"] = str(args.microbatch_wait_ms)

    with tempfile.TemporaryDirectory(prefix="bench-latency-") as scratch:
        with site(
            workers=args.gunicorn_workers,
            threads=args.gunicorn_threads,
            log_dir=Path(scratch),
            log_level="WARNING",
            jvm_flags=args.dynamodb_jvm_flags,
            # Not niced as in bench/load.py: here the worker's time is part of what is measured, and
            # in production it has a machine of its own.
            worker_nice=0,
        ) as started:
            import django

            django.setup()
            from django.conf import settings

            dynamodb_warmup(items=200)
            result = measure(
                started["url"], started["token"], count=args.texts, poll_s=args.poll_ms / 1000, warmup=args.warmup
            )
            result |= {
                "microbatch_wait_ms": settings.MICROBATCH_MAX_WAIT_MS,
                "gunicorn_workers": args.gunicorn_workers,
                "gunicorn_threads": args.gunicorn_threads,
                "dynamodb_jvm_flags": args.dynamodb_jvm_flags,
                "cpu_model": cpu_model(),
                "cpus": os.cpu_count(),
            }
    print(json.dumps(result) if args.json else report(result))
    ok = result["long_poll"]["not_done"] == result["short_poll"]["not_done"] == result["submit_wait"]["not_done"] == 0
    return 0 if ok and result["long_poll"]["reads_per_text"] < 2 else 1


if __name__ == "__main__":
    sys.exit(main())
