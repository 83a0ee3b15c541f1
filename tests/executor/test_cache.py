"""Compiled-module cache: warm runs never compile; the disk cache survives a new Executor; concurrency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from executor import Executor, ExecutorConfig


def test_warm_runs_do_not_compile(guests: dict[str, bytes], tmp_path: Path) -> None:
    with Executor(ExecutorConfig(module_cache_dir=tmp_path)) as ex:
        ex.execute(guests["sha256"], b"x")
        assert ex.cache_stats.compiles == 1
        for _ in range(20):
            assert ex.execute(guests["sha256"], b"x").success
        assert ex.cache_stats.compiles == 1
        assert ex.cache_stats.memory_hits >= 20


def test_a_new_process_loads_from_the_disk_cache(guests: dict[str, bytes], tmp_path: Path) -> None:
    with Executor(ExecutorConfig(module_cache_dir=tmp_path)) as first:
        first.preload(guests["json_echo"])
        assert first.cache_stats.compiles == 1
    files = list(tmp_path.rglob("*.cwasm"))
    assert len(files) == 1 and files[0].parent.name == first.engine_fingerprint
    with Executor(ExecutorConfig(module_cache_dir=tmp_path)) as second:
        assert second.execute(guests["json_echo"], b"[]").stdout == b"[]"
        assert second.cache_stats.compiles == 0 and second.cache_stats.disk_hits == 1


def test_a_corrupt_cache_file_is_recompiled(guests: dict[str, bytes], tmp_path: Path) -> None:
    with Executor(ExecutorConfig(module_cache_dir=tmp_path)) as first:
        first.preload(guests["sha256"])
    (cached,) = tmp_path.rglob("*.cwasm")
    cached.write_bytes(b"garbage" * 100)
    with Executor(ExecutorConfig(module_cache_dir=tmp_path)) as second:
        assert second.execute(guests["sha256"], b"").success
        assert second.cache_stats.disk_errors == 1 and second.cache_stats.compiles == 1


def test_concurrent_first_runs_compile_once(guests: dict[str, bytes], tmp_path: Path) -> None:
    with Executor(ExecutorConfig(module_cache_dir=tmp_path)) as ex, ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: ex.execute(guests["cpu_bound"], b"hash 10"), range(16)))
        assert all(r.success for r in results)
        assert ex.cache_stats.compiles == 1


def test_memory_lru_is_bounded(guests: dict[str, bytes]) -> None:
    with Executor(ExecutorConfig(module_cache_dir=None, module_cache_entries=1)) as ex:
        ex.execute(guests["sha256"])
        ex.execute(guests["json_echo"], b"1")
        ex.execute(guests["sha256"])  # evicted by json_echo: compiled again
        assert ex.cache_stats.compiles == 3


def test_closed_executor_refuses_work(guests: dict[str, bytes]) -> None:
    import pytest

    from executor import ExecutorError

    ex = Executor(ExecutorConfig(module_cache_dir=None))
    ex.close()
    with pytest.raises(ExecutorError):
        ex.execute(guests["sha256"])
