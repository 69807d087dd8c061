"""Validation of bulk submissions: a CSV file, pasted lines, or the API's JSON list.

Everything is checked before anything is stored, and every problem is reported with the row it is
on, so a user fixes the file once. Row numbers are the file's line numbers as a spreadsheet shows
them (the header is row 1), so "row 7" is the row a user sees as 7.

The parsers stream and stop at the first limit they reach: a CSV is decoded and split a chunk at a
time, pasted lines a piece at a time, and reading ends just past BATCH_MAX_ROWS rows (or as many
empty ones); a JSON list is counted before any entry is checked. A file of millions of one-letter
rows is therefore refused after reading about BATCH_MAX_ROWS of them, holding no more rows than a
batch may have. Problems are counted in full, but only the first MAX_PROBLEMS_SHOWN are kept.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings
from django.core.exceptions import ValidationError

from dashboard.validators import item_id_valid, submission_text_clean

# Reports list this many problems; the rest are counted.
MAX_PROBLEMS_SHOWN = 100
# Bytes decoded per step of a CSV and characters split per step of pasted lines: large enough that
# the C code does the work, small enough that a step costs no memory worth counting.
_CHUNK = 64 * 1024


@dataclass
class BatchRow:
    text: str
    item_id: str | None = None


@dataclass
class ParsedBatch:
    rows: list[BatchRow] = field(default_factory=list)
    # The first MAX_PROBLEMS_SHOWN problems in row order: (row number or None, reason).
    problems: list[tuple[int | None, str]] = field(default_factory=list)
    problem_count: int = 0  # every problem found, also those past the list
    over_limit: bool = False  # refused for its size (rows or bytes): not a batch to fix row by row

    @property
    def ok(self) -> bool:
        return not self.problem_count and bool(self.rows)

    def problem_add(self, row: int | None, reason: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS_SHOWN:
            self.problems.append((row, reason))

    def limit_passed(self, reason: str) -> None:
        """The batch is over a size limit: listed before the rows' problems."""
        self.over_limit = True
        self.problem_count += 1
        self.problems = [(None, reason), *self.problems[: MAX_PROBLEMS_SHOWN - 1]]


def refused(reason: str) -> ParsedBatch:
    return refused_at(None, reason)


def refused_at(row: int | None, reason: str) -> ParsedBatch:
    parsed = ParsedBatch()
    parsed.problem_add(row, reason)
    return parsed


class _RowCounter:
    """Counts rows and empty rows, and says when reading can stop: at the second row past the limit
    (read to one past it, the count in the report is still exact), or past as many empty rows as a
    batch may have rows (skipping them costs as much as reading rows).
    """

    def __init__(self) -> None:
        self.limit = settings.BATCH_MAX_ROWS
        self.count = 0
        self.blanks = 0
        self.stopped = ""  # why reading stopped early

    def row(self) -> bool:
        """Count a row with content; True when reading should stop before it."""
        self.count += 1
        if self.count > self.limit + 1:
            self.stopped = f"There are more than {self.limit:,} rows; one batch takes at most {self.limit:,}."
        return bool(self.stopped)

    def blank(self) -> bool:
        """Count an empty row; True when reading should stop."""
        self.blanks += 1
        if self.blanks > self.limit:
            self.stopped = (
                f"There are more than {self.limit:,} empty rows; remove them "
                f"(one batch takes at most {self.limit:,} rows)."
            )
        return bool(self.stopped)

    def check(self, parsed: ParsedBatch) -> None:
        if self.stopped:
            parsed.limit_passed(self.stopped)
        elif self.count > self.limit:
            parsed.limit_passed(f"There are {self.count:,} rows; one batch takes at most {self.limit:,}.")


class _IdCheck:
    """Reports an id that repeats an earlier row's; holds one entry per row with an id."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def add(self, parsed: ParsedBatch, number: int, item_id: str | None) -> None:
        if item_id is None:
            return
        if item_id in self.seen:
            parsed.problem_add(number, f"id {item_id!r} repeats row {self.seen[item_id]}.")
        else:
            self.seen[item_id] = number


def _text_checked(value: object) -> str | ValidationError:
    """The text to classify, or the error whose message says why it cannot be."""
    try:
        return submission_text_clean(value)
    except ValidationError as error:
        return error


# --- CSV ------------------------------------------------------------------------------------


class Readable(Protocol):
    """What the CSV parser reads: an uploaded file, a request body, a BytesIO."""

    def read(self, size: int = -1, /) -> bytes: ...


class Unreadable(ValueError):
    """The file cannot be read as a UTF-8 text CSV; the message says why and what to do."""


def _too_big(size: int) -> str:
    return f"The file is {size:,} bytes; the limit is {settings.BATCH_MAX_BYTES:,}. Split it into smaller files."


class _CheckedBytes(io.RawIOBase):
    """A binary stream passed through unchanged, raising Unreadable at the first byte that is not
    UTF-8, at a NUL byte, or past BATCH_MAX_BYTES, before the bytes reach the CSV reader.

    The line a decoding error is on is counted from the newlines of the bytes passed so far, so a
    file is never held whole to say where it went wrong.
    """

    def __init__(self, stream: Readable) -> None:
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._newlines = 0
        self._size = 0
        self._limit = settings.BATCH_MAX_BYTES

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._stream.read(min(len(buffer), _CHUNK))
        self._check(chunk)
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def _check(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self._limit:
            raise Unreadable(f"The file is more than {self._limit:,} bytes. Split it into smaller files.")
        nul = chunk.find(b"\x00")
        try:
            self._decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as error:
            carried = len(error.object) - len(chunk)  # the start of a character the last chunk cut off
            if nul < 0 or error.start < carried + nul:  # whichever comes first in the file is reported
                line = self._newlines + error.object[: error.start].count(b"\n") + 1
                raise Unreadable(
                    f"The file is not UTF-8: byte 0x{error.object[error.start]:02X} on line {line} cannot be "
                    "decoded. Save it as UTF-8 (in Excel: 'CSV UTF-8')."
                ) from None
        if nul >= 0:
            raise Unreadable("The file contains NUL bytes; it is not a text CSV file.")
        self._newlines += chunk.count(b"\n")


def _text_stream(source: bytes | Readable) -> io.TextIOWrapper:
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    # newline="" as the csv module asks: a quoted newline stays in its field, \r\n and \r end rows.
    return io.TextIOWrapper(io.BufferedReader(_CheckedBytes(stream), _CHUNK), encoding="utf-8-sig", newline="")


def parse_csv(source: bytes | Readable) -> ParsedBatch:
    """Rows from a CSV with a `text` column and an optional `id` column (header names are case-blind).

    `source` is the file's bytes or a binary stream (an upload, a request body), read as it is parsed.
    """
    if isinstance(source, bytes) and len(source) > settings.BATCH_MAX_BYTES:
        return refused(_too_big(len(source)))
    try:
        return _parse_csv_rows(_text_stream(source))
    except Unreadable as error:
        return refused(str(error))


def _parse_csv_rows(text: io.TextIOWrapper) -> ParsedBatch:
    parsed, reader = ParsedBatch(), csv.reader(text)
    try:
        header = next(reader, None)
    except csv.Error as error:
        return refused_at(1, f"The header cannot be read as CSV: {error}.")
    if not header or not any(cell.strip() for cell in header):
        return refused("The file is empty: it needs a header row with a 'text' column.")
    names = [cell.strip().lower() for cell in header]
    if "text" not in names:
        shown = ", ".join(repr(cell) for cell in header[:8])
        return refused_at(1, f"There is no 'text' column (the header has {shown}).")
    text_at = names.index("text")
    id_at = names.index("id") if "id" in names else None
    rows, ids, blanks = _RowCounter(), _IdCheck(), _Blanks()
    try:
        # Numbered by record, as a spreadsheet numbers rows (a quoted newline does not start a new row).
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                if rows.blank():
                    break
                blanks.add(number)
                continue
            if rows.row():
                break
            blanks.flush(parsed)
            _parse_row(parsed, ids, number, cells, text_at, id_at)
    except csv.Error as error:
        blanks.flush(parsed)
        parsed.problem_add(reader.line_num, f"This line is not valid CSV: {error}.")
    # Blank rows at the very end are an editor's habit, not a mistake (blanks.flush reports those in between).
    rows.check(parsed)
    if not parsed.rows and not parsed.problem_count:
        parsed.problem_add(None, "The file has a header but no rows to submit.")
    return parsed


class _Blanks:
    """Blank rows seen since the last row with content: a mistake only if content follows them."""

    def __init__(self) -> None:
        self.numbers: list[int] = []  # the first MAX_PROBLEMS_SHOWN of them; the rest are counted
        self.count = 0

    def add(self, number: int) -> None:
        self.count += 1
        if len(self.numbers) < MAX_PROBLEMS_SHOWN:
            self.numbers.append(number)

    def flush(self, parsed: ParsedBatch) -> None:
        for number in self.numbers:
            parsed.problem_add(number, "The row is empty.")
        parsed.problem_count += self.count - len(self.numbers)
        self.numbers, self.count = [], 0


def _parse_row(
    parsed: ParsedBatch, ids: _IdCheck, number: int, cells: list[str], text_at: int, id_at: int | None
) -> None:
    raw_text = cells[text_at] if text_at < len(cells) else ""
    text = _text_checked(raw_text)
    item_id = None
    if id_at is not None:
        raw_id = cells[id_at].strip() if id_at < len(cells) else ""
        if raw_id:
            if item_id_valid(raw_id):
                item_id = raw_id
            else:
                invalid = f"id {raw_id[:40]!r} is not valid: use 1-128 letters, digits, '_', '-' or '.'."
                parsed.problem_add(number, invalid)
    if isinstance(text, ValidationError):
        parsed.problem_add(number, text.messages[0])
        return
    ids.add(parsed, number, item_id)
    parsed.rows.append(BatchRow(text=text, item_id=item_id))


# --- pasted lines ---------------------------------------------------------------------------


def _utf8_length_over(content: str, limit: int) -> bool:
    if len(content) > limit:
        return True
    # Four bytes per character at most: only text near the limit needs encoding to know.
    return len(content) * 4 > limit and len(content.encode("utf-8", "surrogatepass")) > limit


def _lines(content: str) -> Iterator[str]:
    """`content.splitlines()`, one piece at a time, never a list of every line.

    Pieces are cut just after a "\\n", which always ends a line and never starts a "\\r\\n", so the
    lines are those of the whole text.
    """
    start, end = 0, len(content)
    while start < end:
        cut = content.rfind("\n", start, start + _CHUNK) + 1 if start + _CHUNK < end else end
        if cut <= start:  # one line longer than a piece
            cut = content.find("\n", start + _CHUNK) + 1 or end
        yield from content[start:cut].splitlines()
        start = cut


def parse_lines(content: str) -> ParsedBatch:
    """One text per line; blank lines separate nothing and are skipped."""
    parsed, rows = ParsedBatch(), _RowCounter()
    if _utf8_length_over(content, settings.BATCH_MAX_BYTES):
        parsed.limit_passed(f"The text is longer than the limit of {settings.BATCH_MAX_BYTES:,} bytes.")
        return parsed
    for number, line in enumerate(_lines(content), start=1):
        if not line.strip():
            if rows.blank():
                break
            continue
        if rows.row():
            break
        text = _text_checked(line)
        if isinstance(text, ValidationError):
            parsed.problem_add(number, text.messages[0])
        else:
            parsed.rows.append(BatchRow(text=text))
    rows.check(parsed)
    if not parsed.rows and not parsed.problem_count:
        parsed.problem_add(None, "There is nothing to submit: paste one text per line.")
    return parsed


# --- the API's JSON list --------------------------------------------------------------------


def parse_api_body(body: object) -> ParsedBatch:
    """`{"texts": [...]}` or `{"items": [{"id": ..., "text": ...}]}`; rows are numbered from 1."""
    if not isinstance(body, dict) or not ({"texts", "items"} & set(body)):
        return refused('Send {"texts": ["...", ...]} or {"items": [{"id": "...", "text": "..."}]}.')
    unknown = sorted(set(body) - {"texts", "items"})
    if unknown:
        return refused(f"Unknown field(s): {', '.join(unknown)}.")
    parsed = ParsedBatch()
    texts, items = _list_field(parsed, body, "texts"), _list_field(parsed, body, "items")
    limit = settings.BATCH_MAX_ROWS
    if len(texts) + len(items) > limit:  # counted before a single entry is looked at
        parsed.limit_passed(f"There are {len(texts) + len(items):,} rows; one batch takes at most {limit:,}.")
        return parsed
    ids = _IdCheck()
    for number, (raw_id, raw_text, shape) in enumerate(_entries(texts, items), start=1):
        if shape:
            parsed.problem_add(number, shape)
            continue
        if raw_id is not None and not (isinstance(raw_id, str) and item_id_valid(raw_id)):
            parsed.problem_add(number, "id is not valid: use 1-128 letters, digits, '_', '-' or '.'.")
            continue
        text = _text_checked(raw_text)
        if isinstance(text, ValidationError):
            parsed.problem_add(number, text.messages[0])
            continue
        ids.add(parsed, number, raw_id)
        parsed.rows.append(BatchRow(text=text, item_id=raw_id))
    if not parsed.rows and not parsed.problem_count:
        parsed.problem_add(None, "The batch is empty.")
    return parsed


def _entries(texts: Iterable, items: Iterable) -> Iterator[tuple[object, object, str]]:
    """(id, text, what is wrong with the entry's shape) for each entry, texts first."""
    for value in texts:
        yield None, value, ""
    for value in items:
        if not isinstance(value, dict):
            yield None, None, 'Each item must be an object {"id": "...", "text": "..."}.'
        elif extra := sorted(set(value) - {"id", "text"}):
            yield None, None, f"Unknown field(s) in the item: {', '.join(map(str, extra))}."
        else:
            yield value.get("id"), value.get("text"), ""


def _list_field(parsed: ParsedBatch, body: dict, name: str) -> list:
    value = body.get(name, [])
    if not isinstance(value, list):
        parsed.problem_add(None, f"'{name}' must be a list.")
        return []
    return value
