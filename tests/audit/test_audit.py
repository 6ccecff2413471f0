import pytest

from slices_admin.audit.models import AuditEntry
from slices_admin.audit.services import AuditContext, field_diff, record_attempt, redact

pytestmark = pytest.mark.django_db


def entry() -> AuditEntry:
    return record_attempt(AuditContext(), action="create", outcome="failed", resource="execution-slices")


def test_entries_cannot_be_changed_or_deleted_through_the_orm():
    created = entry()
    created.error = "rewritten"
    with pytest.raises(PermissionError):
        created.save()
    with pytest.raises(PermissionError):
        created.delete()
    assert AuditEntry.objects.get().error == ""


def test_secrets_are_redacted_by_key_name_and_by_value(settings):
    settings.KODEXA_API_KEY = "kx-live-abcdef123456"
    cleaned = redact({"apiKey": "x", "nested": [{"Password": "p", "note": "key kx-live-abcdef123456 here"}]})
    assert cleaned == {
        "apiKey": "[redacted]",
        "nested": [{"Password": "[redacted]", "note": "key [redacted] here"}],
    }


def test_diff_lists_only_changed_fields():
    assert field_diff({"a": 1, "b": {"x": 1}}, {"a": 1, "b": {"x": 2}, "c": None}) == [
        {"field": "b", "before": {"x": 1}, "after": {"x": 2}}
    ]


def test_bulk_updates_and_deletes_are_refused():
    entry()
    with pytest.raises(PermissionError):
        AuditEntry.objects.update(error="rewritten")
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().delete()


@pytest.mark.parametrize("statement", ["UPDATE audit_auditentry SET error = 'x'", "DELETE FROM audit_auditentry"])
def test_the_database_refuses_raw_updates_and_deletes(statement):
    from django.db import DatabaseError, connection, transaction

    entry()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert AuditEntry.objects.get().error == ""


def test_redaction_leaves_names_that_only_contain_token_alone():
    cleaned = redact({"maxTokens": 512, "tokenizer": "bpe", "accessToken": "t", "client_secret": "s"})
    assert cleaned == {"maxTokens": 512, "tokenizer": "bpe", "accessToken": "[redacted]", "client_secret": "[redacted]"}
