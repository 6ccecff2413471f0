from django.apps import AppConfig


class SlicesConfig(AppConfig):
    name = "slices_admin.slices"
    label = "slices"
