from django.apps import AppConfig


class BulkConfig(AppConfig):
    name = "slices_admin.bulk"
    label = "bulk"
    verbose_name = "Bulk edits"
