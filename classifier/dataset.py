"""Reading and checking a labelled CSV, and splitting it for training.

The CSV has a `text` column, an integer `label` column (0..K-1) and, optionally, a `label_name`
column. Anything else wrong with it raises `TrainingDataError` naming the file, and the row
where there is one, before any model is touched.
"""

from __future__ import annotations

import csv
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from classifier.exceptions import TrainingDataError

REQUIRED_COLUMNS = ("text", "label")


@dataclass(frozen=True)
class LabelledData:
    texts: list[str]
    labels: list[int]
    id2label: dict[int, str]

    @property
    def label_counts(self) -> dict[int, int]:
        return dict(sorted(Counter(self.labels).items()))


def read_labelled_csv(path: str | Path, *, label_names: Sequence[str] | None = None) -> LabelledData:
    """Load and validate; `label_names` (in label order) wins over a `label_name` column."""
    path = Path(path)
    rows = _read_rows(path)
    texts, labels = [], []
    names_seen: dict[int, str] = {}
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        text, label = _text(path, line, row), _label(path, line, row)
        texts.append(text)
        labels.append(label)
        if row.get("label_name"):
            names_seen.setdefault(label, row["label_name"].strip())
    ids = _check_label_set(path, labels)
    return LabelledData(texts, labels, _id2label(path, ids, label_names, names_seen))


def stratified_split(labels: Sequence[int], val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Train and validation indices, each label represented in both in its own proportion."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    rng = random.Random(seed)
    train, val = [], []
    for label in sorted(set(labels)):
        members = [i for i, value in enumerate(labels) if value == label]
        rng.shuffle(members)
        # At least one of each label on both sides, or the report has an empty class.
        held = min(max(1, round(len(members) * val_fraction)), len(members) - 1)
        val += members[:held]
        train += members[held:]
    rng.shuffle(train)
    return train, sorted(val)


def _read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise TrainingDataError(f"{path}: training data file not found")
    # utf-8-sig: spreadsheets often save a byte-order mark that would hide the first column name.
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames
        if not columns:
            raise TrainingDataError(f"{path}: the file is empty; expected a header with text,label")
        missing = [name for name in REQUIRED_COLUMNS if name not in columns]
        if missing:
            raise TrainingDataError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(columns)}")
        rows = list(reader)
    if not rows:
        raise TrainingDataError(f"{path}: the file has a header but no rows")
    return rows


def _text(path: Path, line: int, row: dict[str, str]) -> str:
    text = (row.get("text") or "").strip()
    if not text:
        raise TrainingDataError(f"{path}, line {line}: empty text")
    return text


def _label(path: Path, line: int, row: dict[str, str]) -> int:
    raw = (row.get("label") or "").strip()
    try:
        return int(raw)
    except ValueError:
        raise TrainingDataError(f"{path}, line {line}: label {raw!r} is not an integer") from None


def _check_label_set(path: Path, labels: list[int]) -> list[int]:
    ids = sorted(set(labels))
    if len(ids) < 2:
        raise TrainingDataError(f"{path}: every row has label {ids[0]}; a classifier needs at least two labels")
    if ids != list(range(len(ids))):
        raise TrainingDataError(f"{path}: labels must be 0..{len(ids) - 1} with none skipped; found {ids}")
    return ids


def _id2label(
    path: Path, ids: list[int], label_names: Sequence[str] | None, names_seen: dict[int, str]
) -> dict[int, str]:
    if label_names is not None:
        if len(label_names) != len(ids):
            raise TrainingDataError(f"{path}: {len(label_names)} label names given for {len(ids)} labels")
        return {i: str(label_names[i]) for i in ids}
    return {i: names_seen.get(i, f"LABEL_{i}") for i in ids}
