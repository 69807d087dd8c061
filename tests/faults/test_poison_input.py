"""A poison input makes the model raise in a real worker: that item fails with the reason, its batch completes.

The poison is real, not a stub: the worker serves a copy of the demo model whose embedding table was cut
short of the tokenizer's vocabulary (a tokenizer/model mismatch, as when the wrong tokenizer is shipped),
so a text containing a word the cut table lacks makes the embedding lookup raise IndexError in the
forward pass, while texts made of the remaining words classify normally.
"""

from __future__ import annotations

import pytest

from dashboard import services
from dashboard.aws import dynamodb
from dashboard.csv_upload import BatchRow
from tests.faults.conftest import wait_finished

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

GOOD = [
    "The food was great and the staff were kind.",
    "Terrible service, I will not come back.",
    "I love it.",
    "It broke after a day.",
    "The room was clean and the view was lovely.",
    "Bad.",
]


@pytest.fixture(scope="module")
def poisoned_model(demo_model_dir, tmp_path_factory):
    """The demo model with its embedding cut below the id of one whole-word piece; returns (dir, poison word)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(demo_model_dir))
    good_max = max(max(ids) for ids in tokenizer(GOOD)["input_ids"])
    words = [
        (index, piece[1:])
        for piece, index in tokenizer.get_vocab().items()
        if piece.startswith("▁") and piece[1:].isalpha() and len(piece) > 3 and index > good_max
    ]
    assert words, "the demo vocabulary has no whole-word piece above the good texts' ids"
    cut, word = min(words)  # the table keeps rows 0 .. cut-1: every good text fits, the word does not
    model = AutoModelForSequenceClassification.from_pretrained(str(demo_model_dir), dtype=torch.float32)
    table = model.transformer.word_embedding.weight.data[:cut].clone()
    model.transformer.word_embedding = torch.nn.Embedding.from_pretrained(table, freeze=True)
    model.config.vocab_size = cut
    out = tmp_path_factory.mktemp("models") / "poisoned"
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    assert max(tokenizer([f"It was {word}."])["input_ids"][0]) >= cut
    return out, word


def test_a_poison_input_fails_alone_and_its_batch_completes(workers, results_table, queue, user, poisoned_model):
    model_dir, word = poisoned_model
    texts = [*GOOD[:3], f"It was {word}.", *GOOD[3:], f"{word} {word}, truly {word}."]
    batch = services.batch_create(rows=[BatchRow(text=text) for text in texts], source="api", submitted_by=user)
    by_text = {item["text"]: item["id"] for item in dynamodb.batch_items_iter(batch_id=batch.id)}
    ids = list(by_text.values())
    assert len(ids) == len(texts)

    # One worker, micro-batches big enough to take every item into a single forward pass.
    worker = workers.start("poisoned", CLASSIFIER_MODEL=str(model_dir), MICROBATCH_MAX_SIZE="64")
    items = wait_finished(ids, timeout=120, alive=[worker])

    poison = {by_text[texts[3]], by_text[texts[-1]]}
    for item_id, item in items.items():
        if item_id in poison:
            assert item["status"] == "failed", item
            assert item["label"] is None and item["confidence"] is None
            assert item["error"].startswith("The model could not classify this text: IndexError")
        else:
            assert item["status"] == "done", item
            assert item["label"] in (0, 1) and item["error"] is None
        assert item["result_writes"] == 1
    assert "retrying one by one" in workers.log(worker)  # the batch failed as a whole first

    # The worker is still serving after the poison.
    later = services.submission_create(text=GOOD[0], submitted_by=user.get_username())
    assert wait_finished([later["id"]], timeout=60, alive=[worker])[later["id"]]["status"] == "done"
