"""Runs one build command with no network, a clean env, and CPU/memory/time/process limits.

Layers, outermost first:
- a fresh pids cgroup (v1 `pids` controller) when writable: process cap plus a reliable kill-all;
- `timeout -s KILL` for wall clock;
- when started as root, `setpriv` to a fresh unprivileged uid (root ignores RLIMIT_NPROC, and a
  build has no business being root);
- `prlimit` for CPU seconds, address space, file size and process count;
- `bwrap --unshare-all` (own network, pid, ipc, uts namespaces; no network devices but a down
  loopback), read-only toolchain paths only (`sandbox_ro_paths`, not all of /usr), tmpfs /tmp,
  only the given directories bound.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from executor._types import BuildLimits, CompileConfig
from executor.errors import SandboxError


@dataclass(frozen=True, slots=True)
class SandboxResult:
    returncode: int
    log: str
    timed_out: bool
    seconds: float


@dataclass(frozen=True, slots=True)
class Bind:
    host: Path
    guest: str
    writable: bool = False


def run_sandboxed(
    argv: Sequence[str],
    *,
    binds: Sequence[Bind],
    chdir: str,
    env: dict[str, str],
    config: CompileConfig,
    limits: BuildLimits | None = None,
) -> SandboxResult:
    """Runs `argv` inside the sandbox; the merged stdout/stderr comes back capped (its tail)."""
    limits = limits or config.build_limits
    if not Path(config.bwrap).exists():
        raise SandboxError(f"bubblewrap not found at {config.bwrap}")
    as_root = os.geteuid() == 0
    uid = config.build_uid_base + secrets.randbelow(65536) if as_root else os.geteuid()
    if as_root:
        for bind in binds:
            if bind.writable:
                _chown_tree(bind.host, uid)
    bwrap = [
        config.bwrap,
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        *_toolchain_binds(config.sandbox_ro_paths),
        "--symlink", "usr/lib", "/lib",
        "--symlink", "usr/lib64", "/lib64",
        "--symlink", "usr/bin", "/bin",
        "--proc", "/proc",
        "--dev", "/dev",
        "--tmpfs", "/tmp",
        "--clearenv",
    ]  # fmt: skip
    for bind in binds:
        bwrap += ["--bind" if bind.writable else "--ro-bind", str(bind.host), bind.guest]
    for name, value in sorted(env.items()):
        bwrap += ["--setenv", name, value]
    bwrap += ["--chdir", chdir, "--"]
    prlimit = [
        "/usr/bin/prlimit",
        f"--cpu={limits.cpu_seconds}",
        f"--as={limits.address_space_bytes}",
        f"--fsize={limits.max_file_bytes}",
        f"--nproc={limits.max_processes}",
        "--",
    ]
    drop = ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"] if as_root else []
    wall = ["/usr/bin/timeout", "-s", "KILL", f"{limits.wall_seconds:g}"]
    command = [*wall, *drop, *prlimit, *bwrap, *argv]
    with _pids_cgroup(config, limits) as cgroup, tempfile.TemporaryFile() as log:
        if cgroup is not None:
            command = ["/bin/sh", "-c", f'echo $$ > {cgroup}/cgroup.procs && exec "$@"', "sandbox", *command]
        started = time.monotonic()
        try:
            proc = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                timeout=limits.wall_seconds + 30,
                check=False,
            )
            returncode = proc.returncode
        except subprocess.TimeoutExpired:
            returncode = -signal.SIGKILL
        except OSError as exc:
            raise SandboxError(f"cannot start the build sandbox: {exc}") from exc
        seconds = time.monotonic() - started
        text = _tail(log, limits.max_log_bytes)
    timed_out = returncode in (-signal.SIGKILL, 128 + signal.SIGKILL) and seconds >= limits.wall_seconds
    return SandboxResult(returncode, text, timed_out, seconds)


def _toolchain_binds(paths: Sequence[str]) -> list[str]:
    """`--ro-bind` of each existing toolchain path: the rest of the host's /usr stays invisible."""
    out: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            out += ["--ro-bind", path, path]
    return out


def _tail(fileobj: IO[bytes], cap: int) -> str:
    fileobj.seek(0, os.SEEK_END)
    size = fileobj.tell()
    fileobj.seek(max(0, size - cap))
    data = fileobj.read()
    text = data.decode("utf-8", "replace")
    if size > cap:
        text = f"[... {size - cap} bytes of build log dropped ...]\n" + text
    return text


def _chown_tree(root: Path, uid: int) -> None:
    os.chown(root, uid, uid, follow_symlinks=False)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, uid, follow_symlinks=False)


@contextlib.contextmanager
def _pids_cgroup(config: CompileConfig, limits: BuildLimits) -> Iterator[Path | None]:
    """A throwaway pids cgroup when the controller is writable; None otherwise (rlimit still applies)."""
    root = config.pids_cgroup_root
    if not config.use_pids_cgroup or os.geteuid() != 0 or not os.access(root, os.W_OK):
        yield None
        return
    path = root / f"offshore-build-{secrets.token_hex(8)}"
    try:
        path.mkdir()
        (path / "pids.max").write_text(str(limits.max_processes))
    except OSError:
        with contextlib.suppress(OSError):
            path.rmdir()
        yield None
        return
    try:
        yield path
    finally:
        _kill_cgroup(path)


def _kill_cgroup(path: Path) -> None:
    """Kills stragglers (a build that double-forked) and removes the cgroup."""
    deadline = time.monotonic() + 5
    while True:  # poll: processes leave the cgroup asynchronously after SIGKILL
        try:
            pids = [int(p) for p in (path / "cgroup.procs").read_text().split()]
        except OSError:
            pids = []
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            path.rmdir()
            return
        if time.monotonic() > deadline:
            return
        time.sleep(0.01)
