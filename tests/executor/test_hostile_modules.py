"""Bad-input corpus, module layer (issue 19 items 2 and 3): hostile wasm against the real executor.

Every case runs through both places untrusted wasm meets a compiler: the runtime (`Executor.execute`,
a guest failure is data) and the compile stage's check (`check_program`, a refused artifact). Each
must give a clear error, and a normal guest must still run afterwards on the same executor.
"""

# ruff: noqa: E501  (the case tables read best one case per line)

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from executor import EngineConfig, ErrorKind, Executor, ExecutorConfig, Limits, WasmCompileLimits
from executor._engine import ModuleCompileError
from executor._wasmtime import check_program, store_budget

from . import wasmgen

MiB = 1024 * 1024
TAG_SECTION = b"\x0d\x03\x01\x00\x00"  # one exception tag of type 0 (the exceptions proposal)


@dataclass(frozen=True)
class Case:
    name: str
    wasm: Callable[[], bytes]
    kind: ErrorKind
    message: str
    limits: Limits = dataclasses.field(default_factory=lambda: Limits(max_memory_mb=128))


CASES = [
    Case("50k locals (Cranelift ~cubic)", lambda: wasmgen.module(locals_per_function=50_000), ErrorKind.INVALID_MODULE, "locals"),
    Case("99 memories", lambda: wasmgen.module(memories=99), ErrorKind.INVALID_MODULE, "99 memories"),
    Case(
        "8 memories of 125 MiB under a 128 MiB limit",
        lambda: wasmgen.module(memories=8, memory_pages=2000),
        ErrorKind.INVALID_MODULE,
        "8 memories",
    ),
    Case("a table of 100M funcrefs", lambda: wasmgen.module(tables=1, table_min=100_000_000), ErrorKind.INVALID_MODULE, "table of 100000000"),
    Case("two tables", lambda: wasmgen.module(tables=2, table_min=1), ErrorKind.INVALID_MODULE, "2 tables"),
    Case("200k functions", lambda: wasmgen.module(functions=200_000), ErrorKind.INVALID_MODULE, "functions"),
    Case("a 1.2 MB function body", lambda: wasmgen.module(ops_per_function=200_000), ErrorKind.INVALID_MODULE, "function body"),
    Case("unexported memory", lambda: wasmgen.module(export_memory=False), ErrorKind.INVALID_MODULE, "exported"),
    Case("memory64", lambda: wasmgen.module(memory_flags=0x04), ErrorKind.INVALID_MODULE, "64-bit"),
    Case("shared memory (threads)", lambda: wasmgen.module(memory_flags=0x03), ErrorKind.INVALID_MODULE, "shared"),
    Case("exceptions proposal", lambda: wasmgen.module(extra_sections=TAG_SECTION), ErrorKind.INVALID_MODULE, "invalid module"),
    Case("GC-typed local", lambda: wasmgen.module(locals_per_function=1, local_type=0x64), ErrorKind.INVALID_MODULE, "GC"),
    Case("not wasm at all", lambda: b"#!/bin/sh\nrm -rf /\n", ErrorKind.INVALID_MODULE, "magic"),
    Case("truncated module", lambda: wasmgen.module(functions=3)[:-7], ErrorKind.INVALID_MODULE, "malformed"),
    Case("non-WASI import", lambda: wasmgen.module(imports=(("env", "read_host_file"),)), ErrorKind.BAD_IMPORTS, "env.read_host_file"),
    Case(
        "initial memory over the request's budget",
        lambda: wasmgen.module(memory_pages=2000),
        ErrorKind.MEMORY_LIMIT,
        "at start",
        Limits(max_memory_mb=64),
    ),
    Case(
        "a table over the request's budget",
        lambda: wasmgen.module(tables=1, table_min=60_000),
        ErrorKind.MEMORY_LIMIT,
        "memory limit",
        Limits(max_memory_mb=1),
    ),
]  # fmt: skip


@pytest.fixture(scope="module")
def runtime() -> Executor:
    ex = Executor(ExecutorConfig(module_cache_dir=None))
    yield ex  # type: ignore[misc]
    ex.close()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile_module_is_refused_by_the_runtime(case: Case, runtime: Executor) -> None:
    started = time.monotonic()
    result = runtime.execute(case.wasm(), limits=case.limits)
    assert not result.success
    assert result.error_kind is case.kind, result.error
    assert case.message in (result.error or ""), result.error
    assert time.monotonic() - started < 30  # refused, not compiled for minutes
    assert runtime.execute(wasmgen.module()).success  # the executor is unharmed: the next guest runs


@pytest.mark.parametrize("case", [c for c in CASES if c.kind is not ErrorKind.MEMORY_LIMIT], ids=lambda c: c.name)
def test_hostile_module_is_refused_by_the_compile_check(case: Case) -> None:
    problem = check_program(case.wasm(), engine=EngineConfig(), limits=WasmCompileLimits())
    assert problem is not None
    assert case.message.split()[0].lower() in problem.lower() or case.kind is ErrorKind.BAD_IMPORTS


def test_module_compile_over_its_cpu_budget_is_killed() -> None:
    """A module within every shape cap that still takes seconds of Cranelift: the child is killed."""
    wasm = wasmgen.module(functions=6000, ops_per_function=500)  # ~20 MB, ~2.8 s of one quiet core (1 s at 3000x300)
    limits = WasmCompileLimits(cpu_seconds=1, wall_seconds=60)
    started = time.monotonic()
    with pytest.raises(ModuleCompileError) as info:
        check_program(wasm, engine=EngineConfig(), limits=limits)
    assert info.value.timed_out and "CPU" in str(info.value)
    assert time.monotonic() - started < 20
    with Executor(ExecutorConfig(module_cache_dir=None, wasm_compile=limits)) as ex:
        result = ex.execute(wasm)
    assert result.error_kind is ErrorKind.INVALID_MODULE and "CPU" in (result.error or "")


def test_module_compile_is_cut_to_the_time_left() -> None:
    with pytest.raises(ModuleCompileError) as info:
        check_program(wasmgen.module(), engine=EngineConfig(), limits=WasmCompileLimits(), timeout_s=0.05)
    assert info.value.timed_out and "took over" in str(info.value)
    with pytest.raises(ModuleCompileError, match="no time left"):
        check_program(wasmgen.module(), engine=EngineConfig(), limits=WasmCompileLimits(), timeout_s=0)


def test_memory_bytes_is_the_peak_of_the_store(runtime: Executor) -> None:
    result = runtime.execute(wasmgen.module(memory_pages=1, grow_pages=50), limits=Limits(max_memory_mb=16))
    assert result.success
    assert result.memory_bytes == 51 * 65536


def test_one_budget_covers_memory_and_tables() -> None:
    for mb in (1, 16, 128, 512):
        budget = store_budget(mb * MiB, WasmCompileLimits())
        tables = budget["tables"] * budget["table_elements"] * 8
        assert budget["memory_size"] + tables <= mb * MiB
        assert (budget["memories"], budget["instances"]) == (1, 1)


def test_engine_proposals_are_a_per_runtime_value() -> None:
    """Exceptions stay off for ordinary guests; a runtime that needs them (Python) turns them on."""
    wasm = wasmgen.module(extra_sections=TAG_SECTION)
    with Executor(ExecutorConfig(module_cache_dir=None)) as plain:
        assert plain.execute(wasm).error_kind is ErrorKind.INVALID_MODULE
    python_like = dataclasses.replace(EngineConfig(), name="python", wasm_exceptions=True)
    with Executor(ExecutorConfig(module_cache_dir=None, engine=python_like)) as ex:
        assert ex.execute(wasm).success
        assert ex.engine_fingerprint != plain.engine_fingerprint
