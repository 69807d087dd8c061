"""A run's training rows: an uploaded CSV (`text,label[,label_name]`) and/or every item people labelled.

Checked on the web tier with the trainer's own reader (`classifier.dataset`, which needs no torch),
so a bad file is refused with the line that is wrong before anything is queued.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings

from classifier.dataset import read_labelled_csv
from classifier.exceptions import TrainingDataError
from dashboard.exceptions import FineTuneRefused
from dashboard.labels import export


def rows_from_upload(content: bytes, *, filename: str) -> list[list[Any]]:
    """[text, label id, label name] per row of an uploaded training CSV. Raises FineTuneRefused."""
    if len(content) > settings.FINETUNE_MAX_UPLOAD_BYTES:
        raise FineTuneRefused(f"The file is larger than {settings.FINETUNE_MAX_UPLOAD_BYTES:,} bytes.")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "upload.csv"
        path.write_bytes(content)
        try:
            data = read_labelled_csv(path)
        except (TrainingDataError, UnicodeDecodeError) as error:
            raise FineTuneRefused(str(error).replace(str(path), filename or "the file")) from None
    return [
        [text, label, data.id2label.get(label, str(label))] for text, label in zip(data.texts, data.labels, strict=True)
    ]


def rows_from_labels(*, model: str | None = None) -> list[list[Any]]:
    """[text, label id, label name] per item people labelled (of `model`, when given)."""
    return [[item["text"], item["human_label"], item["human_label_name"]] for item in export.training_rows(model=model)]


def rows_check(rows: list[list[Any]]) -> list[list[Any]]:
    """The combined rows, or FineTuneRefused: too few or too many, too long, or one id with two names."""
    if len(rows) > settings.FINETUNE_MAX_ROWS:
        raise FineTuneRefused(f"{len(rows):,} rows: a run takes at most {settings.FINETUNE_MAX_ROWS:,}.")
    names: dict[int, str] = {}
    for text, label, name in rows:
        if len(text) > settings.SUBMISSION_MAX_CHARS:
            raise FineTuneRefused(f"A text has {len(text):,} characters; at most {settings.SUBMISSION_MAX_CHARS:,}.")
        if names.setdefault(int(label), str(name)) != str(name):
            raise FineTuneRefused(f"Label {label} is called both {names[int(label)]!r} and {name!r} in the data.")
    ids = sorted(names)
    if len(ids) < 2 or ids != list(range(len(ids))):
        raise FineTuneRefused(f"The data needs labels 0..K-1 with at least two of them; it has {ids}.")
    per_label = {label: sum(1 for row in rows if int(row[1]) == label) for label in ids}
    if min(per_label.values()) < settings.FINETUNE_MIN_ROWS_PER_LABEL:
        raise FineTuneRefused(
            f"Each label needs at least {settings.FINETUNE_MIN_ROWS_PER_LABEL} rows (some for the held-out split); "
            f"counts: {per_label}."
        )
    return rows
