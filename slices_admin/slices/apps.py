from django.apps import AppConfig


class SlicesConfig(AppConfig):
    name = "slices_admin.slices"
    label = "slices"

    def ready(self):
        from . import lookups  # noqa: F401 (registers the `unindexed` transform)
