"""classifier.xlnet_fast.FastXLNet computes what transformers' XLNet computes, for every input shape we feed it."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

TEXTS = [
    "Great.",
    "The battery died after two days and support never answered my emails.",
    "I love it!",
    "Not what I expected, but it does the job well enough for the price, and the case is nice too.",
    "Awful",
    "Arrived on time. Works as described. Would buy again from this seller without hesitation.",
    "meh",
]


def reference_logits(engine, batch):
    with torch.inference_mode():
        return engine.model(**batch, **engine.forward_kwargs).logits.float()


def fast_logits(engine, batch):
    from classifier.xlnet_fast import FastXLNet

    with torch.inference_mode():
        return FastXLNet(engine.model)(**batch).logits.float()


def test_the_engine_uses_the_fast_forward_for_xlnet(tiny_engine):
    assert tiny_engine.implementation == "fast-xlnet"
    assert tiny_engine.runner is not None


def test_float32_logits_match_transformers_with_left_padding(tiny_engine):
    batch = tiny_engine.collate(tiny_engine.preprocess(TEXTS))  # what the engine feeds the model
    assert tiny_engine.tokenizer.padding_side == "left"
    assert bool((batch["attention_mask"] == 0).any()), "the batch must contain padding"
    torch.testing.assert_close(
        fast_logits(tiny_engine, batch), reference_logits(tiny_engine, batch), atol=1e-4, rtol=1e-4
    )
    # With segment ids (models fine-tuned with them get them): text and CLS segments, padded.
    segmented = dict(tiny_engine.tokenizer(TEXTS, padding=True, return_token_type_ids=True, return_tensors="pt"))
    assert set(segmented["token_type_ids"].unique().tolist()) == {0, 2}
    torch.testing.assert_close(
        fast_logits(tiny_engine, segmented), reference_logits(tiny_engine, segmented), atol=1e-4, rtol=1e-4
    )


def test_float32_logits_match_for_sentence_pairs_and_without_padding(tiny_engine):
    tokenizer = tiny_engine.tokenizer
    pairs = tokenizer(TEXTS[:4], TEXTS[3:7], padding=True, return_token_type_ids=True, return_tensors="pt")
    assert set(pairs["token_type_ids"].unique().tolist()) >= {0, 1, 2}  # two text segments and CLS
    torch.testing.assert_close(
        fast_logits(tiny_engine, dict(pairs)), reference_logits(tiny_engine, dict(pairs)), atol=1e-4, rtol=1e-4
    )
    single = tokenizer([TEXTS[1]], return_token_type_ids=True, return_tensors="pt")  # one text: no padding
    torch.testing.assert_close(
        fast_logits(tiny_engine, dict(single)), reference_logits(tiny_engine, dict(single)), atol=1e-4, rtol=1e-4
    )
    no_segments = {"input_ids": single["input_ids"]}  # no mask, and transformers adds no segment term
    torch.testing.assert_close(
        fast_logits(tiny_engine, no_segments), reference_logits(tiny_engine, no_segments), atol=1e-4, rtol=1e-4
    )


def test_clamped_relative_positions_match(tiny_engine, monkeypatch):
    batch = tiny_engine.collate(tiny_engine.preprocess(TEXTS))
    monkeypatch.setattr(tiny_engine.model.transformer, "clamp_len", 5)
    monkeypatch.setattr(tiny_engine.model.config, "clamp_len", 5)
    expected = reference_logits(tiny_engine, batch)
    torch.testing.assert_close(fast_logits(tiny_engine, batch), expected, atol=1e-4, rtol=1e-4)


def test_bfloat16_fast_forward_agrees_with_float32(tiny_model_dir):
    from classifier.engine import load_engine

    fp32 = load_engine(str(tiny_model_dir), device="cpu", dtype="float32", fast=False)
    bf16 = load_engine(str(tiny_model_dir), device="cpu", dtype="bfloat16")
    assert (fp32.implementation, bf16.implementation) == ("transformers", "fast-xlnet")
    texts = TEXTS * 3
    for a, b in zip(fp32.predict(texts), bf16.predict(texts), strict=True):
        assert a.label == b.label
        assert abs(a.confidence - b.confidence) < 0.05


def test_fused_weights_follow_changes_to_the_model(tiny_model_dir):
    from classifier.engine import load_engine

    engine = load_engine(str(tiny_model_dir), device="cpu", dtype="float32")
    batch = engine.collate(engine.preprocess(TEXTS))
    before = engine.runner(**batch).logits.clone()
    with torch.no_grad():  # what an optimizer step does: in place, a new version of the weights
        for layer in engine.model.transformer.layer:
            layer.rel_attn.q.mul_(1.5)
            layer.rel_attn.v.add_(0.01)
    after = engine.runner(**batch).logits
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, reference_logits(engine, batch), atol=1e-4, rtol=1e-4)


def test_configurations_it_does_not_cover_run_through_transformers(tiny_model_dir, monkeypatch):
    from classifier.engine import load_engine
    from classifier.xlnet_fast import FastXLNet, unsupported_reason

    engine = load_engine(str(tiny_model_dir), device="cpu", dtype="float32", fast=False)
    assert engine.runner is None and engine.implementation == "transformers"
    monkeypatch.setenv("CLASSIFIER_FAST_XLNET", "0")
    assert load_engine(str(tiny_model_dir), device="cpu", dtype="float32").implementation == "transformers"

    monkeypatch.setattr(engine.model.config, "attn_type", "uni")
    assert "attn_type" in unsupported_reason(engine.model)
    with pytest.raises(ValueError, match="attn_type"):
        FastXLNet(engine.model)
    assert unsupported_reason(engine.model.transformer) is not None  # the bare XLNetModel has no head


def test_scratch_buffers_are_reused_across_shapes(tiny_engine):
    """One runner, batches that grow and shrink: the reused score buffers never leak between calls."""
    runner = tiny_engine.runner
    encoded = tiny_engine.preprocess(TEXTS)
    order = sorted(range(len(TEXTS)), key=lambda i: len(encoded[i]["input_ids"]))
    for rows in (order[-3:], order[:2], order, order[:1], order[-1:]):
        batch = tiny_engine.collate([encoded[i] for i in rows])
        with torch.inference_mode():
            got = runner(**batch).logits.float()
        torch.testing.assert_close(got, reference_logits(tiny_engine, batch), atol=1e-4, rtol=1e-4)
    assert set(runner._workspace.buffers) == {"position_scores", "bias", "queries_r"}
