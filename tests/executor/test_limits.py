"""Every limit and every error kind, each caused by a real adversarial guest (no mocks)."""

from __future__ import annotations

import time

import wasmtime

from executor import ErrorKind, Executor, ExecutorConfig, Limits


def test_infinite_loop_runs_out_of_fuel(executor: Executor, guests: dict[str, bytes]) -> None:
    result = executor.execute(guests["infinite_loop"], limits=Limits(max_instructions=5_000_000))
    assert result.error_kind is ErrorKind.FUEL_EXHAUSTED
    assert not result.success
    assert result.instructions == 5_000_000


def test_infinite_loop_hits_the_wall_clock(executor: Executor, guests: dict[str, bytes]) -> None:
    started = time.monotonic()
    result = executor.execute(
        guests["infinite_loop"], limits=Limits(max_instructions=10**15, max_execution_seconds=0.3)
    )
    elapsed = time.monotonic() - started
    assert result.error_kind is ErrorKind.TIMEOUT
    assert 0.3 <= elapsed < 1.0
    assert 300 <= result.time_ms < 1000


def test_memory_bomb_stops_at_the_memory_limit(executor: Executor, guests: dict[str, bytes]) -> None:
    result = executor.execute(guests["memory_bomb"], limits=Limits(max_memory_mb=16))
    assert result.error_kind is ErrorKind.MEMORY_LIMIT
    assert result.memory_bytes <= 16 * 1024 * 1024
    assert b"malloc failed after 15 MiB" in result.stderr


def test_memory_limit_scales_with_the_request(executor: Executor, guests: dict[str, bytes]) -> None:
    result = executor.execute(guests["memory_bomb"], limits=Limits(max_memory_mb=48))
    assert result.error_kind is ErrorKind.MEMORY_LIMIT
    assert 40 * 1024 * 1024 < result.memory_bytes <= 48 * 1024 * 1024


def test_initial_memory_over_the_limit_is_refused(executor: Executor) -> None:
    big = wasmtime.wat2wasm('(module (memory (export "memory") 200) (func (export "_start")))')  # 12.5 MiB
    result = executor.execute(bytes(big), limits=Limits(max_memory_mb=8))
    assert result.error_kind is ErrorKind.MEMORY_LIMIT
    assert executor.execute(bytes(big), limits=Limits(max_memory_mb=16)).success


def test_deep_recursion_is_a_stack_overflow_trap(executor: Executor, guests: dict[str, bytes]) -> None:
    result = executor.execute(guests["deep_recursion"])
    assert result.error_kind is ErrorKind.TRAP
    assert result.error is not None and result.error.startswith("stack_overflow")


def test_output_flood_is_cut_at_the_stdout_cap(guests: dict[str, bytes]) -> None:
    with Executor(ExecutorConfig(module_cache_dir=None, max_stdout_bytes=10_000)) as ex:
        ex.preload(guests["output_flood"])  # compiling (a child process) is not what is timed
        started = time.monotonic()
        result = ex.execute(guests["output_flood"], limits=Limits(max_execution_seconds=20))
        assert time.monotonic() - started < 2  # stopped at the cap, not at the 20 s wall clock
    assert result.error_kind is ErrorKind.OUTPUT_TOO_LARGE
    assert len(result.stdout) == 10_000


def test_stderr_is_capped_without_failing_the_run(guests: dict[str, bytes]) -> None:
    with Executor(ExecutorConfig(module_cache_dir=None, max_stderr_bytes=5000)) as ex:
        result = ex.execute(guests["output_flood"], b"stderr")
    assert result.success, result.error
    assert len(result.stderr) == 5000
    assert result.stdout == b"done\n"


def test_division_by_zero_is_a_trap(executor: Executor, guests: dict[str, bytes]) -> None:
    result = executor.execute(guests["trap"], b"0")
    assert result.error_kind is ErrorKind.TRAP
    assert result.error is not None and result.error.startswith("integer_division_by_zero")
    assert executor.execute(guests["trap"], b"4").stdout == b"25\n"


def test_nonzero_exit_keeps_code_and_stderr(executor: Executor, guests: dict[str, bytes]) -> None:
    result = executor.execute(guests["exit_code"])
    assert result.error_kind is ErrorKind.NONZERO_EXIT
    assert result.exit_code == 3
    assert result.stderr == b"exit_code: refusing on purpose\n"


def test_missing_start_is_an_invalid_module(executor: Executor, guests: dict[str, bytes]) -> None:
    result = executor.execute(guests["no_start"])
    assert result.error_kind is ErrorKind.INVALID_MODULE
    assert "_start" in (result.error or "")


def test_non_wasi_imports_are_refused(executor: Executor, guests: dict[str, bytes]) -> None:
    result = executor.execute(guests["bad_imports"])
    assert result.error_kind is ErrorKind.BAD_IMPORTS
    assert "env.read_host_file" in (result.error or "")


def test_unknown_wasi_function_is_a_bad_import(executor: Executor) -> None:
    wasm = wasmtime.wat2wasm(
        '(module (import "wasi_snapshot_preview1" "no_such_call" (func)) (func (export "_start")))'
    )
    assert executor.execute(bytes(wasm)).error_kind is ErrorKind.BAD_IMPORTS


def test_garbage_and_truncated_modules_are_invalid(executor: Executor, guests: dict[str, bytes]) -> None:
    assert executor.execute(b"not wasm at all").error_kind is ErrorKind.INVALID_MODULE
    assert executor.execute(b"(module)").error_kind is ErrorKind.INVALID_MODULE  # no text format
    truncated = guests["sha256"][: len(guests["sha256"]) // 2]
    assert executor.execute(truncated).error_kind is ErrorKind.INVALID_MODULE


def test_oversized_module_is_invalid(guests: dict[str, bytes]) -> None:
    with Executor(ExecutorConfig(module_cache_dir=None, max_module_bytes=1000)) as ex:
        assert ex.execute(guests["sha256"]).error_kind is ErrorKind.INVALID_MODULE


def test_host_sleep_is_virtual_instead_of_blocking(executor: Executor, guests: dict[str, bytes]) -> None:
    """sleep(3600) returns at once, successfully: it advances the run's virtual clock (issue 15)."""
    executor.preload(guests["sleeper"])  # compiling (a child process) is not the sleep being measured
    started = time.monotonic()
    result = executor.execute(guests["sleeper"], limits=Limits(max_execution_seconds=5))
    assert time.monotonic() - started < 1
    assert result.success and result.stdout == b'{"slept":true}'
