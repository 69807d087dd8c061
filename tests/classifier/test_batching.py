from __future__ import annotations

import random

import pytest

from classifier.batching import (
    bucketed_batches,
    check_one_answer_per_input,
    length_sorted_batches,
    pad_batch,
    padding_fraction,
    padding_overhead,
)
from classifier.exceptions import BatchMismatchError

LENGTHS = [3, 40, 5, 38, 4, 41, 6, 39]


def test_sorted_batches_cover_every_index_once_and_respect_the_size() -> None:
    batches = length_sorted_batches(LENGTHS, 3)
    assert sorted(i for batch in batches for i in batch) == list(range(len(LENGTHS)))
    assert all(len(batch) <= 3 for batch in batches)


def test_sorted_batches_group_similar_lengths() -> None:
    assert length_sorted_batches(LENGTHS, 4) == [[0, 4, 2, 6], [3, 7, 1, 5]]


def test_sorting_cuts_padding_on_mixed_lengths() -> None:
    report = padding_overhead(LENGTHS, 2)
    assert report.sorted < report.unsorted
    assert report.sorted == pytest.approx(padding_fraction(LENGTHS, [[0, 4], [2, 6], [3, 7], [1, 5]]))


def test_padding_fraction_is_zero_for_equal_lengths() -> None:
    assert padding_fraction([5, 5, 5], [[0, 1, 2]]) == 0.0


def test_training_batches_cover_every_index_and_are_reproducible() -> None:
    lengths = list(range(1, 101))
    first = bucketed_batches(lengths, 8, random.Random(1), bucket_batches=4)
    again = bucketed_batches(lengths, 8, random.Random(1), bucket_batches=4)
    assert first == again
    assert sorted(i for batch in first for i in batch) == list(range(100))


def test_pad_batch_pads_on_the_left_for_xlnet() -> None:
    padded = pad_batch(
        [{"input_ids": [7, 8, 9], "attention_mask": [1, 1, 1]}, {"input_ids": [7], "attention_mask": [1]}],
        pad_id=5,
        pad_type_id=3,
        side="left",
    )
    assert padded["input_ids"] == [[7, 8, 9], [5, 5, 7]]
    assert padded["attention_mask"] == [[1, 1, 1], [0, 0, 1]]


def test_pad_batch_pads_on_the_right_when_asked() -> None:
    padded = pad_batch(
        [{"input_ids": [1, 2], "token_type_ids": [0, 0]}, {"input_ids": [1], "token_type_ids": [0]}],
        pad_id=0,
        pad_type_id=3,
        side="right",
    )
    assert padded == {"input_ids": [[1, 2], [1, 0]], "token_type_ids": [[0, 0], [0, 3]]}


def test_it_rejects_a_batch_with_missing_answers() -> None:
    check_one_answer_per_input(3, 3)
    with pytest.raises(BatchMismatchError, match="3 inputs returned 2"):
        check_one_answer_per_input(3, 2)


def test_it_rejects_a_batch_size_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        length_sorted_batches([1, 2], 0)


def test_a_token_budget_gives_long_texts_small_batches() -> None:
    lengths = [5] * 40 + [300] * 6 + [1000]
    batches = length_sorted_batches(lengths, 32, max_batch_tokens=1024)

    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= 32
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= 1024
    assert [len(batch) for batch in batches] == [32, 8, 3, 3, 1]  # the 1000-token text alone


def test_without_a_budget_batches_are_cut_by_size_only() -> None:
    assert [len(b) for b in length_sorted_batches([300] * 40, 32)] == [32, 8]
