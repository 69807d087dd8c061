from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from dashboard import endpoints
from dashboard.exceptions import EndpointError, EndpointStatusUnavailable


class Command(BaseCommand):
    help = "Show the managed endpoints (SAGEMAKER_BACKEND: SageMaker or local processes): state and failure reason."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", action="append", default=[], help="Only this endpoint (repeatable).")

    def handle(self, *args, **options) -> None:
        backend = endpoints.backend()
        try:
            names = options["name"] or backend.endpoint_names()
            for name in names:
                endpoint = backend.endpoint_describe(name)
                line = (
                    f"{endpoint.name}: {endpoint.state} ({endpoint.instance_count} × {endpoint.instance_type or '-'})"
                )
                self.stdout.write(line + (f": {endpoint.failure_reason}" if endpoint.failure_reason else ""))
        except (EndpointError, EndpointStatusUnavailable) as error:
            raise CommandError(str(error)) from error
