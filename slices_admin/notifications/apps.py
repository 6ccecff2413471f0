from django.apps import AppConfig
from django.core import checks

from .checks import webhook_settings


class NotificationsConfig(AppConfig):
    name = "slices_admin.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects them to the bulk engine's events)

        checks.register(webhook_settings)
