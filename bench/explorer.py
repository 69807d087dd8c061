"""Benchmark of the results explorer against DynamoDB Local.

    .venv/bin/python bench/explorer.py [--items 100000] [--repeat 30] [--json]

Starts its own in-memory DynamoDB Local (dashboard.devservices), loads N items, then measures the
server-side time of the explorer (Django's test client: view, DynamoDB Query, template) for the
first page, a deep page reached by cursor, and a filtered page (label index), plus CSV export
throughput and the process's peak RSS during the export. The baseline is a raw DynamoDB Query of
one page on the same index, measured in the same run, so the ratio shows what the console adds.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAGE = 25
DEEP_PAGE = 200  # page number reached by following cursors before timing


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def p50(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed_rounds(cases: dict, repeat: int) -> dict[str, list[float]]:
    """Time every case once per round, in turn, so drift on a busy machine hits all of them alike."""
    for call in cases.values():
        for _ in range(3):  # warm-up: template compile, connections, DynamoDB Local's JIT
            call()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, call in cases.items():
            started = time.perf_counter()
            call()
            samples[name].append(time.perf_counter() - started)
    return samples


def load(count: int) -> list[str]:
    """Put `count` items in the table (nine in ten done, by "bench-model"); return the done items' ids."""
    from classifier.contracts import timestamp_of
    from dashboard.aws import dynamodb

    labels = ["negative", "positive"]
    start = datetime.now(UTC) - timedelta(days=60)
    step = timedelta(days=60) / max(count, 1)

    def chunk(offset: int) -> list[str]:
        items = []
        for n in range(offset, min(offset + 1000, count)):
            created = timestamp_of(start + step * n)
            item = dynamodb.new_item(
                item_id=uuid.uuid4().hex, text=f"benchmark text number {n}, " * 4, created_at=created
            )
            if n % 10:  # nine in ten are done, as in a table that has been working for a while
                label = n % 2
                item |= {
                    "status": "done",
                    "label": label,
                    "label_name": labels[label],
                    "confidence": 0.9,
                    "probabilities": {labels[label]: 0.9, labels[1 - label]: 0.1},
                    "model": "bench-model",
                    "finished_at": created,
                }
                item |= dynamodb.index_attributes(status="done", label_name=labels[label], model="bench-model")
            items.append(item)
        dynamodb.items_put_many(items=items)
        return [item["id"] for item in items if item["status"] == "done"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        return [item_id for ids in pool.map(chunk, range(0, count, 1000)) for item_id in ids]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    from dashboard import devservices

    workdir = Path(tempfile.mkdtemp(prefix="bench-explorer-"))
    dynamo = devservices.dynamodb_start(log_dir=workdir)
    try:
        os.environ.update(
            DYNAMODB_ENDPOINT_URL=dynamo.url,
            DYNAMODB_TABLE=f"bench-{uuid.uuid4().hex[:8]}",
            DATABASE_URL=f"sqlite:///{workdir}/db.sqlite3",
            DJANGO_SETTINGS_MODULE="webapp.settings",
            DJANGO_DEBUG="false",
            LOG_LEVEL="WARNING",
        )
        import django

        django.setup()
        return run(args)
    finally:
        dynamo.stop()


def run(args: argparse.Namespace) -> int:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from dashboard.aws import dynamodb

    call_command("migrate", verbosity=0)
    dynamodb.table_ensure()
    loaded_at = time.perf_counter()
    load(args.items)
    load_seconds = time.perf_counter() - loaded_at
    gc.collect()

    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(get_user_model().objects.create_user("bench"))

    def get(url: str, params: dict) -> None:
        response = client.get(url, params)
        assert response.status_code == 200, response.status_code

    cursor = None
    for _ in range(DEEP_PAGE - 1):
        cursor = dynamodb.items_page(item_filter=dynamodb.ItemFilter(), limit=PAGE, cursor=cursor).next_cursor
    raw_client = dynamodb.client()
    month = dynamodb.now_iso()[:7]

    def raw_query() -> None:
        raw_client.query(
            TableName=dynamodb.table_name(),
            IndexName=dynamodb.INDEX_BY_CREATED,
            KeyConditionExpression="created_month = :m",
            ExpressionAttributeValues={":m": {"S": month}},
            ScanIndexForward=False,
            Limit=PAGE,
        )

    cases = {
        "raw": raw_query,
        "first": lambda: get("/results/", {"size": PAGE}),
        "deep": lambda: get("/results/", {"size": PAGE, "cursor": cursor}),
        "filtered": lambda: get("/results/", {"size": PAGE, "label": "positive"}),
    }
    samples = timed_rounds(cases, args.repeat)
    raw, first, deep, filtered = (samples[name] for name in ("raw", "first", "deep", "filtered"))

    gc.collect()
    baseline_rss = rss_mb()
    peak = [baseline_rss]
    exporting = threading.Event()
    exporting.set()

    def sample() -> None:
        while exporting.is_set():
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    response = client.get("/results/export.csv")
    rows = -1  # the header
    for chunk in response.streaming_content:
        rows += chunk.count(b"\r\n")
    export_seconds = time.perf_counter() - started
    exporting.clear()
    sampler.join()

    result = {
        "items": args.items,
        "first_page_p50_ms": round(p50(first), 2),
        "deep_page_p50_ms": round(p50(deep), 2),
        "filtered_page_p50_ms": round(p50(filtered), 2),
        "raw_query_p50_ms": round(p50(raw), 2),
        "export_rows_per_s": round(rows / export_seconds),
        "export_peak_rss_mb": round(peak[0], 1),
        "export_rss_growth_mb": round(peak[0] - baseline_rss, 1),
        "export_rows": rows,
        "page_size": PAGE,
        "deep_page_number": DEEP_PAGE,
        "load_seconds": round(load_seconds, 1),
    }
    if rows != args.items:
        print(f"error: exported {rows} rows, expected {args.items}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result))
        return 0
    base = result["raw_query_p50_ms"]
    print(f"{args.items:,} items loaded in {load_seconds:.1f} s; page size {PAGE}; p50 of {args.repeat} runs")
    print(f"  raw DynamoDB Query (baseline)   {base:8.2f} ms")
    for name, key in (
        ("first page", "first_page_p50_ms"),
        (f"page {DEEP_PAGE} via cursor", "deep_page_p50_ms"),
        ("filtered page (label)", "filtered_page_p50_ms"),
    ):
        print(f"  {name:<31} {result[key]:8.2f} ms   {result[key] / base:5.1f}x raw   target <= 50 ms")
    print(f"  CSV export                      {result['export_rows_per_s']:8,} rows/s   target >= 5,000")
    print(
        f"  RSS during export               {result['export_peak_rss_mb']:8.1f} MB peak "
        f"(+{result['export_rss_growth_mb']:.1f} MB over the {baseline_rss:.1f} MB before it)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
