"""`make test` on a fresh machine installs the Debian packages the tests need (or says the one command to run)."""

import os
import stat
import subprocess
from pathlib import Path

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "system-packages.sh"


def stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def machine(tmp_path: Path, *, uid: int, sudo: bool = False) -> dict[str, str]:
    """A PATH with no chromium on it: `id` says who we are, `apt-get` (and `sudo`) only record what they were asked."""
    folder = tmp_path / "bin"
    folder.mkdir()
    calls = tmp_path / "calls"
    stub(folder, "id", f"echo {uid}")
    stub(folder, "ls", 'exec /bin/ls "$@"')
    stub(folder, "env", 'exec /usr/bin/env "$@"')
    stub(folder, "apt-get", f'echo "apt-get $*" >> {calls}')
    if sudo:
        stub(folder, "sudo", f'[ "$1" = -n ] && shift; [ "$1" = true ] && exit 0; echo "sudo" >> {calls}; "$@"')
    env = {k: v for k, v in os.environ.items() if k != "CHROMIUM"}
    env["PATH"] = str(folder)
    return env


def run(env: dict[str, str], *packages: str) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/bash", str(SCRIPT), *packages], env=env, capture_output=True, text=True, check=False)


def test_as_root_a_missing_chromium_is_installed_with_apt_get(tmp_path):
    result = run(machine(tmp_path, uid=0), "chromium")
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[0] == "apt-get update -qq"
    assert calls[1].startswith("apt-get install -y") and calls[1].endswith(" chromium")


def test_with_password_less_sudo_it_is_installed_through_sudo(tmp_path):
    result = run(machine(tmp_path, uid=1000, sudo=True), "chromium")
    assert result.returncode == 0, result.stderr
    assert "apt-get install -y -qq chromium" in (tmp_path / "calls").read_text()


def test_without_a_way_to_install_it_says_the_one_command_to_run(tmp_path):
    result = run(machine(tmp_path, uid=1000), "chromium")
    assert result.returncode == 1
    assert "sudo apt-get install -y chromium" in result.stderr
    assert not (tmp_path / "calls").exists()


def test_a_chromium_already_there_installs_nothing(tmp_path):
    env = machine(tmp_path, uid=0)
    stub(tmp_path / "bin", "chromium", "exit 0")
    assert run(env, "chromium").returncode == 0
    assert not (tmp_path / "calls").exists()


def test_make_test_installs_chromium_before_running_the_tests():
    plan = subprocess.run(
        ["make", "-n", "test"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "MAKEFLAGS": ""},
    ).stdout
    assert "scripts/system-packages.sh chromium" in plan
    assert plan.index("scripts/system-packages.sh chromium") < plan.index("bin/pytest")


def test_promtool_comes_from_debians_prometheus_without_the_daemons_it_recommends(tmp_path):
    result = run(machine(tmp_path, uid=0), "prometheus")
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls == ["apt-get update -qq", "apt-get install -y -qq --no-install-recommends prometheus"]


def test_make_test_installs_promtool_before_running_the_tests():
    plan = subprocess.run(
        ["make", "-n", "test"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "MAKEFLAGS": ""},
    ).stdout
    assert plan.index("scripts/system-packages.sh prometheus") < plan.index("bin/pytest")
