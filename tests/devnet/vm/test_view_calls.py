"""View calls: read-only context works, anything that writes state or needs a signer is refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from devnet.vm.testing import NEAR, MemoryChainState
from devnet.vm.types import Outcome

Call = Callable[..., Outcome]
Result = Callable[[Outcome], Any]


def test_view_reads_context_and_state(call: Call, result: Result, chain: MemoryChainState) -> None:
    assert result(call("view_context", b"x", is_view=True)) == {
        "current": "c.test",
        "block_height": 42,
        "input": "x",
        "balance": 5 * NEAR,
    }
    chain.data[b"k"] = b"v"
    assert result(call("storage_get", {"key": "k"}, is_view=True)) == {"value": "v", "has": True}


@pytest.mark.parametrize(
    ("op", "host_function"),
    [
        ("signer", "signer_account_id"),
        ("signer_pk", "signer_account_pk"),
        ("predecessor", "predecessor_account_id"),
        ("prepaid_gas", "prepaid_gas"),
        ("used_gas", "used_gas"),
        ("write", "storage_write"),
        ("remove", "storage_remove"),
        ("promise", "promise_batch_create"),
        ("yield", "promise_yield_create"),
        ("results", "promise_results_count"),
    ],
)
def test_view_call_prohibits(call: Call, result: Result, op: str, host_function: str) -> None:
    out = call("try_op", {"op": op}, is_view=True)
    assert out.error is not None
    assert out.error.kind == "ProhibitedInView"
    assert host_function in out.error.message
    assert call("try_op", {"op": op}).ok  # the same call as a transaction is fine


def test_view_call_gas_is_bounded_by_the_view_limit_not_prepaid_gas(call: Call, result: Result) -> None:
    out = call("spin", {"n": 10}, is_view=True, prepaid_gas=0)
    assert result(out) == 10
