from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "slices_admin.core"
    label = "core"
