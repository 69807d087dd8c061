from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from dashboard.aws import sagemaker_deploy
from dashboard.exceptions import DeployError


class Command(BaseCommand):
    help = (
        "Remove a deployment made by sagemaker_deploy: the endpoint, its endpoint config and model, and "
        "configs and models left by earlier deployments of the same name. Safe to run again."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", required=True, help="Endpoint name given to sagemaker_deploy.")

    def handle(self, *args, **options) -> None:
        try:
            removed = sagemaker_deploy.undeploy(name=options["name"], progress=self.stdout.write)
        except DeployError as error:
            raise CommandError(str(error)) from error
        if removed:
            self.stdout.write(self.style.SUCCESS("Removed: " + ", ".join(removed) + "."))
        else:
            self.stdout.write(f"Nothing to remove for {options['name']}.")
