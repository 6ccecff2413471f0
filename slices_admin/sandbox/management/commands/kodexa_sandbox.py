"""`manage.py kodexa_sandbox`: run the Kodexa sandbox with the project's settings as defaults."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from slices_admin.sandbox.cli import add_arguments, run


class Command(BaseCommand):
    help = (
        "Run the Kodexa sandbox API server (same options as `python -m slices_admin.sandbox`); "
        "--api-key defaults to KODEXA_API_KEY and --data to KODEXA_SANDBOX_DATA."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_arguments(parser, api_key=settings.KODEXA_API_KEY, data=str(settings.KODEXA_SANDBOX_DATA))

    def handle(self, *args: Any, **options: Any) -> None:
        run(options)
