"""The demo's pre-trained base: saved ready to ship, pinned by SHA-256, and used only with its own text."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from classifier.corpus import sha256_of
from classifier.demo import TINY, build_demo_model
from classifier.demo_base import DEMO_BASE, DEMO_BASE_SHA256, demo_base_check
from classifier.exceptions import ModelLoadError, TrainingDataError
from classifier.pretraining import PRETRAINING_FILE


@pytest.fixture(scope="module")
def saved_base(tiny_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("demo-base")
    metrics = build_demo_model(
        root / "model", corpus=tiny_corpus, size=TINY, base=None, save_base=root / "base", progress=False
    )
    assert metrics["base"] == "demo XLNet, pre-trained here"
    return root / "base", {name: sha256_of(root / "base" / name) for name in DEMO_BASE_SHA256}


def test_the_shipped_base_is_the_pinned_one() -> None:
    assert sorted(path.name for path in DEMO_BASE.iterdir()) == sorted(DEMO_BASE_SHA256)
    assert {name: sha256_of(DEMO_BASE / name) for name in DEMO_BASE_SHA256} == DEMO_BASE_SHA256


def test_the_shipped_base_records_a_long_pre_training_run() -> None:
    record = json.loads((DEMO_BASE / PRETRAINING_FILE).read_text())
    assert record["objective"] == "permutation language modelling, partial prediction"
    assert record["steps"] >= 10 * TINY.pretrain_steps and not record["stopped_early"]
    assert record["final_loss"] < record["first_loss"] < record["uniform_loss"] + 1
    assert record["weights"] == "float16" and record["machine"]["cpu"]


def test_a_saved_base_holds_only_its_pinned_files_in_float16(saved_base) -> None:
    from safetensors import safe_open

    base, _ = saved_base
    assert sorted(path.name for path in base.iterdir()) == sorted(DEMO_BASE_SHA256)
    with safe_open(str(base / "model.safetensors"), framework="pt") as weights:
        assert {str(weights.get_tensor(key).dtype) for key in weights.keys()} == {"torch.float16"}


def test_a_build_fine_tunes_a_checked_base(saved_base, tiny_corpus: Path, tmp_path: Path, monkeypatch) -> None:
    base, pins = saved_base
    record = demo_base_check(base, texts=tiny_corpus / "unlabelled.txt", pins=pins)
    assert record["steps"] == TINY.pretrain_steps and record["texts_sha256"] == sha256_of(
        tiny_corpus / "unlabelled.txt"
    )
    # A build checks the shipped base's pins; this base has its own.
    monkeypatch.setattr("classifier.demo_base.DEMO_BASE_SHA256", pins)
    metrics = build_demo_model(tmp_path / "model", corpus=tiny_corpus, size=TINY, base=base, progress=False)
    assert metrics["base"] == f"demo XLNet, pre-trained once and shipped ({base.name})"
    assert metrics["pretraining"]["steps"] == TINY.pretrain_steps and "pretraining" not in metrics["build_seconds"]
    assert (tmp_path / "model" / "config.json").is_file()


def test_a_changed_file_is_refused(saved_base, tiny_corpus: Path, tmp_path: Path) -> None:
    base, pins = saved_base
    copy = Path(shutil.copytree(base, tmp_path / "base"))
    weights = bytearray((copy / "model.safetensors").read_bytes())
    weights[-1] ^= 1
    (copy / "model.safetensors").write_bytes(bytes(weights))
    with pytest.raises(ModelLoadError, match=r"model\.safetensors does not match its pinned SHA-256"):
        demo_base_check(copy, texts=tiny_corpus / "unlabelled.txt", pins=pins)


def test_a_missing_file_is_refused(saved_base, tiny_corpus: Path, tmp_path: Path) -> None:
    base, pins = saved_base
    copy = Path(shutil.copytree(base, tmp_path / "base"))
    (copy / "spiece.model").unlink()
    with pytest.raises(ModelLoadError, match=r"spiece\.model is missing"):
        demo_base_check(copy, texts=tiny_corpus / "unlabelled.txt", pins=pins)


def test_a_base_pre_trained_on_other_text_is_refused(saved_base, tmp_path: Path) -> None:
    base, pins = saved_base
    other = tmp_path / "unlabelled.txt"
    other.write_text("some other text entirely\n")
    with pytest.raises(TrainingDataError, match="pre-trained on other text"):
        demo_base_check(base, texts=other, pins=pins)


def test_a_new_base_of_another_size_is_made_and_checks_as_its_pins_say(
    saved_base, tiny_corpus: Path, tmp_path: Path, capsys
) -> None:
    from classifier import demo_base

    base, _ = saved_base
    texts = tiny_corpus / "unlabelled.txt"
    argv = ["--texts", str(texts), "--out", str(tmp_path / "new"), "--vocabulary", str(base), "--layers", "2"]
    argv += ["--d-model", "32", "--heads", "2", "--d-inner", "64", "--steps", "3", "--device", "cpu"]

    assert demo_base.main(argv) == 0

    pins = json.loads(capsys.readouterr().out)
    assert sorted(pins) == sorted(DEMO_BASE_SHA256) and pins["spiece.model"] == sha256_of(base / "spiece.model")
    record = demo_base_check(tmp_path / "new", texts=texts, pins=pins)
    assert record["steps"] == 3 and record["base"].startswith("demo XLNet, randomly initialised")
    config = json.loads((tmp_path / "new" / "config.json").read_text())
    assert (config["n_layer"], config["d_model"], config["dtype"]) == (2, 32, "float16")
