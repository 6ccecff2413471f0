"""`manage.py verify_audit`: walk the audit chain and report the first broken link (exit status 1 if any); with
`--checkpoint FILE`, also check the log still holds the head a signed checkpoint names (see `audit.checkpoint`)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from slices_admin.audit import chain
from slices_admin.audit import checkpoint as checkpoints

KEEP_THE_HEAD = (
    "Keep the head somewhere else (`manage.py audit_checkpoint`): a later run showing an older head means entries "
    "were removed."
)


class Command(BaseCommand):
    help = "Check every audit entry against its hash and its link to the entry before it."

    def add_arguments(self, parser):
        parser.add_argument(
            "--checkpoint",
            metavar="FILE",
            help="A checkpoint from `manage.py audit_checkpoint`: also check its signature, and that the entry it "
            "names is still there with its hash (so that no entry was removed from the end of the log).",
        )

    def handle(self, *args, **options):
        path = options.get("checkpoint")
        kept = read_checkpoint(path) if path else None  # a bad file is refused before the long walk
        result = chain.verify(chain.stored_entries())
        if result.broken:
            raise CommandError(
                f"Audit chain broken at entry {result.broken.entry_id}: {result.broken.problem}. "
                f"{result.checked} entries before it verified."
            )
        verdict = KEEP_THE_HEAD
        if kept is not None:
            try:
                verdict = checkpoints.compare(kept, result)
            except checkpoints.CheckpointError as error:
                raise CommandError(f"{error} The chain itself verified: {result.checked} entries.") from None
        if result.head_id is None:
            self.stdout.write("The audit log is empty: nothing to verify.")
            return
        self.stdout.write(
            f"Audit chain intact: {result.checked} entries verified.\n"
            f"Head: entry {result.head_id}, hash {result.head_hash}\n{verdict}"
        )


def read_checkpoint(path: str) -> checkpoints.Checkpoint:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"Cannot read the checkpoint {path}: {error}.") from None
    try:
        return checkpoints.loads(text)
    except checkpoints.CheckpointError as error:
        raise CommandError(f"Checkpoint {path} refused: {error}") from None
