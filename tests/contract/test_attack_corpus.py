"""Attack corpus against the real contract WASM (built by nearc, run on the devnet VM call by call).

Each case is what an attacker controls - a request's arguments, a guest's output as the operator
relays it, usage the operator reports - and asserts a clear outcome: a one-line panic for a refused
call, or a settlement within the gas the contract budgets (`resolve_gas`, `callback_gas`). Every case
then checks the refund rule (charged + refunded == paid, charged <= the estimate, the refund receipt
carries exactly the refund, the totals add up) and that a normal request still settles afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from contract import Pricing, charge, estimate
from contract.testing import CLIENT, OPERATOR, OWNER, SOURCE, Offshore, events_of, transfers, used
from devnet.vm import CompiledContract
from devnet.vm.config import TGAS
from devnet.vm.types import PromiseResult

MAX_OUT = 16384  # the contract's max_output_bytes
SMALL = used(instructions=2_000_000, time_ms=3, compile_time_ms=40)


@pytest.fixture
def chain(offshore_code: CompiledContract) -> Offshore:
    harness = Offshore(offshore_code)
    harness.init()
    return harness


def _money(chain: Offshore, rid: str, pay: int, cap: int, settled_by: Any) -> dict[str, Any]:
    """The refund rule, on the record, the event and the transfer; returns the record."""
    rec = chain.view("get_request", {"request_id": rid})
    charged, refunded = int(rec["payment_charged"]), int(rec["payment_refunded"])
    assert charged + refunded == pay
    assert 0 <= charged <= cap <= pay
    assert transfers(settled_by) == ([(CLIENT, refunded)] if refunded else [])
    completed = [e for e in events_of(settled_by) if e["event"] == "execution_completed"]
    if completed:
        assert completed[0]["data"][0]["payment_charged"] == str(charged)
    stats = chain.view("get_stats")
    pending = sum(int(r["payment"]) for r in chain.view("list_pending_requests", {}))
    assert int(stats["total_charged"]) + int(stats["total_refunded"]) + pending == int(stats["total_payment"])
    assert not any(k.startswith((b"o:", b"v:", b"i:" + rid.encode())) for k in chain.chain.data)
    return rec


def _normal_request_settles(chain: Offshore) -> None:
    rid = chain.request(input_data="after the attack")
    out = chain.settle(rid, {"success": True, "output": "still fine", "resources_used": SMALL})
    assert json.loads(out.return_value or b"") == "still fine"
    assert chain.view("get_request", {"request_id": rid})["status"] == "completed"


# ---------------------------------------------------------------- requests (sizes are bytes)


@dataclass(frozen=True)
class BadRequest:
    name: str
    args: dict[str, Any] | bytes
    error: str


def _raw_request(input_json: str) -> bytes:
    """request_execution arguments as an ASCII-escaping client (py-near's json.dumps) sends them."""
    return ('{"code_source": ' + json.dumps(SOURCE) + ', "input_data": ' + input_json + "}").encode()


BAD_REQUESTS = [
    BadRequest("input 8192 x euro sign (24 KB)", {"input_data": "\u20ac" * 8192}, "input_data exceeds 8192 bytes"),
    BadRequest("input one byte over in 3-byte chars", {"input_data": "\u20ac" * 2731}, "input_data exceeds 8192 bytes"),
    BadRequest("input 4-byte chars over the limit", {"input_data": "\U0001f600" * 2049}, "input_data exceeds 8192"),
    BadRequest("secrets 2049 x e-acute (4098 bytes)", {"encrypted_secrets": "\u00e9" * 2049}, "exceeds 4096 bytes"),
    BadRequest(
        "input with an escaped surrogate pair (ASCII-escaping client)",
        _raw_request(json.dumps("smile \U0001f600")),
        "input_data contains UTF-16 surrogates",
    ),
    BadRequest(
        "secrets with a lone surrogate escape",
        ('{"code_source": ' + json.dumps(SOURCE) + ', "encrypted_secrets": "\\udc00"}').encode(),
        "encrypted_secrets contains UTF-16 surrogates",
    ),
    BadRequest(
        "input of 8192 quotes (16 KB once escaped in the event)", {"input_data": '"' * 8192}, "once JSON-escaped"
    ),
    BadRequest("input of 8192 control characters", {"input_data": "\x01" * 8192}, "once JSON-escaped"),
    BadRequest("input_data not a string", {"input_data": ["a"] * 10}, "input_data must be a string"),
    BadRequest("unknown response format", {"response_format": "Xml"}, "response_format must be one of"),
]


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=[c.name for c in BAD_REQUESTS])
def test_bad_request_is_refused_with_a_clear_error(chain: Offshore, case: BadRequest) -> None:
    pay = chain.estimate()
    args = case.args if isinstance(case.args, bytes) else {"code_source": SOURCE, **case.args}
    out = chain.call("request_execution", args, deposit=pay, gas=300 * TGAS)
    assert out.error is not None and out.error.kind == "GuestPanic", out.error  # never a host error or OOG
    assert case.error in out.error.message
    assert not out.storage_writes and not out.receipts  # nothing kept: the deposit returns to the sender
    assert chain.view("get_stats")["total_requests"] == 0
    _normal_request_settles(chain)


def test_inputs_at_the_byte_limits_are_accepted(chain: Offshore) -> None:
    pay = chain.estimate()
    rid = chain.request(deposit=pay, input_data="\U0001f600" * 2048, encrypted_secrets="\u00e9" * 2048)
    assert chain.view("get_request", {"request_id": rid})["input_data"] == "\U0001f600" * 2048
    out = chain.settle(rid, {"success": True, "output": "ok", "resources_used": SMALL})
    _money(chain, rid, pay, pay, out)
    _normal_request_settles(chain)


# ---------------------------------------------------------------- outputs the operator relays


@dataclass(frozen=True)
class OutputCase:
    name: str
    fmt: str
    output: str | None
    returned: Any = None  # what the caller gets (parsed JSON), when it completes
    raw: bytes | None = None  # or the exact bytes returned
    refused: str | None = None  # resolve is refused with this message (then settle's fallback runs)
    failed: str | None = None  # settles as failed with this error
    escaped_args: bool = False  # send the arguments as an ASCII-escaping client would


OUTPUTS = [
    OutputCase("Text: 16384 control characters", "Text", "\x01" * MAX_OUT, returned="\x01" * MAX_OUT),
    OutputCase("Text: 16384 NUL bytes", "Text", "\x00" * MAX_OUT, returned="\x00" * MAX_OUT),
    OutputCase("Text: 16384 quotes", "Text", '"' * MAX_OUT, returned='"' * MAX_OUT),
    OutputCase("Text: 16384 backslashes", "Text", "\\" * MAX_OUT, returned="\\" * MAX_OUT),
    OutputCase("Text: 5461 replacement chars", "Text", "\ufffd" * 5461, returned="\ufffd" * 5461),
    OutputCase("Text: 4096 emoji, UTF-8 args", "Text", "\U0001f600" * 4096, returned="\U0001f600" * 4096),
    OutputCase("Text: 16385 bytes", "Text", "a" * (MAX_OUT + 1), refused="exceeds 16384 bytes"),
    OutputCase("Text: 8193 x 2-byte chars", "Text", "\u00e9" * 8193, refused="exceeds 16384 bytes"),
    OutputCase(
        "Text: emoji through escaped args (surrogates)",
        "Text",
        "\U0001f600",
        refused="output contains UTF-16 surrogates",
        escaped_args=True,
    ),
    OutputCase("Json: [ x 6000 (not parsed on chain)", "Json", "[" * 6000, raw=b"[" * 6000),
    OutputCase(
        "Json: 8192-deep nesting",
        "Json",
        "[" * 8192 + "]" * 8192,
        raw=b"[" * 8192 + b"]" * 8192,
    ),
    OutputCase("Json: 12,000-digit integer", "Json", "9" * 12000, raw=b"9" * 12000),
    OutputCase("Json: 16384-digit integer", "Json", "7" * MAX_OUT, raw=b"7" * MAX_OUT),
    OutputCase("Json: max-size document", "Json", json.dumps(["x" * 16374]), returned=["x" * 16374]),
    OutputCase("Json: whitespace only", "Json", " \n\t", failed="invalid_output: empty output"),
    OutputCase("Json: no output at all", "Json", None, failed="invalid_output: empty output"),
    OutputCase("Bytes: max-size base64", "Bytes", "QUJD" * 4096, returned="QUJD" * 4096),
    OutputCase("Text: no output at all", "Text", None, returned=""),
]


def _resolve_args(rid: str, response: dict[str, Any], escaped: bool) -> dict[str, Any] | bytes:
    args = {"request_id": rid, "response": response}
    return json.dumps(args).encode() if escaped else args


@pytest.mark.parametrize("case", OUTPUTS, ids=[c.name for c in OUTPUTS])
def test_hostile_output_settles_within_the_gas_budget(chain: Offshore, case: OutputCase) -> None:
    cfg = chain.view("get_config")
    pay = chain.estimate() + 10**21
    rid = chain.request(deposit=pay, response_format=case.fmt)
    response: dict[str, Any] = {"success": True, "resources_used": SMALL}
    if case.output is not None:
        response["output"] = case.output
    out = chain.call(
        "resolve_execution",
        _resolve_args(rid, response, case.escaped_args),
        predecessor=OPERATOR,
        gas=cfg["resolve_gas"],  # what settle attaches
    )
    if case.refused is not None:
        assert out.error is not None and out.error.kind == "GuestPanic", out.error
        assert case.refused in out.error.message
        # settle's fallback: a failure with the same usage, so the compute is still charged
        response = {"success": False, "error": "resolve_refused: " + out.error.message, "resources_used": SMALL}
        out = chain.call(
            "resolve_execution", {"request_id": rid, "response": response}, predecessor=OPERATOR, gas=cfg["resolve_gas"]
        )
    assert out.error is None, out.error
    assert out.gas_burnt < cfg["resolve_gas"]
    (resume,) = out.yield_resumes
    done = chain.callback(rid, resume.payload)
    assert done.error is None, done.error  # the callback never traps, whatever the output
    assert done.gas_burnt < cfg["callback_gas"]
    rec = _money(chain, rid, pay, estimate(Pricing(), max_instructions=10**10, max_execution_seconds=10), done)
    assert int(rec["payment_charged"]) == charge(Pricing(), pay, **SMALL)  # charged for the compute either way
    if case.refused is not None or case.failed is not None:
        assert rec["status"] == "failed" and done.return_value == b"null"
        assert (case.refused or case.failed or "") in rec["error"]
    else:
        assert rec["status"] == "completed"
        if case.raw is not None:
            assert done.return_value == case.raw
        else:
            assert json.loads((done.return_value or b"").decode("utf-8")) == case.returned
    _normal_request_settles(chain)


@pytest.mark.parametrize(
    ("name", "error", "stored"),
    [
        ("5000 euro signs", "\u20ac" * 5000, "\u20ac" * 341),  # cut at 1024 bytes on a character boundary
        ("1024 control characters", "\x07" * 1024, "\x07" * 1024),
        ("4-byte chars over the limit", "\U0001f600" * 300, "\U0001f600" * 256),
    ],
)
def test_hostile_error_text_is_bounded_in_bytes(chain: Offshore, name: str, error: str, stored: str) -> None:
    pay = chain.estimate()
    rid = chain.request(deposit=pay)
    out = chain.settle(rid, {"success": False, "error": error, "resources_used": SMALL})
    rec = _money(chain, rid, pay, pay, out)
    assert rec["error"] == stored and len(rec["error"].encode()) <= 1024
    assert events_of(out)[0]["data"][0]["error"] == stored
    _normal_request_settles(chain)


def test_error_with_surrogates_is_refused(chain: Offshore) -> None:
    rid = chain.request()
    args = json.dumps(
        {"request_id": rid, "response": {"success": False, "error": "\U0001f600", "resources_used": SMALL}}
    )
    out = chain.call("resolve_execution", args.encode(), predecessor=OPERATOR)
    assert out.error is not None and "error contains UTF-16 surrogates" in out.error.message
    out = chain.settle(rid, {"success": False, "error": "resolve_refused", "resources_used": SMALL})
    _money(chain, rid, chain.estimate(), chain.estimate(), out)
    _normal_request_settles(chain)


# ---------------------------------------------------------------- usage beyond the request's limits


LIMITS = {"max_instructions": 5_000_000, "max_memory_mb": 16, "max_execution_seconds": 2}


@dataclass(frozen=True)
class UsageCase:
    name: str
    reported: dict[str, int]
    charged_as: dict[str, int]  # usage actually charged (each quantity capped)
    extra: int = 10**24  # deposit above the estimate
    before_resolve: Callable[[Offshore], None] = field(default=lambda chain: None)


def _raise_prices(chain: Offshore) -> None:
    chain.ok("set_pricing", {"pricing": {"base_fee": str(10**24), "per_ms_fee": str(10**22)}}, predecessor=OWNER)


USAGE = [
    UsageCase("instructions far over the limit", used(instructions=10**15), used(instructions=5_000_000)),
    UsageCase("time far over the limit", used(time_ms=10**9), used(time_ms=2000)),
    UsageCase("compile time far over the allowance", used(compile_time_ms=10**9), used(compile_time_ms=60_000)),
    UsageCase(
        "everything over, 1 NEAR deposited on top",
        used(10**15, 10**9, 10**9),
        used(5_000_000, 2000, 60_000),
    ),
    UsageCase("a 1000-digit instruction count", used(instructions=10**999), used(instructions=5_000_000)),
    UsageCase("exactly at the limits", used(5_000_000, 2000, 60_000), used(5_000_000, 2000, 60_000)),
    UsageCase(
        "prices raised after the request",
        used(5_000_000, 2000, 60_000),
        used(5_000_000, 2000, 60_000),
        before_resolve=_raise_prices,
    ),
]


@pytest.mark.parametrize("case", USAGE, ids=[c.name for c in USAGE])
def test_charge_is_capped_at_what_the_request_allowed(chain: Offshore, case: UsageCase) -> None:
    need = chain.estimate(LIMITS)
    pay = need + case.extra
    rid = chain.request(deposit=pay, resource_limits=LIMITS)
    case.before_resolve(chain)
    out = chain.settle(rid, {"success": True, "output": "x", "resources_used": case.reported})
    rec = _money(chain, rid, pay, need, out)  # the estimate is the ceiling of the charge
    assert rec["resources_used"] == case.charged_as
    expected = min(charge(Pricing(), pay, **case.charged_as), need)
    assert int(rec["payment_charged"]) == expected
    assert int(rec["payment_refunded"]) >= case.extra  # never the whole deposit
    chain.ok("set_pricing", {"pricing": Pricing().to_json()}, predecessor=OWNER)
    _normal_request_settles(chain)


def test_mirror_caps_like_the_contract() -> None:
    p = Pricing()
    capped = charge(p, 10**30, instructions=10**15, time_ms=10**9, compile_time_ms=10**9, max_instructions=5_000_000)
    assert capped == estimate(p, max_instructions=5_000_000, max_execution_seconds=60)


# ---------------------------------------------------------------- a failed callback is recoverable


def _stuck(chain: Offshore, pay: int) -> str:
    """A request whose callback failed: resolved, still pending (the failed callback changed nothing)."""
    rid = chain.request(deposit=pay)
    payload = chain.resolve(rid, {"success": True, "output": "lost", "resources_used": SMALL})
    failed = chain.call(
        "on_execution_response",
        {"request_id": rid},
        predecessor="offshore.test",
        promise_results=(PromiseResult("successful", payload),),
        gas=2 * TGAS,
    )
    assert failed.error is not None and failed.error.kind == "GasExceeded"
    rec = chain.view("get_request", {"request_id": rid})
    assert rec["status"] == "pending" and rec["resolved"] is True
    return rid


def test_sender_recovers_a_request_whose_callback_failed(chain: Offshore) -> None:
    pay = chain.estimate() + 10**22
    rid = _stuck(chain, pay)
    chain.now_ns += 601 * 10**9
    early = chain.err("cancel_stale_execution", {"request_id": rid})
    assert "is resolved; its callback settles it (recoverable after block" in early
    chain.height += 201  # the yield window is over: no callback can come any more
    assert "only the sender" in chain.err("cancel_stale_execution", {"request_id": rid}, predecessor="mallory.test")
    out = chain.call("cancel_stale_execution", {"request_id": rid})
    assert out.error is None, out.error
    rec = _money(chain, rid, pay, pay, out)
    assert rec["status"] == "failed" and rec["error"].startswith("callback_failed")
    assert int(rec["payment_charged"]) == charge(Pricing(), pay, **SMALL)  # the compute is still paid for
    late = chain.callback(rid, b'{"stored": true}')  # a late callback finds it settled: no second refund
    assert late.error is None and transfers(late) == [] and late.return_value == b"null"
    assert "not pending (failed)" in chain.err("cancel_stale_execution", {"request_id": rid})
    _normal_request_settles(chain)


def test_recovery_needs_the_request_to_be_stale(chain: Offshore) -> None:
    rid = _stuck(chain, chain.estimate())
    chain.height += 500
    assert "not stale yet" in chain.err("cancel_stale_execution", {"request_id": rid})
    _normal_request_settles(chain)


def test_emergency_cancel_of_a_resolved_request_refunds_in_full_and_drops_parked_output(chain: Offshore) -> None:
    pay = chain.estimate() + 5
    rid = _stuck(chain, pay)
    out = chain.call("emergency_cancel_execution", {"request_id": rid}, predecessor=OWNER)
    assert out.error is None
    rec = _money(chain, rid, pay, pay, out)
    assert rec["status"] == "cancelled" and rec["payment_refunded"] == str(pay)
    _normal_request_settles(chain)
