"""Engine settings of a guest runtime, and compiling untrusted wasm to native code in a limited child.

Why a child process: Cranelift's time and memory on a hostile module are superlinear (50k locals:
~2 minutes of one core), and an in-process compile can neither be interrupted nor capped. The child
(`executor/_compile_worker.py`, standalone) runs under `prlimit --cpu --as` and a wall-clock timeout
(the request's remaining yield window), compiles with the same engine settings as the runtime, and
publishes the serialized module by atomic rename; the caller deserializes it (~0.15 ms).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import signal
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import wasmtime

from executor import _compile_worker as _worker
from executor._types import EngineConfig, WasmCompileLimits


class ModuleCompileError(Exception):
    """Compiling failed; `timed_out` tells a module over its time budget from an invalid one."""

    def __init__(self, message: str, *, timed_out: bool = False, seconds: float = 0.0) -> None:
        super().__init__(message)
        self.timed_out = timed_out
        self.seconds = seconds


def wasmtime_config(engine: EngineConfig, *, parallel: bool = True) -> wasmtime.Config:
    """The runtime's wasmtime config: the same function the compile child uses (see _compile_worker)."""
    return _worker.wasmtime_config(dataclasses.asdict(engine), parallel=parallel)


def engine_fingerprint(engine: EngineConfig) -> str:
    """Identifies compiled-code compatibility: a serialized module is only reused under the same one."""
    parts = {
        "wasmtime": metadata.version("wasmtime"),
        "machine": platform.machine(),
        "fuel": True,
        "epoch": True,
        "opt": "speed",
        "engine": dataclasses.asdict(engine),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def engine_id(settings: dict[str, object], *, runtime: str) -> str:
    """The engine identity recorded with a result: wasmtime version + a hash of every setting that can
    change what a guest computes or how much fuel it uses. No machine name: with NaN canonicalisation
    and relaxed SIMD off, the same id must give the same result on any host (that is what verify checks).
    """
    text = json.dumps({"runtime": runtime, **settings}, sort_keys=True)
    return f"wasmtime-{metadata.version('wasmtime')}+{runtime}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def guest_engine_id(engine: EngineConfig) -> str:
    """`engine_id` of the plain-guest runtime (`wasmtime_config` of this EngineConfig)."""
    return engine_id({"fuel": True, "epoch": True, "opt": "speed", **dataclasses.asdict(engine)}, runtime="wasi-p1")


def compile_limited(
    wasm: bytes, dest: Path, *, engine: EngineConfig, limits: WasmCompileLimits, timeout_s: float | None = None
) -> float:
    """Compiles `wasm` in a limited child and publishes the native module at `dest`; returns seconds.

    Raises ModuleCompileError: invalid module, or over its CPU / memory / wall-clock budget.
    """
    wall = limits.wall_seconds if timeout_s is None else min(limits.wall_seconds, timeout_s)
    if wall <= 0:
        raise ModuleCompileError("no time left in the yield window to compile the module", timed_out=True)
    cpu = max(1, min(limits.cpu_seconds, int(wall) + 1))
    dest = dest.resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        "/usr/bin/prlimit", f"--cpu={cpu}", f"--as={limits.address_space_bytes}", "--core=0", "--",
        sys.executable, "-I", _worker.__file__, json.dumps(dataclasses.asdict(engine)), str(dest),
    ]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    started = time.monotonic()
    with tempfile.TemporaryFile() as source:
        source.write(wasm)
        source.seek(0)
        try:
            proc = subprocess.run(argv, stdin=source, capture_output=True, env=env, timeout=wall, check=False, cwd="/")
        except subprocess.TimeoutExpired:
            seconds = time.monotonic() - started
            raise ModuleCompileError(
                f"compiling the module took over {wall:.1f} s", timed_out=True, seconds=seconds
            ) from None
    seconds = time.monotonic() - started
    if proc.returncode == 0 and dest.exists():
        return seconds
    if proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL, 128 + signal.SIGXCPU):
        raise ModuleCompileError(f"compiling the module used over {cpu} s of CPU", timed_out=True, seconds=seconds)
    lines = proc.stderr.decode(errors="replace").strip().splitlines()
    reason = lines[-1][:300] if lines else f"compiler exited with {proc.returncode}"
    if proc.returncode == 3:
        raise ModuleCompileError(f"invalid module: {reason}", seconds=seconds)
    if "MemoryError" in reason or "memory" in reason.lower():
        reason = f"compiling the module needed over {limits.address_space_bytes // (1024 * 1024)} MiB"
    raise ModuleCompileError(f"module compile failed: {reason}", seconds=seconds)
