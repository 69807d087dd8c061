"""The demo model's real-text corpus: pinned sources (`sources`) and how one corpus is built from
them (`build`). `corpus_prepare` is what callers use."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from classifier.corpus.build import (
    CORPUS_VERSION,
    LABEL_NAMES,
    SPLITS,
    Corpus,
    Example,
    corpus_build,
    corpus_licences_write,
    corpus_write,
    normalise,
)
from classifier.corpus.sources import SOURCES, Source, fetch_sources, sha256_of


def corpus_prepare(folder: str | Path, *, say: Callable[[str], None] = lambda _: None) -> Path:
    """The corpus under `folder/v<version>/`, built on first use and reused after.

    The pinned downloads are kept in `folder/downloads/`, so a rebuild needs no network.
    """
    folder = Path(folder)
    out = folder / f"v{CORPUS_VERSION}"
    manifest = out / "manifest.json"
    if manifest.is_file() and json.loads(manifest.read_text()).get("version") == CORPUS_VERSION:
        return out
    say(f"fetching the corpus sources into {folder / 'downloads'} (pinned, checked by SHA-256)")
    corpus = corpus_build(folder)
    corpus_write(corpus, out)
    corpus_licences_write(folder, out)
    counts = {name: len(rows) for name, rows in corpus.splits.items()}
    say(f"built the corpus in {out}: {counts}, {len(corpus.unlabelled)} more texts without labels")
    return out


__all__ = [
    "CORPUS_VERSION",
    "LABEL_NAMES",
    "SOURCES",
    "SPLITS",
    "Corpus",
    "Example",
    "Source",
    "corpus_build",
    "corpus_prepare",
    "corpus_write",
    "fetch_sources",
    "normalise",
    "sha256_of",
]
