"""`manage.py sync_slices [--full]`: pull slices from Kodexa's list endpoints into the cache (for cron)."""

from django.core.management.base import BaseCommand, CommandError

from slices_admin.audit.services import AuditContext
from slices_admin.kodexa.contract import RESOURCES
from slices_admin.slices.models import SyncRun
from slices_admin.slices.sync import perform_sync


class Command(BaseCommand):
    help = "Copy slices from Kodexa's list endpoints into the local cache."

    def add_arguments(self, parser):
        parser.add_argument(
            "--full",
            action="store_true",
            help="Read everything, not only what changed since the newest cached record, and flag what Kodexa "
            "no longer returns as gone.",
        )
        parser.add_argument("--resource", choices=sorted(RESOURCES), action="append", help="Default: both.")
        parser.add_argument("--page-size", type=int, default=500)

    def handle(self, *args, full, resource, page_size, **options):
        paths = resource or sorted(RESOURCES)
        failed = 0
        for path in paths:
            mode = SyncRun.Mode.FULL if full else SyncRun.Mode.INCREMENTAL
            run = perform_sync(
                SyncRun.objects.create(resource=path, mode=mode),
                page_size=page_size,
                context=AuditContext.system("manage.py sync_slices"),
            )
            if run.status == SyncRun.Status.FAILED:
                failed += 1
                self.stderr.write(f"{path}: not synced. {run.error}")
                continue
            gone = f", {run.gone} flagged as gone" if full else ""
            self.stdout.write(f"{path}: {run.records} records in {run.pages} pages synced into the cache{gone}.")
        if failed == len(paths):
            raise CommandError("Nothing could be synced.")
