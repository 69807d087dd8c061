"""Benchmark of a model's live evaluation (the Models page and its API) against DynamoDB Local.

    .venv/bin/python bench/evaluation.py [--items 100000] [--labels 10000] [--repeat 30] [--json]

Starts its own in-memory DynamoDB Local, loads N items (bench/explorer.py's loader: nine in ten
done), labels L of the done ones through the console's own selection write (`labels_set`: the
conditional UpdateItem per item and the evaluation row), one in five against the model, then
measures the server-side time (Django's test client) of the Models page and of
`GET /api/v1/models/<id>/evaluation`. Two baselines from the same run: the one GROUP BY the
confusion matrix needs (what the page adds to it), and the alternative the page avoids, a Scan of
the results table for its labelled items (timed on fewer runs: it reads every item).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from explorer import load, p50, timed_rounds

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODEL = "bench-model"  # the model bench/explorer.py's items name
SCAN_REPEAT = 3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--labels", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    from dashboard import devservices

    workdir = Path(tempfile.mkdtemp(prefix="bench-evaluation-"))
    dynamo = devservices.dynamodb_start(log_dir=workdir)
    try:
        os.environ.update(
            DYNAMODB_ENDPOINT_URL=dynamo.url,
            DYNAMODB_TABLE=f"bench-{uuid.uuid4().hex[:8]}",
            DATABASE_URL=f"sqlite:///{workdir}/db.sqlite3",
            DJANGO_SETTINGS_MODULE="webapp.settings",
            DJANGO_DEBUG="false",
            LOG_LEVEL="WARNING",
            LABELS_PER_MINUTE="0",  # the limiter is Redis's; this bench starts none
            LABELS_MAX_SELECTION="1000",
        )
        import django

        django.setup()
        return run(args)
    finally:
        dynamo.stop()


def label(done: list[str], count: int) -> float:
    """Label `count` done items through `labels_set`, one in five against the model; return the seconds."""
    from django.contrib.auth import get_user_model

    from dashboard.aws import dynamodb
    from dashboard.labels import services

    user = get_user_model().objects.create_user("labeller")
    chosen = done[:count]
    started = time.perf_counter()
    for offset in range(0, len(chosen), 1000):
        chunk = chosen[offset : offset + 1000]
        said_by_id = {item_id: item["label_name"] for item_id, item in dynamodb.items_get_many(item_ids=chunk).items()}
        by_truth: dict[str, list[str]] = {"negative": [], "positive": []}
        for n, item_id in enumerate(chunk):
            said = said_by_id[item_id]
            wrong = (offset + n) % 5 == 0
            by_truth[("negative" if said == "positive" else "positive") if wrong else said].append(item_id)
        for truth, ids in by_truth.items():
            outcome = services.labels_set(item_ids=ids, user=user, label=truth)
            assert not outcome["left"], outcome["left"][:3]
    return time.perf_counter() - started


def run(args: argparse.Namespace) -> int:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db.models import Count
    from django.test import Client

    from dashboard.aws import dynamodb
    from dashboard.labels.models import HumanLabel

    call_command("migrate", verbosity=0)
    dynamodb.table_ensure()
    started = time.perf_counter()
    done = load(args.items)
    load_seconds = time.perf_counter() - started
    label_seconds = label(done, args.labels)

    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(get_user_model().objects.create_user("bench"))

    def get(url: str) -> None:
        response = client.get(url)
        assert response.status_code == 200, response.status_code

    def group_by() -> None:
        list(HumanLabel.objects.filter(model=MODEL).values("label", "predicted").annotate(n=Count("item_id")))

    cases = {
        "group_by": group_by,
        "page": lambda: get(f"/models/?model={MODEL}"),
        "api": lambda: get(f"/api/v1/models/{MODEL}/evaluation"),
    }
    samples = timed_rounds(cases, args.repeat)
    body = client.get(f"/api/v1/models/{MODEL}/evaluation").json()

    def scan() -> int:
        return sum(1 for item in dynamodb.items_labelled_iter() if item["model"] == MODEL)

    scans = []
    for _ in range(SCAN_REPEAT):
        begun = time.perf_counter()
        scanned = scan()
        scans.append(time.perf_counter() - begun)

    result = {
        "items": args.items,
        "labels": args.labels,
        "page_p50_ms": round(p50(samples["page"]), 2),
        "api_p50_ms": round(p50(samples["api"]), 2),
        "group_by_p50_ms": round(p50(samples["group_by"]), 2),
        "scan_p50_ms": round(p50(scans), 1),
        "labelled_in_evaluation": body["labelled"],
        "accuracy": body["accuracy"],
        "labels_per_s": round(args.labels / label_seconds, 1),
        "load_seconds": round(load_seconds, 1),
    }
    if body["labelled"] != args.labels or scanned != args.labels:
        print(f"error: the evaluation counts {body['labelled']}, the scan {scanned}, of {args.labels}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result))
        return 0
    base = result["group_by_p50_ms"]
    print(f"{args.items:,} items, {args.labels:,} labelled ({result['labels_per_s']:,} labels/s through labels_set)")
    print(f"  the confusion GROUP BY (baseline)   {base:8.2f} ms")
    for name, key in (("Models page", "page_p50_ms"), ("evaluation API", "api_p50_ms")):
        print(f"  {name:<35} {result[key]:8.2f} ms   {result[key] / base:5.1f}x the GROUP BY   target <= 50 ms")
    scan_ms = result["scan_p50_ms"]
    print(f"  a Scan for the labelled items       {scan_ms:8.1f} ms   {scan_ms / result['page_p50_ms']:5.1f}x the page")
    print(f"  accuracy {body['accuracy']:.3f} on {body['labelled']:,} labels (one in five set against the model)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
