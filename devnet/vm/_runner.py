"""Run one method of a compiled contract: fresh Store and instance per call, effects kept only on success."""

from __future__ import annotations

import logging
import re
import threading

import wasmtime

from devnet.vm._engine import CompiledContract, runtime, set_active
from devnet.vm._host import HostFailure, Session
from devnet.vm._prepare import MEMORY_EXPORT
from devnet.vm.config import DEFAULT_CONFIG, VMConfig
from devnet.vm.types import CallContext, ChainState, HostError, Outcome

_log = logging.getLogger(__name__)

# wasmtime-py keeps the exception raised by a host function in a module global until the call returns,
# so two calls on different threads could swap errors: one call at a time per process.
_LOCK = threading.Lock()


def _describe(trap: wasmtime.Trap) -> str:
    """The cause of a trap ("wasm trap: out of bounds memory access"), without the backtrace."""
    lines = [line.strip() for line in trap.message.splitlines() if line.strip()]
    cause = re.sub(r"^\d+: ", "", lines[-1]) if lines else "wasm trap"
    return f"{trap.trap_code.name.lower()}: {cause}" if trap.trap_code is not None else cause


def execute(
    contract: CompiledContract,
    method: str,
    ctx: CallContext,
    state: ChainState,
    *,
    config: VMConfig = DEFAULT_CONFIG,
) -> Outcome:
    """Execute `method` with `ctx` against `state`; never raises for a failing call (see Outcome.error).

    On failure the outcome keeps the logs and the gas burnt but no return value, receipts, yield resumes
    or storage writes: the call is rolled back.
    """
    if not method:
        return Outcome(error=HostError("MethodEmptyName", "method name is empty"))
    session = Session(ctx, state, config)
    try:
        session.charge(None, config.contract_loading_base + config.contract_loading_byte * contract.code_size)
    except HostFailure as failure:
        return session.failure(failure.to_error())
    if method not in contract.methods:
        return session.failure(HostError("MethodNotFound", f"contract has no method {method!r}"))
    with _LOCK:
        set_active(session)
        try:
            return _run(contract, method, session, config)
        finally:
            set_active(None)


def _run(contract: CompiledContract, method: str, session: Session, config: VMConfig) -> Outcome:
    rt = runtime()
    store = wasmtime.Store(rt.engine)
    store.set_limits(memory_size=config.max_memory_bytes)
    try:
        session.refuel(store)
        instance = rt.linker.instantiate(store, contract.module)
        exports = instance.exports(store)
        memory = exports[MEMORY_EXPORT]
        func = exports[method]
        assert isinstance(memory, wasmtime.Memory) and isinstance(func, wasmtime.Func)
        session.memory = memory
        func(store)
        session.finish_wasm(store)
    except HostFailure as failure:
        session.finish_wasm(store)
        return session.failure(failure.to_error())
    except wasmtime.Trap as trap:
        session.finish_wasm(store)
        if trap.trap_code == wasmtime.TrapCode.OUT_OF_FUEL:
            return session.failure(session.out_of_fuel().to_error())
        return session.failure(HostError("WasmTrap", _describe(trap)))
    except wasmtime.WasmtimeError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        return session.failure(HostError("WasmTrap", lines[-1] if lines else "instantiation failed"))
    except Exception as exc:  # a bug in a host function must fail the call, not the node
        _log.exception("host function failed unexpectedly in %s", method)
        return session.failure(HostError("VMInternalError", f"{type(exc).__name__}: {exc}"))
    return session.success()
