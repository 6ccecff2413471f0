"""Signed checkpoints of the audit chain's head: taken, kept in a file, and checked by `verify_audit --checkpoint`,
which finds what the chain alone cannot (entries removed from the end of the log) and refuses a checkpoint that was
edited, forged or signed with another key."""

import json
import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from slices_admin.audit import chain
from slices_admin.audit.models import AuditEntry
from tests.audit.test_chain import behind_the_triggers, write
from tests.conftest import ROOT, database_url

pytestmark = pytest.mark.django_db

KEY = "checkpoint-key-" + "x7Q" * 12
OTHER_KEY = "another-console-" + "p9Z" * 12


@pytest.fixture(autouse=True)
def checkpoint_key(settings):
    settings.AUDIT_CHECKPOINT_KEY = KEY


def take(path) -> dict:
    out = StringIO()
    call_command("audit_checkpoint", output=str(path), stdout=out)
    assert f"Checkpoint written to {path}" in out.getvalue() and KEY not in out.getvalue()
    return json.loads(path.read_text())


def verify(path) -> str:
    out = StringIO()
    call_command("verify_audit", checkpoint=str(path), stdout=out)
    return out.getvalue()


def remove_newest(n: int) -> None:
    """What someone with the database's rights could do unseen by the chain: drop the newest entries."""
    oldest_removed = AuditEntry.objects.order_by("-id").values_list("id", flat=True)[n - 1]
    behind_the_triggers("DELETE FROM audit_auditentry WHERE id >= %s", [oldest_removed])


def test_a_checkpoint_names_the_head_of_the_chain_and_verifies(tmp_path):
    entries = write(3)
    kept = take(tmp_path / "checkpoint.json")
    assert (kept["entry_id"], kept["entry_hash"]) == (entries[-1].pk, entries[-1].entry_hash)
    assert kept["entries"] == 3 and kept["chain_version"] == chain.CURRENT_VERSION
    assert kept["signature"].startswith("hmac-sha256:") and KEY not in json.dumps(kept)
    output = verify(tmp_path / "checkpoint.json")
    assert "3 entries verified" in output
    assert f"entry {entries[-1].pk} still has hash {entries[-1].entry_hash}; 0 entries were written after it" in output


def test_the_checkpoint_goes_to_standard_output_without_a_file():
    write(2)
    out = StringIO()
    call_command("audit_checkpoint", stdout=out)
    assert json.loads(out.getvalue())["entries"] == 2


def test_a_log_grown_since_the_checkpoint_still_verifies(tmp_path):
    write(3)
    take(tmp_path / "checkpoint.json")
    write(4)
    assert "4 entries were written after it" in verify(tmp_path / "checkpoint.json")


def test_entries_removed_from_the_end_pass_the_chain_but_not_the_checkpoint(tmp_path):
    entries = write(5)
    take(tmp_path / "checkpoint.json")
    remove_newest(2)
    out = StringIO()
    call_command("verify_audit", stdout=out)  # the shorter chain is still a valid chain
    assert "3 entries verified" in out.getvalue()
    with pytest.raises(CommandError, match="Entries were removed from the end of the audit log") as refused:
        verify(tmp_path / "checkpoint.json")
    assert f"ends at entry {entries[2].pk} (3 entries)" in str(refused.value)
    assert f"entry {entries[4].pk}, 5 entries" in str(refused.value)


def test_entries_removed_from_the_end_and_others_written_after_are_found(tmp_path):
    entries = write(4)
    take(tmp_path / "checkpoint.json")
    remove_newest(2)
    write(3)  # the writer chains on from the shortened head: the chain verifies again
    with pytest.raises(CommandError, match=f"Entry {entries[3].pk}, the head of the checkpoint .* is not in the"):
        verify(tmp_path / "checkpoint.json")


def test_a_log_rewritten_and_rehashed_up_to_the_checkpoint_is_found(tmp_path):
    """Without the key, recomputing every hash after an edit makes a valid chain, but not the checkpoint's."""
    entries = write(3)
    take(tmp_path / "checkpoint.json")
    head = chain.GENESIS
    for values in list(chain.stored_entries()):
        values["prev_hash"] = head
        if values["id"] == entries[1].pk:
            values["outcome"] = "failed"
        head = chain.entry_hash(values)
        behind_the_triggers(
            "UPDATE audit_auditentry SET outcome = %s, prev_hash = %s, entry_hash = %s WHERE id = %s",
            [values["outcome"], values["prev_hash"], head, values["id"]],
        )
    call_command("verify_audit", stdout=StringIO())  # the rewritten chain holds together
    with pytest.raises(CommandError, match=f"Entry {entries[2].pk} has hash {head}, but the checkpoint"):
        verify(tmp_path / "checkpoint.json")


def test_a_checkpoint_edited_to_an_earlier_head_is_refused(tmp_path):
    entries = write(5)
    path = tmp_path / "checkpoint.json"
    kept = take(path)
    remove_newest(2)
    kept |= {"entry_id": entries[2].pk, "entry_hash": entries[2].entry_hash, "entries": 3}
    path.write_text(json.dumps(kept))
    with pytest.raises(CommandError, match="signature does not match its content: it was edited after it was signed"):
        verify(path)


def test_a_forged_signature_is_refused(tmp_path):
    write(2)
    path = tmp_path / "checkpoint.json"
    kept = take(path)
    path.write_text(json.dumps(kept | {"signature": "hmac-sha256:" + "ab" * 32}))
    with pytest.raises(CommandError, match="signature does not match its content"):
        verify(path)
    path.write_text(json.dumps({name: value for name, value in kept.items() if name != "signature"}))
    with pytest.raises(CommandError, match="signature: missing"):
        verify(path)


def test_a_checkpoint_signed_with_another_key_is_refused(tmp_path, settings):
    write(2)
    path = tmp_path / "checkpoint.json"
    kept = take(path)
    settings.AUDIT_CHECKPOINT_KEY = OTHER_KEY
    with pytest.raises(CommandError, match=f"it names key {kept['key_id']}, and AUDIT_CHECKPOINT_KEY is key") as err:
        verify(path)
    assert "signed with another key, or forged" in str(err.value) and OTHER_KEY not in str(err.value)


@pytest.mark.parametrize(
    ("key", "problem"), [("", "AUDIT_CHECKPOINT_KEY is not set"), ("short-key-1", r"too short \(11 characters\)")]
)
def test_a_missing_or_short_key_is_refused_without_showing_it(tmp_path, settings, key, problem):
    write(1)
    settings.AUDIT_CHECKPOINT_KEY = key
    with pytest.raises(CommandError, match=problem) as err:
        call_command("audit_checkpoint", output=str(tmp_path / "checkpoint.json"), stdout=StringIO())
    assert not (tmp_path / "checkpoint.json").exists()
    assert "secrets.token_urlsafe" in str(err.value) and (not key or key not in str(err.value))
    settings.AUDIT_CHECKPOINT_KEY = KEY
    take(tmp_path / "checkpoint.json")
    settings.AUDIT_CHECKPOINT_KEY = key
    with pytest.raises(CommandError, match=problem):
        verify(tmp_path / "checkpoint.json")


def test_no_checkpoint_is_taken_of_a_broken_chain_or_an_empty_log(tmp_path):
    with pytest.raises(CommandError, match="The audit log is empty"):
        take(tmp_path / "checkpoint.json")
    entries = write(3)
    behind_the_triggers("UPDATE audit_auditentry SET reason = 'after the fact' WHERE id = %s", [entries[1].pk])
    with pytest.raises(CommandError, match=f"broken at entry {entries[1].pk}.*No checkpoint taken"):
        take(tmp_path / "checkpoint.json")
    assert not (tmp_path / "checkpoint.json").exists()


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "Cannot read the checkpoint"), ("not json", "it is not JSON"), ('{"entries": 3}', 'its "format" is')],
)
def test_a_file_that_is_no_checkpoint_is_refused(tmp_path, content, problem):
    write(1)
    path = tmp_path / "checkpoint.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(CommandError, match=problem):
        verify(path)


@pytest.mark.django_db(transaction=True)
def test_the_commands_exit_non_zero_when_the_checkpoint_finds_entries_removed(tmp_path):
    write(4)
    path = tmp_path / "checkpoint.json"
    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict), "AUDIT_CHECKPOINT_KEY": KEY}

    def manage(*args: str, **extra: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "manage.py", *args]
        return subprocess.run(command, cwd=ROOT, env={**env, **extra}, capture_output=True, text=True, timeout=60)

    taken = manage("audit_checkpoint", "--output", str(path))
    assert taken.returncode == 0, taken.stderr
    assert manage("verify_audit", "--checkpoint", str(path)).returncode == 0
    remove_newest(1)
    truncated = manage("verify_audit", "--checkpoint", str(path))
    assert truncated.returncode == 1 and "Entries were removed from the end" in truncated.stderr
    no_key = manage("audit_checkpoint", AUDIT_CHECKPOINT_KEY="")
    assert no_key.returncode == 1 and "AUDIT_CHECKPOINT_KEY is not set" in no_key.stderr and not no_key.stdout
