"""Compile benchmarks: cold sandboxed build of example guests (fetch + build + validate + store) and
the cache-hit path that every later request for the same (repo, commit, target) takes."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from executor import ArtifactStore, CodeSource, CompileConfig, StoreConfig, compile_source, examples


def _cold_and_warm(name: str, work: Path, config: CompileConfig) -> dict[str, float]:
    url, commit = examples.publish(name, work / "repos")
    source = CodeSource(repo=url, commit=commit)
    cold = []
    for i in range(3):
        store = ArtifactStore(StoreConfig(root=work / f"store-{name}-{i}"))
        started = time.perf_counter()
        result = compile_source(source, store=store, config=config)
        cold.append(time.perf_counter() - started)
        assert not result.cached
    warm = []
    for _ in range(20):
        started = time.perf_counter()
        assert compile_source(source, store=store, config=config).cached
        warm.append(time.perf_counter() - started)
    return {
        "cold_seconds": round(statistics.median(cold), 3),
        "cache_hit_ms": round(statistics.median(warm) * 1000, 3),
        "module_bytes": result.size,
    }


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="offshore-bench-compile-") as tmp:
        config = CompileConfig(allow_file_urls=True, allowed_file_roots=(Path(tmp),))
        c = _cold_and_warm("sha256", Path(tmp), config)
        rust = _cold_and_warm("json_echo", Path(tmp), config)
    return {"cold_seconds": c["cold_seconds"], "c_sha256": c, "rust_json_echo": rust}
