"""Sync and async entry points over the wasmtime runtime.

CPU work leaves the asyncio loop on a thread pool: wasmtime-py calls wasmtime through ctypes, which
releases the GIL, so threads run guests in parallel and share one warm module cache. (A process pool
was measured slower here; see bench/executor.py and the README.)
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from executor import _pybundle
from executor._http import HttpSession, ReplayMismatch
from executor._httptypes import HttpGrant
from executor._python import PythonRuntime
from executor._store import ArtifactStore
from executor._types import Determinism, ExecutionResult, ExecutorConfig, Limits
from executor._wasmtime import CacheStats, WasmRuntime, filter_env
from executor.errors import ExecutorError


class Executor:
    """Runs WASI preview-1 guests under limits; holds the engine, module cache and thread pool.

    One per process is the intent (`default_executor()`); it is thread-safe.
    """

    def __init__(self, config: ExecutorConfig | None = None) -> None:
        self.config = config or ExecutorConfig()
        self._runtime = WasmRuntime(self.config)
        workers = self.config.max_workers or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="offshore-exec")
        # Runs that may wait on the web get their own threads: waiting never holds a CPU worker.
        self._io_pool = ThreadPoolExecutor(max_workers=self.config.http.io_workers, thread_name_prefix="offshore-io")
        self._closed = False
        self._python: PythonRuntime | None = None
        self._python_lock = threading.Lock()
        if self.config.python_warm_at_start:
            self.python_runtime().start_warmup()

    @property
    def cache_stats(self) -> CacheStats:
        return self._runtime.stats

    @property
    def engine_fingerprint(self) -> str:
        return self._runtime.fingerprint

    def python_runtime(self) -> PythonRuntime:
        """The Python interpreter runtime (created on first use; `warm()` or `start_warmup()` loads it)."""
        with self._python_lock:
            if self._python is None:
                self._python = PythonRuntime(self.config)
            return self._python

    @property
    def python_ready(self) -> bool:
        return self._python is not None and self._python.ready

    def preload(self, wasm: bytes, *, sha256: str | None = None) -> str:
        """Compiles (or loads from the disk cache) ahead of the first run; returns the module sha256."""
        self._check_open()
        sha = sha256 or hashlib.sha256(wasm).hexdigest()
        self._runtime.prepare(wasm, sha)
        return sha

    def execute(
        self,
        wasm: bytes,
        input_data: bytes = b"",
        *,
        limits: Limits | None = None,
        secrets: dict[str, str] | None = None,
        sha256: str | None = None,
        http: HttpGrant | None = None,
        io_store: ArtifactStore | None = None,
        determinism: Determinism | None = None,
    ) -> ExecutionResult:
        """Runs `_start` once. Guest failures come back in the result, never raised.

        `sha256` (of `wasm`) may be passed when already known, e.g. from the artifact store, to skip
        re-hashing on the hot path; it is trusted. `http`: what the request may fetch (none by
        default); every response is recorded in `io_store` for replay (`io_sha256` in the result).
        `determinism` (seed and start time) makes the run reproducible; None draws a random seed and
        takes the host's time (nothing recorded).
        """
        self._check_open()
        limits, env = limits or Limits(), filter_env(secrets, self.config)
        if _pybundle.is_bundle(wasm):  # a `python` build's artifact: code for the shared interpreter
            runtime = self.python_runtime()
            runtime.warm()  # idempotent: waits for a warm-up in progress, or loads the interpreter now
            return runtime.run(wasm, input_data, limits=limits, env=env, sha256=sha256, determinism=determinism)
        session = HttpSession(self.config.http, http, store=io_store) if http is not None and http.enabled else None
        return self._runtime.run(
            wasm, input_data, limits=limits, env=env, sha256=sha256, http=session, determinism=determinism
        )

    def replay(
        self,
        wasm: bytes,
        input_data: bytes = b"",
        *,
        io_sha256: str,
        io_store: ArtifactStore,
        limits: Limits | None = None,
        secrets: dict[str, str] | None = None,
        http: HttpGrant | None = None,
        determinism: Determinism | None = None,
    ) -> ExecutionResult:
        """Re-runs a recorded execution with no network: the guest gets the recorded responses in order.

        Raises ReplayMismatch when the guest's requests (as hashes) differ from the recording, when
        it makes more or fewer calls, or when the recording is missing or does not hash to `io_sha256`.
        """
        self._check_open()
        session = HttpSession(self.config.http, http or HttpGrant(), store=io_store, replay=io_sha256)
        result = self._runtime.run(
            wasm,
            input_data,
            limits=limits or Limits(),
            env=filter_env(secrets, self.config),
            http=session,
            determinism=determinism,
        )
        if session.mismatch is not None:
            raise ReplayMismatch(session.mismatch)
        return result

    def engine_id(self, wasm: bytes) -> str:
        """The engine that runs `wasm` (the Python runtime's for a python bundle), without running it."""
        if _pybundle.is_bundle(wasm):
            return self.python_runtime().engine_id
        return self._runtime.engine_id

    async def run_async(
        self,
        wasm: bytes,
        input_data: bytes = b"",
        *,
        limits: Limits | None = None,
        secrets: dict[str, str] | None = None,
        sha256: str | None = None,
        http: HttpGrant | None = None,
        io_store: ArtifactStore | None = None,
        determinism: Determinism | None = None,
    ) -> ExecutionResult:
        """`execute` on the executor's thread pool, so the event loop keeps serving other work.

        A run granted HTTP goes to the I/O pool: its waits never hold one of the CPU workers.
        """
        self._check_open()
        loop = asyncio.get_running_loop()
        kwargs: dict[str, Any] = {
            "limits": limits,
            "secrets": secrets,
            "sha256": sha256,
            "http": http,
            "io_store": io_store,
            "determinism": determinism,
        }
        pool = self._io_pool if http is not None and http.enabled else self._pool
        return await loop.run_in_executor(pool, lambda: self.execute(wasm, input_data, **kwargs))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=True)
        self._io_pool.shutdown(wait=True)
        self._runtime.close()
        if self._python is not None:
            self._python.close()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ExecutorError("executor is closed")


_DEFAULT: Executor | None = None
_DEFAULT_LOCK = threading.Lock()


def default_executor() -> Executor:
    """The process-wide executor with default settings (created on first use)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = Executor()
        return _DEFAULT


def execute(
    wasm: bytes,
    input_data: bytes = b"",
    *,
    limits: Limits | None = None,
    secrets: dict[str, str] | None = None,
) -> ExecutionResult:
    """Runs a guest on the process-wide executor."""
    return default_executor().execute(wasm, input_data, limits=limits, secrets=secrets)


async def run_async(
    wasm: bytes,
    input_data: bytes = b"",
    *,
    limits: Limits | None = None,
    secrets: dict[str, str] | None = None,
) -> ExecutionResult:
    """Runs a guest on the process-wide executor, off the event loop."""
    return await default_executor().run_async(wasm, input_data, limits=limits, secrets=secrets)
