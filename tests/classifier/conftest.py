"""Fixtures for the classifier tests: one tiny model per session, built from templated text.

The tiny model is always built fresh (a few seconds) through the demo's own pipeline, on a corpus
folder written from `classifier.data.generate`'s templates, so these tests never depend on the
network or on whatever CLASSIFIER_MODEL the worker is configured with. Tests of the real demo
model's quality use var/models/demo, which `make test` builds first.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

# Before anything imports huggingface_hub: an online hub lookup stalls each load for ~50 s.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest


def templated_corpus(out: Path, rows: int = 800) -> Path:
    """A corpus folder like `classifier.corpus` writes, from templated reviews: for pipeline tests."""
    from classifier.data.generate import generate

    examples = generate(rows, seed=0)
    tenth = rows // 10
    splits = {"test": examples[:tenth], "validation": examples[tenth : 2 * tenth], "train": examples[2 * tenth :]}
    out.mkdir(parents=True, exist_ok=True)
    for name, part in splits.items():
        with (out / f"{name}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["text", "label", "label_name", "source"])
            writer.writerows([text, label, ("negative", "positive")[label], "templates"] for text, label in part)
    (out / "unlabelled.txt").write_text("".join(text + "\n" for text, _ in examples), encoding="utf-8")
    return out


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return templated_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, tiny_corpus: Path) -> Path:
    from classifier.demo import TINY, build_demo_model

    out = tmp_path_factory.mktemp("models") / "tiny"
    build_demo_model(out, corpus=tiny_corpus, size=TINY, base=None, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_engine(tiny_model_dir: Path):  # -> Engine; imported lazily so collection does not load torch
    from classifier.engine import load_engine

    # A small batch size so a handful of texts spans several length-sorted batches.
    return load_engine(str(tiny_model_dir), device="cpu", dtype="float32", max_batch_size=3)


@pytest.fixture
def write_csv(tmp_path: Path):
    def write(text: str, name: str = "data.csv") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def demo_engine(demo_model_dir):
    """The demo model `make test` builds (the root `demo_model_dir` fixture builds it when missing)."""
    from classifier.engine import load_engine

    return load_engine(str(demo_model_dir), device="cpu", dtype="float32")


@pytest.fixture(scope="session")
def tiny_generator(tiny_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny gpt2-demo built by the real pipeline (a couple of seconds): for serving and generation tests."""
    from classifier.generator import TINY_GENERATOR, generator_build

    out = tmp_path_factory.mktemp("gpt2-tiny")
    generator_build(out, corpus=tiny_corpus, size=TINY_GENERATOR)
    return out
