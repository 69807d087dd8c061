"""The labelled items as a training CSV: `text,label,label_name`, which `manage.py train_classifier` reads as is.

The texts are written exactly as submitted: no spreadsheet-formula escaping (`dashboard.export`
does that for result downloads), because a training file must hold the very text that was
labelled. Rows follow the evaluation rows (one per labelled item); each item's text and label
are read from the results table, 100 per BatchGetItem, so the file says what the table says.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from dashboard.aws import dynamodb
from dashboard.export import line_writer
from dashboard.labels.models import HumanLabel
from dashboard.selectors import items_in_order

TRAINING_FIELDS = ("text", "label", "label_name")


def training_rows(*, model: str | None = None) -> Iterator[dict[str, Any]]:
    """Every labelled item (of `model`, when given), oldest label first, as stored in the table."""
    rows = HumanLabel.objects.order_by("labelled_at", "item_id")
    if model:
        rows = rows.filter(model=model)
    ids = list(rows.values_list("item_id", flat=True))
    dynamodb.store_ping()  # fail before a download starts, while a status code can still say so
    return (item for item in items_in_order(item_ids=ids) if item.get("human_label") is not None)


def training_csv(items: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The header, then one line per labelled item: its text, its person's label id and name."""
    writer = line_writer(lineterminator="\n")
    yield writer.writerow(TRAINING_FIELDS)
    for item in items:
        yield writer.writerow([item["text"], item["human_label"], item["human_label_name"]])
