from django.urls import path

from . import report_views, views

app_name = "bulk"
urlpatterns = [
    path("", views.job_list, name="list"),
    path("new/", views.new_edit, name="new"),
    path("<int:pk>/", views.job_detail, name="detail"),
    path("<int:pk>/progress/", views.job_progress, name="progress"),
    path("<int:pk>/cancel/", views.job_cancel, name="cancel"),
    path("<int:pk>/follow-up/<str:kind>/", views.job_follow_up, name="follow-up"),
    path("<int:pk>/items.<str:export_format>", report_views.job_items_export, name="items-export"),
]
