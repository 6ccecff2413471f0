from django.urls import path

from . import views

# Kodexa's ids are opaque strings (a slash included), so they are `path` segments placed last, and routes with a
# fixed suffix come before the bare detail route.
app_name = "slices"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("execution/new/", views.execution_create, name="execution-create"),
    path("saved-views/<int:pk>/delete/", views.saved_view_delete, name="saved-view-delete"),
    path("syncs/<int:pk>/", views.sync_progress, name="sync-progress"),
    path("<str:kind>/", views.slice_list, name="list"),
    path("<str:kind>/export.csv", views.slice_export, name="export"),
    path("<str:kind>/saved-views/", views.saved_view_create, name="saved-view-create"),
    path("<str:kind>/sync/", views.sync_start, name="sync-start"),
    path("orchestrator/<path:slice_id>/edit/", views.orchestrator_edit, name="orchestrator-edit"),
    path("<str:kind>/<path:slice_id>/refresh/", views.slice_refresh, name="refresh"),
    path("<str:kind>/<path:slice_id>/history/", views.slice_history, name="history"),
    path("<str:kind>/<path:slice_id>/", views.slice_detail, name="detail"),
]
