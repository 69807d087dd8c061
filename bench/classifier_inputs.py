"""What bench/classifier.py classifies, and with which model: texts of a fixed length mix, models built once.

No Django here: `base` and `large` need only torch, transformers and sentencepiece, so the GPU
script (bench/gpu/run.sh) can build them on a machine that has nothing else. Only `demo` runs
`manage.py build_demo_model` when the demo model is missing.
"""

from __future__ import annotations

import csv
import random
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = ROOT / "var" / "models" / "demo"
CACHE_DIR = ROOT / "var" / "bench"
SENTENCES_CSV = ROOT / "classifier" / "data" / "sentiment.csv"
LABELS = {0: "negative", 1: "positive"}
# Random init costs the same as trained weights; the vocabulary is the demo's (< 32,000 ids).
SIZES = {
    "base": {"d_model": 768, "n_layer": 12, "n_head": 12, "d_inner": 3072, "vocab_size": 32000},
    "large": {"d_model": 1024, "n_layer": 24, "n_head": 16, "d_inner": 4096, "vocab_size": 32000},
}


def bench_texts(count: int, *, seed: int = 0) -> list[str]:
    """Reviews of one to 10 sentences: most short, a long tail, like real submissions."""
    rng = random.Random(seed)
    sentences = _sentences()
    texts = []
    for _ in range(count):
        # Pareto(1.1): half the texts are one sentence, one in ten 8 or more, capped at 10 (~300 tokens).
        joined = min(10, int(rng.paretovariate(1.1)))
        texts.append(" ".join(rng.choice(sentences) for _ in range(joined)))
    return texts


def ensure_demo_model() -> Path:
    if not (DEMO_DIR / "config.json").is_file():
        print("building the demo model (python manage.py build_demo_model)...", file=sys.stderr)
        subprocess.run([sys.executable, "manage.py", "build_demo_model"], cwd=ROOT, check=True)
    return DEMO_DIR


def ensure_sized_model(size: str, cache_dir: Path = CACHE_DIR) -> Path:
    """An XLNet classifier of `size` (base or large), randomly initialised, cached in `cache_dir`."""
    out = cache_dir / f"xlnet-{size}-random"
    if (out / "model.safetensors").is_file() and (out / "tokenizer_config.json").is_file():
        return out
    from transformers import XLNetConfig, XLNetForSequenceClassification, set_seed

    tokenizer = bench_tokenizer(cache_dir)
    set_seed(0)
    config = XLNetConfig(
        **SIZES[size],
        mem_len=None,
        use_mems_eval=False,
        use_mems_train=False,
        num_labels=len(LABELS),
        id2label=LABELS,
        label2id={name: i for i, name in LABELS.items()},
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    XLNetForSequenceClassification(config).save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def bench_tokenizer(cache_dir: Path = CACHE_DIR):  # -> a transformers tokenizer
    """The demo model's SentencePiece tokenizer where it is built, else the same recipe on the bench's sentences.

    Building the demo model needs Django (`manage.py`); the vocabulary alone needs sentencepiece.
    """
    from transformers import AutoTokenizer

    if (DEMO_DIR / "tokenizer_config.json").is_file():
        return AutoTokenizer.from_pretrained(str(DEMO_DIR))
    from classifier.demo import DEMO, build_tokenizer

    built = cache_dir / "tokenizer"
    if (built / "tokenizer_config.json").is_file():
        return AutoTokenizer.from_pretrained(str(built))
    return build_tokenizer(_sentences(), built, vocab_size=DEMO.vocab_size, lowercase=DEMO.lowercase)


def _sentences() -> list[str]:
    with SENTENCES_CSV.open(newline="", encoding="utf-8") as handle:
        return [row["text"] for row in csv.DictReader(handle)]
