"""`manage.py sync_slices`: pull both resources from Kodexa's list endpoints into the cache (for cron)."""

from django.core.management.base import BaseCommand, CommandError

from slices_admin.kodexa import errors
from slices_admin.kodexa.contract import RESOURCES
from slices_admin.slices.services import sync_slices


class Command(BaseCommand):
    help = "Copy slices from Kodexa's list endpoints into the local cache."

    def add_arguments(self, parser):
        parser.add_argument("--resource", choices=sorted(RESOURCES), action="append", help="Default: both.")
        parser.add_argument("--page-size", type=int, default=500)

    def handle(self, *args, resource, page_size, **options):
        failures = []
        for path in resource or sorted(RESOURCES):
            try:
                written = sync_slices(RESOURCES[path], page_size=page_size)
            except errors.KodexaError as exc:
                failures.append(f"{path}: {exc.message} {exc.advice}")
                self.stderr.write(f"{path}: not synced. {exc.message} {exc.advice}")
            else:
                self.stdout.write(f"{path}: {written} records synced into the cache.")
        if failures and len(failures) == len(resource or RESOURCES):
            raise CommandError("Nothing could be synced.")
