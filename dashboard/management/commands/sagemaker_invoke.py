from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from dashboard import endpoints
from dashboard.exceptions import EndpointError


class Command(BaseCommand):
    help = (
        "Invoke an endpoint once (SageMaker or local) and print its answer, e.g. "
        '--body \'{"inputs": ["I love it"]}\' for the classifier.'
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", required=True, help="Endpoint name.")
        parser.add_argument("--body", required=True, help="The request body (JSON unless --content-type says).")
        parser.add_argument("--content-type", default="application/json")
        parser.add_argument("--accept", default="application/json")

    def handle(self, *args, **options) -> None:
        try:
            answer = endpoints.backend().invoke(
                options["name"],
                body=options["body"].encode(),
                content_type=options["content_type"],
                accept=options["accept"],
            )
        except EndpointError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(answer.body.decode(errors="replace"))
