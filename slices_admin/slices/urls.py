from django.urls import path

from . import views

app_name = "slices"
urlpatterns = [
    path("execution/new/", views.execution_create, name="execution-create"),
    path("orchestrator/<str:slice_id>/edit/", views.orchestrator_edit, name="orchestrator-edit"),
    path("<str:kind>/", views.slice_list, name="list"),
    path("<str:kind>/<str:slice_id>/", views.slice_detail, name="detail"),
]
