"""wasmtime plumbing: one Engine and one Linker per process, contracts compiled once per code hash.

The Linker's host functions are defined once and dispatch to the session of the call running on this
thread (`_ACTIVE`), so a call costs a Store and an instantiation, not 60 `define_func`s.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import wasmtime
from wasmtime import _ffi as ffi

from devnet.vm._prepare import PrepareError, prepare
from devnet.vm.config import DEFAULT_CONFIG

# nearcore limits the stack with finite-wasm: `max_stack_height` (262144) units, a frame costing 64 + 8 per
# i64 local/param + its largest operand stack. wasmtime counts native stack instead (~48 bytes for a small
# frame with fuel metering): 128 KiB gives the recursive function of tests/devnet/vm/test_prepare.py 2727
# levels (nearcore: 2730) where wasmtime's default 512 KiB allowed ~4x more. Not exact per function.
WASM_STACK_BYTES = 128 * 1024

_I64 = wasmtime.ValType.i64()
_I32 = wasmtime.ValType.i32()
_U64 = (1 << 64) - 1

# name -> (number of i64 params, result: "i64" | "i32" | None). Signatures are nearcore's `imports.rs`.
_HOST_SIGNATURES: dict[str, tuple[int, str | None]] = {
    # registers
    "read_register": (2, None),
    "register_len": (1, "i64"),
    "write_register": (3, None),
    # context
    "current_account_id": (1, None),
    "signer_account_id": (1, None),
    "signer_account_pk": (1, None),
    "predecessor_account_id": (1, None),
    "input": (1, None),
    "block_index": (0, "i64"),
    "block_timestamp": (0, "i64"),
    "epoch_height": (0, "i64"),
    "storage_usage": (0, "i64"),
    # economics
    "account_balance": (1, None),
    "account_locked_balance": (1, None),
    "attached_deposit": (1, None),
    "prepaid_gas": (0, "i64"),
    "used_gas": (0, "i64"),
    # math
    "random_seed": (1, None),
    "sha256": (3, None),
    "keccak256": (3, None),
    "keccak512": (3, None),
    "ripemd160": (3, None),
    "ecrecover": (7, "i64"),
    "ed25519_verify": (6, "i64"),
    "alt_bn128_g1_multiexp": (3, None),
    "alt_bn128_g1_sum": (3, None),
    "alt_bn128_pairing_check": (2, "i64"),
    # miscellaneous
    "value_return": (2, None),
    "panic": (0, None),
    "panic_utf8": (2, None),
    "log_utf8": (2, None),
    "log_utf16": (2, None),
    "abort": (4, None),  # i32 params, see _param_types
    # promises
    "promise_create": (8, "i64"),
    "promise_then": (9, "i64"),
    "promise_and": (2, "i64"),
    "promise_batch_create": (2, "i64"),
    "promise_batch_then": (3, "i64"),
    "promise_batch_action_create_account": (1, None),
    "promise_batch_action_deploy_contract": (3, None),
    "promise_batch_action_function_call": (7, None),
    "promise_batch_action_function_call_weight": (8, None),
    "promise_batch_action_transfer": (2, None),
    "promise_batch_action_stake": (4, None),
    "promise_batch_action_add_key_with_full_access": (4, None),
    "promise_batch_action_add_key_with_function_call": (9, None),
    "promise_batch_action_delete_key": (3, None),
    "promise_batch_action_delete_account": (3, None),
    "promise_yield_create": (7, "i64"),
    "promise_yield_resume": (4, "i32"),
    "promise_results_count": (0, "i64"),
    "promise_result": (2, "i64"),
    "promise_return": (1, None),
    # storage
    "storage_write": (5, "i64"),
    "storage_read": (3, "i64"),
    "storage_remove": (3, "i64"),
    "storage_has_key": (2, "i64"),
    "storage_iter_prefix": (2, "i64"),
    "storage_iter_range": (4, "i64"),
    "storage_iter_next": (3, "i64"),
    # validator
    "validator_stake": (3, None),
    "validator_total_stake": (1, None),
    # newer host functions (protocol <= 85); the ones the devnet does not model fail with a named error
    "p256_verify": (6, "i64"),
    "bls12381_p1_sum": (3, "i64"),
    "bls12381_p2_sum": (3, "i64"),
    "bls12381_g1_multiexp": (3, "i64"),
    "bls12381_g2_multiexp": (3, "i64"),
    "bls12381_map_fp_to_g1": (3, "i64"),
    "bls12381_map_fp2_to_g2": (3, "i64"),
    "bls12381_pairing_check": (2, "i64"),
    "bls12381_p1_decompress": (3, "i64"),
    "bls12381_p2_decompress": (3, "i64"),
    "promise_yield_create_with_id": (9, "i64"),
    "promise_yield_resume_with_yield_id": (4, "i32"),
    "promise_batch_action_deploy_global_contract": (3, None),
    "promise_batch_action_deploy_global_contract_by_account_id": (3, None),
    "promise_batch_action_use_global_contract": (3, None),
    "promise_batch_action_use_global_contract_by_account_id": (3, None),
}

HOST_FUNCTIONS: frozenset[str] = frozenset(_HOST_SIGNATURES)


def _param_types(name: str) -> list[wasmtime.ValType]:
    count, _ = _HOST_SIGNATURES[name]
    return [_I32 if name == "abort" else _I64 for _ in range(count)]


def _func_type(name: str) -> wasmtime.FuncType:
    _, result = _HOST_SIGNATURES[name]
    results = [] if result is None else [_I64 if result == "i64" else _I32]
    return wasmtime.FuncType(_param_types(name), results)


def _same_type(a: wasmtime.FuncType, b: wasmtime.FuncType) -> bool:
    return [str(t) for t in a.params] == [str(t) for t in b.params] and [str(t) for t in a.results] == [
        str(t) for t in b.results
    ]


class HostDispatch(Protocol):
    """What the Linker's host functions call into: one object per running contract call."""

    def dispatch(self, name: str, caller: wasmtime.Caller, args: tuple[int, ...]) -> int | None: ...


class _Active(threading.local):
    session: HostDispatch | None = None


_ACTIVE = _Active()


def _make_host(name: str, result: str | None) -> Callable[..., Any]:
    mask = 0xFFFF_FFFF if name == "abort" else _U64  # wasmtime hands over signed ints

    def host(caller: wasmtime.Caller, *args: int) -> int | None:
        session = _ACTIVE.session
        if session is None:  # pragma: no cover - only if a store outlives its call
            raise RuntimeError(f"host function {name} called outside a contract call")
        value = session.dispatch(name, caller, tuple(a & mask for a in args))
        if result is None:
            return None
        assert value is not None
        if result == "i32":
            return value - (1 << 32) if value >= (1 << 31) else value
        return value - (1 << 64) if value >= (1 << 63) else value

    return host


@dataclass(frozen=True)
class Runtime:
    engine: wasmtime.Engine
    linker: wasmtime.Linker


_RUNTIME: Runtime | None = None
_RUNTIME_LOCK = threading.Lock()


def runtime() -> Runtime:
    """The process-wide Engine (fuel metering on) and Linker, created on first use.

    Created lazily on purpose: wasmtime turns traps (`unreachable`, out-of-bounds access) into signals
    and installs its handlers with the first Engine. A handler installed *after* it that re-raises
    (`faulthandler.enable()`, which pytest calls during start-up) would turn every wasm trap into a
    process crash, so the Engine must not exist yet at import time.
    """
    global _RUNTIME
    with _RUNTIME_LOCK:
        if _RUNTIME is None:
            config = wasmtime.Config()
            config.consume_fuel = True
            # nearcore (protocol >= 84, wasmtime): bulk memory and reference types on, every other
            # proposal off (near-vm-runner/src/features.rs). What has no switch is rejected by _prepare.
            config.wasm_bulk_memory = True
            config.wasm_reference_types = True
            config.wasm_simd = False
            config.wasm_relaxed_simd = False
            config.wasm_threads = False
            config.wasm_tail_call = False
            config.wasm_multi_memory = False
            config.wasm_memory64 = False
            config.wasm_multi_value = False
            config.wasm_exceptions = False
            config.wasm_gc = False
            config.wasm_function_references = False
            config.wasm_component_model = False
            config.wasm_wide_arithmetic = False
            config.wasm_custom_page_sizes = False
            config.wasm_stack_switching = False
            config.max_wasm_stack = WASM_STACK_BYTES
            with contextlib.suppress(wasmtime.WasmtimeError):
                # wasmtime's on-disk code cache (~/.cache/wasmtime): a 400 KB nearc contract compiles
                # in ~2 s, and loads from the cache in ~15 ms in the next process.
                config.cache = True
            engine = wasmtime.Engine(config)
            linker = wasmtime.Linker(engine)
            for name, (_, result) in _HOST_SIGNATURES.items():
                linker.define_func("env", name, _func_type(name), _make_host(name, result), access_caller=True)
            _RUNTIME = Runtime(engine=engine, linker=linker)
        return _RUNTIME


def set_active(session: HostDispatch | None) -> None:
    _ACTIVE.session = session


def get_fuel(ctx: wasmtime.Store | wasmtime.Caller) -> int:
    """Fuel left in the store; works from inside a host call (through the Caller's context)."""
    remaining = ctypes.c_uint64(0)
    err = ffi.wasmtime_context_get_fuel(ctx._context(), ctypes.byref(remaining))
    if err:
        raise wasmtime.WasmtimeError._from_ptr(err)
    return int(remaining.value)


def set_fuel(ctx: wasmtime.Store | wasmtime.Caller, fuel: int) -> None:
    err = ffi.wasmtime_context_set_fuel(ctx._context(), max(fuel, 0))
    if err:
        raise wasmtime.WasmtimeError._from_ptr(err)


@dataclass(frozen=True, eq=False)
class CompiledContract:
    """A validated, compiled contract. Cheap to keep: instantiate per call from `module`."""

    code_hash: bytes  # sha256 of the wasm, as NEAR's code_hash
    code_size: int
    methods: frozenset[str]  # exported functions of type () -> ()
    module: wasmtime.Module


_CACHE: dict[bytes, CompiledContract] = {}
_CACHE_LOCK = threading.Lock()


def load_contract(wasm: bytes) -> CompiledContract:
    """Compile once per code hash and check that every import is a NEAR host function of the right type."""
    code_hash = hashlib.sha256(wasm).digest()
    with _CACHE_LOCK:
        cached = _CACHE.get(code_hash)
    if cached is not None:
        return cached
    prepared = prepare(wasm, DEFAULT_CONFIG)
    try:
        module = wasmtime.Module(runtime().engine, prepared)
    except wasmtime.WasmtimeError as exc:
        # nearcore reports every module its validator refuses as PrepareError::Deserialization
        raise PrepareError("Deserialization", f"invalid wasm: {str(exc).splitlines()[0]}") from exc
    for imp in module.imports:
        where = f"{imp.module}.{imp.name}"
        if imp.module != "env" or imp.name not in _HOST_SIGNATURES:
            raise PrepareError("Instantiate", f"import {where} is not a NEAR host function")
        ty = imp.type
        if not isinstance(ty, wasmtime.FuncType) or not _same_type(ty, _func_type(imp.name or "")):
            raise PrepareError("Instantiate", f"import {where} has the wrong type for the NEAR host function")
    methods: set[str] = set()
    for exp in module.exports:
        ty = exp.type
        if isinstance(ty, wasmtime.FuncType) and not list(ty.params) and not list(ty.results):
            methods.add(exp.name)
    contract = CompiledContract(code_hash=code_hash, code_size=len(wasm), methods=frozenset(methods), module=module)
    with _CACHE_LOCK:
        return _CACHE.setdefault(code_hash, contract)
