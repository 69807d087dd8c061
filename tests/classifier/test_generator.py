"""The local gpt2-demo: its tokenizer, its model and generation with the KV cache (classifier/generator.py)."""

from __future__ import annotations

import json

import pytest

from classifier.exceptions import TrainingDataError
from classifier.generator import BUILD_FILE, TINY_GENERATOR, GenerationRequest, TextGenerator


@pytest.fixture(scope="module")
def generator(tiny_generator):
    return TextGenerator(tiny_generator)


def test_the_tokenizer_is_a_byte_level_bpe_gpt2_tokenizer_of_the_configured_size(tiny_generator):
    from transformers import AutoTokenizer, GPT2TokenizerFast

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_generator))
    assert isinstance(tokenizer, GPT2TokenizerFast)
    assert len(tokenizer) == TINY_GENERATOR.vocab_size
    assert tokenizer.eos_token == "<|endoftext|>"
    # Byte-level: text the corpus never held still round-trips, with no unknown token.
    text = "Zebras ❤ naïve façades — 42%!"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text


def test_the_model_is_a_small_gpt2_of_the_explicit_config(tiny_generator):
    from transformers import AutoModelForCausalLM, GPT2LMHeadModel

    model = AutoModelForCausalLM.from_pretrained(str(tiny_generator))
    assert isinstance(model, GPT2LMHeadModel)
    config = model.config
    assert (config.n_layer, config.n_embd, config.n_head) == (1, 32, 2)
    assert config.n_positions == TINY_GENERATOR.n_positions
    record = json.loads((tiny_generator / BUILD_FILE).read_text())
    assert record["vocab_size_actual"] == TINY_GENERATOR.vocab_size
    assert record["build_seconds"]["total"] > 0


def test_greedy_generation_continues_the_prompt_deterministically(generator):
    request = GenerationRequest(prompt="I love this", max_new_tokens=12, return_full_text=False)
    first = generator.generate(request)
    assert first == generator.generate(request)
    full = generator.generate(GenerationRequest(prompt="I love this", max_new_tokens=12))
    assert full == "I love this" + first


def test_sampling_with_a_seed_is_repeatable(generator):
    request = GenerationRequest(
        prompt="The", max_new_tokens=10, do_sample=True, temperature=1.5, top_p=0.9, seed=7, return_full_text=False
    )
    assert generator.generate(request) == generator.generate(request)


def test_generation_feeds_one_new_token_per_step_through_the_kv_cache(generator, monkeypatch):
    seen: list[tuple[int, int]] = []
    forward = generator.model.forward

    def recording(*args, **kwargs):
        output = forward(*args, **kwargs)
        seen.append((kwargs["input_ids"].shape[1], output.past_key_values.get_seq_length()))
        return output

    monkeypatch.setattr(generator.model, "forward", recording)
    prompt = "I hate waiting for this thing to work"
    generator.generate(GenerationRequest(prompt=prompt, max_new_tokens=5))
    prompt_length = generator.token_count(prompt)
    assert seen[0] == (prompt_length, prompt_length)
    # After the prompt, each step passes only the newest token; the cache holds all the others.
    assert seen[1:] == [(1, prompt_length + step) for step in range(1, len(seen))], seen
    assert len(seen) > 1


def test_an_empty_corpus_folder_is_a_clear_error(tmp_path):
    from classifier.generator import generator_build

    with pytest.raises(TrainingDataError, match=r"unlabelled\.txt is missing"):
        generator_build(tmp_path / "out", corpus=tmp_path, size=TINY_GENERATOR)


def test_the_generator_module_never_imports_django():
    import subprocess
    import sys

    code = "import sys, classifier.generator; sys.exit('django' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
