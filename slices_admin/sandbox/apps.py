"""Django app of the Kodexa sandbox: it has no models, it only makes `manage.py kodexa_sandbox` available."""

from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "slices_admin.sandbox"
    label = "sandbox"
    verbose_name = "Kodexa sandbox"
