"""Every method of the offshore contract and every rejection, run on the devnet VM call by call."""

from __future__ import annotations

import base64
import json

import pytest

from contract import Pricing, charge, estimate
from contract.testing import CLIENT, CONTRACT, OPERATOR, OWNER, SOURCE, Offshore, events_of, transfers, used
from devnet.vm.config import TGAS

TEN_MINUTES_NS = 600 * 10**9


# ---- init and views


def test_new_only_once_and_only_by_the_contract_account(offshore_code: object) -> None:
    fresh = Offshore(offshore_code)  # type: ignore[arg-type]
    assert "not initialized" in fresh.err("get_config")
    assert "only the contract account" in fresh.err(
        "new", {"owner_id": OWNER, "operator_id": OPERATOR}, predecessor="mallory.test"
    )
    fresh.init()
    assert "already initialized" in fresh.err(
        "new", {"owner_id": "x.test", "operator_id": OPERATOR}, predecessor=CONTRACT
    )
    assert fresh.view("get_config")["owner_id"] == OWNER


def test_views_report_config_pricing_limits_and_stats(offshore: Offshore) -> None:
    cfg = offshore.view("get_config")
    assert cfg["owner_id"] == OWNER and cfg["operator_id"] == OPERATOR and cfg["paused"] is False
    assert cfg["yield_timeout_blocks"] == 200 and cfg["max_resume_payload_bytes"] == 1024
    assert cfg["event_standard"] == "near-offshore" and cfg["event_version"] == "1.1.0"
    assert offshore.view("get_max_limits") == {
        "max_instructions": 100_000_000_000,
        "max_memory_mb": 512,
        "max_execution_seconds": 60,
    }
    assert Pricing.from_json(offshore.view("get_pricing")) == Pricing()
    assert offshore.view("is_paused") is False
    stats = offshore.view("get_stats")
    assert stats["total_requests"] == 0 and stats["next_request_id"] == 1 and stats["total_charged"] == "0"
    assert offshore.view("get_request", {"request_id": "1"}) is None
    assert offshore.view("list_pending_requests", {}) == []


def test_estimate_includes_the_compile_allowance(offshore: Offshore) -> None:
    limits = {"max_instructions": 2_500_000, "max_memory_mb": 64, "max_execution_seconds": 3}
    got = offshore.estimate(limits)
    p = Pricing()
    assert got == estimate(p, max_instructions=2_500_000, max_execution_seconds=3)
    assert got == p.base_fee + 3 * p.per_million_instructions_fee + 3000 * p.per_ms_fee + 60_000 * p.per_compile_ms_fee
    defaults = offshore.view("get_config")["default_limits"]
    assert offshore.estimate(None) == estimate(
        p, max_instructions=defaults["max_instructions"], max_execution_seconds=defaults["max_execution_seconds"]
    )


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"max_instructions": 100_000_000_001}, "exceeds the hard cap"),
        ({"max_execution_seconds": 61}, "exceeds the hard cap"),
        ({"max_memory_mb": 513}, "exceeds the hard cap"),
        ({"max_memory_mb": 0}, "at least 1"),
        ({"max_instructions": "10"}, "must be an integer"),
        ({"max_cpu": 1}, "unknown resource limit"),
    ],
)
def test_limits_over_the_caps_or_malformed_are_rejected(
    offshore: Offshore, limits: dict[str, object], message: str
) -> None:
    assert message in offshore.err("estimate_execution_cost", {"resource_limits": limits}, view=True)
    assert message in offshore.err(
        "request_execution", {"code_source": SOURCE, "resource_limits": limits}, deposit=10**26
    )


def test_limits_at_the_caps_are_accepted(offshore: Offshore) -> None:
    caps = offshore.view("get_max_limits")
    rid = offshore.request(resource_limits=caps)
    assert offshore.view("get_request", {"request_id": rid})["resource_limits"] == caps


# ---- request_execution


def test_request_stores_yields_and_emits_execution_requested(offshore: Offshore) -> None:
    pay = offshore.estimate(None) + 5
    out = offshore.call(
        "request_execution",
        {"code_source": SOURCE, "input_data": '{"n": 3}', "encrypted_secrets": "c2VjcmV0", "response_format": "Json"},
        deposit=pay,
        gas=100 * TGAS,
    )
    assert out.error is None
    (yielded,) = out.receipts
    assert yielded.receiver_id == CONTRACT and yielded.yield_data_id is not None
    assert out.return_promise == yielded.index
    call = yielded.actions[0]
    assert call.method_name == "on_execution_response" and json.loads(call.args) == {"request_id": "1"}  # type: ignore[union-attr]
    (event,) = events_of(out)
    assert event["standard"] == "near-offshore" and event["version"] == "1.1.0"
    assert event["event"] == "execution_requested"
    data = event["data"][0]
    assert data == {
        "request_id": "1",
        "sender_id": CLIENT,
        "code_source": {**SOURCE, "path": None},
        "resource_limits": offshore.view("get_config")["default_limits"],
        "input_data": '{"n": 3}',
        "encrypted_secrets": "c2VjcmV0",
        "response_format": "Json",
        "payment": str(pay),
        "data_id": yielded.yield_data_id.hex(),
        "timestamp": offshore.now_ns,
    }
    req = offshore.view("get_request", {"request_id": "1"})
    assert req["status"] == "pending" and req["data_id"] == data["data_id"] and req["payment"] == str(pay)
    assert req["yield_deadline_height"] == offshore.height + 200
    assert [r["request_id"] for r in offshore.view("list_pending_requests", {})] == [1]
    stats = offshore.view("get_stats")
    assert stats["pending"] == 1 and stats["total_payment"] == str(pay) and stats["next_request_id"] == 2


def test_request_ids_increment_and_pending_pages(offshore: Offshore) -> None:
    ids = [offshore.request() for _ in range(4)]
    assert ids == ["1", "2", "3", "4"]
    page = offshore.view("list_pending_requests", {"from": "2", "limit": 2})
    assert [r["request_id"] for r in page] == [2, 3]
    assert "limit must be a positive integer" in offshore.err("list_pending_requests", {"limit": 0}, view=True)


def test_prebuilt_wasm_source_needs_a_relative_wasm_path(offshore: Offshore) -> None:
    src = {**SOURCE, "build_target": "wasm", "path": "dist/app.wasm"}
    rid = offshore.request(code_source=src)
    assert offshore.view("get_request", {"request_id": rid})["code_source"]["path"] == "dist/app.wasm"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({**SOURCE, "commit": "main"}, "full 40-hex commit sha"),
        ({**SOURCE, "commit": "0123456789ABCDEF0123456789ABCDEF01234567"}, "lowercase"),
        ({**SOURCE, "commit": "g" * 40}, "40-hex"),
        ({**SOURCE, "repo": ""}, "repo"),
        ({**SOURCE, "repo": "https://x y"}, "repo"),
        ({**SOURCE, "build_target": "x86_64"}, "build_target"),
        ({**SOURCE, "build_target": "wasm"}, "code_source.path"),
        ({**SOURCE, "build_target": "wasm", "path": "../escape.wasm"}, "relative path"),
        ({**SOURCE, "build_target": "wasm", "path": "/abs.wasm"}, "relative path"),
        ({**SOURCE, "build_target": "wasm", "path": "a.txt"}, ".wasm file"),
        ({**SOURCE, "path": "a.wasm"}, "only allowed with build_target wasm"),
        ({**SOURCE, "branch": "main"}, "unknown code_source field"),
        ("https://github.com/x.git", "must be an object"),
    ],
)
def test_malformed_source_is_rejected(offshore: Offshore, source: object, message: str) -> None:
    msg = offshore.err("request_execution", {"code_source": source}, deposit=10**26)
    assert message in msg


def test_deposit_below_the_estimate_is_rejected(offshore: Offshore) -> None:
    need = offshore.estimate(None)
    msg = offshore.err("request_execution", {"code_source": SOURCE}, deposit=need - 1)
    assert "below the estimated cost " + str(need) in msg
    assert offshore.request(deposit=need) == "1"


def test_oversized_input_format_and_secrets_are_rejected(offshore: Offshore) -> None:
    cfg = offshore.view("get_config")
    big = "x" * (cfg["max_input_bytes"] + 1)
    assert "input_data exceeds" in offshore.err(
        "request_execution", {"code_source": SOURCE, "input_data": big}, deposit=10**26
    )
    assert "response_format" in offshore.err(
        "request_execution", {"code_source": SOURCE, "response_format": "Xml"}, deposit=10**26
    )
    assert "encrypted_secrets exceeds" in offshore.err(
        "request_execution",
        {"code_source": SOURCE, "encrypted_secrets": "s" * (cfg["max_secrets_bytes"] + 1)},
        deposit=10**26,
    )


def test_paused_contract_rejects_requests(offshore: Offshore) -> None:
    offshore.ok("set_paused", {"paused": True}, predecessor=OWNER)
    assert offshore.view("is_paused") is True
    assert "paused" in offshore.err("request_execution", {"code_source": SOURCE}, deposit=10**26)
    offshore.ok("set_paused", {"paused": False}, predecessor=OWNER)
    assert offshore.request() == "1"


# ---- resolve and the callback


def test_resolve_then_callback_charges_refunds_and_returns_text(offshore: Offshore) -> None:
    pay = offshore.estimate(None) + 10**22
    rid = offshore.request(deposit=pay)
    res = used(instructions=2_000_001, time_ms=7, compile_time_ms=1500)
    payload = offshore.resolve(rid, {"success": True, "output": "hello", "resources_used": res})
    assert len(payload) <= 1024
    req = offshore.view("get_request", {"request_id": rid})
    assert req["status"] == "pending" and req["resolved"] is True
    out = offshore.callback(rid, payload)
    assert out.error is None and json.loads(out.return_value or b"") == "hello"
    charged = charge(Pricing(), pay, **res)
    assert transfers(out) == [(CLIENT, pay - charged)]
    (event,) = events_of(out)
    assert event["event"] == "execution_completed"
    assert event["data"][0] == {
        "request_id": rid,
        "sender_id": CLIENT,
        "success": True,
        "error": None,
        "resources_used": res,
        "payment_charged": str(charged),
        "payment_refunded": str(pay - charged),
        "timestamp": offshore.now_ns,
        "commitment": None,  # resolved without one (an operator before issue 15)
    }
    req = offshore.view("get_request", {"request_id": rid})
    assert req["status"] == "completed" and req["payment_charged"] == str(charged)
    assert offshore.view("list_pending_requests", {}) == []
    stats = offshore.view("get_stats")
    assert stats["completed"] == 1 and stats["pending"] == 0
    assert int(stats["total_charged"]) + int(stats["total_refunded"]) == int(stats["total_payment"]) == pay


def test_json_output_is_parsed_and_bytes_stay_base64(offshore: Offshore) -> None:
    rid = offshore.request(response_format="Json")
    out = offshore.settle(rid, {"success": True, "output": '{"sum": [1, 2]}', "resources_used": used()})
    assert json.loads(out.return_value or b"") == {"sum": [1, 2]}
    blob = base64.b64encode(bytes(range(256))).decode()
    rid = offshore.request(response_format="Bytes")
    out = offshore.settle(rid, {"success": True, "output": blob, "resources_used": used()})
    assert json.loads(out.return_value or b"") == blob


def test_empty_json_output_fails_the_request_but_still_charges(offshore: Offshore) -> None:
    """The contract never parses a guest's JSON (settle validates it off chain, see
    tests/streams/settle/test_output.py); it only refuses what it can check for free: nothing at all."""
    pay = offshore.estimate(None)
    rid = offshore.request(response_format="Json", deposit=pay)
    out = offshore.settle(rid, {"success": True, "output": " \n", "resources_used": used(time_ms=5)})
    assert out.return_value == b"null"
    data = events_of(out)[0]["data"][0]
    assert data["success"] is False and data["error"] == "invalid_output: empty output is not valid JSON"
    assert int(data["payment_charged"]) == charge(Pricing(), pay, **used(time_ms=5))


def test_failed_execution_returns_null_and_charges_resources(offshore: Offshore) -> None:
    pay = offshore.estimate(None)
    rid = offshore.request(deposit=pay)
    res = used(compile_time_ms=30_000)
    out = offshore.settle(rid, {"success": False, "error": "compile error: E0425", "resources_used": res})
    assert out.return_value == b"null"
    data = events_of(out)[0]["data"][0]
    assert data["success"] is False and data["error"] == "compile error: E0425"
    assert data["payment_charged"] == str(charge(Pricing(), pay, **res))
    assert offshore.view("get_request", {"request_id": rid})["status"] == "failed"


def test_charge_is_capped_at_the_requests_limits(offshore: Offshore) -> None:
    pay = offshore.estimate(None) + 10**22
    rid = offshore.request(deposit=pay)
    res = used(instructions=10**15, time_ms=10**9, compile_time_ms=10**9)
    out = offshore.settle(rid, {"success": True, "output": "x", "resources_used": res})
    data = events_of(out)[0]["data"][0]
    limits = offshore.view("get_config")["default_limits"]
    assert data["resources_used"] == used(limits["max_instructions"], limits["max_execution_seconds"] * 1000, 60_000)
    assert data["payment_charged"] == str(pay - 10**22)  # exactly the estimate, never the whole deposit
    assert transfers(out) == [(CLIENT, 10**22)]


def test_output_over_the_resume_payload_goes_through_state(offshore: Offshore) -> None:
    rid = offshore.request()
    text = "y" * 5000
    payload = offshore.resolve(rid, {"success": True, "output": text, "resources_used": used()})
    assert len(payload) <= 1024 and text not in payload.decode()
    # parked as bytes after the response and the (empty) commitment line, never parsed
    assert offshore.chain.data[b"o:" + rid.encode()].endswith(b"\n\n" + text.encode())
    out = offshore.callback(rid, payload)
    assert json.loads(out.return_value or b"") == text
    assert not any(k.startswith((b"o:", b"v:")) for k in offshore.chain.data)  # parked response deleted


def test_output_over_the_max_is_rejected(offshore: Offshore) -> None:
    rid = offshore.request()
    limit = offshore.view("get_config")["max_output_bytes"]
    msg = offshore.err(
        "resolve_execution",
        {"request_id": rid, "response": {"success": True, "output": "z" * (limit + 1), "resources_used": used()}},
        predecessor=OPERATOR,
    )
    assert "exceeds" in msg


def test_resolve_rejections(offshore: Offshore) -> None:
    rid = offshore.request()
    good = {"success": True, "output": "o", "resources_used": used()}
    assert "only the operator" in offshore.err(
        "resolve_execution", {"request_id": rid, "response": good}, predecessor=CLIENT
    )
    assert "unknown request" in offshore.err(
        "resolve_execution", {"request_id": "99", "response": good}, predecessor=OPERATOR
    )
    assert "request_id" in offshore.err(
        "resolve_execution", {"request_id": "1x", "response": good}, predecessor=OPERATOR
    )
    assert "success must be a boolean" in offshore.err(
        "resolve_execution", {"request_id": rid, "response": {"output": "o"}}, predecessor=OPERATOR
    )
    assert "non-negative integer" in offshore.err(
        "resolve_execution",
        {"request_id": rid, "response": {"success": True, "resources_used": {"time_ms": -1}}},
        predecessor=OPERATOR,
    )
    payload = offshore.resolve(rid, good)
    assert "already resolved" in offshore.err(
        "resolve_execution", {"request_id": rid, "response": good}, predecessor=OPERATOR
    )
    offshore.callback(rid, payload)
    assert "not pending (completed)" in offshore.err(
        "resolve_execution", {"request_id": rid, "response": good}, predecessor=OPERATOR
    )


def test_timeout_refunds_in_full_and_later_resolve_is_rejected(offshore: Offshore) -> None:
    pay = offshore.estimate(None) + 123
    rid = offshore.request(deposit=pay)
    data_id = bytes.fromhex(offshore.view("get_request", {"request_id": rid})["data_id"])
    # the node times the yield out after 200 blocks: it is no longer pending, the callback sees Failed
    offshore.height += 201
    offshore.chain.pending.discard((CONTRACT, data_id))
    good = {"success": True, "output": "late", "resources_used": used()}
    assert "expired" in offshore.err("resolve_execution", {"request_id": rid, "response": good}, predecessor=OPERATOR)
    out = offshore.callback(rid, None)
    assert out.error is None and out.return_value == b"null"
    assert transfers(out) == [(CLIENT, pay)]
    data = events_of(out)[0]["data"][0]
    assert data["success"] is False and data["error"] == "timeout"
    assert data["payment_charged"] == "0" and data["payment_refunded"] == str(pay)
    assert offshore.view("get_request", {"request_id": rid})["status"] == "timed_out"
    assert offshore.view("get_stats")["timed_out"] == 1
    assert "not pending (timed_out)" in offshore.err(
        "resolve_execution", {"request_id": rid, "response": good}, predecessor=OPERATOR
    )


def test_callback_is_private(offshore: Offshore) -> None:
    rid = offshore.request()
    assert "private" in offshore.err("on_execution_response", {"request_id": rid}, predecessor=CLIENT)


# ---- cancel


def test_cancel_stale_only_by_the_sender_after_ten_minutes(offshore: Offshore) -> None:
    pay = offshore.estimate(None)
    rid = offshore.request(deposit=pay)
    offshore.now_ns += TEN_MINUTES_NS - 1
    assert "not stale yet" in offshore.err("cancel_stale_execution", {"request_id": rid})
    offshore.now_ns += 1
    assert "only the sender" in offshore.err("cancel_stale_execution", {"request_id": rid}, predecessor=OWNER)
    out = offshore.call("cancel_stale_execution", {"request_id": rid})
    assert out.error is None and transfers(out) == [(CLIENT, pay)]
    assert events_of(out) == [
        {
            "standard": "near-offshore",
            "version": "1.1.0",
            "event": "execution_cancelled",
            "data": [{"request_id": rid, "reason": "stale", "refunded": str(pay)}],
        }
    ]
    assert offshore.view("get_request", {"request_id": rid})["status"] == "cancelled"
    assert "not pending (cancelled)" in offshore.err("cancel_stale_execution", {"request_id": rid})
    # the yield still times out later: the callback must not refund twice
    late = offshore.callback(rid, None)
    assert late.error is None and transfers(late) == [] and events_of(late) == []


def test_cancel_of_a_resolved_request_is_rejected(offshore: Offshore) -> None:
    rid = offshore.request()
    offshore.resolve(rid, {"success": True, "output": "o", "resources_used": used()})
    offshore.now_ns += TEN_MINUTES_NS
    assert "resolved" in offshore.err("cancel_stale_execution", {"request_id": rid})


# ---- admin


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("set_owner", {"owner_id": "mallory.test"}),
        ("set_operator", {"operator_id": "mallory.test"}),
        ("set_paused", {"paused": True}),
        ("set_pricing", {"pricing": {"base_fee": "0"}}),
        ("emergency_cancel_execution", {"request_id": "1"}),
    ],
)
def test_admin_by_a_non_owner_is_rejected(offshore: Offshore, method: str, args: dict[str, object]) -> None:
    offshore.request()
    for who in (CLIENT, OPERATOR, CONTRACT):
        assert "only the owner" in offshore.err(method, args, predecessor=who)


def test_owner_and_operator_handover(offshore: Offshore) -> None:
    offshore.ok("set_operator", {"operator_id": "op2.test"}, predecessor=OWNER)
    rid = offshore.request()
    good = {"success": True, "output": "o", "resources_used": used()}
    assert "only the operator" in offshore.err(
        "resolve_execution", {"request_id": rid, "response": good}, predecessor=OPERATOR
    )
    offshore.resolve(rid, good, predecessor="op2.test")
    offshore.ok("set_owner", {"owner_id": "owner2.test"}, predecessor=OWNER)
    assert "only the owner" in offshore.err("set_paused", {"paused": True}, predecessor=OWNER)
    offshore.ok("set_paused", {"paused": True}, predecessor="owner2.test")
    assert "account id" in offshore.err("set_owner", {"owner_id": "Bad Id"}, predecessor="owner2.test")


def test_set_pricing_changes_estimate_and_charges(offshore: Offshore) -> None:
    new = Pricing(
        base_fee=7, per_million_instructions_fee=11, per_ms_fee=13, per_compile_ms_fee=17, compile_allowance_ms=19
    )
    offshore.ok("set_pricing", {"pricing": new.to_json()}, predecessor=OWNER)
    assert Pricing.from_json(offshore.view("get_pricing")) == new
    limits = {"max_instructions": 1_000_001, "max_memory_mb": 1, "max_execution_seconds": 1}
    assert offshore.estimate(limits) == 7 + 2 * 11 + 1000 * 13 + 19 * 17
    offshore.ok("set_pricing", {"pricing": {"base_fee": "8"}}, predecessor=OWNER)  # partial update
    assert Pricing.from_json(offshore.view("get_pricing")).base_fee == 8
    assert "unknown pricing field" in offshore.err("set_pricing", {"pricing": {"fee": "1"}}, predecessor=OWNER)
    assert "non-negative" in offshore.err("set_pricing", {"pricing": {"base_fee": "-1"}}, predecessor=OWNER)
    assert "compile_allowance_ms over the cap" in offshore.err(
        "set_pricing", {"pricing": {"compile_allowance_ms": 10**9}}, predecessor=OWNER
    )


def test_emergency_cancel_refunds_and_the_callback_is_a_no_op(offshore: Offshore) -> None:
    pay = offshore.estimate(None)
    rid = offshore.request(deposit=pay)
    payload = offshore.resolve(rid, {"success": True, "output": "q" * 3000, "resources_used": used()})
    out = offshore.call(
        "emergency_cancel_execution", {"request_id": rid, "reason": "operator key leaked"}, predecessor=OWNER
    )
    assert out.error is None and transfers(out) == [(CLIENT, pay)]
    assert events_of(out)[0]["data"][0] == {"request_id": rid, "reason": "operator key leaked", "refunded": str(pay)}
    late = offshore.callback(rid, payload)
    assert late.error is None and late.return_value == b"null" and transfers(late) == []
    assert not any(k.startswith(b"o:") for k in offshore.chain.data)
    assert "not pending" in offshore.err("emergency_cancel_execution", {"request_id": rid}, predecessor=OWNER)
    stats = offshore.view("get_stats")
    assert stats["cancelled"] == 1 and stats["total_refunded"] == str(pay)


def test_pending_records_carry_the_input_the_reconciler_needs(offshore: Offshore) -> None:
    rid = offshore.request(input_data='{"x": "\\u00e9\\""}', encrypted_secrets="c2Vj")
    (pending,) = offshore.view("list_pending_requests", {"from": rid})
    assert pending == offshore.view("get_request", {"request_id": rid})
    assert pending["input_data"] == '{"x": "\\u00e9\\""}' and pending["encrypted_secrets"] == "c2Vj"
    offshore.settle(rid, {"success": True, "output": "o", "resources_used": used()})
    done = offshore.view("get_request", {"request_id": rid})
    assert done["status"] == "completed" and done["input_data"] is None  # dropped once settled
