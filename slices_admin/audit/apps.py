from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def _ensure_triggers(sender, using, **kwargs):
    """After every migrate (and flush): a migration that rebuilds the audit table on SQLite drops its triggers with
    the old table, so they are put back here whatever happened."""
    from . import triggers  # at migrate time, when the app registry is ready

    connection = connections[using]
    if triggers.TABLE in connection.introspection.table_names():
        triggers.install(connection)


class AuditConfig(AppConfig):
    name = "slices_admin.audit"
    label = "audit"
    verbose_name = "Audit log"

    def ready(self):
        from . import signals  # noqa: F401  (connects the security-event receivers)

        post_migrate.connect(_ensure_triggers, sender=self, dispatch_uid="audit-ensure-triggers")
