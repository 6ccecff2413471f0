"""`/api/v1/…`; a trailing slash is optional on every route."""

from django.contrib.auth.decorators import login_not_required
from django.urls import re_path

from . import bulk, bulk_controls, schema, views

UUID = r"(?P<slice_id>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
ANY_ID = r"(?P<slice_id>[^\x00-\x1f\x7f]+?)"  # Kodexa's ids are opaque (a slash included), but printable


def route(pattern, view, name):
    # DRF authenticates (token or session) and answers 401/403 itself; the login redirect is for pages only.
    return re_path(rf"^{pattern}/?$", login_not_required(view.as_view()), name=name)


app_name = "api"
urlpatterns = [
    route("execution-slices", views.ExecutionSliceListCreate, "execution-slice-list"),
    route(f"execution-slices/{ANY_ID}", views.ExecutionSliceDetail, "execution-slice-detail"),
    route("orchestrator-execution-slices", views.OrchestratorSliceList, "orchestrator-slice-list"),
    route(f"orchestrator-execution-slices/{UUID}", views.OrchestratorSliceDetail, "orchestrator-slice-detail"),
    route("audit", views.AuditList, "audit-list"),
    route("bulk-edits", bulk.BulkEditListCreate, "bulk-edit-list"),
    route(r"bulk-edits/(?P<job_id>[0-9]{1,18})", bulk.BulkEditDetail, "bulk-edit-detail"),
    route(r"bulk-edits/(?P<job_id>[0-9]{1,18})/items", bulk.BulkEditItems, "bulk-edit-items"),
    route(r"bulk-edits/(?P<job_id>[0-9]{1,18})/cancel", bulk.BulkEditCancel, "bulk-edit-cancel"),
    *(
        route(rf"bulk-edits/(?P<job_id>[0-9]{{1,18}})/{action}", view, f"bulk-edit-{action}")
        for action, view in (
            ("undo", bulk_controls.BulkEditUndo),
            ("approve", bulk_controls.BulkEditApprove),
            ("reject", bulk_controls.BulkEditReject),
            ("withdraw", bulk_controls.BulkEditWithdraw),
            ("pause", bulk_controls.BulkEditPause),
            ("resume", bulk_controls.BulkEditResume),
            ("rate", bulk_controls.BulkEditRate),
            ("start", bulk_controls.BulkEditStart),
        )
    ),
    route("schema", schema.SchemaView, "schema"),
    # Any character, a line break too (an id sent as `%0A`): `.` would leave those to the site's HTML 404.
    re_path(r"^[\s\S]*$", login_not_required(views.not_found), name="not-found"),
]
