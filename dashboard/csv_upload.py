"""Validation of bulk submissions: a CSV file, pasted lines, or the API's JSON list.

Everything is checked before anything is stored, and every problem is reported with the row it is
on, so a user fixes the file once. Row numbers are the file's line numbers as a spreadsheet shows
them (the header is row 1), so "row 7" is the row a user sees as 7.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError

from dashboard.validators import item_id_valid, submission_text_clean

# Reports list this many problems; the rest are counted.
MAX_PROBLEMS_SHOWN = 100


@dataclass
class BatchRow:
    text: str
    item_id: str | None = None


@dataclass
class ParsedBatch:
    rows: list[BatchRow] = field(default_factory=list)
    problems: list[tuple[int | None, str]] = field(default_factory=list)  # (row number or None, reason)

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.rows)


def _text_problem(value: object) -> tuple[str | None, str | None]:
    try:
        return submission_text_clean(value), None
    except ValidationError as error:
        return None, error.messages[0]


def _check_ids(parsed: ParsedBatch, numbered: list[tuple[int, BatchRow]]) -> None:
    seen: dict[str, int] = {}
    for number, row in numbered:
        if row.item_id is None:
            continue
        if row.item_id in seen:
            parsed.problems.append((number, f"id {row.item_id!r} repeats row {seen[row.item_id]}."))
        else:
            seen[row.item_id] = number


def _check_size(parsed: ParsedBatch) -> None:
    limit = settings.BATCH_MAX_ROWS
    if len(parsed.rows) > limit:
        parsed.problems.insert(0, (None, f"There are {len(parsed.rows):,} rows; one batch takes at most {limit:,}."))


def decode_upload(data: bytes) -> str:
    """UTF-8 text (a byte-order mark is fine), or ValueError that says where the file is not UTF-8."""
    if len(data) > settings.BATCH_MAX_BYTES:
        raise ValueError(
            f"The file is {len(data):,} bytes; the limit is {settings.BATCH_MAX_BYTES:,}. Split it into smaller files."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ValueError(
            f"The file is not UTF-8: byte 0x{data[error.start]:02X} on line {line} cannot be decoded. "
            "Save it as UTF-8 (in Excel: 'CSV UTF-8')."
        ) from None


def parse_csv(data: bytes) -> ParsedBatch:
    """Rows from a CSV with a `text` column and an optional `id` column (header names are case-blind)."""
    parsed = ParsedBatch()
    try:
        content = decode_upload(data)
    except ValueError as error:
        parsed.problems.append((None, str(error)))
        return parsed
    if "\x00" in content:
        parsed.problems.append((None, "The file contains NUL bytes; it is not a text CSV file."))
        return parsed
    reader = csv.reader(io.StringIO(content, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as error:
        parsed.problems.append((1, f"The header cannot be read as CSV: {error}."))
        return parsed
    if not header or not any(cell.strip() for cell in header):
        parsed.problems.append((None, "The file is empty: it needs a header row with a 'text' column."))
        return parsed
    names = [cell.strip().lower() for cell in header]
    if "text" not in names:
        shown = ", ".join(repr(cell) for cell in header[:8])
        parsed.problems.append((1, f"There is no 'text' column (the header has {shown})."))
        return parsed
    text_at = names.index("text")
    id_at = names.index("id") if "id" in names else None
    numbered: list[tuple[int, BatchRow]] = []
    blank_rows: list[int] = []
    try:
        # Numbered by record, as a spreadsheet numbers rows (a quoted newline does not start a new row).
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                blank_rows.append(number)
                continue
            _parse_row(parsed, numbered, number, cells, text_at, id_at)
    except csv.Error as error:
        parsed.problems.append((reader.line_num, f"This line is not valid CSV: {error}."))
    # Blank lines at the very end are an editor's habit, not a mistake; blank rows in between are reported.
    last_row = max([number for number, _ in numbered] + [number for number, _ in parsed.problems if number] + [1])
    parsed.problems.extend((number, "The row is empty.") for number in blank_rows if number < last_row)
    _check_ids(parsed, numbered)
    parsed.problems.sort(key=lambda problem: problem[0] or 0)
    _check_size(parsed)
    if not parsed.rows and not parsed.problems:
        parsed.problems.append((None, "The file has a header but no rows to submit."))
    return parsed


def _parse_row(
    parsed: ParsedBatch,
    numbered: list[tuple[int, BatchRow]],
    number: int,
    cells: list[str],
    text_at: int,
    id_at: int | None,
) -> None:
    raw_text = cells[text_at] if text_at < len(cells) else ""
    text, problem = _text_problem(raw_text)
    item_id = None
    if id_at is not None:
        raw_id = cells[id_at].strip() if id_at < len(cells) else ""
        if raw_id:
            if item_id_valid(raw_id):
                item_id = raw_id
            else:
                parsed.problems.append(
                    (number, f"id {raw_id[:40]!r} is not valid: use 1-128 letters, digits, '_', '-' or '.'.")
                )
    if problem:
        parsed.problems.append((number, problem))
        return
    row = BatchRow(text=text, item_id=item_id)
    parsed.rows.append(row)
    numbered.append((number, row))


def parse_lines(content: str) -> ParsedBatch:
    """One text per line; blank lines separate nothing and are skipped."""
    parsed = ParsedBatch()
    if len(content.encode()) > settings.BATCH_MAX_BYTES:
        parsed.problems.append((None, f"The text is longer than the limit of {settings.BATCH_MAX_BYTES:,} bytes."))
        return parsed
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        text, problem = _text_problem(line)
        if problem:
            parsed.problems.append((number, problem))
        else:
            parsed.rows.append(BatchRow(text=text))
    _check_size(parsed)
    if not parsed.rows and not parsed.problems:
        parsed.problems.append((None, "There is nothing to submit: paste one text per line."))
    return parsed


def parse_api_body(body: object) -> ParsedBatch:
    """`{"texts": [...]}` or `{"items": [{"id": ..., "text": ...}]}`; rows are numbered from 1."""
    parsed = ParsedBatch()
    if not isinstance(body, dict) or not ({"texts", "items"} & set(body)):
        parsed.problems.append((None, 'Send {"texts": ["...", ...]} or {"items": [{"id": "...", "text": "..."}]}.'))
        return parsed
    unknown = sorted(set(body) - {"texts", "items"})
    if unknown:
        parsed.problems.append((None, f"Unknown field(s): {', '.join(unknown)}."))
        return parsed
    entries: list[tuple[object, object, str]] = []  # (id, text, what is wrong with the entry's shape)
    for value in _list_field(parsed, body, "texts"):
        entries.append((None, value, ""))
    for value in _list_field(parsed, body, "items"):
        if not isinstance(value, dict):
            entries.append((None, None, 'Each item must be an object {"id": "...", "text": "..."}.'))
        elif extra := sorted(set(value) - {"id", "text"}):
            entries.append((None, None, f"Unknown field(s) in the item: {', '.join(map(str, extra))}."))
        else:
            entries.append((value.get("id"), value.get("text"), ""))
    numbered: list[tuple[int, BatchRow]] = []
    for number, (raw_id, raw_text, shape) in enumerate(entries, start=1):
        if shape:
            parsed.problems.append((number, shape))
            continue
        if raw_id is not None and not (isinstance(raw_id, str) and item_id_valid(raw_id)):
            parsed.problems.append((number, "id is not valid: use 1-128 letters, digits, '_', '-' or '.'."))
            continue
        text, problem = _text_problem(raw_text)
        if problem:
            parsed.problems.append((number, problem))
            continue
        row = BatchRow(text=text, item_id=raw_id)
        parsed.rows.append(row)
        numbered.append((number, row))
    _check_ids(parsed, numbered)
    _check_size(parsed)
    if not parsed.rows and not parsed.problems:
        parsed.problems.append((None, "The batch is empty."))
    return parsed


def _list_field(parsed: ParsedBatch, body: dict, name: str) -> list:
    value = body.get(name, [])
    if not isinstance(value, list):
        parsed.problems.append((None, f"'{name}' must be a list."))
        return []
    return value
