"""nearcore's contract preparation and wasm rules (prepare_v3.rs, features.rs, finite-wasm), checked on
real wasm compiled from WAT: rejected proposals, limits, the normalised 1024/2048-page memory, start
functions, contracts without (exported) memory, and the stack-depth budget."""

from __future__ import annotations

import dataclasses

import pytest
import wasmtime

from devnet.vm import DEFAULT_CONFIG, ContractLoadError, execute, load_contract
from devnet.vm._prepare import PrepareError, prepare
from devnet.vm.testing import MemoryChainState, call_context

RETURN = '(import "env" "value_return" (func $value_return (param i64 i64)))'
RELAXED = "(i8x16.relaxed_swizzle (v128.const i64x2 0 0) (v128.const i64x2 0 0))"
TWO = "(func $two (result i32 i32) (i32.const 1) (i32.const 2))"


def _wasm(source: str) -> bytes:
    return bytes(wasmtime.wat2wasm(source))


def _load(source: str) -> object:
    return load_contract(_wasm(source))


def _returned_u64(source: str, method: str = "run") -> int:
    out = execute(load_contract(_wasm(source)), method, call_context(), MemoryChainState())
    assert out.error is None, out.error
    assert out.return_value is not None
    return int.from_bytes(out.return_value, "little", signed=True)


def _ret(expr: str) -> str:
    """A `run` method returning the i64 `expr` (written to memory at 0)."""
    return f'(func (export "run") (i64.store (i32.const 0) {expr}) (call $value_return (i64.const 8) (i64.const 0)))'


@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("SIMD", '(module (func (export "run") (drop (i32x4.splat (i32.const 1)))))'),
        ("relaxed SIMD", f'(module (func (export "run") (drop {RELAXED})))'),
        ("multi-value", f'(module (func (export "run") (drop (drop (call $two)))) {TWO})'),
        ("tail calls", '(module (func $f (return_call $g)) (func $g) (export "run" (func $f)))'),
        ("multi-memory", '(module (memory 1) (memory 1) (func (export "run")))'),
        ("memory64", '(module (memory i64 1) (func (export "run")))'),
        ("threads", '(module (memory 1 1 shared) (func (export "run")))'),
        ("extended-const", '(module (global i32 (i32.add (i32.const 1) (i32.const 2))) (func (export "run")))'),
        ("exceptions", '(module (tag $t) (func (export "run") (throw $t)))'),
        ("two tables", '(module (table 1 funcref) (table 1 funcref) (func (export "run")))'),
        ("table over 10000 elements", '(module (table 10001 funcref) (func (export "run")))'),
        ("imported memory", '(module (import "env" "memory" (memory 1)) (func (export "run")))'),
        ("imported table", '(module (import "env" "t" (table 1 funcref)) (func (export "run")))'),
        ("over 64 params", f'(module (func (export "run")) (func (param {" i32" * 65})))'),
    ],
)  # fmt: skip
def test_nearcore_rejects_it_so_do_we(name: str, module: str) -> None:
    with pytest.raises(ContractLoadError):
        _load(module)


def test_prepare_errors_carry_nearcores_names() -> None:
    cases = {
        "TooManyTables": '(module (table 1 funcref) (table 1 funcref))',
        "TooManyTableElements": "(module (table 10001 funcref))",
        "Memory": '(module (import "env" "memory" (memory 1)))',
        "Instantiate": '(module (import "wasi" "fd_write" (func)))',
        "Deserialization": "(module (func (result i32 i64) (i32.const 1) (i64.const 2)))",
    }  # fmt: skip
    for kind, module in cases.items():
        with pytest.raises(PrepareError) as err:
            prepare(_wasm(module), DEFAULT_CONFIG)
        assert err.value.kind == kind


def test_function_locals_and_body_size_limits() -> None:
    small = dataclasses.replace(DEFAULT_CONFIG, max_functions_number_per_contract=3, max_locals_per_contract=10)
    funcs = '(module (import "env" "panic" (func)) (func) (func) (func))'  # 1 import + 3 = 4 functions
    with pytest.raises(PrepareError, match="TooManyFunctions"):
        prepare(_wasm(funcs), small)
    locals_ = "(module (func (local i64 i64 i64 i64 i64 i64)) (func (local i32 i32 i32 i32 i32)))"
    with pytest.raises(PrepareError, match="TooManyLocals"):
        prepare(_wasm(locals_), small)
    big_body = '(module (func (export "run")' + " nop" * (DEFAULT_CONFIG.max_function_body_size + 1) + "))"
    with pytest.raises(PrepareError, match="FunctionBodyTooLarge"):
        prepare(_wasm(big_body), DEFAULT_CONFIG)
    ok_body = '(module (func (export "run")' + " nop" * 1000 + "))"
    prepare(_wasm(ok_body), DEFAULT_CONFIG)


def test_bulk_memory_and_reference_types_are_allowed() -> None:
    src = f"""(module {RETURN} (memory 1) (table 2 funcref) (elem declare func $f) (func $f)
      (func (export "run")
        (memory.fill (i32.const 0) (i32.const 7) (i32.const 8))
        (drop (ref.is_null (ref.func $f)))
        (call $value_return (i64.const 8) (i64.const 0))))"""
    out = execute(_load(src), "run", call_context(), MemoryChainState())  # type: ignore[arg-type]
    assert out.error is None and out.return_value == b"\x07" * 8


@pytest.mark.parametrize(
    "memory",
    ["(memory 1)", '(memory (export "memory") 3 17)', '(memory (export "mem") 0)', ""],
)
def test_every_contract_gets_nearcores_memory_of_1024_pages(memory: str) -> None:
    """nearcore replaces whatever memory a contract declares (or none) with 1024 pages growing to 2048,
    reachable by the host whether or not the contract exports it."""
    src = f"(module {RETURN} {memory} {_ret('(i64.extend_i32_u (memory.size))')})"
    assert _returned_u64(src) == DEFAULT_CONFIG.initial_memory_pages


def test_memory_grows_to_2048_pages_and_no_further() -> None:
    grow = (
        "(i64.extend_i32_s (i32.add (i32.mul (memory.grow (i32.const 1024)) (i32.const 10000))"
        " (memory.grow (i32.const 1))))"
    )
    # first grow returns the old size (1024), the second fails (-1): 1024 * 10000 - 1
    assert _returned_u64(f"(module {RETURN} (memory 1) {_ret(grow)})") == 1024 * 10_000 - 1


def test_a_start_function_runs_and_may_call_the_host() -> None:
    src = f"""(module {RETURN} (import "env" "log_utf8" (func $log (param i64 i64)))
      (global $g (mut i64) (i64.const 0))
      (data (i32.const 100) "started")
      (func $start (call $log (i64.const 7) (i64.const 100)) (global.set $g (i64.const 42)))
      (start $start)
      {_ret("(global.get $g)")})"""
    out = execute(_load(src), "run", call_context(), MemoryChainState())  # type: ignore[arg-type]
    assert out.error is None and out.logs == ("started",)
    assert out.return_value == (42).to_bytes(8, "little")


def test_stack_depth_is_close_to_nearcores_finite_wasm_budget() -> None:
    """finite-wasm charges this frame 64 + 8 (param) + 24 (operand stack) = 96 of 262144 units, so
    nearcore recurses ~2730 times; wasmtime's default stack allowed about 4x more."""
    nearcore_depth = DEFAULT_CONFIG.max_stack_height // 96

    def recurse(n: int) -> bool:
        src = f"""(module (func $rec (param $n i64) (result i64)
            (if (result i64) (i64.eqz (local.get $n)) (then (i64.const 0))
              (else (i64.add (i64.const 1) (call $rec (i64.sub (local.get $n) (i64.const 1)))))))
          (func (export "run") (drop (call $rec (i64.const {n})))))"""
        out = execute(load_contract(_wasm(src)), "run", call_context(), MemoryChainState())
        assert out.error is None or "stack_overflow" in out.error.message, out.error
        return out.error is None

    assert recurse(int(0.9 * nearcore_depth))
    assert not recurse(int(1.1 * nearcore_depth))
    assert not recurse(4 * nearcore_depth)
