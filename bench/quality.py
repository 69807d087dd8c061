"""Is the demo model any good? It against the baselines a user would try instead, on one test split.

    .venv/bin/python bench/quality.py            # a table
    .venv/bin/python bench/quality.py --json     # one JSON object

Builds the demo model exactly as `manage.py build_demo_model` does (the real-text corpus, the shipped
XLNet base pre-trained on its text, fine-tuning, temperature scaling), then, on the same test split
of the same corpus:
- majority: always the training split's most common label;
- tfidf_lr: TF-IDF of word 1-2 grams and logistic regression (scikit-learn, dev-only), C chosen on
  the validation split;
- no_pretrain: the same small XLNet and fine-tuning schedule from a random initialisation, so the
  difference is what pre-training is worth;
- vader: VADER, the rule-based analyser `vadersentiment` ships (compound > 0 positive, < 0
  negative, and the training majority where it finds no sentiment words at all).
Every model is also scored on tests/classifier/data/obvious_sentences.csv, ordinary sentences written
for this project and in none of the sources.

Prints accuracy and macro-F1 overall and per source, expected calibration error before and after
temperature scaling (on the test split), the gain from pre-training, and build seconds, and pairs
the demo model with each baseline sentence by sentence (exact McNemar p-values, `*_p`). All
figures come from one run on one machine; the ratios (`vs_tfidf_lr`) are what carry over between
machines, not the seconds.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["HF_HUB_OFFLINE"] = "1"

OBVIOUS = ROOT / "tests" / "classifier" / "data" / "obvious_sentences.csv"
C_GRID = (1.0, 3.0, 10.0, 30.0, 100.0)
HITS = "hits"


def read_split(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [{**row, "label": int(row["label"])} for row in csv.DictReader(handle)]


def read_obvious() -> list[dict[str, Any]]:
    with OBVIOUS.open(newline="", encoding="utf-8") as handle:
        return [{"text": r["text"], "label": int(r["label"] == "positive")} for r in csv.DictReader(handle)]


def scores(rows: list[dict[str, Any]], predicted: list[int]) -> dict[str, Any]:
    from classifier.metrics import classification_report

    report = classification_report([r["label"] for r in rows], predicted, {0: "negative", 1: "positive"})
    by_source: dict[str, list[bool]] = defaultdict(list)
    for row, guess in zip(rows, predicted, strict=True):
        by_source[row.get("source", "all")].append(row["label"] == guess)
    return {
        "accuracy": round(report["accuracy"], 4),
        "macro_f1": round(report["macro"]["f1"], 4),
        "per_source": {name: round(sum(hits) / len(hits), 4) for name, hits in sorted(by_source.items())},
        # Sentence by sentence, for the paired tests; `run` takes it out of the printed rows.
        HITS: [row["label"] == guess for row, guess in zip(rows, predicted, strict=True)],
    }


def mcnemar_p(a: list[bool], b: list[bool]) -> float:
    """Two-sided exact McNemar test of two models on the same sentences.

    Only the sentences exactly one of them gets right count. Under "equally good" each of those
    is a coin flip, so the p-value is how likely a split at least this uneven is by chance. Paired
    like this, a gain of a point on 1,898 sentences can be told from noise, where comparing the
    two accuracies' standard errors (about 0.9 points each) cannot.
    """
    only_a = sum(x and not y for x, y in zip(a, b, strict=True))
    only_b = sum(y and not x for x, y in zip(a, b, strict=True))
    flips = only_a + only_b
    if flips == 0:
        return 1.0
    tail = sum(math.comb(flips, i) for i in range(min(only_a, only_b) + 1)) / 2**flips
    return min(1.0, 2 * tail)


def xlnet_row(model: Path, test: list[dict[str, Any]], obvious: list[dict[str, Any]]) -> dict[str, Any]:
    from classifier.calibration import expected_calibration_error
    from classifier.engine import load_engine

    engine = load_engine(str(model), device="cpu", dtype="float32")
    logits = engine.logits([r["text"] for r in test])
    labels = [r["label"] for r in test]
    predicted = [max(range(len(row)), key=row.__getitem__) for row in logits]
    obvious_hits = [p.label for p in engine.predict([r["text"] for r in obvious])]
    return {
        **scores(test, predicted),
        "obvious_right": sum(p == r["label"] for p, r in zip(obvious_hits, obvious, strict=True)),
        "temperature": round(engine.temperature, 4),
        "ece_before_scaling": round(expected_calibration_error(logits, labels), 4),
        "ece_after_scaling": round(expected_calibration_error(logits, labels, temperature=engine.temperature), 4),
    }


def tfidf_row(train, validation, test, obvious) -> dict[str, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    x_train = vectorizer.fit_transform([r["text"] for r in train])
    y_train = [r["label"] for r in train]
    x_val = vectorizer.transform([r["text"] for r in validation])
    best = None
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=3000).fit(x_train, y_train)
        accuracy = (model.predict(x_val) == [r["label"] for r in validation]).mean()
        if best is None or accuracy > best[0]:
            best = (accuracy, c, model)
    _, c, model = best
    predicted = model.predict(vectorizer.transform([r["text"] for r in test])).tolist()
    obvious_predicted = model.predict(vectorizer.transform([r["text"] for r in obvious])).tolist()
    return {
        **scores(test, predicted),
        "obvious_right": sum(p == r["label"] for p, r in zip(obvious_predicted, obvious, strict=True)),
        "C": c,
        "seconds": round(time.perf_counter() - started, 1),
    }


def vader_row(train, test, obvious) -> dict[str, Any]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyser = SentimentIntensityAnalyzer()
    majority = Counter(r["label"] for r in train).most_common(1)[0][0]

    def label(text: str) -> int:
        compound = analyser.polarity_scores(text)["compound"]
        return majority if compound == 0 else int(compound > 0)

    return {
        **scores(test, [label(r["text"]) for r in test]),
        "obvious_right": sum(label(r["text"]) == r["label"] for r in obvious),
    }


def run(corpus_cache: Path) -> dict[str, Any]:
    from classifier.corpus import corpus_prepare
    from classifier.demo import build_demo_model
    from classifier.runtime import cpu_name

    corpus = corpus_prepare(corpus_cache, say=lambda line: print(line, file=sys.stderr))
    train, validation, test = (read_split(corpus / f"{name}.csv") for name in ("train", "validation", "test"))
    obvious = read_obvious()
    rows: dict[str, dict[str, Any]] = {}
    with TemporaryDirectory(prefix="quality-") as tmp:
        started = time.perf_counter()
        built = build_demo_model(Path(tmp) / "demo", corpus=corpus, progress=True)
        build_seconds = time.perf_counter() - started
        rows["demo_xlnet"] = {**xlnet_row(Path(tmp) / "demo", test, obvious), "build": built["build_seconds"]}
        started = time.perf_counter()
        plain = build_demo_model(Path(tmp) / "plain", corpus=corpus, pretrain=False, progress=True)
        rows["no_pretrain"] = {**xlnet_row(Path(tmp) / "plain", test, obvious), "build": plain["build_seconds"]}
    rows["tfidf_lr"] = tfidf_row(train, validation, test, obvious)
    rows["vader"] = vader_row(train, test, obvious)
    majority = Counter(r["label"] for r in train).most_common(1)[0][0]
    rows["majority"] = {**scores(test, [majority] * len(test)),
                        "obvious_right": sum(r["label"] == majority for r in obvious)}  # fmt: skip
    demo, tfidf = rows["demo_xlnet"], rows["tfidf_lr"]
    paired = {name: round(mcnemar_p(demo[HITS], rows[name][HITS]), 4) for name in ("no_pretrain", "tfidf_lr", "vader")}
    for row in rows.values():
        del row[HITS]
    return {
        "bench": "quality",
        "cpu": cpu_name(),
        "threads": _threads(),
        "test_sentences": len(test),
        "obvious_sentences": len(obvious),
        "accuracy": demo["accuracy"],
        "macro_f1": demo["macro_f1"],
        "per_source": demo["per_source"],
        "baseline_tfidf_lr_accuracy": tfidf["accuracy"],
        "baseline_vader_accuracy": rows["vader"]["accuracy"],
        "majority_accuracy": rows["majority"]["accuracy"],
        "no_pretrain_accuracy": rows["no_pretrain"]["accuracy"],
        "pretraining_gain": round(demo["accuracy"] - rows["no_pretrain"]["accuracy"], 4),
        "pretraining_gain_p": paired["no_pretrain"],
        "vs_tfidf_lr_p": paired["tfidf_lr"],
        "vs_vader_p": paired["vader"],
        "vs_tfidf_lr": round(demo["accuracy"] / tfidf["accuracy"], 4),
        "movie_vs_tfidf_lr": round(demo["per_source"]["movie"] / tfidf["per_source"]["movie"], 4),
        "ece_before_scaling": demo["ece_before_scaling"],
        "ece_after_scaling": demo["ece_after_scaling"],
        "obvious_right": demo["obvious_right"],
        "build_seconds": round(build_seconds, 1),
        "rows": rows,
    }


def print_table(result: dict[str, Any]) -> None:
    sources = list(result["per_source"])
    print(f"{result['test_sentences']} test sentences, {result['obvious_sentences']} obvious ones; {result['cpu']}")
    header = f"{'model':<12} {'acc':>6} {'F1':>6} " + " ".join(f"{s[:10]:>10}" for s in sources) + "  obvious"
    print(header)
    for name, row in result["rows"].items():
        cells = " ".join(f"{row['per_source'].get(s, 0):>10.3f}" for s in sources)
        print(f"{name:<12} {row['accuracy']:>6.3f} {row['macro_f1']:>6.3f} {cells}  {row['obvious_right']:>3}")
    print(
        f"pre-training gain {result['pretraining_gain']:+.3f} (paired p {result['pretraining_gain_p']:.3g}); "
        f"vs TF-IDF+LR x{result['vs_tfidf_lr']:.3f} (p {result['vs_tfidf_lr_p']:.3g}) "
        f"(movie x{result['movie_vs_tfidf_lr']:.3f}); ECE {result['ece_before_scaling']:.3f} -> "
        f"{result['ece_after_scaling']:.3f} after scaling; build {result['build_seconds']:.0f} s "
        f"({result['rows']['demo_xlnet']['build']})"
    )


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--corpus", type=Path, default=ROOT / "var" / "corpus", help="corpus cache folder")
    args = parser.parse_args()
    result = run(args.corpus)
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
