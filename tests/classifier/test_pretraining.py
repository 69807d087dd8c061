"""XLNet pre-training: the permutation batch's masks, and a run that a classifier fine-tunes from."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from classifier.exceptions import ModelLoadError, TrainingDataError
from classifier.pretraining import PRETRAINING_FILE, permutation_batch, pretrain_xlnet

SEP, CLS, PAD = 4, 3, 5


def batch(sequences, seed=0, **kwargs):
    return permutation_batch(sequences, sep_id=SEP, cls_id=CLS, pad_id=PAD, rng=random.Random(seed), **kwargs)


def test_inputs_are_left_padded_and_end_with_sep_cls() -> None:
    out = batch([[10, 11, 12, 13, 14, 15], [20, 21, 22, 23]])
    assert out["input_ids"].tolist() == [[10, 11, 12, 13, 14, 15, SEP, CLS], [PAD, PAD, 20, 21, 22, 23, SEP, CLS]]
    assert out["attention_mask"].tolist()[1] == [0, 0, 1, 1, 1, 1, 1, 1]


def test_about_one_token_in_predict_every_is_a_target_and_its_label_is_that_token() -> None:
    tokens = list(range(100, 136))  # 36 tokens
    out = batch([tokens], predict_every=6)
    mapping, labels = out["target_mapping"][0], out["labels"][0]
    assert mapping.shape[0] == 6 and (labels != -100).sum() == 6
    for row, label in zip(mapping, labels, strict=True):
        position = int(row.argmax())
        assert row.sum() == 1 and out["input_ids"][0, position] == label


def test_targets_never_include_sep_cls_or_padding() -> None:
    out = batch([[10, 11, 12, 13], list(range(30, 60))], predict_every=2)
    for b in range(2):
        for row in out["target_mapping"][b]:
            if row.sum():
                assert int(out["input_ids"][b, int(row.argmax())]) not in (SEP, CLS, PAD)


def assert_factorisation_order(mask: torch.Tensor, mapping: torch.Tensor) -> None:
    targets = [int(row.argmax()) for row in mapping if row.sum()]
    others = [i for i in range(mask.shape[0]) if i not in targets]
    # Nobody sees a target's content except the targets after it in the order; non-targets see each other.
    assert mask[others][:, others].sum() == 0
    assert mask[others][:, targets].all()
    seen_by = {t: int((mask[:, t] == 0).sum()) for t in targets}
    # Each target is visible to a different number of later targets: 0, 1, ... len-1.
    assert sorted(seen_by.values()) == list(range(len(targets)))
    for t in targets:
        assert mask[t, t] == 1  # a target's query stream never sees its own content


def test_the_perm_mask_is_a_factorisation_order_over_the_targets() -> None:
    out = batch([list(range(10, 40))], seed=3)
    assert_factorisation_order(out["perm_mask"][0], out["target_mapping"][0])


def test_each_row_of_a_batch_has_its_own_factorisation_order() -> None:
    out = batch([list(range(10, 40)), list(range(50, 58)), list(range(60, 80))], seed=4)
    for row in range(3):
        assert_factorisation_order(out["perm_mask"][row], out["target_mapping"][row])
    # The shorter rows have fewer targets; their spare slots predict nothing.
    assert [int((labels != -100).sum()) for labels in out["labels"]] == [5, 1, 3]
    assert out["target_mapping"][1, 1:].sum() == 0


def test_the_same_seed_gives_the_same_batch() -> None:
    a, b = batch([list(range(10, 50))], seed=7), batch([list(range(10, 50))], seed=7)
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def random_base(tmp_path_factory) -> Path:
    from classifier.data.generate import generate
    from classifier.demo import TINY, build_base_model, build_tokenizer

    texts = [text for text, _ in generate(400, seed=0)]
    base = tmp_path_factory.mktemp("base")
    build_base_model(base, build_tokenizer(texts, base, vocab_size=TINY.vocab_size), TINY, seed=0)
    (base / "texts.txt").write_text("\n".join(texts) + "\n")
    return base


def test_pretraining_lowers_the_loss_and_saves_a_base_the_classifier_loads(random_base, tmp_path) -> None:
    out = tmp_path / "pretrained"
    summary = pretrain_xlnet(
        base=str(random_base),
        texts=random_base / "texts.txt",
        out=out,
        steps=40,
        lr=3e-3,
        batch_size=16,
        progress=False,
    )
    assert summary["steps"] == 40 and summary["final_loss"] < summary["first_loss"] < summary["uniform_loss"] + 1
    assert json.loads((out / PRETRAINING_FILE).read_text())["objective"].startswith("permutation")
    from transformers import AutoModelForSequenceClassification, XLNetLMHeadModel

    lm = XLNetLMHeadModel.from_pretrained(out)
    classifier = AutoModelForSequenceClassification.from_pretrained(out, num_labels=2)
    assert torch.equal(lm.transformer.word_embedding.weight, classifier.transformer.word_embedding.weight)
    assert lm.config.dropout == 0.1  # pre-training ran without dropout; the checkpoint keeps the base's


def test_no_usable_text_is_a_training_data_error(random_base, tmp_path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(TrainingDataError):
        pretrain_xlnet(base=str(random_base), texts=empty, out=tmp_path / "x", steps=1, progress=False)
    with pytest.raises(TrainingDataError):
        pretrain_xlnet(base=str(random_base), texts=tmp_path / "missing.txt", out=tmp_path / "x", progress=False)


def test_a_base_that_is_not_xlnet_is_a_model_load_error(tmp_path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (tmp_path / "texts.txt").write_text("some text to read here\n")
    with pytest.raises(ModelLoadError):
        pretrain_xlnet(base=str(tmp_path), texts=tmp_path / "texts.txt", out=tmp_path / "x", progress=False)
