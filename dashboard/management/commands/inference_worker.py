from __future__ import annotations

import os
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.management.base import BaseCommand

if TYPE_CHECKING:  # imported where used: loading the model stack is the worker's start, not every command's
    from classifier.engine import Engine
    from classifier.sagemaker_backend import SageMakerEngine


class Command(BaseCommand):
    help = "Run the inference worker: load the classifier once, then process jobs from the inference queue."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--model", default=None, help="Model directory or hub id (default: CLASSIFIER_MODEL).")
        parser.add_argument("--burst", action="store_true", help="Exit when the queue is empty.")
        parser.add_argument("--name", default=None, help="Worker name (default: RQ's).")

    def handle(self, *args, **options) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import django_rq

        from classifier.engine import load_engine
        from classifier.worker import worker_run
        from dashboard import metrics
        from dashboard.metrics.gpu import GpuCollector
        from dashboard.metrics.server import metrics_server_start

        # Before the model loads, so a scrape during a long load finds the worker up.
        metrics_server_start(
            port=settings.METRICS_WORKER_PORT, collectors=[GpuCollector()], what="worker", setting="METRICS_WORKER_PORT"
        )

        engine: Engine | SageMakerEngine
        if settings.CLASSIFIER_BACKEND == "sagemaker":  # the endpoint classifies: no local model, no GPU needed
            from classifier.sagemaker_backend import sagemaker_engine

            engine = sagemaker_engine()
            self.stdout.write(f"Classifying through SageMaker endpoint {engine.endpoint}; waiting for jobs.")
        else:
            model = options["model"] or settings.CLASSIFIER_MODEL
            self.stdout.write(f"Loading model {model} …")
            engine = load_engine(model)
            self.stdout.write(
                f"Model loaded in {engine.load_seconds:.1f} s on {engine.device} ({engine.dtype}); waiting for jobs."
            )
            metrics.model_loaded(model=engine.model_name, device=str(engine.device), seconds=engine.load_seconds)
        worker_run(
            queue_names=[settings.INFERENCE_QUEUE],
            connection=django_rq.get_connection(settings.INFERENCE_QUEUE),
            engine=engine,
            burst=options["burst"],
            name=options["name"],
        )
