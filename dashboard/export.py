"""Results as CSV: streamed row by row, and safe to open in a spreadsheet.

What a download may cost: a text filter is a `contains` on every item in range (DynamoDB has no text
index), so "Download all matching" with one reads every item in range (the whole table unless an indexed filter
narrows it), however few match. Only staff may start that; everyone else downloads a selection.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is read by Excel and
LibreOffice as a formula (CSV injection), so such a cell is written with a leading `'`, which
spreadsheets show as plain text.

A map (an item's `probabilities`) is one cell of JSON with its keys sorted, so every row of a file
has the same columns whatever classes its model has, and a reader gets the floats back exactly.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any

from dashboard.aws.dynamodb import ITEM_FIELDS, ItemFilter

EXPORT_FIELDS = (*ITEM_FIELDS, "batch_id", "submitted_by", "started_at", "cancelled_by", "cancel_reason")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"  # lets Excel recognise the file as UTF-8; our own upload accepts it


STAFF_ONLY_MESSAGE = (
    "A text filter reads every item in range to find its matches (the whole table unless a label, status, "
    "model or date narrows it), so only staff can download all of them. Select rows and download those instead."
)


def export_needs_staff(item_filter: ItemFilter) -> bool:
    """Whether exporting everything this filter matches scans the whole table (a text filter)."""
    return bool(item_filter.text)


def csv_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


class _Line:
    """A write-only file whose write returns the line, so csv.writer can feed a generator."""

    def write(self, value: str) -> str:
        return value


def line_writer(*, lineterminator: str = "\r\n") -> Any:
    """A csv.writer whose `writerow` returns the line it wrote: for CSV streamed row by row."""
    return csv.writer(_Line(), lineterminator=lineterminator)


def csv_lines(items: Iterable[dict[str, Any]], *, bom: bool = True) -> Iterator[str]:
    """The header, then one CSV line per item; holds one item at a time."""
    writer = line_writer()
    yield (BOM if bom else "") + writer.writerow(EXPORT_FIELDS)
    for item in items:
        yield writer.writerow([csv_safe(item.get(field)) for field in EXPORT_FIELDS])


def csv_chunks(items: Iterable[dict[str, Any]], *, rows_per_chunk: int = 200) -> Iterator[bytes]:
    """CSV encoded as UTF-8 in chunks of rows: fewer, larger writes to the socket than a line each."""
    buffer: list[str] = []
    for line in csv_lines(items):
        buffer.append(line)
        if len(buffer) >= rows_per_chunk:
            yield "".join(buffer).encode()
            buffer.clear()
    if buffer:
        yield "".join(buffer).encode()
