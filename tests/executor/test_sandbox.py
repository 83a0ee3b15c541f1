"""The build sandbox itself: network, processes, time, CPU and memory limits, with real commands."""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from executor import BuildLimits, CompileConfig
from executor._sandbox import Bind, run_sandboxed

# The probes below are Python programs: this config also shows the sandbox the Python runtime.
CONFIG = CompileConfig(sandbox_ro_paths=(*CompileConfig().sandbox_ro_paths, "/usr/lib/python3.11"))


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """Like pytest's, but reachable by the sandbox's unprivileged uid (pytest's base dir is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="offshore-sandbox-test-", dir="/tmp"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _run(
    argv: list[str], tmp_path: Path, config: CompileConfig = CONFIG, **limits: float
) -> tuple[int, str, bool, float]:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    result = run_sandboxed(
        argv,
        binds=[Bind(work, "/src", writable=True)],
        chdir="/src",
        env={"PATH": "/usr/bin"},
        config=config,
        limits=BuildLimits(**limits),  # type: ignore[arg-type]
    )
    return result.returncode, result.log, result.timed_out, result.seconds


def test_a_build_that_opens_a_network_connection_fails(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]
    code = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3); print('CONNECTED')"
    rc, log, _, _ = _run(["/usr/bin/python3", "-c", code], tmp_path)
    assert rc != 0
    assert "CONNECTED" not in log and "Connection refused" in log
    with pytest.raises(BlockingIOError):
        listener.accept()  # nothing ever reached the host's loopback
    listener.close()


def test_no_route_to_the_internet(tmp_path: Path) -> None:
    code = "import socket; socket.create_connection(('1.1.1.1', 443), timeout=3)"
    rc, log, _, _ = _run(["/usr/bin/python3", "-c", code], tmp_path)
    assert rc != 0 and "unreachable" in log.lower()


def test_fork_bomb_hits_the_process_limit(tmp_path: Path) -> None:
    rc, log, _, seconds = _run(
        ["/bin/sh", "-c", "for i in $(seq 1 40); do sleep 2 & done; wait"], tmp_path, max_processes=8
    )
    assert rc != 0 or "fork" in log.lower()
    assert "fork" in log.lower()  # "Cannot fork" / "Resource temporarily unavailable"
    assert seconds < 10


def test_wall_clock_kills_the_whole_tree(tmp_path: Path) -> None:
    started = time.monotonic()
    rc, _, timed_out, _ = _run(["/bin/sh", "-c", "sleep 60 & sleep 60"], tmp_path, wall_seconds=1)
    assert timed_out and rc != 0
    assert time.monotonic() - started < 10


def test_cpu_limit(tmp_path: Path) -> None:
    rc, _, timed_out, seconds = _run(["/bin/sh", "-c", "while :; do :; done"], tmp_path, cpu_seconds=1)
    assert rc != 0 and not timed_out
    assert seconds < 10


def test_memory_limit(tmp_path: Path) -> None:
    code = "b = bytearray(1024 * 1024 * 1024); print('ALLOCATED')"
    rc, log, _, _ = _run(["/usr/bin/python3", "-c", code], tmp_path, address_space_bytes=256 * 1024 * 1024)
    assert rc != 0 and "MemoryError" in log and "ALLOCATED" not in log


def test_clean_env_and_private_filesystem(tmp_path: Path) -> None:
    rc, log, _, _ = _run(["/bin/sh", "-c", "env; id -u; ls /; test ! -e /etc/passwd && echo NO_ETC"], tmp_path)
    assert rc == 0
    assert "PATH=/usr/bin" in log and "HOME=" not in log
    assert "NO_ETC" in log
    assert "root" not in log.split()  # no host directories beyond the sandbox's own
    uid_line = next(line for line in log.splitlines() if line.isdigit())
    assert int(uid_line) != 0  # dropped from root to an unprivileged uid


def test_build_log_is_capped_to_its_tail(tmp_path: Path) -> None:
    rc, log, _, _ = _run(["/bin/sh", "-c", "seq 1 100000"], tmp_path, max_log_bytes=1000)
    assert rc == 0
    assert "bytes of build log dropped" in log
    assert log.rstrip().endswith("100000")
    assert len(log) < 1200


def test_only_the_toolchain_of_the_host_usr_is_visible(tmp_path: Path) -> None:
    """Issue 19.7: the whole of /usr was readable; now only `sandbox_ro_paths` are bound."""
    assert Path("/usr/share/doc").is_dir() and Path("/usr/lib/python3.11").is_dir()  # present on the host
    hidden = "/usr/share/doc /usr/local /usr/lib/python3.11 /usr/lib/postgresql"
    probe = f"for p in {hidden}; do test -e $p && echo SEEN:$p; done; ls /usr/lib/llvm-14/bin/clang && echo TOOLCHAIN"
    rc, log, _, _ = _run(["/bin/sh", "-c", probe], tmp_path, config=CompileConfig())
    assert rc == 0, log
    assert "SEEN:" not in log
    assert "TOOLCHAIN" in log
