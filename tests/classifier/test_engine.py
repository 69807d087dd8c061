from __future__ import annotations

import pytest
import sentencepiece

from classifier.exceptions import ClassifierError
from classifier.postprocess import softmax

MIXED = [
    "Great.",
    "The staff were rude and the food was cold. We waited an hour. Never again, avoid at all costs.",
    "I love this, it is wonderful",
    "Terrible kettle.",
    "We stayed three nights in March. The room was spotless and the view was stunning. "
    "Breakfast was excellent and the staff went out of their way to help. We would stay here again.",
    "This is terrible, I hate it",
    "ok",
]


def test_tokenizer_vocabulary_matches_the_sentencepiece_model(tiny_engine, tiny_model_dir) -> None:
    pieces = sentencepiece.SentencePieceProcessor(model_file=str(tiny_model_dir / "spiece.model"))
    # A tokenizer built with XLNetTokenizer(vocab_file=...) in transformers 5 has 9 tokens.
    assert len(tiny_engine.tokenizer) == pieces.get_piece_size() > 100


def test_it_records_what_it_loaded(tiny_engine, tiny_model_dir) -> None:
    assert tiny_engine.model_name == tiny_model_dir.name  # the directory's name, not a host's path
    assert (tiny_engine.device, tiny_engine.dtype) == ("cpu", "float32")
    assert tiny_engine.load_seconds > 0
    assert tiny_engine.id2label == {0: "negative", 1: "positive"}


def test_batched_predictions_match_one_by_one(tiny_engine) -> None:
    batched = tiny_engine.predict(MIXED)
    alone = [tiny_engine.predict([text])[0] for text in MIXED]
    assert [p.label for p in batched] == [p.label for p in alone]
    for together, single in zip(batched, alone, strict=True):
        assert together.probabilities == pytest.approx(single.probabilities, abs=1e-4)


def test_predictions_come_back_in_input_order(tiny_engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in forward whose logits encode each input's length, so any mix-up shows.
    monkeypatch.setattr(
        tiny_engine, "forward", lambda encoded: [[0.0, len(item["input_ids"]) / 10] for item in encoded]
    )
    lengths = [len(item["input_ids"]) for item in tiny_engine.preprocess(MIXED)]
    assert len(set(lengths)) > 3
    predictions = tiny_engine.predict(MIXED)
    t = tiny_engine.temperature
    assert [p.probabilities for p in predictions] == [softmax([0.0, length / 10 / t]) for length in lengths]
    assert tiny_engine.logits(MIXED) == [[0.0, length / 10] for length in lengths]


def test_predictions_are_plain_python_values(tiny_engine) -> None:
    prediction = tiny_engine.predict(["Great."])[0]
    assert type(prediction.label) is int and type(prediction.confidence) is float
    assert prediction.label_name in {"negative", "positive"}
    assert sum(prediction.probabilities) == pytest.approx(1.0)


def test_empty_input_gives_empty_output(tiny_engine) -> None:
    assert tiny_engine.predict([]) == []
    assert tiny_engine.predict_safe([]) == []


def test_long_inputs_are_truncated_not_rejected(tiny_engine) -> None:
    assert len(tiny_engine.preprocess(["word " * 5000])[0]["input_ids"]) == tiny_engine.max_length
    assert len(tiny_engine.predict(["word " * 5000])) == 1


def test_sorting_by_length_cuts_padding(tiny_engine) -> None:
    report = tiny_engine.padding_overhead(MIXED * 3)
    assert report.sorted < report.unsorted


def test_bf16_agrees_with_fp32(tiny_model_dir) -> None:
    from classifier.engine import load_engine

    bf16 = load_engine(str(tiny_model_dir), device="cpu", dtype="bfloat16", max_batch_size=3)
    assert bf16.dtype == "bfloat16"
    fp32 = load_engine(str(tiny_model_dir), device="cpu", dtype="float32", max_batch_size=3)
    for low, full in zip(bf16.predict(MIXED), fp32.predict(MIXED), strict=True):
        assert low.probabilities == pytest.approx(full.probabilities, abs=0.05)


def test_a_poison_input_fails_alone(tiny_engine, monkeypatch: pytest.MonkeyPatch) -> None:
    poison = tiny_engine.preprocess(["POISON"])[0]["input_ids"]
    real_forward = tiny_engine.forward

    def forward(encoded):
        if any(item["input_ids"] == poison for item in encoded):
            raise RuntimeError("poisoned input")
        return real_forward(encoded)

    monkeypatch.setattr(tiny_engine, "forward", forward)
    texts = ["Great.", "POISON", "Terrible kettle.", "I love this, it is wonderful"]
    outcomes = tiny_engine.predict_safe(texts)
    assert isinstance(outcomes[1], RuntimeError) and "poisoned" in str(outcomes[1])
    healthy = [outcomes[i] for i in (0, 2, 3)]
    expected = [real_forward(tiny_engine.preprocess([texts[i]])) for i in (0, 2, 3)]
    assert [p.label for p in healthy] == [max((0, 1), key=e[0].__getitem__) for e in expected]
    with pytest.raises(RuntimeError, match="poisoned"):
        tiny_engine.predict(texts)


def test_an_input_the_tokenizer_rejects_fails_alone(tiny_engine) -> None:
    outcomes = tiny_engine.predict_safe(["Great.", None, "Terrible kettle."])  # type: ignore[list-item]
    assert isinstance(outcomes[1], Exception)
    assert [type(outcomes[i]).__name__ for i in (0, 2)] == ["Prediction", "Prediction"]


def test_a_directory_without_a_model_raises_our_error(tmp_path) -> None:
    from classifier.engine import load_engine

    with pytest.raises(ClassifierError, match="could not load model"):
        load_engine(str(tmp_path), device="cpu", dtype="float32")


def test_a_missing_model_directory_is_named_as_such(tmp_path) -> None:
    from classifier.engine import load_engine

    with pytest.raises(ClassifierError, match="no such model directory"):
        load_engine(str(tmp_path / "no-such-model"), device="cpu", dtype="float32")


def test_batches_run_on_several_streams_and_come_back_in_order(tiny_model_dir) -> None:
    from classifier.engine import load_engine

    one = load_engine(str(tiny_model_dir), device="cpu", dtype="float32", max_batch_size=2, streams=1)
    three = load_engine(str(tiny_model_dir), device="cpu", dtype="float32", max_batch_size=2, streams=3)
    assert (one.streams, three.streams) == (1, 3)
    texts = MIXED * 4  # 14 batches of 2
    serial, parallel = one.predict(texts), three.predict(texts)
    assert three._pool is not None  # the batches did go through the stream threads
    assert [p.label for p in parallel] == [p.label for p in serial]
    for a, b in zip(parallel, serial, strict=True):
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-5)
    # A poison input still fails alone when its batch runs on a stream thread.
    real_forward = three.forward

    def forward(encoded):
        if any(len(item["input_ids"]) > 40 for item in encoded):
            raise RuntimeError("poison")
        return real_forward(encoded)

    three.forward = forward
    outcomes = three.predict_safe(texts)
    long = [len(item["input_ids"]) > 40 for item in three.preprocess(texts)]
    assert any(long) and not all(long)
    for outcome, poisoned, expected in zip(outcomes, long, serial, strict=True):
        if poisoned:
            assert isinstance(outcome, RuntimeError)
        else:
            assert outcome.label == expected.label


def test_a_lone_small_batch_runs_on_one_thread_and_a_big_one_on_all(tiny_model_dir) -> None:
    import torch

    from classifier.engine import LONE_BATCH_TOKENS, load_engine

    engine = load_engine(str(tiny_model_dir), device="cpu", dtype="float32", max_batch_size=64, streams=1)
    seen: list[int] = []
    real_forward = engine.forward

    def forward(encoded):
        seen.append(torch.get_num_threads())
        return real_forward(encoded)

    engine.forward = forward
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        short = "Lovely."
        long = " ".join(["a fine and lovely day"] * 40)
        assert len(engine.preprocess([long])[0]["input_ids"]) > LONE_BATCH_TOKENS
        lone, big = engine.predict([short]), engine.predict([long])
        assert seen == [1, 2]
        assert torch.get_num_threads() == 2  # given back
        engine.forward = real_forward
        assert lone[0].probabilities == pytest.approx(engine.predict([short])[0].probabilities, abs=1e-6)
        assert big[0].label == engine.predict([long])[0].label
    finally:
        torch.set_num_threads(before)


def test_stream_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from classifier.engine import _streams
    from classifier.exceptions import ConfigurationError

    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)
    assert _streams("cpu", None) == {"streams": 2, "threads_per_stream": 4}
    assert _streams("cpu", 4) == {"streams": 4, "threads_per_stream": 2}
    assert _streams("cuda", None) == {"streams": 1, "threads_per_stream": 8}
    assert _streams("cuda", 4)["streams"] == 1
    monkeypatch.setenv("CLASSIFIER_STREAMS", "3")
    assert _streams("cpu", None)["streams"] == 3
    monkeypatch.setenv("CLASSIFIER_STREAMS", "two")
    with pytest.raises(ConfigurationError, match="CLASSIFIER_STREAMS"):
        _streams("cpu", None)
    with pytest.raises(ConfigurationError, match="at least 1"):
        _streams("cpu", 0)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    monkeypatch.delenv("CLASSIFIER_STREAMS")
    assert _streams("cpu", None) == {"streams": 1, "threads_per_stream": 1}
