from django.urls import path

from . import control_views, report_views, views

app_name = "bulk"
urlpatterns = [
    path("", views.job_list, name="list"),
    path("new/", views.new_edit, name="new"),
    path("<int:pk>/", views.job_detail, name="detail"),
    path("<int:pk>/progress/", views.job_progress, name="progress"),
    path("<int:pk>/cancel/", views.job_cancel, name="cancel"),
    path("<int:pk>/follow-up/<str:kind>/", views.job_follow_up, name="follow-up"),
    path("<int:pk>/undo/", control_views.undo, name="undo"),
    path("<int:pk>/approve/", control_views.approve, name="approve"),
    path("<int:pk>/reject/", control_views.reject, name="reject"),
    path("<int:pk>/withdraw/", control_views.withdraw, name="withdraw"),
    path("<int:pk>/pause/", control_views.pause, name="pause"),
    path("<int:pk>/resume/", control_views.resume, name="resume"),
    path("<int:pk>/rate/", control_views.rate, name="rate"),
    path("<int:pk>/start-now/", control_views.start_now, name="start-now"),
    path("<int:pk>/items.<str:export_format>", report_views.job_items_export, name="items-export"),
]
