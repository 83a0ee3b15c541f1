"""promise_yield_create / promise_yield_resume and the callback, as the node drives them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from devnet.vm import yield_data_id
from devnet.vm.config import TGAS
from devnet.vm.testing import DEFAULT_CONTEXT, MemoryChainState
from devnet.vm.types import FunctionCall, Outcome, PromiseResult

Call = Callable[..., Outcome]
Result = Callable[[Outcome], Any]


def test_yield_create_makes_a_yielded_receipt_and_returns_the_data_id(
    call: Call, result: Result, chain: MemoryChainState
) -> None:
    out = call("yield_create", {"tag": "t1"})
    data_id = yield_data_id(DEFAULT_CONTEXT.receipt_id, 0)
    assert result(out) == data_id.hex()  # the guest read the 32 bytes from the register
    (receipt,) = out.receipts
    assert receipt.receiver_id == "c.test" and receipt.yield_data_id == data_id
    assert receipt.actions == (
        FunctionCall(method_name="on_resume", args=json.dumps({"tag": "t1"}).encode(), gas=5 * TGAS, deposit=0),
    )
    assert chain.data[b"data_id"] == data_id


def test_data_ids_are_deterministic_and_unique_per_receipt(call: Call, result: Result) -> None:
    a = call("yield_create", receipt_id=b"\x01" * 32).receipts[0].yield_data_id
    b = call("yield_create", receipt_id=b"\x01" * 32).receipts[0].yield_data_id
    c = call("yield_create", receipt_id=b"\x02" * 32).receipts[0].yield_data_id
    assert a == b != c


def test_resume_of_a_pending_yield(call: Call, result: Result) -> None:
    data_id = bytes.fromhex(result(call("yield_create")))
    out = call("yield_resume", {"data_id": data_id.hex(), "payload": "the answer"})
    assert result(out) is True
    assert [(r.data_id, r.payload) for r in out.yield_resumes] == [(data_id, b"the answer")]
    again = call("yield_resume", {"data_id": data_id.hex(), "payload": "again"})
    assert result(again) is False and again.yield_resumes == ()


def test_resume_of_an_unknown_data_id_returns_false(call: Call, result: Result) -> None:
    out = call("yield_resume", {"data_id": "ab" * 32, "payload": "x"})
    assert result(out) is False
    assert out.yield_resumes == ()


def test_resume_payload_limit_is_1024_bytes(call: Call, result: Result) -> None:
    data_id = result(call("yield_create"))
    too_big = call("yield_resume", {"data_id": data_id, "payload": "x" * 1025})
    assert too_big.error is not None and too_big.error.kind == "YieldPayloadLength"
    assert result(call("yield_resume", {"data_id": data_id, "payload": "x" * 1024})) is True


def test_resume_with_a_malformed_data_id_fails(call: Call, result: Result) -> None:
    out = call("yield_resume", {"data_id": "abcd", "payload": "x"})
    assert out.error is not None and out.error.kind == "DataIdMalformed"


def _run_callback(call: Call, result: Result, created_receipt_args: bytes, outcome_result: PromiseResult) -> object:
    """What the node does a block after a resume or a timeout: run the yielded FunctionCall."""
    return result(
        call("on_resume", created_receipt_args, predecessor_account_id="c.test", promise_results=(outcome_result,))
    )


def test_resumed_payload_is_delivered_to_the_callback(call: Call, result: Result) -> None:
    created = call("yield_create", {"tag": "r", "return_promise": True})
    assert created.return_promise == 0
    (receipt,) = created.receipts
    (action,) = receipt.actions
    assert isinstance(action, FunctionCall)
    resumed = call("yield_resume", {"payload": '{"ok":1}'})  # data_id read back from contract state
    assert result(resumed) is True
    (resume,) = resumed.yield_resumes
    assert resume.data_id == receipt.yield_data_id
    delivered = _run_callback(call, result, action.args, PromiseResult("successful", resume.payload))
    assert delivered == {"tag": "r", "count": 1, "status": 1, "payload": '{"ok":1}'}


def test_timed_out_yield_delivers_a_failed_result_to_the_callback(call: Call, result: Result) -> None:
    created = call("yield_create", {"tag": "late"})
    (action,) = created.receipts[0].actions
    assert isinstance(action, FunctionCall)
    delivered = _run_callback(call, result, action.args, PromiseResult("failed"))
    assert delivered == {"tag": "late", "count": 1, "status": 2, "payload": None}
