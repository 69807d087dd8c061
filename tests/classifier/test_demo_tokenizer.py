"""The demo tokenizer folds case the same way when it is built and when the worker loads it."""

from __future__ import annotations

from pathlib import Path

TEXTS = [f"The film number {i} was great and the cast was wonderful." for i in range(40)] + [
    f"A dull, BORING plot number {i} and awful acting." for i in range(40)
]


def test_a_lowercase_tokenizer_gives_the_same_pieces_whatever_the_case(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from classifier.demo import build_tokenizer

    build_tokenizer(TEXTS, tmp_path, vocab_size=200, lowercase=True)
    reloaded = AutoTokenizer.from_pretrained(str(tmp_path))
    assert reloaded("A GREAT Film")["input_ids"] == reloaded("a great film")["input_ids"]
    assert not any(
        any(c.isupper() for c in piece)
        for piece in reloaded.convert_ids_to_tokens(range(len(reloaded)))
        if not piece.startswith("<")
    )


def test_a_cased_tokenizer_keeps_case(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from classifier.demo import build_tokenizer

    build_tokenizer(TEXTS, tmp_path, vocab_size=200)
    reloaded = AutoTokenizer.from_pretrained(str(tmp_path))
    assert reloaded("BORING")["input_ids"] != reloaded("boring")["input_ids"]
