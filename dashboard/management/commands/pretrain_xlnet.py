from __future__ import annotations

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Pre-train an XLNet (a directory or hub id, e.g. xlnet-base-cased where weights can be "
        "downloaded) on unlabelled text, one text per line, with XLNet's permutation language "
        "modelling objective; the result is a base for train_classifier."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--base", required=True, help="XLNet checkpoint with a tokenizer: a directory or hub id.")
        parser.add_argument("--text", required=True, type=Path, help="Text file, one text per line.")
        parser.add_argument("--out", required=True, type=Path, help="Directory for the pre-trained model.")
        parser.add_argument("--steps", type=int, default=1000)
        parser.add_argument("--lr", type=float, default=1e-4)
        parser.add_argument("--batch-size", type=int, default=64)
        parser.add_argument("--max-length", type=int, default=64)
        parser.add_argument("--predict-every", type=int, default=6, help="Predict about 1 token in this many.")
        parser.add_argument("--seconds", type=float, default=None, help="Stop after this long, schedule finished.")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, **options) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from classifier.exceptions import ClassifierError
        from classifier.pretraining import pretrain_xlnet

        try:
            summary = pretrain_xlnet(
                base=options["base"],
                texts=options["text"],
                out=options["out"],
                steps=options["steps"],
                lr=options["lr"],
                batch_size=options["batch_size"],
                max_length=options["max_length"],
                predict_every=options["predict_every"],
                max_seconds=options["seconds"],
                seed=options["seed"],
                progress=options["verbosity"] > 0,
            )
        except (ClassifierError, ValueError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Saved {options['out']}: {summary['steps']} steps on {summary['sequences']} texts in "
                f"{summary['train_seconds']:.0f} s, loss {summary['first_loss']} -> {summary['final_loss']} "
                f"(uniform guessing: {summary['uniform_loss']})."
            )
        )
