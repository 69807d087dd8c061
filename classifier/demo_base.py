"""The demo's pre-trained base: the small XLNet of `classifier.demo.DEMO`, pre-trained once and shipped.

Pre-training that pays off on this corpus takes far longer than a build may (tens of minutes on two
CPU cores against a three-minute build), so it is done the way XLNet's own checkpoints are: once,
by the same `pretrain_xlnet` as `manage.py pretrain_xlnet`, and then shipped. Every demo build
fine-tunes from it. The folder holds the XLNet LM weights in float16 (training loads them as
float32), the SentencePiece vocabulary, and `pretraining.json`, the run's own record: its steps,
schedule, losses, seconds, machine, and the SHA-256 of the text it was pre-trained on.

The files are pinned by SHA-256 below, and a base is only used with the corpus whose text it was
pre-trained on. `manage.py build_demo_model --pretrain-here --save-base DIR` makes a new one and
prints its pins.
"""

from __future__ import annotations

import json
import platform
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifier.corpus import sha256_of
from classifier.exceptions import ModelLoadError, TrainingDataError
from classifier.pretraining import PRETRAINING_FILE
from classifier.runtime import cpu_name

if TYPE_CHECKING:
    from classifier.demo import DemoSize  # classifier.demo imports this module

DEMO_BASE = Path(__file__).parent / "data" / "demo_base"
# What the shipped base must be, file by file.
DEMO_BASE_SHA256 = {
    "config.json": "ba41e58aaf32ef9081ddb043cd684e6b885a87a603af0df09ece038295261127",
    "model.safetensors": "4b72fa0b0520cde9482c7e1962af77db3f259570cc5c8abc1479eefa01fca9be",
    "pretraining.json": "50ccef40834740233ca6acf436c56e2e7eb5906711e7fa9058e77c211007defa",
    "spiece.model": "e448c5c33fa197423ee080d206c1f450943b7a6b247680ab0cbaf52b63d1ef19",
    "tokenizer_config.json": "9097e93479a67f9209223868927232e50fb8691f958bea15da2d21db5aa210d8",
}
TEXTS_SHA256 = "texts_sha256"


def demo_base_check(base: Path, *, texts: Path, pins: dict[str, str] | None = None) -> dict[str, Any]:
    """The base's pre-training record, once every file matches its pin and the text is `texts`.

    `pins` defaults to the shipped base's (`DEMO_BASE_SHA256`).

    Raises ModelLoadError for a missing or changed file, and TrainingDataError when the base was
    pre-trained on other text than this corpus's (a base and its vocabulary go with one corpus).
    """
    for name, expected in (DEMO_BASE_SHA256 if pins is None else pins).items():
        path = base / name
        if not path.is_file():
            raise ModelLoadError(f"{base} is not the demo's pre-trained base: {name} is missing")
        if sha256_of(path) != expected:
            raise ModelLoadError(f"{path} does not match its pinned SHA-256; restore it from git or make a new base")
    record = json.loads((base / PRETRAINING_FILE).read_text())
    if record.get(TEXTS_SHA256) != sha256_of(texts):
        raise TrainingDataError(
            f"{base} was pre-trained on other text than {texts}; make a base for this corpus with "
            "`manage.py build_demo_model --pretrain-here --save-base DIR`"
        )
    return record


def demo_base_save(pretrained: Path, out: Path, *, texts: Path) -> dict[str, str]:
    """Write the shippable files of a `pretrain_xlnet` output to `out`; return their SHA-256 pins."""
    import torch
    from transformers import XLNetLMHeadModel

    out.mkdir(parents=True, exist_ok=True)
    model = XLNetLMHeadModel.from_pretrained(str(pretrained), dtype=torch.float32)
    model.half().save_pretrained(str(out))
    for name in ("spiece.model", "tokenizer_config.json"):
        shutil.copyfile(pretrained / name, out / name)
    record = json.loads((pretrained / PRETRAINING_FILE).read_text())
    record.pop("model", None)
    record["base"] = "demo XLNet, randomly initialised (classifier.demo.build_base_model)"
    record[TEXTS_SHA256] = sha256_of(texts)
    record["machine"] = {"cpu": cpu_name(), "python": platform.python_version(), "torch": torch.__version__}
    record["weights"] = "float16"
    (out / PRETRAINING_FILE).write_text(json.dumps(record, indent=2) + "\n")
    for extra in {path.name for path in out.iterdir() if path.is_file()} - set(DEMO_BASE_SHA256):
        # Whatever else is there: an older base's leftovers, or generation_config.json, which a
        # classifier base does not need.
        (out / extra).unlink()
    return {name: sha256_of(out / name) for name in sorted(DEMO_BASE_SHA256)}


def demo_base_make(
    *,
    texts: Path,
    out: Path,
    size: DemoSize,
    vocabulary: Path = DEMO_BASE,
    max_seconds: float | None = None,
    device: str | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, str]:
    """Pre-train a new base of `size` (its model and pre-training schedule) on `texts`, save it to
    `out` ready to ship, and return its pins.

    The way to try a bigger model or a longer run than the shipped base's, for instance on a GPU
    machine without Django (`python -m classifier.demo_base --help`). It keeps `vocabulary`'s
    SentencePiece pieces (the shipped base's: the ones a build of this corpus makes again), so only
    the weights are new. A build uses the result once its pins replace `DEMO_BASE_SHA256`.
    """
    from tempfile import TemporaryDirectory

    from transformers import AutoTokenizer

    from classifier.demo import build_base_model, pretrain_demo_base

    with TemporaryDirectory(prefix="demo-base-") as tmp:
        start, pretrained = Path(tmp) / "base", Path(tmp) / "pretrained"
        start.mkdir()
        for name in ("spiece.model", "tokenizer_config.json"):
            shutil.copyfile(vocabulary / name, start / name)
        build_base_model(start, AutoTokenizer.from_pretrained(str(start)), size, seed=seed)
        pretrain_demo_base(
            start,
            pretrained,
            texts=texts,
            size=size,
            seed=seed,
            progress=progress,
            max_seconds=max_seconds,
            device=device,
        )
        return demo_base_save(pretrained, out, texts=texts)


def main(argv: list[str] | None = None) -> int:
    import argparse
    from dataclasses import replace

    from classifier.demo import DEMO

    parser = argparse.ArgumentParser(
        prog="python -m classifier.demo_base",
        description="Pre-train a new demo base on a corpus's text (var/corpus/v1/unlabelled.txt); print its pins.",
    )
    parser.add_argument("--texts", type=Path, required=True, help="the corpus's unlabelled.txt")
    parser.add_argument("--out", type=Path, required=True, help="folder for the new base")
    parser.add_argument("--vocabulary", type=Path, default=DEMO_BASE, help="a base whose pieces to keep")
    parser.add_argument("--layers", type=int, default=DEMO.n_layer)
    parser.add_argument("--d-model", type=int, default=DEMO.d_model)
    parser.add_argument("--heads", type=int, default=DEMO.n_head)
    parser.add_argument("--d-inner", type=int, default=DEMO.d_inner)
    parser.add_argument("--steps", type=int, default=DEMO.pretrain_steps)
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long, schedule finished")
    parser.add_argument("--batch-size", type=int, default=DEMO.pretrain_batch_size)
    parser.add_argument("--lr", type=float, default=DEMO.pretrain_lr)
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when there is one)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    size = replace(
        DEMO,
        n_layer=args.layers,
        d_model=args.d_model,
        n_head=args.heads,
        d_inner=args.d_inner,
        pretrain_steps=args.steps,
        pretrain_batch_size=args.batch_size,
        pretrain_lr=args.lr,
    )
    pins = demo_base_make(
        texts=args.texts,
        out=args.out,
        size=size,
        vocabulary=args.vocabulary,
        max_seconds=args.seconds,
        device=args.device,
        seed=args.seed,
    )
    print(json.dumps(pins, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
