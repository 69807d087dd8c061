"""Fixtures for the classifier tests: one tiny model per session, built from the shipped data.

The tiny model is always built fresh (a few seconds), so these tests never depend on whatever
CLASSIFIER_MODEL the worker is configured with. Tests of the real demo model's quality use
var/models/demo when `make model` has built it, and skip otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

# Before anything imports huggingface_hub: an online hub lookup stalls each load for ~50 s.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from classifier.demo import TINY, build_demo_model

    out = tmp_path_factory.mktemp("models") / "tiny"
    build_demo_model(out, size=TINY, progress=False)
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
