from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

DEFAULT_OUT = Path("var/models/gpt2-demo")


class Command(BaseCommand):
    help = (
        "Build the local gpt2-demo text generator: a byte-level BPE vocabulary and a small GPT-2 trained on "
        "the real-text corpus (classifier/generator.py). About a minute on two CPU cores. An existing model "
        "is kept unless --force."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"Model directory (default: {DEFAULT_OUT}).")
        parser.add_argument("--corpus", type=Path, default=None, help="Corpus cache folder (default: var/corpus).")
        parser.add_argument("--force", action="store_true", help="Rebuild even if OUT already holds a model.")

    def handle(self, *args, **options) -> None:
        out: Path = options["out"]
        if (out / "config.json").is_file() and not options["force"]:
            self.stdout.write(f"{out} already holds a model; use --force to rebuild it.")
            return
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from classifier.corpus import corpus_prepare
        from classifier.exceptions import ClassifierError
        from classifier.generator import generator_build

        def say(line: str) -> None:
            if options["verbosity"] > 0:
                self.stdout.write(line)

        try:
            corpus = corpus_prepare(options["corpus"] or Path(settings.VAR_DIR) / "corpus", say=say)
            say(f"Building the text generator into {out} …")
            record = generator_build(out, corpus=corpus, say=say)
        except ClassifierError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Built {out} in {record['build_seconds']['total']:.0f} s: {record['parameters']:,} parameters, "
                f"validation perplexity {record['validation_perplexity']:.0f}."
            )
        )
