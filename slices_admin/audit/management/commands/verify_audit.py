"""`manage.py verify_audit`: walk the audit chain and report the first broken link (exit status 1 if any)."""

from django.core.management.base import BaseCommand, CommandError

from slices_admin.audit import chain


class Command(BaseCommand):
    help = "Check every audit entry against its hash and its link to the entry before it."

    def handle(self, *args, **options):
        result = chain.verify(chain.stored_entries())
        if result.broken:
            raise CommandError(
                f"Audit chain broken at entry {result.broken.entry_id}: {result.broken.problem}. "
                f"{result.checked} entries before it verified."
            )
        if result.head_id is None:
            self.stdout.write("The audit log is empty: nothing to verify.")
            return
        self.stdout.write(
            f"Audit chain intact: {result.checked} entries verified.\n"
            f"Head: entry {result.head_id}, hash {result.head_hash}\n"
            "Keep the head's hash somewhere else: a later run showing an older head means entries were removed."
        )
