from __future__ import annotations

import csv

from classifier.data.generate import CSV_PATH, generate


def test_the_shipped_csv_is_what_the_generator_writes() -> None:
    with CSV_PATH.open(newline="", encoding="utf-8") as handle:
        shipped = [(row["text"], int(row["label"])) for row in csv.DictReader(handle)]
    assert shipped == generate()


def test_it_is_balanced_unique_and_varied_in_length() -> None:
    rows = generate()
    assert len({text for text, _ in rows}) == len(rows) == 4000
    assert sum(label for _, label in rows) == 2000
    words = [len(text.split()) for text, _ in rows]
    assert min(words) >= 3 and max(words) >= 30


def test_obvious_sentences_carry_their_label() -> None:
    rows = dict(generate())
    assert all(label == 0 for text, label in rows.items() if text.startswith("I hate"))
    assert all(label == 1 for text, label in rows.items() if text.startswith("I love"))
