"""Bulk status edits, as the pages, the API and the commands use them: preview a selection, create the job and its
item ledger, cancel, pause, resume, change its rate, follow up, undo, approve, report progress.

The work itself is done by runners (`runner.run_job`) in workers; see each module for its part.
"""

from .approval import approve, awaiting_others, reject, withdraw
from .controls import pause_job, resume_job, set_rate, start_now
from .jobs import cancel_job, create_job, existing_undo, follow_up, preview_now, request_undo
from .preview import SAMPLE_SIZE, Preview, preview
from .progress import Progress, progress, progress_of
from .selection import BulkEditError, Selection
from .undo import UndoPreview, undo_preview

__all__ = [
    "SAMPLE_SIZE",
    "BulkEditError",
    "Preview",
    "Progress",
    "Selection",
    "UndoPreview",
    "approve",
    "awaiting_others",
    "cancel_job",
    "create_job",
    "existing_undo",
    "follow_up",
    "pause_job",
    "preview",
    "preview_now",
    "progress",
    "progress_of",
    "reject",
    "request_undo",
    "resume_job",
    "set_rate",
    "start_now",
    "undo_preview",
    "withdraw",
]
