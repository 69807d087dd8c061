from __future__ import annotations

import os
from pathlib import Path

from django.core.management.base import BaseCommand

DEFAULT_OUT = Path("var/models/demo")


class Command(BaseCommand):
    help = (
        "Build the demo sentiment classifier (a small XLNet trained on the shipped dataset, about a "
        "minute on two CPU cores). An existing model is kept unless --force."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"Model directory (default: {DEFAULT_OUT}).")
        parser.add_argument("--force", action="store_true", help="Rebuild even if OUT already holds a model.")

    def handle(self, *args, **options) -> None:
        out: Path = options["out"]
        if (out / "config.json").is_file() and not options["force"]:
            self.stdout.write(f"{out} already holds a model; use --force to rebuild it.")
            return
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from classifier.demo import build_demo_model

        self.stdout.write(f"Building the demo model into {out} …")
        metrics = build_demo_model(out, progress=options["verbosity"] > 0)
        validation = metrics["validation"]
        self.stdout.write(
            self.style.SUCCESS(
                f"Built {out} in {metrics['train_seconds']:.0f} s: held-out accuracy "
                f"{validation['accuracy']:.3f}, macro F1 {validation['macro']['f1']:.3f} "
                f"({validation['support']} texts)."
            )
        )
