from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dashboard import endpoints
from dashboard.aws import sagemaker_deploy
from dashboard.endpoints.base import FAILED, IN_SERVICE
from dashboard.endpoints.local import TASKS, LocalEndpoints
from dashboard.exceptions import DeployError


class Command(BaseCommand):
    help = (
        "Deploy the classifier container (deploy/sagemaker/) as a SageMaker endpoint: create the model, "
        "the endpoint config and the endpoint, then wait for InService. With SAGEMAKER_BACKEND=local, serve "
        "--model-dir as a local endpoint (the same container contract, a gunicorn process) instead."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", required=True, help="Endpoint name (the model and config get a timestamp).")
        parser.add_argument("--model-data", default="", help="aws: s3:// URI of model.tar.gz (the model directory).")
        parser.add_argument("--image", default="", help="aws: ECR image URI built from deploy/sagemaker/Dockerfile.")
        parser.add_argument("--model-dir", default="", help="local: the model directory to serve.")
        parser.add_argument(
            "--task", choices=TASKS, default=TASKS[0], help="local: what the container serves (classification)."
        )
        parser.add_argument("--instance-type", default="ml.g4dn.xlarge", help="default: ml.g4dn.xlarge (one T4 GPU)")
        parser.add_argument("--instance-count", type=int, default=1)
        parser.add_argument("--role-arn", default="", help="Execution role (default: SAGEMAKER_EXECUTION_ROLE_ARN).")
        parser.add_argument(
            "--env",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="Container environment, e.g. CLASSIFIER_DTYPE=float16 (repeatable).",
        )
        parser.add_argument("--timeout", type=float, default=1800.0, help="Seconds to wait for InService (1800).")
        parser.add_argument("--poll", type=float, default=15.0, help="Seconds between status checks (15).")
        parser.add_argument("--no-wait", action="store_true", help="Return once the endpoint is being created.")

    def handle(self, *args, **options) -> None:
        if settings.SAGEMAKER_BACKEND == "local":
            self._deploy_locally(options)
            return
        for option in ("model_data", "image"):
            if not options[option]:
                raise CommandError(f"--{option.replace('_', '-')} is required with SAGEMAKER_BACKEND=aws.")
        if options["instance_count"] < 1:
            raise CommandError("--instance-count must be at least 1.")
        environment: dict[str, str] = {}
        for pair in options["env"]:
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise CommandError(f"--env takes KEY=VALUE, got {pair!r}.")
            environment[key] = value
        name = options["name"]
        try:
            deployment = sagemaker_deploy.deploy(
                name=name,
                image=options["image"],
                model_data=options["model_data"],
                role_arn=options["role_arn"] or settings.SAGEMAKER_EXECUTION_ROLE_ARN,
                instance_type=options["instance_type"],
                instance_count=options["instance_count"],
                environment=environment,
                progress=self.stdout.write,
            )
            if options["no_wait"]:
                self.stdout.write(f"Endpoint {name} is being created; watch it on the dashboard.")
                return
            self.stdout.write(f"Waiting for endpoint {name} to be InService (usually 5 to 10 minutes) …")
            sagemaker_deploy.endpoint_wait(
                name=name, timeout=options["timeout"], poll=options["poll"], progress=self.stdout.write
            )
        except DeployError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Endpoint {name} is InService (model {deployment.model}, config {deployment.endpoint_config})."
            )
        )
        self.stdout.write(f"To classify with it: CLASSIFIER_BACKEND=sagemaker SAGEMAKER_CLASSIFIER_ENDPOINT={name}")

    def _deploy_locally(self, options) -> None:
        name = options["name"]
        if not options["model_dir"]:
            raise CommandError("--model-dir is required with SAGEMAKER_BACKEND=local (e.g. var/models/demo).")
        backend = endpoints.backend()
        assert isinstance(backend, LocalEndpoints)
        try:
            sagemaker_deploy.name_check(name)
            backend.endpoint_register(name=name, task=options["task"], model_dir=options["model_dir"])
            self.stdout.write(f"Starting local endpoint {name} ({options['task']}, {options['model_dir']}) …")
            endpoint = backend.scale_up(name)
        except DeployError as error:
            raise CommandError(str(error)) from error
        if options["no_wait"]:
            self.stdout.write(f"Endpoint {name} is {endpoint.state}; watch it with `manage.py sagemaker_status`.")
            return
        deadline = time.monotonic() + options["timeout"]
        while endpoint.state not in {IN_SERVICE, FAILED} and time.monotonic() < deadline:
            time.sleep(min(options["poll"], 0.5))
            endpoint = backend.endpoint_describe(name)
        if endpoint.state != IN_SERVICE:
            reason = endpoint.failure_reason or f"still {endpoint.state} after {options['timeout']:g} s"
            raise CommandError(f"Endpoint {name!r} is {endpoint.state}: {reason}")
        self.stdout.write(self.style.SUCCESS(f"Endpoint {name} is InService (local process, {options['model_dir']})."))
        self.stdout.write(f"To classify with it: CLASSIFIER_BACKEND=sagemaker SAGEMAKER_CLASSIFIER_ENDPOINT={name}")
