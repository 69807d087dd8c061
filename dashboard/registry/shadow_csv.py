"""A comparison's differing items as CSV: both models' answers side by side, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from dashboard.aws import dynamodb
from dashboard.export import BOM, csv_safe

DIFFERING_FIELDS = (
    "id",
    "text",
    "model",
    "label_name",
    "confidence",
    "shadow_model",
    "shadow_label_name",
    "shadow_confidence",
    "human_label_name",
)
READ_CHUNK = 100


class _Line:
    def write(self, value: str) -> str:
        return value


def differing_lines(item_ids: list[str]) -> Iterator[str]:
    writer = csv.writer(_Line(), lineterminator="\r\n")
    yield BOM + writer.writerow(DIFFERING_FIELDS)
    for start in range(0, len(item_ids), READ_CHUNK):
        chunk = item_ids[start : start + READ_CHUNK]
        found = dynamodb.items_get_many(item_ids=chunk)
        for item_id in chunk:
            if item_id in found:
                yield writer.writerow([csv_safe(found[item_id].get(field)) for field in DIFFERING_FIELDS])
