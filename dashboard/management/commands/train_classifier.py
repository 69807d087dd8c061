from __future__ import annotations

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Fine-tune a sequence classifier on a CSV with text,label columns (label 0..K-1, optional "
        "label_name) and save it with metrics.json beside the weights."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--base", required=True, help="Base model: a directory or a hub id.")
        parser.add_argument("--data", required=True, type=Path, help="Training CSV.")
        parser.add_argument("--out", required=True, type=Path, help="Directory for the fine-tuned model.")
        parser.add_argument("--epochs", type=int, default=3)
        parser.add_argument("--lr", type=float, default=5e-5)
        parser.add_argument("--batch-size", type=int, default=32)
        parser.add_argument("--max-length", type=int, default=128)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--val-fraction", type=float, default=0.1, help="Held out of --data without --validation.")
        parser.add_argument(
            "--validation", type=Path, default=None, help="Validation CSV (same columns); else a share of --data."
        )
        parser.add_argument("--labels", default=None, help="Label names in label order, e.g. negative,positive.")

    def handle(self, *args, **options) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from classifier.exceptions import ClassifierError
        from classifier.training import train_classifier

        labels = [name.strip() for name in options["labels"].split(",")] if options["labels"] else None
        try:
            metrics = train_classifier(
                base=options["base"],
                data=options["data"],
                out=options["out"],
                epochs=options["epochs"],
                lr=options["lr"],
                batch_size=options["batch_size"],
                max_length=options["max_length"],
                seed=options["seed"],
                val_fraction=options["val_fraction"],
                validation=options["validation"],
                label_names=labels,
                progress=options["verbosity"] > 0,
            )
        except (ClassifierError, ValueError) as error:
            raise CommandError(str(error)) from error
        validation = metrics["validation"]
        self.stdout.write(
            self.style.SUCCESS(
                f"Saved {options['out']}: held-out accuracy {validation['accuracy']:.3f}, "
                f"macro F1 {validation['macro']['f1']:.3f} ({validation['support']} texts); calibration "
                f"temperature {metrics['calibration']['temperature']:.2f}."
            )
        )
