from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "slices_admin.api"
    label = "api"

    def ready(self):
        from . import schema  # noqa: F401  (registers the schema extensions)
