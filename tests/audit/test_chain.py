"""The audit chain: every entry hashed over its content and its predecessor's hash; tampering is found."""

import itertools
import os
import subprocess
import sys
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction

from slices_admin.audit import chain, triggers
from slices_admin.audit.models import AuditEntry
from slices_admin.audit.services import AuditContext, append_entries, prepare_entry, record_attempt
from tests.conftest import ROOT, database_url

pytestmark = pytest.mark.django_db


def write(n: int = 1, **fields) -> list[AuditEntry]:
    values = {"action": "update", "outcome": "succeeded", "resource": "orchestrator-execution-slices", **fields}
    return [record_attempt(AuditContext.system("test"), remote_id=f"slice-{i}", **values) for i in range(n)]


def behind_the_triggers(sql: str, params=()) -> None:
    """What someone with write access to the database file could do: lift the triggers, edit, put them back."""
    triggers.remove(connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    triggers.install(connection)


def verify_output() -> str:
    from io import StringIO

    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def test_each_entry_links_to_the_one_before_it():
    entries = write(4)
    assert entries[0].prev_hash == chain.GENESIS
    for earlier, later in itertools.pairwise(entries):
        assert later.prev_hash == earlier.entry_hash
    assert len({e.entry_hash for e in entries}) == 4


def test_entries_appended_together_link_in_order_after_the_head_and_verify():
    first = write(2)
    values = {"action": "update", "outcome": "succeeded", "resource": "orchestrator-execution-slices"}
    prepared = [prepare_entry(AuditContext.system("batch"), remote_id=f"b-{i}", **values) for i in range(3)]
    together = append_entries(prepared)
    stored = list(AuditEntry.objects.order_by("id"))
    assert [e.remote_id for e in stored] == ["slice-0", "slice-1", "b-0", "b-1", "b-2"]
    assert [e.pk for e in stored[2:]] == [e.pk for e in together]
    assert stored[2].prev_hash == first[-1].entry_hash
    for earlier, later in itertools.pairwise(stored):
        assert later.prev_hash == earlier.entry_hash
    assert "5 entries verified" in verify_output()


def test_an_intact_chain_verifies_and_names_its_head():
    entries = write(3)
    output = verify_output()
    assert "3 entries verified" in output and entries[-1].entry_hash in output


def test_every_field_of_an_entry_is_covered_by_its_hash():
    stored = {f.attname for f in AuditEntry._meta.concrete_fields} - {"id", "entry_hash"}
    assert stored == set(chain.CURRENT_FIELDS)
    assert max(chain.RULES) == chain.CURRENT_VERSION and set(chain.RULES) == set(chain.VERSION_FIELDS)


def test_each_chain_version_keeps_the_fields_of_the_ones_before_it():
    versions = sorted(chain.VERSION_FIELDS)
    for earlier, later in itertools.pairwise(versions):
        assert set(chain.VERSION_FIELDS[earlier]) < set(chain.VERSION_FIELDS[later])
    assert chain.VERSION_FIELDS[1] == chain.HASHED_FIELDS
    assert set(chain.HASHED_FIELDS_V2) - set(chain.HASHED_FIELDS) == {"credential"}


def as_version_1(entry: AuditEntry) -> str:
    """Make `entry` what the writer of chain version 1 wrote (no credential, hashed by rule 1), behind the triggers.
    Only for the newest entry: the next one must link to its new hash."""
    fields = {f.attname: f for f in AuditEntry._meta.concrete_fields}
    values = {name: chain.prepared(fields[name], getattr(entry, name)) for name in chain.HASHED_FIELDS}
    values["chain_version"] = 1
    old_hash = chain.RULES[1](values)
    behind_the_triggers(
        "UPDATE audit_auditentry SET chain_version = 1, credential = NULL, entry_hash = %s WHERE id = %s",
        [old_hash, entry.pk],
    )
    return old_hash


def test_entries_of_version_1_still_verify_beside_entries_of_version_2():
    first = write(1)[0]
    old_hash = as_version_1(first)
    later = write(2, response_status=200)
    assert later[0].prev_hash == old_hash and later[0].chain_version == 2
    assert AuditEntry.objects.get(pk=first.pk).chain_version == 1
    assert "3 entries verified" in verify_output()


def test_a_credential_added_to_a_version_1_entry_is_found():
    first = write(1)[0]
    as_version_1(first)
    write(1)
    behind_the_triggers("UPDATE audit_auditentry SET credential = 'API token 1' WHERE id = %s", [first.pk])
    with pytest.raises(CommandError, match=f"broken at entry {first.pk}: its content does not match"):
        verify_output()


def test_the_credential_of_a_version_2_entry_is_covered_by_its_hash():
    entries = [
        record_attempt(AuditContext.system("test").but(credential=f"API token {n}"), action="update",
                       outcome="succeeded", resource="orchestrator-execution-slices", remote_id="s")
        for n in range(3)
    ]  # fmt: skip
    assert "3 entries verified" in verify_output()
    behind_the_triggers("UPDATE audit_auditentry SET credential = 'API token 99' WHERE id = %s", [entries[1].pk])
    with pytest.raises(CommandError, match=f"broken at entry {entries[1].pk}: its content does not match"):
        verify_output()


def test_a_version_2_entry_passed_off_as_version_1_without_its_credential_is_found():
    entries = [
        record_attempt(AuditContext.system("test").but(credential="API token 5"), action="update",
                       outcome="succeeded", resource="orchestrator-execution-slices", remote_id=f"s-{n}")
        for n in range(2)
    ]  # fmt: skip
    behind_the_triggers(
        "UPDATE audit_auditentry SET chain_version = 1, credential = NULL WHERE id = %s", [entries[0].pk]
    )
    with pytest.raises(CommandError, match=f"broken at entry {entries[0].pk}: its content does not match"):
        verify_output()


def test_an_entry_edited_behind_the_triggers_is_found():
    entries = write(5)
    behind_the_triggers("UPDATE audit_auditentry SET outcome = 'failed' WHERE id = %s", [entries[2].pk])
    with pytest.raises(CommandError, match=f"broken at entry {entries[2].pk}: its content does not match") as err:
        verify_output()
    assert "2 entries before it verified" in str(err.value)


def test_an_entry_removed_behind_the_triggers_is_found():
    entries = write(5)
    behind_the_triggers("DELETE FROM audit_auditentry WHERE id = %s", [entries[1].pk])
    with pytest.raises(CommandError, match=f"broken at entry {entries[2].pk}: does not follow entry {entries[0].pk}"):
        verify_output()


def test_a_rehashed_entry_still_breaks_the_next_link():
    """Recomputing the edited entry's own hash is not enough: its successor points at the old one."""
    entries = write(3)
    forged = {name: getattr(entries[1], name) for name in chain.CURRENT_FIELDS} | {"outcome": "failed"}
    behind_the_triggers(
        "UPDATE audit_auditentry SET outcome = 'failed', entry_hash = %s WHERE id = %s",
        [chain.entry_hash(forged), entries[1].pk],
    )
    with pytest.raises(CommandError, match=f"broken at entry {entries[2].pk}: does not follow"):
        verify_output()


def test_awkward_values_hash_the_same_after_a_round_trip_through_the_database():
    record_attempt(
        AuditContext(ip_address="::ffff:10.0.0.1", user_agent="Mozilla/5.0 ☃", path="POST /x?y=é"),
        action="update",
        outcome="succeeded",
        resource="orchestrator-execution-slices",
        remote_id="a/b?c",
        request_body={"big": 2**62, "float": 1e300, "tiny": 1.5e-7, "text": "rtl \u202e ok", "nested": [{"z": None}]},
        response_body=[1, "two", 3.0, True],
        before={"status": "FAILED", "attemptNumber": 2147483647},
        after={"status": "PENDING", "attemptNumber": -2147483648},
        duration_ms=12,
    )
    assert "1 entries verified" in verify_output()


def test_values_no_database_keeps_as_given_are_stored_safely_and_still_verify():
    """A lone surrogate, NUL, NaN, Infinity, -0.0 and a huge integer, as a Kodexa answer might carry them."""
    body = {"text": "cut \ud800 here", "nul": "a\x00b", "nan": float("nan"), "inf": float("-inf"), "zero": -0.0,
            "huge": 10**400, "\ud83d key": 1}  # fmt: skip
    entry = record_attempt(
        AuditContext.system("test"), action="update", outcome="succeeded", resource="orchestrator-execution-slices",
        remote_id="x\x00y", request_body=body, response_body=body, error="bad \ud800", after=body,
    )  # fmt: skip
    stored = AuditEntry.objects.get(pk=entry.pk)
    assert stored.request_body["nan"] == "nan" and stored.request_body["nul"] == "ab"
    assert stored.remote_id == "xy" and "\ufffd" in stored.error
    assert "1 entries verified" in verify_output()


def test_an_entry_of_an_unknown_chain_version_does_not_verify():
    entries = write(2)
    behind_the_triggers("UPDATE audit_auditentry SET chain_version = 9 WHERE id = %s", [entries[1].pk])
    with pytest.raises(CommandError, match=f"broken at entry {entries[1].pk}"):
        verify_output()


def test_the_database_refuses_a_second_entry_after_the_same_predecessor():
    entries = write(2)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditentry (occurred_at, actor_username, action, outcome, resource, remote_id, "
            "error, diff, request_id, reason, user_agent, path, prev_hash, entry_hash, chain_version) VALUES "
            "('2026-01-01', 'x', 'update', 'succeeded', 'r', '', '', '[]', '', '', '', '', %s, %s, 1)",
            [entries[1].prev_hash, "f" * 64],
        )


def test_the_triggers_come_back_after_migrate():
    """A migration that rebuilds the table on SQLite drops its triggers; `migrate` puts them back every time."""
    write(1)
    triggers.remove(connection)
    call_command("migrate", verbosity=0)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditentry SET error = 'x'")


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain():
    errors = []

    def writer(n: int) -> None:
        try:
            for i in range(10):
                record_attempt(AuditContext.system(f"writer-{n}"), action="patch", outcome="succeeded",
                               resource="orchestrator-execution-slices", remote_id=f"{n}-{i}")  # fmt: skip
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert AuditEntry.objects.count() == 60
    assert AuditEntry.objects.values("prev_hash").distinct().count() == 60  # no two entries share a predecessor
    assert "60 entries verified" in verify_output()


@pytest.mark.django_db(transaction=True)
def test_verify_audit_exits_non_zero_on_a_broken_chain():
    entries = write(3)
    command = [sys.executable, "manage.py", "verify_audit"]
    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict)}
    intact = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert intact.returncode == 0, intact.stderr
    behind_the_triggers("UPDATE audit_auditentry SET reason = 'after the fact' WHERE id = %s", [entries[1].pk])
    broken = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert broken.returncode == 1
    assert f"broken at entry {entries[1].pk}" in broken.stderr
