"""Bulk status edits, as the pages, the API and the commands use them: preview a selection, create the job and its
item ledger, cancel, pause, resume, change its rate, follow up, undo, approve, report progress.

The work itself is done by runners (`runner.run_job`) in workers; see each module for its part.
"""

from .jobs import cancel_job, create_job, follow_up
from .preview import SAMPLE_SIZE, Preview, preview
from .progress import Progress, progress, progress_of
from .selection import BulkEditError, Selection

__all__ = [
    "SAMPLE_SIZE",
    "BulkEditError",
    "Preview",
    "Progress",
    "Selection",
    "cancel_job",
    "create_job",
    "follow_up",
    "preview",
    "progress",
    "progress_of",
]
