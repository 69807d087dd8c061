from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from dashboard.aws import dynamodb
from dashboard.exceptions import StoreUnavailable


class Command(BaseCommand):
    help = (
        "Create the DynamoDB results and generations tables and their indexes. "
        "Safe to run again: an existing table is kept."
    )

    def handle(self, *args, **options) -> None:
        try:
            created = dynamodb.table_ensure()
        except StoreUnavailable as error:
            raise CommandError(str(error)) from error
        name = dynamodb.table_name()
        self.stdout.write(f"Created table {name}." if created else f"Table {name} already exists.")
        # The generations table (SageMaker text generation) is made alongside, so `make run` has it.
        try:
            created = dynamodb.generations_table_ensure()
        except StoreUnavailable as error:
            raise CommandError(str(error)) from error
        name = dynamodb.generations_table_name()
        self.stdout.write(f"Created table {name}." if created else f"Table {name} already exists.")
