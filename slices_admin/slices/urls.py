from django.urls import path

from . import views

app_name = "slices"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("execution/new/", views.execution_create, name="execution-create"),
    path("orchestrator/<str:slice_id>/edit/", views.orchestrator_edit, name="orchestrator-edit"),
    path("saved-views/<int:pk>/delete/", views.saved_view_delete, name="saved-view-delete"),
    path("syncs/<int:pk>/", views.sync_progress, name="sync-progress"),
    path("<str:kind>/", views.slice_list, name="list"),
    path("<str:kind>/export.csv", views.slice_export, name="export"),
    path("<str:kind>/saved-views/", views.saved_view_create, name="saved-view-create"),
    path("<str:kind>/sync/", views.sync_start, name="sync-start"),
    path("<str:kind>/<str:slice_id>/", views.slice_detail, name="detail"),
    path("<str:kind>/<str:slice_id>/refresh/", views.slice_refresh, name="refresh"),
]
