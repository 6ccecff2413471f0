from django.apps import AppConfig


class WorkerConfig(AppConfig):
    name = "slices_admin.worker"
    label = "worker"
    verbose_name = "Background worker"
