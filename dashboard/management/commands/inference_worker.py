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
            engine = self._engine_load(options["model"], load_engine)
            self.stdout.write(
                f"Model {engine.model_name} loaded in {engine.load_seconds:.1f} s on {engine.device} ({engine.dtype});"
                " waiting for jobs."
            )
            metrics.model_loaded(model=engine.model_name, device=str(engine.device), seconds=engine.load_seconds)
        # Classification first: a worker takes a fine-tune only when no classification job waits.
        queues = [settings.INFERENCE_QUEUE]
        if settings.FINETUNE_ON_INFERENCE_WORKERS and settings.CLASSIFIER_BACKEND != "sagemaker":
            queues.append(settings.FINETUNE_QUEUE)
        worker_run(
            queue_names=queues,
            connection=django_rq.get_connection(settings.INFERENCE_QUEUE),
            engine=engine,
            burst=options["burst"],
            name=options["name"],
            # --model pins this worker to one model; otherwise it follows the registry's promotes.
            engine_loader=None if options["model"] or settings.CLASSIFIER_BACKEND == "sagemaker" else load_engine,
        )

    def _engine_load(self, model: str | None, load_engine) -> Engine:
        """--model, else the registry's serving version, else CLASSIFIER_MODEL (also when that version fails)."""
        if model:
            self.stdout.write(f"Loading model {model} …")
            return load_engine(model)
        from dashboard.exceptions import QueueUnavailable
        from dashboard.registry.pointer import serving_pointer_get

        try:
            serving = serving_pointer_get()
        except QueueUnavailable as error:
            self.stderr.write(f"The registry's serving version cannot be read ({error}); loading CLASSIFIER_MODEL.")
            serving = None
        if serving is not None:
            self.stdout.write(f"Loading {serving['id']} from {serving['source']} (the registry's serving version) …")
            try:
                engine = load_engine(serving["source"])
            except Exception as error:
                self.stderr.write(f"{serving['id']} did not load ({error}); loading CLASSIFIER_MODEL instead.")
            else:
                engine.model_name = serving["id"]
                return engine
        self.stdout.write(f"Loading model {settings.CLASSIFIER_MODEL} …")
        return load_engine(settings.CLASSIFIER_MODEL)
