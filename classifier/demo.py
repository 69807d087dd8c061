"""The demo model: a small XLNet pre-trained and fine-tuned the XLNet way on real review sentences.

No machine of ours reaches the hub, so there is no `xlnet-base-cased` to start from. The demo does
in miniature what XLNet's authors did:
1. the corpus (`classifier.corpus`): real human-labelled sentences from three pinned registry
   packages, deduplicated and split once into train, validation and test;
2. a SentencePiece vocabulary and a randomly initialised small XLNet, saved as a checkpoint;
3. `pretrain_xlnet`: permutation language modelling on all of the corpus's text, without labels;
4. `train_classifier`: fine-tuning from that checkpoint on the train split, with the validation
   split for the temperature that calibrates its confidences;
5. an evaluation on the test split, per source, through the worker's own engine, in metrics.json.
Steps 3 and 4 are the same functions as `manage.py pretrain_xlnet` and `manage.py train_classifier`,
which take a real hub id or directory where weights exist. As with XLNet's own checkpoints, steps 2
and 3 ran once, for far longer than a build may take, and their output is shipped
(`classifier.demo_base`); a build checks it and runs steps 4 and 5.
"""

from __future__ import annotations

import csv
import json
import string
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from classifier.demo_base import DEMO_BASE, demo_base_check, demo_base_save
from classifier.hub import offline_by_default
from classifier.metrics import classification_report
from classifier.pretraining import pretrain_xlnet
from classifier.training import METRICS_FILE, train_classifier

DEMO_LABELS = ("negative", "positive")
# XLNet's tokenizer looks these pieces up by name; the ids match the released XLNet vocabulary.
XLNET_CONTROL_SYMBOLS = ("<cls>", "<sep>", "<pad>", "<mask>", "<eod>", "<eop>")
# What a corpus folder holds (`classifier.corpus.corpus_write` writes one).
CORPUS_FILES = ("train.csv", "validation.csv", "test.csv", "unlabelled.txt")


@dataclass(frozen=True)
class DemoSize:
    """Model and schedule sizes.

    A build fine-tunes the shipped base (`classifier.demo_base`), which was pre-trained once with
    these sizes for `pretrain_steps`: each step runs XLNet's two streams over 64 texts and a softmax
    over the vocabulary for the predicted tokens, so that run takes tens of minutes on two CPU
    cores, against a fine-tuning build of about a minute (`make run` and CI build the model on
    first use). `bench/quality.py` measures what the pre-training buys over none
    (docs/benchmarks.md).
    """

    vocab_size: int = 8000
    # Fold case in the tokenizer (XLNet's `do_lower_case`): a model this small, trained on this
    # little text, would otherwise learn "Great", "great" and "GREAT" as three unrelated pieces.
    lowercase: bool = True
    d_model: int = 128
    n_layer: int = 2
    n_head: int = 4
    d_inner: int = 512
    pretrain_steps: int = 32000
    pretrain_lr: float = 2e-3
    pretrain_batch_size: int = 64
    pretrain_max_length: int = 64
    epochs: int = 2
    lr: float = 1e-3
    batch_size: int = 32
    max_length: int = 64


DEMO = DemoSize()
# For unit tests: builds in a few seconds; accuracy is not the point.
TINY = DemoSize(
    vocab_size=400, d_model=32, n_layer=1, n_head=2, d_inner=64, pretrain_steps=4, epochs=1, lr=3e-3, max_length=48
)


def build_demo_model(
    out: str | Path,
    *,
    corpus: str | Path,
    size: DemoSize = DEMO,
    pretrain: bool = True,
    base: Path | None = DEMO_BASE,
    save_base: Path | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Build the demo classifier into `out` from a corpus folder and return its metrics.

    By default it fine-tunes the shipped pre-trained base (`classifier.demo_base`), checked against
    its pins and the corpus's text. `base=None` builds the vocabulary and a random XLNet here and
    pre-trains it for `size.pretrain_steps` (`save_base` then keeps that base, ready to ship).
    `pretrain=False` fine-tunes a random initialisation directly: the baseline that shows what
    pre-training is worth (`bench/quality.py`). The metrics, also in `out/metrics.json`, hold the
    validation report, the calibration, the test report per source and each phase's seconds.
    """
    started = time.perf_counter()
    corpus = Path(corpus)
    _check_corpus(corpus)
    seconds: dict[str, float] = {}
    pretraining: dict[str, Any] | None
    with TemporaryDirectory(prefix="demo-base-") as tmp:
        if pretrain and base is not None:
            clock = time.perf_counter()
            _say(progress, f"pre-trained base: {base}")
            pretraining = demo_base_check(base, texts=corpus / "unlabelled.txt")
            start, tokenizer = base, _tokenizer(base)
            _say(progress, f"  checked: {_pretraining_summary(pretraining)}")
            seconds["base_check"] = time.perf_counter() - clock
        else:
            start, tokenizer, pretraining = _base_built_here(
                Path(tmp), corpus=corpus, size=size, pretrain=pretrain, save_base=save_base, seed=seed,
                progress=progress, seconds=seconds,
            )  # fmt: skip
        clock = time.perf_counter()
        metrics = train_classifier(
            base=str(start),
            data=corpus / "train.csv",
            validation=corpus / "validation.csv",
            out=out,
            epochs=size.epochs,
            lr=size.lr,
            batch_size=size.batch_size,
            max_length=size.max_length,
            seed=seed,
            label_names=DEMO_LABELS,
            progress=progress,
        )
        seconds["fine_tuning"] = time.perf_counter() - clock
    clock = time.perf_counter()
    _say(progress, f"evaluating on {corpus / 'test.csv'}")
    metrics["test"] = evaluate_by_source(out, corpus / "test.csv")
    seconds["evaluation"] = time.perf_counter() - clock
    # A base built here lived in a temporary directory; record what it was instead of where.
    metrics["base"] = _base_name(pretrain=pretrain, shipped=base, pretraining=pretraining)
    metrics["pretraining"] = pretraining and {k: v for k, v in pretraining.items() if k not in ("model", "base")}
    metrics["corpus"] = _manifest(corpus)
    metrics["demo"] = {**asdict(size), "vocab_size_actual": len(tokenizer), "pretrained": bool(pretraining)}
    metrics["build_seconds"] = {
        **{k: round(v, 1) for k, v in seconds.items()},
        "total": round(time.perf_counter() - started, 1),
    }
    (Path(out) / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def _base_built_here(
    tmp: Path,
    *,
    corpus: Path,
    size: DemoSize,
    pretrain: bool,
    save_base: Path | None,
    seed: int,
    progress: bool,
    seconds: dict[str, float],
) -> tuple[Path, Any, dict[str, Any] | None]:
    """A vocabulary and a random XLNet in `tmp`, pre-trained for `size.pretrain_steps` when `pretrain`:
    the directory to fine-tune, its tokenizer, and the pre-training summary (None without). Each
    phase's seconds go into `seconds`."""
    clock = time.perf_counter()
    texts = corpus / "unlabelled.txt"
    _say(progress, f"vocabulary: {size.vocab_size} SentencePiece pieces from {texts}")
    tokenizer = build_tokenizer(_lines(texts), tmp / "base", vocab_size=size.vocab_size, lowercase=size.lowercase)
    build_base_model(tmp / "base", tokenizer, size, seed=seed)
    seconds["tokenizer"] = time.perf_counter() - clock
    if not pretrain or size.pretrain_steps <= 0:
        return tmp / "base", tokenizer, None
    clock = time.perf_counter()
    pretraining = pretrain_demo_base(
        tmp / "base", tmp / "pretrained", texts=texts, size=size, seed=seed, progress=progress
    )
    seconds["pretraining"] = time.perf_counter() - clock
    if save_base is not None:
        pins = demo_base_save(tmp / "pretrained", save_base, texts=texts)
        _say(progress, f"saved the pre-trained base in {save_base}; its pins: {json.dumps(pins, indent=2)}")
    return tmp / "pretrained", tokenizer, pretraining


def pretrain_demo_base(
    start: Path,
    out: Path,
    *,
    texts: Path,
    size: DemoSize,
    seed: int,
    progress: bool,
    max_seconds: float | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """`pretrain_xlnet` from `start` into `out` on `texts`, with `size`'s pre-training schedule."""
    return pretrain_xlnet(
        base=str(start),
        texts=texts,
        out=out,
        steps=size.pretrain_steps,
        lr=size.pretrain_lr,
        batch_size=size.pretrain_batch_size,
        max_length=size.pretrain_max_length,
        seed=seed,
        max_seconds=max_seconds,
        device=device,
        progress=progress,
    )


def evaluate_by_source(model: str | Path, data: str | Path) -> dict[str, Any]:
    """The test report for a saved model, overall and for each `source` in the CSV."""
    from classifier.engine import load_engine

    engine = load_engine(str(model), device="cpu", dtype="float32")
    rows = _csv_rows(Path(data))
    predicted = [p.label for p in engine.predict([row["text"] for row in rows])]
    truth = [int(row["label"]) for row in rows]
    report = classification_report(truth, predicted, engine.id2label)
    by_source: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        by_source[row.get("source") or "all"].append(index)
    report["per_source"] = {
        name: {"accuracy": sum(truth[i] == predicted[i] for i in indices) / len(indices), "support": len(indices)}
        for name, indices in sorted(by_source.items())
    }
    return report


def build_tokenizer(texts: list[str], out: Path, *, vocab_size: int, lowercase: bool = False) -> Any:
    """Train a unigram SentencePiece model and save it as an XLNet tokenizer directory.

    `lowercase` trains the pieces on lower-cased text and saves a tokenizer that lower-cases what
    it is given, so the worker folds case exactly as training did.
    """
    offline_by_default()
    import sentencepiece
    from transformers import XLNetTokenizer

    out.mkdir(parents=True, exist_ok=True)
    # One line with every printable ASCII character, so no typed letter maps to <unk>.
    alphabet = " ".join(string.ascii_letters + string.digits + string.punctuation)
    lines = [line.lower() for line in [*texts, alphabet]] if lowercase else [*texts, alphabet]
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
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
    tokenizer = XLNetTokenizer.from_pretrained(str(out), do_lower_case=lowercase)
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


def _say(progress: bool, line: str) -> None:
    # The same stream as the training bars, so a build's log reads in order.
    if progress:
        print(line, file=sys.stderr, flush=True)


def _check_corpus(corpus: Path) -> None:
    missing = [name for name in CORPUS_FILES if not (corpus / name).is_file()]
    if missing:
        from classifier.exceptions import TrainingDataError

        raise TrainingDataError(f"{corpus} is not a corpus folder: missing {', '.join(missing)}")


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _manifest(corpus: Path) -> dict[str, Any] | str:
    manifest = corpus / "manifest.json"
    return json.loads(manifest.read_text()) if manifest.is_file() else str(corpus)


def _tokenizer(base: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(base))


def _pretraining_summary(record: dict[str, Any]) -> str:
    machine = record.get("machine", {}).get("cpu", "an unrecorded machine")
    minutes = record.get("train_seconds", 0) / 60
    return (
        f"{record.get('steps')} steps of pre-training, loss {record.get('first_loss')} -> "
        f"{record.get('final_loss')}, {minutes:.0f} min on {machine}"
    )


def _base_name(*, pretrain: bool, shipped: Path | None, pretraining: dict[str, Any] | None) -> str:
    if pretrain and shipped is not None:
        return f"demo XLNet, pre-trained once and shipped ({shipped.name})"
    return "demo XLNet, pre-trained here" if pretraining else "demo XLNet, randomly initialised"
