from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from classifier.dataset import read_labelled_csv, stratified_split
from classifier.exceptions import TrainingDataError


def test_it_reads_texts_labels_and_label_names(write_csv) -> None:
    path = write_csv("text,label,label_name\nGreat,1,positive\nAwful,0,negative\n")
    data = read_labelled_csv(path)
    assert data.texts == ["Great", "Awful"]
    assert data.labels == [1, 0]
    assert data.id2label == {0: "negative", 1: "positive"}


def test_label_names_given_by_the_caller_win(write_csv) -> None:
    path = write_csv("text,label,label_name\nGreat,1,good\nAwful,0,bad\n")
    assert read_labelled_csv(path, label_names=["neg", "pos"]).id2label == {0: "neg", 1: "pos"}


def test_labels_without_names_get_placeholders(write_csv) -> None:
    assert read_labelled_csv(write_csv("text,label\na,0\nb,1\n")).id2label == {0: "LABEL_0", 1: "LABEL_1"}


def test_it_accepts_a_spreadsheet_byte_order_mark(write_csv) -> None:
    assert read_labelled_csv(write_csv("\ufefftext,label\na,0\nb,1\n")).texts == ["a", "b"]


def test_it_rejects_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match="not found"):
        read_labelled_csv(tmp_path / "nope.csv")


def test_it_rejects_an_empty_file(write_csv) -> None:
    with pytest.raises(TrainingDataError, match="empty"):
        read_labelled_csv(write_csv(""))


def test_it_rejects_a_header_without_rows(write_csv) -> None:
    with pytest.raises(TrainingDataError, match="no rows"):
        read_labelled_csv(write_csv("text,label\n"))


def test_it_names_the_missing_columns(write_csv) -> None:
    with pytest.raises(TrainingDataError, match=r"missing column.*label.*found sentence, text"):
        read_labelled_csv(write_csv("sentence,text\na,b\n"))


def test_it_rejects_a_non_integer_label_with_its_line(write_csv) -> None:
    with pytest.raises(TrainingDataError, match=r"line 3: label 'positive' is not an integer"):
        read_labelled_csv(write_csv("text,label\na,0\nb,positive\n"))


def test_it_rejects_an_empty_text_with_its_line(write_csv) -> None:
    with pytest.raises(TrainingDataError, match="line 2: empty text"):
        read_labelled_csv(write_csv('text,label\n"  ",0\nb,1\n'))


def test_it_rejects_a_single_label(write_csv) -> None:
    with pytest.raises(TrainingDataError, match="at least two labels"):
        read_labelled_csv(write_csv("text,label\na,1\nb,1\n"))


def test_it_rejects_gaps_in_the_label_ids(write_csv) -> None:
    with pytest.raises(TrainingDataError, match=r"0\.\.1"):
        read_labelled_csv(write_csv("text,label\na,0\nb,2\n"))


def test_it_rejects_the_wrong_number_of_label_names(write_csv) -> None:
    with pytest.raises(TrainingDataError, match="3 label names given for 2 labels"):
        read_labelled_csv(write_csv("text,label\na,0\nb,1\n"), label_names=["a", "b", "c"])


def test_split_is_stratified_disjoint_and_seeded() -> None:
    labels = [0] * 80 + [1] * 20
    train, val = stratified_split(labels, 0.1, seed=3)
    assert sorted(train + val) == list(range(100))
    assert Counter(labels[i] for i in val) == {0: 8, 1: 2}
    assert stratified_split(labels, 0.1, seed=3) == (train, val)
    assert stratified_split(labels, 0.1, seed=4) != (train, val)


def test_split_keeps_every_label_on_both_sides() -> None:
    train, val = stratified_split([0, 0, 1, 1], 0.01, seed=0)
    assert {0, 1} == {[0, 0, 1, 1][i] for i in val} == {[0, 0, 1, 1][i] for i in train}
