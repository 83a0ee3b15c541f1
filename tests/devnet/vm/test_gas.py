"""Gas: fuel times regular_op_cost plus host costs; exceeding prepaid gas fails and rolls back."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from devnet.vm import DEFAULT_CONFIG, CompiledContract, execute
from devnet.vm.config import TGAS
from devnet.vm.testing import DEFAULT_CONTEXT, MemoryChainState
from devnet.vm.types import Outcome

Call = Callable[..., Outcome]
Result = Callable[[Outcome], Any]


def test_gas_burnt_grows_with_work(call: Call, result: Result) -> None:
    small = call("spin", {"n": 10})
    big = call("spin", {"n": 10_000})
    assert result(small) == 10 and result(big) == 10_000
    assert 0 < small.gas_burnt < big.gas_burnt < DEFAULT_CONTEXT.prepaid_gas
    # ~10k loop iterations of MicroPython bytecode are millions of wasm operators
    assert big.gas_burnt - small.gas_burnt > 9_990 * 100 * DEFAULT_CONFIG.regular_op_cost


def test_infinite_loop_exceeds_prepaid_gas(call: Call, result: Result) -> None:
    out = call("burn", prepaid_gas=5 * TGAS)
    assert out.error is not None and out.error.kind == "GasExceeded"
    assert out.gas_burnt == 5 * TGAS


def test_gas_exceeded_rolls_back_writes_and_receipts(call: Call, result: Result, chain: MemoryChainState) -> None:
    out = call("write_then_burn", prepaid_gas=5 * TGAS)
    assert out.error is not None and out.error.kind == "GasExceeded"
    assert out.storage_writes == {} and out.receipts == ()
    assert chain.data == {}


def test_prepaid_gas_below_loading_cost_fails_before_running(call: Call, result: Result) -> None:
    out = call("spin", {"n": 1}, prepaid_gas=1_000)
    assert out.error is not None and out.error.kind == "GasExceeded"


def test_burnt_gas_limit_applies_even_with_more_prepaid(vmtest: CompiledContract) -> None:
    config = dataclasses.replace(DEFAULT_CONFIG, max_gas_burnt=3 * TGAS)
    ctx = dataclasses.replace(DEFAULT_CONTEXT, prepaid_gas=300 * TGAS)
    out = execute(vmtest, "burn", ctx, MemoryChainState(), config=config)
    assert out.error is not None and out.error.kind == "GasLimitExceeded"
    assert out.gas_burnt == 3 * TGAS


def test_attached_gas_counts_against_prepaid(call: Call, result: Result) -> None:
    # promise_chain attaches 15 Tgas to its receipts: 10 Tgas prepaid cannot cover it
    out = call("promise_chain", prepaid_gas=10 * TGAS)
    assert out.error is not None and out.error.kind == "GasExceeded"
    assert out.receipts == ()
