"""A comparison's differing items as CSV: both models' answers side by side, safe to open in a spreadsheet."""

from __future__ import annotations

from collections.abc import Iterator

from dashboard.export import BOM, csv_safe, line_writer
from dashboard.selectors import items_in_order

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


def differing_lines(item_ids: list[str]) -> Iterator[str]:
    writer = line_writer()
    yield BOM + writer.writerow(DIFFERING_FIELDS)
    for item in items_in_order(item_ids=item_ids):
        yield writer.writerow([csv_safe(item.get(field)) for field in DIFFERING_FIELDS])
