"""The demo model: a small XLNet built from scratch and fine-tuned on the shipped dataset.

No machine of ours reaches the hub, so there is no pretrained `xlnet-base-cased` to start from.
Instead we train a SentencePiece vocabulary on the dataset, save a randomly initialised small
XLNet as the "base", and hand it to `train_classifier`: the same path a real fine-tune takes.
"""

from __future__ import annotations

import csv
import json
import string
from dataclasses import asdict, dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from classifier.hub import offline_by_default
from classifier.training import METRICS_FILE, train_classifier

DEMO_DATA = Path(__file__).parent / "data" / "sentiment.csv"
DEMO_LABELS = ("negative", "positive")
# XLNet's tokenizer looks these pieces up by name; the ids match the released XLNet vocabulary.
XLNET_CONTROL_SYMBOLS = ("<cls>", "<sep>", "<pad>", "<mask>", "<eod>", "<eop>")


@dataclass(frozen=True)
class DemoSize:
    """Model and schedule sizes; the defaults train to >95% held-out accuracy in about 90 s
    on two CPU cores."""

    vocab_size: int = 2000  # an upper bound: the templated corpus supports fewer pieces
    d_model: int = 128
    n_layer: int = 2
    n_head: int = 4
    d_inner: int = 512
    epochs: int = 8
    lr: float = 1e-3
    # Small batches: more steps for the same CPU time, and it is the step count that teaches the
    # model "not good" vs "not bad" (at 32 per batch it was still guessing after 8 epochs, and at
    # 16 per batch 6 epochs were not always enough).
    batch_size: int = 16
    # A model trained from scratch on templates is certain of everything, even text unlike its
    # data; smoothing keeps its confidence below 1.0 so the console's number means something.
    label_smoothing: float = 0.1
    max_length: int = 128
    max_rows: int | None = None


DEMO = DemoSize()
# For unit tests: builds in a few seconds; accuracy is not the point.
TINY = DemoSize(vocab_size=400, d_model=32, n_layer=1, n_head=2, d_inner=64, epochs=2, lr=3e-3, max_rows=800)


def build_demo_model(
    out: str | Path,
    *,
    size: DemoSize = DEMO,
    data: str | Path = DEMO_DATA,
    seed: int = 0,
    seconds_budget: float | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Build the demo classifier into `out` and return its metrics (also in `out/metrics.json`).

    The default run trains 8 epochs, about 90 s on two idle CPU cores (99.0% held-out accuracy),
    longer on a busy one: it is not capped by default, so every build is the same model wherever it
    runs (a capped build under load came out at 94.5% and missed an obvious sentence).
    `seconds_budget` caps it when time matters more: the learning rate then decays against the
    clock and training ends on time with a finished schedule (see `training.training_progress`).
    """
    with TemporaryDirectory(prefix="demo-base-") as tmp:
        base = Path(tmp) / "base"
        texts, training_csv = _demo_rows(Path(data), size.max_rows, Path(tmp))
        tokenizer = build_tokenizer(texts, base, vocab_size=size.vocab_size)
        build_base_model(base, tokenizer, size, seed=seed)
        metrics = train_classifier(
            base=str(base),
            data=training_csv,
            out=out,
            epochs=size.epochs,
            lr=size.lr,
            batch_size=size.batch_size,
            max_length=size.max_length,
            seed=seed,
            label_names=DEMO_LABELS,
            label_smoothing=size.label_smoothing,
            max_seconds=seconds_budget,
            progress=progress,
        )
    # The base lived in a temporary directory; record what it was instead of where.
    metrics["base"] = "demo XLNet, randomly initialised"
    metrics["dataset"]["path"] = str(data)
    metrics["demo"] = {**asdict(size), "vocab_size_actual": len(tokenizer)}
    (Path(out) / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def build_tokenizer(texts: list[str], out: Path, *, vocab_size: int) -> Any:
    """Train a unigram SentencePiece model and save it as an XLNet tokenizer directory."""
    offline_by_default()
    import sentencepiece
    from transformers import XLNetTokenizer

    out.mkdir(parents=True, exist_ok=True)
    # One line with every printable ASCII character, so no typed letter maps to <unk>.
    alphabet = " ".join(string.ascii_letters + string.digits + string.punctuation)
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter([*texts, alphabet]),
        model_prefix=str(out / "spiece"),
        model_type="unigram",
        vocab_size=vocab_size,
        # A small corpus supports fewer pieces than asked; take what it supports.
        hard_vocab_limit=False,
        character_coverage=1.0,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        control_symbols=list(XLNET_CONTROL_SYMBOLS),
        num_threads=1,  # one thread keeps the vocabulary byte-identical between runs
        minloglevel=2,
    )
    # XLNetTokenizer(vocab_file=...) silently builds a 9-piece vocabulary in transformers 5;
    # from_pretrained converts spiece.model properly.
    tokenizer = XLNetTokenizer.from_pretrained(str(out))
    pieces = sentencepiece.SentencePieceProcessor(model_file=str(out / "spiece.model"))
    if len(tokenizer) != pieces.get_piece_size():
        raise RuntimeError(f"tokenizer has {len(tokenizer)} tokens, spiece.model {pieces.get_piece_size()}")
    tokenizer.save_pretrained(str(out))
    return tokenizer


def build_base_model(out: Path, tokenizer: Any, size: DemoSize, *, seed: int) -> None:
    """Save a randomly initialised XLNet encoder, the stand-in for a pretrained checkpoint."""
    from transformers import XLNetConfig, XLNetModel, set_seed

    set_seed(seed)
    config = XLNetConfig(
        vocab_size=len(tokenizer),
        d_model=size.d_model,
        n_layer=size.n_layer,
        n_head=size.n_head,
        d_inner=size.d_inner,
        # The defaults are XLNet-large sizes with a 512-token memory; a classifier needs no memory.
        mem_len=None,
        use_mems_eval=False,
        use_mems_train=False,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    XLNetModel(config).save_pretrained(str(out))


def _demo_rows(data: Path, max_rows: int | None, tmp: Path) -> tuple[list[str], Path]:
    with data.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:max_rows]
    if max_rows is None:
        return [row["text"] for row in rows], data
    subset = tmp / "subset.csv"
    with subset.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "label"], lineterminator="\n")
        writer.writeheader()
        writer.writerows({"text": row["text"], "label": row["label"]} for row in rows)
    return [row["text"] for row in rows], subset
