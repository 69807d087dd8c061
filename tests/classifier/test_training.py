from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifier.exceptions import TrainingDataError

ROWS = [
    ("I love it, it is wonderful.", 1),
    ("Great blender, five stars.", 1),
    ("The room was spotless.", 1),
    ("Worth every penny.", 1),
    ("What a lovely cafe!", 1),
    ("The plot kept me hooked.", 1),
    ("Highly recommended.", 1),
    ("I am very pleased.", 1),
    ("I hate it, it is awful.", 0),
    ("Terrible kettle, never again.", 0),
    ("The sheets were stained.", 0),
    ("A complete waste of money.", 0),
    ("What a dreadful film!", 0),
    ("The waiter was rude to us.", 0),
    ("One star.", 0),
    ("I am very disappointed.", 0),
]


@pytest.fixture
def tiny_csv(write_csv) -> Path:
    body = "".join(f'"{text}",{label}\n' for text, label in ROWS)
    return write_csv("text,label\n" + body)


def test_training_runs_end_to_end_and_writes_metrics(tiny_model_dir, tiny_csv, tmp_path) -> None:
    from classifier.engine import load_engine
    from classifier.training import train_classifier

    out = tmp_path / "tuned"
    metrics = train_classifier(
        base=str(tiny_model_dir),
        data=tiny_csv,
        out=out,
        epochs=1,
        lr=1e-3,
        batch_size=4,
        max_length=32,
        seed=1,
        val_fraction=0.25,
        label_names=["negative", "positive"],
        progress=False,
    )
    written = json.loads((out / "metrics.json").read_text())
    assert written == json.loads(json.dumps(metrics))
    assert written["dataset"] == {
        "path": str(tiny_csv),
        "validation_path": None,
        "rows": 16,
        "train_rows": 12,
        "val_rows": 4,
        "label_counts": {"negative": 8, "positive": 8},
    }
    assert written["labels"] == {"0": "negative", "1": "positive"}
    assert written["parameters"]["epochs"] == 1 and written["parameters"]["seed"] == 1
    assert written["steps"] == 3 and written["train_seconds"] >= 0 and written["created_at"]
    validation = written["validation"]
    assert set(validation) == {"accuracy", "per_class", "macro", "confusion_matrix", "support"}
    assert set(validation["per_class"]) == {"negative", "positive"}
    assert sum(map(sum, validation["confusion_matrix"])) == 4
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    calibration = written["calibration"]
    assert calibration["temperature"] > 0 and 0 <= calibration["ece_after_scaling"] <= 1
    tuned = load_engine(str(out), device="cpu", dtype="float32")
    assert tuned.id2label == {0: "negative", 1: "positive"}
    assert tuned.temperature == pytest.approx(calibration["temperature"], rel=1e-2)
    assert len(tuned.predict(["Great blender."])) == 1


def test_a_validation_file_is_used_whole_and_the_temperature_is_fitted_on_it(
    tiny_model_dir, tiny_csv, write_csv, tmp_path
) -> None:
    from classifier.calibration import temperature_fit
    from classifier.engine import load_engine
    from classifier.training import train_classifier

    held = write_csv(
        "text,label\n" + "".join(f'"{t} Really.",{label}\n' for t, label in ROWS[:3] + ROWS[8:11]), "val.csv"
    )
    out = tmp_path / "tuned"
    metrics = train_classifier(
        base=str(tiny_model_dir),
        data=tiny_csv,
        validation=held,
        out=out,
        epochs=1,
        batch_size=4,
        max_length=32,
        label_names=["negative", "positive"],
        progress=False,
    )
    assert metrics["dataset"]["train_rows"] == 16 and metrics["dataset"]["val_rows"] == 6
    assert metrics["validation"]["support"] == 6 and metrics["parameters"]["val_fraction"] is None
    tuned = load_engine(str(out), device="cpu", dtype="float32")
    texts = [f"{t} Really." for t, _ in ROWS[:3] + ROWS[8:11]]
    refit = temperature_fit(tuned.logits(texts), [1, 1, 1, 0, 0, 0])
    assert tuned.temperature == pytest.approx(refit, rel=1e-2)
    scaled = tuned.predict(texts[:1])[0]
    from classifier.postprocess import softmax

    assert scaled.probabilities == pytest.approx(softmax([v / refit for v in tuned.logits(texts[:1])[0]]), rel=1e-2)


def test_a_validation_file_with_other_labels_is_refused(tiny_model_dir, tiny_csv, write_csv, tmp_path) -> None:
    from classifier.training import train_classifier

    held = write_csv("text,label\na,0\nb,1\nc,2\n", "val.csv")
    with pytest.raises(TrainingDataError, match="labels"):
        train_classifier(base=str(tiny_model_dir), data=tiny_csv, validation=held, out=tmp_path / "x", progress=False)


def test_bad_data_fails_before_any_model_is_loaded(write_csv, tmp_path) -> None:
    from classifier.training import train_classifier

    with pytest.raises(TrainingDataError, match="is not an integer"):
        train_classifier(
            base="no-such-base",
            data=write_csv("text,label\na,yes\n"),
            out=tmp_path / "x",
            progress=False,
        )
    assert not (tmp_path / "x").exists()


def test_a_time_budget_stops_training_early(tiny_model_dir, tiny_csv, tmp_path) -> None:
    from classifier.training import train_classifier

    metrics = train_classifier(
        base=str(tiny_model_dir),
        data=tiny_csv,
        out=tmp_path / "quick",
        epochs=50,
        batch_size=2,
        max_length=32,
        max_seconds=0.0,
        progress=False,
    )
    assert metrics["stopped_early"] and metrics["steps"] == 0
    assert metrics["final_train_loss"] is None


def test_progress_follows_time_when_time_is_shorter_than_steps() -> None:
    from classifier.training import training_progress

    assert training_progress(10, 100, elapsed=50.0, max_seconds=None) == 0.1
    assert training_progress(10, 100, elapsed=50.0, max_seconds=100.0) == 0.5
    assert training_progress(90, 100, elapsed=1.0, max_seconds=100.0) == 0.9


def test_the_schedule_warms_up_then_decays_without_reaching_zero() -> None:
    from classifier.training import schedule_factor

    factors = [schedule_factor(step / 100, warmup=0.1, floor=0.01) for step in range(100)]
    assert factors[0] == pytest.approx(0.1)
    assert max(factors) == pytest.approx(1.0) and factors.index(max(factors)) == 10
    assert factors == sorted(factors[:11]) + sorted(factors[11:], reverse=True)
    assert factors[-1] > 0


def test_the_demo_build_records_how_it_was_made(tiny_model_dir) -> None:
    metrics = json.loads((tiny_model_dir / "metrics.json").read_text())
    assert metrics["labels"] == {"0": "negative", "1": "positive"}
    assert metrics["demo"]["vocab_size_actual"] > 100 and metrics["demo"]["pretrained"]
    assert metrics["base"] == "demo XLNet, pre-trained here"
    assert metrics["pretraining"]["objective"].startswith("permutation language modelling")
    assert metrics["test"]["per_source"]["templates"]["support"] == 80
    assert set(metrics["build_seconds"]) == {"tokenizer", "pretraining", "fine_tuning", "evaluation", "total"}


def test_training_reports_its_progress_on_stderr_as_log_lines(tiny_model_dir, tiny_csv, tmp_path, capsys) -> None:
    from classifier.training import train_classifier

    train_classifier(
        base=str(tiny_model_dir),
        data=tiny_csv,
        out=tmp_path / "tuned",
        epochs=1,
        batch_size=4,
        max_length=32,
        val_fraction=0.25,
        label_names=["negative", "positive"],
    )
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("fine-tuning")]
    assert lines[-1].startswith("fine-tuning: 100%") and "3/3" in lines[-1]
    assert "epoch 1/1 loss " in lines[-1]
