"""`manage.py audit_checkpoint`: sign the audit chain's head for an operator to keep elsewhere (see `audit.checkpoint`);
`verify_audit --checkpoint FILE` checks the log against it later."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from slices_admin.audit import checkpoint


class Command(BaseCommand):
    help = (
        "Walk the audit chain and write its head (entry id, hash, entry count), signed with AUDIT_CHECKPOINT_KEY, "
        "to standard output or a file: keep it away from the database, so that `verify_audit --checkpoint` can tell "
        "later whether entries were removed from the end of the log."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", metavar="FILE", help="Write the checkpoint to FILE (default: stdout).")

    def handle(self, *args, output: str | None, **options):
        try:
            taken = checkpoint.take()
            text = checkpoint.dumps(taken)
        except checkpoint.CheckpointError as error:
            raise CommandError(str(error)) from None
        if output is None:
            self.stdout.write(text, ending="")
            return
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as error:
            raise CommandError(f"Cannot write the checkpoint to {output}: {error.strerror or error}.") from None
        self.stdout.write(
            f"Checkpoint written to {output}: entry {taken.entry_id}, hash {taken.entry_hash}, {taken.entries} "
            f"entries (chain version {taken.chain_version}).\n"
            "Keep it away from the database and its backups; `manage.py verify_audit --checkpoint FILE` checks it."
        )
