"""What every worker does every BULK_SWEEP_SECONDS: for bulk edits, queue runners for jobs that lost theirs, start
scheduled jobs whose time has come and expire approval requests nobody answered; queue again the notifications whose
delivery no worker took; and close the sync runs whose worker stopped (`slices.sync.fail_orphaned_runs`)."""

import logging

from slices_admin.bulk.approval import expire_requests
from slices_admin.bulk.controls import release_due_jobs
from slices_admin.bulk.tasks import resume_stale_jobs
from slices_admin.notifications.services import resend_overdue
from slices_admin.slices.sync import fail_orphaned_runs

logger = logging.getLogger(__name__)


def sweep() -> None:
    for step in (resume_stale_jobs, release_due_jobs, expire_requests, resend_overdue, fail_orphaned_runs):
        try:
            done = step()
        except Exception:
            logger.exception("worker: the sweep's %s failed; it runs again shortly", step.__name__)
            continue
        if done and step not in (resume_stale_jobs, resend_overdue, fail_orphaned_runs):  # those log their own
            logger.info("bulk: %s: jobs %s", step.__name__.replace("_", " "), done)
