"""The wasmtime boundary: engine, compiled-module cache and one guest run.

The guest-run side of wasmtime lives here; the executor's other wasmtime users are the engine config
and limited compile child (`_engine`, `_compile_worker`) and the Python guest runtime (`_python`), and
the devnet's VM has its own engine (`devnet/vm`). Limits:
- instructions: fuel (`Config.consume_fuel`), reported as fuel consumed;
- memory: one store-wide budget (`max_memory_mb`) covers linear memory and table elements, with at
  most one memory, `max_tables` tables and one instance per store (`Store.set_limits`); `memory.grow`
  fails at the cap;
- compile: untrusted wasm is compiled to native code only in a limited child process
  (`_engine.compile_limited`), after the cheap shape caps (`_wasmparse`);
- wall clock: epoch interruption. A ticker thread bumps the engine epoch every `epoch_tick_ms`; each
  store's deadline is one tick ahead and a per-store epoch callback decides to continue or stop, so
  one store can be stopped (timeout, output flood) without touching the others.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import itertools
import math
import os
import re
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import wasmtime
from wasmtime import _ffi as _wffi  # the epoch-deadline callback is not wrapped by wasmtime-py 50

from executor import _hostapi
from executor._determinism import define_deterministic_wasi, deterministic, fresh
from executor._engine import (
    ModuleCompileError,
    compile_limited,
    engine_fingerprint,
    guest_engine_id,
    wasmtime_config,
)
from executor._http import HttpSession
from executor._httptypes import HOST_MODULE
from executor._types import (
    Determinism,
    EngineConfig,
    ErrorKind,
    ExecutionResult,
    ExecutorConfig,
    Limits,
    MiB,
    WasmCompileLimits,
)
from executor._wasmparse import ShapeError, module_shape

WASI_MODULE = "wasi_snapshot_preview1"
_PAGE = 65536
_TABLE_ELEMENT_BYTES = 8
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(slots=True)
class _Prepared:
    """A module ready to instantiate, or the reason it never will be."""

    sha256: str
    pre: wasmtime.InstancePre | None
    error_kind: ErrorKind | None
    error: str | None
    min_memory_bytes: int


@dataclass(slots=True)
class _RunState:
    deadline: float
    stop: ErrorKind | None = None


@dataclass(slots=True)
class CacheStats:
    """Counters of the module cache; `compiles` must not move on a warm run."""

    compiles: int = 0
    disk_hits: int = 0
    memory_hits: int = 0
    disk_errors: int = 0


_RUNS: dict[int, _RunState] = {}
_RUN_IDS = itertools.count(1)
_DEADLINE_CB_TYPE = ctypes.CFUNCTYPE(
    ctypes.c_size_t,
    ctypes.POINTER(_wffi.wasmtime_context_t),
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_uint64),
    ctypes.POINTER(ctypes.c_uint8),
)
_FINALIZER_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def _on_epoch_deadline(_ctx: Any, data: int | None, delta: Any, kind: Any) -> int:
    """Runs on the guest's thread each tick: continue one more tick, or stop the guest with an error."""
    try:
        state = _RUNS.get(data or 0)
        if state is not None and state.stop is None and time.monotonic() < state.deadline:
            delta[0] = 1
            kind[0] = 0  # WASMTIME_UPDATE_DEADLINE_CONTINUE
            return 0
        if state is not None and state.stop is None:
            state.stop = ErrorKind.TIMEOUT
    except Exception:  # pragma: no cover - a C callback must never raise; stopping is the safe side
        pass
    err = _wffi.wasmtime_error_new(b"offshore: guest interrupted")
    return ctypes.cast(err, ctypes.c_void_p).value or 0


_DEADLINE_CB = _DEADLINE_CB_TYPE(_on_epoch_deadline)
_NOOP_FINALIZER = _FINALIZER_TYPE(lambda _data: None)


class _Ticker:
    """Daemon thread that advances the engine epoch; the clock of every wall-clock deadline."""

    def __init__(self, engine: wasmtime.Engine, tick_seconds: float) -> None:
        self._engine = engine
        self._tick = tick_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="offshore-epoch", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._tick):
            self._engine.increment_epoch()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class _OutputSink:
    """WASI stdout/stderr callback with a byte cap; past the cap stdout stops the guest."""

    __slots__ = ("_cap", "_state", "buf", "stop_on_overflow", "truncated")

    def __init__(self, cap: int, state: _RunState, *, stop_on_overflow: bool) -> None:
        self._cap = cap
        self._state = state
        self.buf = bytearray()
        self.stop_on_overflow = stop_on_overflow
        self.truncated = False

    def __call__(self, data: bytes) -> int | None:
        room = self._cap - len(self.buf)
        if len(data) <= room:
            self.buf += data
            return None
        self.buf += data[: max(room, 0)]
        self.truncated = True
        if self.stop_on_overflow:
            self._state.stop = ErrorKind.OUTPUT_TOO_LARGE
            return -errno.EFBIG
        return None  # stderr: keep the head, pretend the rest was written


def filter_env(secrets: dict[str, str] | None, config: ExecutorConfig) -> list[tuple[str, str]]:
    """Secrets -> env pairs; reserved and malformed names are dropped (never echoed anywhere)."""
    if not secrets:
        return []
    out = []
    for name, value in sorted(secrets.items()):
        if not isinstance(name, str) or not isinstance(value, str):
            continue
        if not _ENV_NAME.match(name) or "\x00" in value:
            continue
        if name in config.reserved_env_names or name.startswith(config.reserved_env_prefixes):
            continue
        out.append((name, value))
    return out


class WasmRuntime:
    """One engine, one linker, a two-level module cache (memory LRU, then serialized files on disk)."""

    def __init__(self, config: ExecutorConfig) -> None:
        self.config = config
        self.engine = wasmtime.Engine(wasmtime_config(config.engine))
        self.fingerprint = engine_fingerprint(config.engine)
        self.engine_id = guest_engine_id(config.engine)
        self._linker = wasmtime.Linker(self.engine)
        self._linker.allow_shadowing = True
        self._linker.define_wasi()
        _hostapi.define(self._linker)  # guest HTTP (`offshore` module): executor/_hostapi.py
        # Entropy, clocks and sleep come from the run's recorded Determinism; a host sleep (which
        # epoch interruption could not reach) never happens.
        define_deterministic_wasi(self._linker)
        self._lru: OrderedDict[str, _Prepared] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self.stats = CacheStats()
        self._disk = config.module_cache_dir / self.fingerprint if config.module_cache_dir is not None else None
        self._ticker = _Ticker(self.engine, config.epoch_tick_ms / 1000.0)

    def close(self) -> None:
        self._ticker.stop()
        with self._lock:
            self._lru.clear()

    # -- module cache -------------------------------------------------------------------------------

    @contextmanager
    def _key_lock(self, sha: str) -> Iterator[None]:
        with self._lock:
            lock = self._key_locks.setdefault(sha, threading.Lock())
        with lock:
            yield
        with self._lock:
            if not lock.locked():
                self._key_locks.pop(sha, None)

    def prepare(self, wasm: bytes, sha: str) -> _Prepared:
        """Returns the cached module for `sha`, compiling (once, even under concurrency) on a miss."""
        with self._lock:
            hit = self._lru.get(sha)
            if hit is not None:
                self._lru.move_to_end(sha)
                self.stats.memory_hits += 1
                return hit
        with self._key_lock(sha):
            with self._lock:
                hit = self._lru.get(sha)
                if hit is not None:
                    self.stats.memory_hits += 1
                    return hit
            prepared = self._load(wasm, sha)
            with self._lock:
                self._lru[sha] = prepared
                while len(self._lru) > self.config.module_cache_entries:
                    self._lru.popitem(last=False)
            return prepared

    def _load(self, wasm: bytes, sha: str) -> _Prepared:
        if len(wasm) > self.config.max_module_bytes:
            return _Prepared(sha, None, ErrorKind.INVALID_MODULE, "module too large", 0)
        if not wasm.startswith(b"\0asm"):
            return _Prepared(sha, None, ErrorKind.INVALID_MODULE, "not a wasm binary (bad magic)", 0)
        try:
            module_shape(wasm, self.config.wasm_compile)
        except ShapeError as exc:
            return _Prepared(sha, None, ErrorKind.INVALID_MODULE, str(exc), 0)
        module = self._from_disk(sha)
        if module is None:
            try:
                module = self._compile(wasm, sha)
            except ModuleCompileError as exc:
                return _Prepared(sha, None, ErrorKind.INVALID_MODULE, str(exc), 0)
            with self._lock:
                self.stats.compiles += 1
        return self._inspect(sha, module)

    def _compile(self, wasm: bytes, sha: str) -> wasmtime.Module:
        """Cranelift in a limited child; the native module lands in the disk cache (or a temp dir)."""
        if self._disk is not None:
            compile_limited(
                wasm, self._disk / f"{sha}.cwasm", engine=self.config.engine, limits=self.config.wasm_compile
            )
            module = self._from_disk(sha, count=False)
            if module is None:
                raise ModuleCompileError("compiled module could not be loaded")
            return module
        with tempfile.TemporaryDirectory(prefix="offshore-module-") as tmp:
            path = Path(tmp) / f"{sha}.cwasm"
            compile_limited(wasm, path, engine=self.config.engine, limits=self.config.wasm_compile)
            return wasmtime.Module.deserialize_file(self.engine, str(path))

    def _from_disk(self, sha: str, *, count: bool = True) -> wasmtime.Module | None:
        if self._disk is None:
            return None
        path = self._disk / f"{sha}.cwasm"
        if not path.exists():
            return None
        try:
            module = wasmtime.Module.deserialize_file(self.engine, str(path))
        except (wasmtime.WasmtimeError, OSError):
            with self._lock:
                self.stats.disk_errors += 1
            path.unlink(missing_ok=True)
            return None
        if count:
            with self._lock:
                self.stats.disk_hits += 1
        return module

    def _inspect(self, sha: str, module: wasmtime.Module) -> _Prepared:
        """Checks the WASI preview-1 program shape before any store is built."""
        foreign = []
        for imp in module.imports:
            if imp.module not in (WASI_MODULE, HOST_MODULE) or not isinstance(imp.type, wasmtime.FuncType):
                foreign.append(f"{imp.module}.{imp.name}")
        if foreign:
            listed = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
            return _Prepared(sha, None, ErrorKind.BAD_IMPORTS, f"non-WASI imports: {listed}", 0)
        start = None
        min_memory = 0
        for exp in module.exports:
            if exp.name == "_start":
                start = exp.type
            if isinstance(exp.type, wasmtime.MemoryType):
                min_memory = max(min_memory, exp.type.limits.min * _PAGE)
        if not isinstance(start, wasmtime.FuncType) or start.params or start.results:
            return _Prepared(sha, None, ErrorKind.INVALID_MODULE, "no `_start: () -> ()` export", min_memory)
        try:
            pre = self._linker.instantiate_pre(module)
        except wasmtime.WasmtimeError as exc:
            return _Prepared(sha, None, ErrorKind.BAD_IMPORTS, _first_line(exc), min_memory)
        return _Prepared(sha, pre, None, None, min_memory)

    # -- one run ------------------------------------------------------------------------------------

    def run(
        self,
        wasm: bytes,
        stdin: bytes,
        *,
        limits: Limits,
        env: list[tuple[str, str]],
        sha256: str | None = None,
        http: HttpSession | None = None,
        determinism: Determinism | None = None,
    ) -> ExecutionResult:
        sha = sha256 or hashlib.sha256(wasm).hexdigest()
        prepared = self.prepare(wasm, sha)
        started = time.perf_counter()  # compiling a cold module is not the guest's time

        def failed(kind: ErrorKind, message: str, **extra: Any) -> ExecutionResult:
            fields: dict[str, Any] = {
                "stdout": b"",
                "stderr": b"",
                "exit_code": None,
                "instructions": 0,
                "memory_bytes": 0,
            }
            fields.update(extra)
            return ExecutionResult(
                success=False,
                error_kind=kind,
                error=message,
                time_ms=_ms(started),
                module_sha256=sha,
                engine_id=self.engine_id,
                **fields,
            )

        if prepared.pre is None:
            assert prepared.error_kind is not None
            return failed(prepared.error_kind, prepared.error or prepared.error_kind.value)
        budget = store_budget(limits.max_memory_mb * MiB, self.config.wasm_compile)
        memory_cap = budget["memory_size"]
        if prepared.min_memory_bytes > memory_cap:
            return failed(
                ErrorKind.MEMORY_LIMIT,
                f"module needs {prepared.min_memory_bytes // MiB} MiB at start, limit {limits.max_memory_mb}",
            )

        state = _RunState(deadline=time.monotonic() + limits.max_execution_seconds)
        out = _OutputSink(self.config.max_stdout_bytes, state, stop_on_overflow=True)
        err = _OutputSink(self.config.max_stderr_bytes, state, stop_on_overflow=False)
        store = wasmtime.Store(self.engine)
        store.set_limits(**budget)
        store.set_fuel(limits.max_instructions)
        run_id = next(_RUN_IDS)
        _RUNS[run_id] = state
        _wffi.wasmtime_store_epoch_deadline_callback(
            store.ptr(), _DEADLINE_CB, ctypes.c_void_p(run_id), _NOOP_FINALIZER
        )
        store.set_epoch_deadline(1)
        try:
            wasi = wasmtime.WasiConfig()
            wasi.argv = [self.config.program_name]
            wasi.env = env
            wasi.stdout_custom = out
            wasi.stderr_custom = err
            with _stdin_path(stdin) as path:
                if path is not None:
                    wasi.stdin_file = path
                store.set_wasi(wasi)
            if http is not None:
                http.deadline = state.deadline  # calls wait inside the run's wall clock
            with deterministic(determinism or fresh(), stdout=out, stderr=err), _hostapi.bound(http):
                exit_code, failure, memory_bytes, remaining = _call_guest(store, prepared.pre, _call_start)
        finally:
            _RUNS.pop(run_id, None)
            if http is not None:
                http.finish()
        used = limits.max_instructions - remaining
        common: dict[str, Any] = {
            "stdout": bytes(out.buf),
            "stderr": bytes(err.buf),
            "exit_code": exit_code,
            "instructions": used,
            "memory_bytes": memory_bytes,
            **(http.usage() if http is not None else {}),
        }
        if state.stop is ErrorKind.OUTPUT_TOO_LARGE:
            return failed(ErrorKind.OUTPUT_TOO_LARGE, f"stdout over {self.config.max_stdout_bytes} bytes", **common)
        if state.stop is ErrorKind.TIMEOUT:
            return failed(ErrorKind.TIMEOUT, f"over {limits.max_execution_seconds:g} s wall clock", **common)
        trap_code = failure.trap_code if isinstance(failure, wasmtime.Trap) else None
        if trap_code is wasmtime.TrapCode.OUT_OF_FUEL or (failure is not None and remaining == 0):
            return failed(ErrorKind.FUEL_EXHAUSTED, f"over {limits.max_instructions} instructions", **common)
        if (failure is not None or exit_code) and _near_cap(memory_bytes, memory_cap):
            return failed(
                ErrorKind.MEMORY_LIMIT,
                f"failed at the {limits.max_memory_mb} MiB memory limit ({memory_bytes // MiB} MiB used)",
                **common,
            )
        if failure is not None:
            return failed(ErrorKind.TRAP, _trap_message(failure), **common)
        if exit_code:
            return failed(ErrorKind.NONZERO_EXIT, f"exit code {exit_code}", **common)
        return ExecutionResult(
            success=True,
            error_kind=None,
            error=None,
            time_ms=_ms(started),
            module_sha256=sha,
            engine_id=self.engine_id,
            **common,
        )


def store_budget(total_bytes: int, limits: WasmCompileLimits) -> dict[str, int]:
    """One budget per request for everything a store can allocate on the guest's behalf.

    `Store.set_limits` caps each memory and each table separately, so the totals come from the
    counts: one memory (multi-memory is off), `max_tables` tables of at most 1/64 of the budget in
    8-byte elements, one instance; linear memory gets the rest. Total <= `total_bytes`.
    """
    elements = max(0, min(limits.max_table_elements, total_bytes // 64 // _TABLE_ELEMENT_BYTES))
    table_bytes = limits.max_tables * elements * _TABLE_ELEMENT_BYTES
    memory = (total_bytes - table_bytes) // _PAGE * _PAGE
    return {
        "memory_size": memory,
        "table_elements": elements,
        "instances": 1,
        "tables": limits.max_tables,
        "memories": 1,
    }


def _near_cap(used: int, cap: int) -> bool:
    """A failure with memory within one allocation step of the cap is blamed on the cap.

    StoreLimits makes `memory.grow` return -1 (no trap), so the guest sees a failed allocation and
    dies its own way (abort, exit, trap). wasmtime's C API exposes no grow-failure hook, hence
    this rule: less than max(1 MiB, cap/16) of headroom left.
    """
    return cap - used < max(MiB, cap // 16)


def _call_start(store: wasmtime.Store, instance: wasmtime.Instance) -> int:
    """A WASI command: `_start` returns nothing; exit codes other than 0 arrive as ExitTrap."""
    start = instance.exports(store)["_start"]
    assert isinstance(start, wasmtime.Func)
    start(store)
    return 0


def _call_guest(
    store: wasmtime.Store,
    pre: wasmtime.InstancePre,
    entry: Callable[[wasmtime.Store, wasmtime.Instance], int],
) -> tuple[int | None, wasmtime.WasmtimeError | wasmtime.Trap | None, int, int]:
    """Instantiates and runs one guest: (exit code, trap or None, memory bytes at the end, fuel left).

    One place for every runtime (plain WASI commands, the Python interpreter), so a trap, an exit
    and the metering read after it are classified the same way. The store allows one memory, which
    never shrinks, so its final size is the run's peak.
    """
    exit_code: int | None = None
    failure: wasmtime.WasmtimeError | wasmtime.Trap | None = None
    instance: wasmtime.Instance | None = None
    try:
        instance = pre.instantiate(store)
        exit_code = entry(store, instance)
    except wasmtime.ExitTrap as exc:
        exit_code = exc.code
    except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
        failure = exc
    memory_bytes = 0
    if instance is not None:
        memory = instance.exports(store).get("memory")
        if isinstance(memory, wasmtime.Memory):
            memory_bytes = memory.data_len(store)
    try:
        remaining = store.get_fuel()
    except wasmtime.WasmtimeError:
        remaining = 0
    return exit_code, failure, memory_bytes, remaining


@contextmanager
def _stdin_path(data: bytes) -> Iterator[str | None]:
    """WASI stdin can only come from a path: an anonymous memfd keeps input off the disk."""
    if not data:
        yield None
        return
    fd = os.memfd_create("offshore-stdin", os.MFD_CLOEXEC)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line[:300]


def _trap_message(exc: BaseException) -> str:
    """wasmtime puts the backtrace first and the cause last: keep the cause."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    cause = lines[-1] if lines else type(exc).__name__
    code = getattr(exc, "trap_code", None)
    prefix = f"{code.name.lower()}: " if code is not None else ""
    return (prefix + cause)[:300]


def _ms(started: float) -> int:
    return max(1, math.ceil((time.perf_counter() - started) * 1000))


_CHECKERS: dict[EngineConfig, tuple[wasmtime.Engine, wasmtime.Linker]] = {}
_CHECK_LOCK = threading.Lock()


def check_program(
    data: bytes,
    *,
    engine: EngineConfig,
    limits: WasmCompileLimits,
    cache_dir: Path | None = None,
    timeout_s: float | None = None,
) -> str | None:
    """Why `data` is not a runnable WASI preview-1 program, or None when it is (used on build output).

    Shape caps first, then the limited compile child (its native module kept in `cache_dir` for the
    runtime, when given). Raises ModuleCompileError when compiling runs out of its budget.
    """
    try:
        module_shape(data, limits)
    except ShapeError as exc:
        return str(exc)
    with _CHECK_LOCK:
        if engine not in _CHECKERS:
            checker = wasmtime.Engine(wasmtime_config(engine))
            linker = wasmtime.Linker(checker)
            linker.define_wasi()
            _hostapi.define(linker)
            _CHECKERS[engine] = (checker, linker)
        checker, linker = _CHECKERS[engine]
    sha = hashlib.sha256(data).hexdigest()
    with tempfile.TemporaryDirectory(prefix="offshore-check-") as tmp:
        folder = cache_dir / engine_fingerprint(engine) if cache_dir is not None else Path(tmp)
        path = folder / f"{sha}.cwasm"
        try:
            compile_limited(data, path, engine=engine, limits=limits, timeout_s=timeout_s)
        except ModuleCompileError as exc:
            if exc.timed_out:
                raise
            return str(exc)
        module = wasmtime.Module.deserialize_file(checker, str(path))
    foreign = [f"{i.module}.{i.name}" for i in module.imports if i.module not in (WASI_MODULE, HOST_MODULE)]
    if foreign:
        return "non-WASI imports: " + ", ".join(foreign[:5])
    start = next((e.type for e in module.exports if e.name == "_start"), None)
    if not isinstance(start, wasmtime.FuncType) or start.params or start.results:
        return "no `_start: () -> ()` export"
    try:
        linker.instantiate_pre(module)
    except wasmtime.WasmtimeError as exc:
        return f"bad imports: {_first_line(exc)}"
    return None
