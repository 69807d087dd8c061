from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dashboard import endpoints
from dashboard.aws import sagemaker_deploy
from dashboard.endpoints.local import LocalEndpoints
from dashboard.exceptions import DeployError


class Command(BaseCommand):
    help = (
        "Remove a deployment made by sagemaker_deploy: the endpoint, its endpoint config and model, and "
        "configs and models left by earlier deployments of the same name. Safe to run again."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", required=True, help="Endpoint name given to sagemaker_deploy.")

    def handle(self, *args, **options) -> None:
        if settings.SAGEMAKER_BACKEND == "local":
            self._undeploy_locally(options["name"])
            return
        try:
            removed = sagemaker_deploy.undeploy(name=options["name"], progress=self.stdout.write)
        except DeployError as error:
            raise CommandError(str(error)) from error
        if removed:
            self.stdout.write(self.style.SUCCESS("Removed: " + ", ".join(removed) + "."))
        else:
            self.stdout.write(f"Nothing to remove for {options['name']}.")

    def _undeploy_locally(self, name: str) -> None:
        backend = endpoints.backend()
        assert isinstance(backend, LocalEndpoints)
        try:
            if backend.endpoint_unregister(name=name):
                self.stdout.write(self.style.SUCCESS(f"Removed: local endpoint {name} (its process is stopped)."))
            elif name in backend.endpoint_names():
                backend.scale_to_zero(name)
                self.stdout.write(f"{name} comes from the settings, so it stays; its process is stopped.")
            else:
                self.stdout.write(f"Nothing to remove for {name}.")
        except DeployError as error:
            raise CommandError(str(error)) from error
