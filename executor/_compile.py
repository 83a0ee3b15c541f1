"""Fetch a repo at an exact commit, build it in the sandbox, validate and store the module.

Build conventions (build_target `wasm32-wasip1`, in the repo root or in `path` if given):
- Rust: a `Cargo.toml` with no dependencies and `src/main.rs`; built with Debian's rustc (offline).
  With dependencies: `cargo build --frozen` against a directory registry (`_cargo.py`).
- C: every `*.c` in the directory and in `src/`, with `-I.` and `-Iinclude`; clang + wasi-libc.
Build target `wasm`: the prebuilt file at `path`, read without following symlinks.
Build target `python`: `main.py` plus pure-Python modules, validated and bundled (`_pybundle.py`).

Reproducibility: sources always sit at `/src` and output at `/out` inside the sandbox, the file list
is sorted, SOURCE_DATE_EPOCH is the commit time, and neither compiler embeds timestamps in wasm.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import math
import os
import subprocess
import tempfile
import threading
import time
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from executor import _cargo, _pybundle
from executor._engine import ModuleCompileError
from executor._repofs import kind, read_repo_file, regular_files, safe_dir
from executor._sandbox import Bind, run_sandboxed
from executor._source import CheckedSource, check_source
from executor._store import ArtifactStore
from executor._types import CodeSource, CompileConfig, CompileResult
from executor._wasmtime import check_program
from executor.errors import BuildError, ExecutorError, FetchError, InvalidArtifactError, InvalidSourceError

_OUTPUT = "module.wasm"
_BUILD_RECIPE_VERSION = "1"
_C_FLAGS = ("--target=wasm32-wasi", "-O2", "-Wl,--stack-first")
_RUST_FLAGS = ("--target", "wasm32-wasi", "-C", "opt-level=3", "-C", "codegen-units=1", "-C", "strip=debuginfo")
_KEY_LOCKS: dict[str, threading.Lock] = {}
_KEY_LOCKS_GUARD = threading.Lock()


def compile_source(
    source: CodeSource | Mapping[str, Any],
    *,
    store: ArtifactStore,
    config: CompileConfig | None = None,
    time_left_s: float | None = None,
) -> CompileResult:
    """Builds (or finds in the store) the module for `source`; raises an ExecutorError subclass.

    `time_left_s`: what is left of the request's yield window for fetch, build and module compile
    together (the caller has already set aside the run); each step's own cap is cut to it, and a step
    that would start with nothing left fails as timed out instead of starting.
    """
    config = config or CompileConfig()
    clock = _Clock(None if time_left_s is None else time.monotonic() + time_left_s)
    if not isinstance(source, CodeSource):
        source = CodeSource.from_mapping(source)
    checked = check_source(source, config)
    builder = builder_id(config)
    key = _ref_key(checked, builder)
    key_text = repr(sorted(key.items()))
    with _KEY_LOCKS_GUARD:
        lock = _KEY_LOCKS.setdefault(key_text, threading.Lock())
    with lock:  # one build per key in this process; across processes a double build is harmless
        sha = store.get_ref(key)
        if sha is not None:
            return _result(checked, sha, store, cached=True, started=None, builder=builder)
        started = time.perf_counter()
        log = ""
        with tempfile.TemporaryDirectory(prefix="offshore-build-", dir=config.work_dir) as tmp:
            os.chmod(tmp, 0o711)  # the unprivileged build uid must traverse it
            checkout = Path(tmp) / "src"
            commit_time = fetch(checked, checkout, config, clock)
            if checked.build_target == "wasm":
                assert checked.path is not None
                data = read_repo_file(checkout, checked.path, config.max_wasm_bytes)
            elif checked.build_target == "python":
                data = _pybundle.build_bundle(checkout, checked.path, config)
            else:
                data, log = _build(checked, checkout, Path(tmp) / "out", commit_time, config, clock)
        if checked.build_target == "python":
            problem = _pybundle.check_bundle(data)
        else:
            try:
                problem = check_program(
                    data,
                    engine=config.engine,
                    limits=config.wasm_compile,
                    cache_dir=config.module_cache_dir,
                    timeout_s=clock.left(config.wasm_compile.wall_seconds, "compiling the module"),
                )
            except ModuleCompileError as exc:
                raise BuildError(str(exc), timed_out=True) from None
        if problem is not None:
            raise InvalidArtifactError(f"{checked.repo}@{checked.commit[:12]}: {problem}")
        sha = store.put(data)
        store.put_ref(key, sha)
        return _result(checked, sha, store, cached=False, started=started, log=log, size=len(data), builder=builder)


def find_cached(
    source: CodeSource | Mapping[str, Any], *, store: ArtifactStore, config: CompileConfig | None = None
) -> str | None:
    """The sha256 of the stored artifact `compile_source` would answer from the cache, else None (not
    built yet, or a source it would refuse: `compile_source` reports why). One small file read."""
    config = config or CompileConfig()
    try:
        checked = check_source(source if isinstance(source, CodeSource) else CodeSource.from_mapping(source), config)
        return store.get_ref(_ref_key(checked, builder_id(config)))
    except ExecutorError:  # a refused source or an unreadable store: the build path reports it
        return None


def _ref_key(checked: CheckedSource, builder: str) -> dict[str, Any]:
    """The artifact store's key for a build: the program and the toolchain that builds it."""
    return {
        "repo": checked.repo,
        "commit": checked.commit,
        "build_target": checked.build_target,
        "path": checked.path,
        "builder": builder,
    }


async def compile_async(
    source: CodeSource | Mapping[str, Any],
    *,
    store: ArtifactStore,
    config: CompileConfig | None = None,
    time_left_s: float | None = None,
) -> CompileResult:
    """`compile_source` on a worker thread (the work is subprocesses and disk I/O)."""
    return await asyncio.to_thread(compile_source, source, store=store, config=config, time_left_s=time_left_s)


class _Clock:
    """The request's deadline for compile-side work (None = only the configured caps)."""

    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline

    def left(self, cap: float, step: str) -> float:
        """Seconds `step` may take: its cap, cut to the time left; none left = timed out before starting."""
        if self.deadline is None:
            return cap
        left = self.deadline - time.monotonic()
        if left <= 0.5:
            raise BuildError(f"{step}: no time left in the request's yield window", timed_out=True)
        return min(cap, left)


def _result(
    checked: CheckedSource,
    sha: str,
    store: ArtifactStore,
    *,
    cached: bool,
    started: float | None,
    log: str = "",
    size: int | None = None,
    builder: str = "",
) -> CompileResult:
    if size is None:
        blob = store.get(sha)
        size = len(blob) if blob is not None else 0
    elapsed = 0 if started is None else max(1, round((time.perf_counter() - started) * 1000))
    return CompileResult(
        sha256=sha,
        size=size,
        cached=cached,
        compile_time_ms=elapsed,
        repo=checked.repo,
        commit=checked.commit,
        build_target=checked.build_target,  # type: ignore[arg-type]
        path=checked.path,
        log=log,
        builder_id=builder,
    )


@functools.lru_cache(maxsize=8)
def _tool_version(tool: str) -> str:
    try:
        out = subprocess.run([tool, "--version"], capture_output=True, timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "missing"
    return out.decode(errors="replace").splitlines()[0] if out else "unknown"


def builder_id(config: CompileConfig) -> str:
    """Toolchain identity in the build key: a compiler upgrade must not serve stale artifacts."""
    text = "|".join([_BUILD_RECIPE_VERSION, _tool_version(config.clang), _tool_version(config.rustc)])
    text += "|" + _tool_version(config.cargo) + "|" + _pybundle.RUNTIME_ID
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- fetch ------------------------------------------------------------------------------------------


def fetch(checked: CheckedSource, dest: Path, config: CompileConfig, clock: _Clock | None = None) -> int:
    """Checks out exactly `checked.commit` into `dest`; returns the commit time (unix seconds).

    The commit's tree is measured (`git ls-tree -l`) before anything is written to the work tree: a
    small pack can expand to gigabytes, so a checkout over `max_checkout_bytes` is refused unwritten.
    """
    clock = clock or _Clock(None)
    started = time.monotonic()
    scheme = checked.repo.split(":", 1)[0]
    home = dest.parent / "git-home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
        "SSH_ASKPASS": "/bin/false",
        "GIT_SSH_COMMAND": "/bin/false",
        "GIT_LFS_SKIP_SMUDGE": "1",
        "LANG": "C",
    }
    base = [
        config.git,
        "-c", "protocol.allow=never",
        "-c", f"protocol.{scheme}.allow=always",
        "-c", "core.hooksPath=/dev/null",
        "-c", "core.fsmonitor=false",
        "-c", "http.followRedirects=false",
        "-c", "submodule.recurse=false",
        "-c", "advice.detachedHead=false",
        "-c", "init.defaultBranch=main",
    ]  # fmt: skip
    limit = ["/usr/bin/prlimit", f"--fsize={config.build_limits.max_file_bytes}", "--"]

    def git(*args: str) -> str:
        try:
            proc = subprocess.run(
                [*limit, *base, *args],
                capture_output=True,
                env=env,
                timeout=clock.left(config.git_timeout_seconds - (time.monotonic() - started), "fetch"),
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise FetchError(f"git {args[2] if len(args) > 2 else args[0]} timed out") from exc
        except OSError as exc:
            raise FetchError(f"cannot run git: {exc}") from exc
        if proc.returncode != 0:
            tail = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise FetchError(f"git failed for {checked.repo}@{checked.commit[:12]}: " + " / ".join(tail))
        return proc.stdout.decode(errors="replace").strip()

    git("init", "-q", "--", str(dest))
    gd = ["-C", str(dest)]
    try:
        git(*gd, "fetch", "-q", "--depth=1", "--no-tags", "--no-recurse-submodules", "--", checked.repo, checked.commit)
    except FetchError:
        # Servers that refuse fetch-by-sha: take the branches, the commit must be among them.
        git(
            *gd,
            "fetch",
            "-q",
            "--no-tags",
            "--no-recurse-submodules",
            "--",
            checked.repo,
            "+refs/heads/*:refs/remotes/origin/*",
        )
    try:
        listing = git(*gd, "ls-tree", "-r", "-l", "--full-tree", checked.commit)
    except FetchError as exc:
        raise FetchError(f"commit {checked.commit} not found in {checked.repo}") from exc
    check_checkout_size(listing, config)
    try:
        git(*gd, "checkout", "-q", "--detach", checked.commit)
    except FetchError as exc:
        raise FetchError(f"commit {checked.commit} not found in {checked.repo}") from exc
    head = git(*gd, "rev-parse", "HEAD")
    if head != checked.commit:
        raise FetchError(f"checked out {head}, expected {checked.commit}")
    return int(git(*gd, "log", "-1", "--format=%ct", "HEAD") or "0")


def check_checkout_size(listing: str, config: CompileConfig) -> None:
    """Refuses a tree over the byte or file quota (from `git ls-tree -r -l`, before checkout).

    Blob bytes count twice: `.gitattributes` (`eol=crlf`) may turn every LF into CRLF at checkout.
    """
    total = files = 0
    for line in listing.splitlines():
        meta = line.split("\t", 1)[0].split()
        if len(meta) == 4 and meta[1] == "blob" and meta[3].isdigit():
            total += 2 * int(meta[3])
            files += 1
    if files > config.max_checkout_files:
        raise FetchError(f"the commit has {files} files, over the checkout quota of {config.max_checkout_files}")
    if total > config.max_checkout_bytes:
        raise FetchError(
            f"the commit's files need up to {total} bytes, over the checkout quota of {config.max_checkout_bytes}"
        )


# -- build ------------------------------------------------------------------------------------------


def _build(
    checked: CheckedSource, checkout: Path, out: Path, commit_time: int, config: CompileConfig, clock: _Clock
) -> tuple[bytes, str]:
    out.mkdir()
    workdir = "/src" + (f"/{checked.path}" if checked.path else "")
    local = safe_dir(checkout, checked.path)
    for name in ("Cargo.toml", "Cargo.lock", "src", "include"):
        if kind(local, name) in ("symlink", "other"):
            raise InvalidSourceError(f"{name!r} is a symlink or special file (not followed)")
    rust = kind(local, "Cargo.toml") == "file"
    cargo = _cargo.plan(local, config) if rust and _cargo.has_dependencies(local) else None
    argv = cargo.argv if cargo else _rust_command(local, config) if rust else _c_command(local, config)
    env = {
        "PATH": "/usr/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "SOURCE_DATE_EPOCH": str(commit_time),
        **(cargo.env if cargo else {}),
    }
    wall = clock.left(config.build_limits.wall_seconds, "build")
    limits = dataclasses.replace(
        config.build_limits,
        wall_seconds=wall,
        cpu_seconds=max(1, min(config.build_limits.cpu_seconds, math.ceil(wall))),
    )
    result = run_sandboxed(
        argv,
        binds=[
            Bind(checkout, "/src", writable=True),
            Bind(out, "/out", writable=True),
            *(cargo.binds if cargo else []),
        ],
        chdir=workdir,
        env=env,
        config=config,
        limits=limits,
    )
    if result.timed_out:
        raise BuildError(f"build timed out after {limits.wall_seconds:.1f} s", log=result.log, timed_out=True)
    if result.returncode != 0:
        raise BuildError(f"build failed (exit {result.returncode})", log=result.log)
    return read_repo_file(out, _OUTPUT, config.max_wasm_bytes), result.log


def _c_command(local: Path, config: CompileConfig) -> list[str]:
    sources = regular_files(local, ".c")
    if kind(local, "src") == "dir":
        sources += [f"src/{name}" for name in regular_files(local / "src", ".c")]
    if not sources:
        raise BuildError("nothing to build: no Cargo.toml and no *.c files (see executor/README.md)")
    includes = ["-I."] + (["-Iinclude"] if kind(local, "include") == "dir" else [])
    return [config.clang, *_C_FLAGS, *includes, *sources, "-o", f"/out/{_OUTPUT}"]


def _rust_command(local: Path, config: CompileConfig) -> list[str]:
    try:
        manifest = tomllib.loads(read_repo_file(local, "Cargo.toml", 64 * 1024).decode())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError, InvalidArtifactError) as exc:
        raise BuildError(f"Cargo.toml is unreadable: {exc}") from exc
    package = manifest.get("package") or {}
    name = str(package.get("name", "guest")).replace("-", "_")
    edition = str(package.get("edition", "2015"))
    if not name.isidentifier() or edition not in ("2015", "2018", "2021"):
        raise BuildError("Cargo.toml: bad package name or edition")
    for section in ("dependencies", "build-dependencies"):
        if manifest.get(section):
            raise BuildError(
                f"Cargo.toml has [{section}]: this builder is offline and builds dependency-free crates "
                "only; production builders vendor dependencies in a separate step"
            )
    if kind(local, "src") != "dir" or kind(local / "src", "main.rs") != "file":
        raise BuildError("Rust guest needs src/main.rs")
    return [
        config.rustc,
        *_RUST_FLAGS,
        "--edition", edition,
        "--crate-name", name,
        "--crate-type", "bin",
        "--remap-path-prefix", "/src=.",
        "src/main.rs",
        "-o", f"/out/{_OUTPUT}",
    ]  # fmt: skip
