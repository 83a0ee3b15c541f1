"""The result commitment on the real contract WASM (issue 15): checked, stored and emitted.

The randomness proof is checked with NEAR's `ed25519_verify` host function against the key the
contract publishes; a proof by any other key, for another request, or a commitment whose input hash
differs from the request's input is refused (resolve_execution panics, resolve_executions skips it).
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract.testing import CONTRACT, OPERATOR, OWNER, Offshore, events_of, used
from devnet.vm import CompiledContract
from executor import randomness as rnd
from schemas.commitment import commitment_fields

KEY = rnd.private_key("22" * 32)
TGAS = 10**12


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _keyed(code: CompiledContract) -> Offshore:
    harness = Offshore(code)
    harness.init(randomness_public_key=rnd.public_key_hex(KEY))
    return harness


def commitment(offshore: Offshore, rid: str, *, key: Ed25519PrivateKey = KEY, **over: Any) -> dict[str, Any]:
    data_id = offshore.view("get_request", {"request_id": rid})["data_id"]
    c = {
        "version": 1,
        "wasm_sha256": "a" * 64,
        "builder_id": "0123456789abcdef",
        "engine_id": "wasmtime-50.0.1+wasi-p1-0a1b2c3d4e5f",
        "input_sha256": _sha("hi"),
        "output_sha256": _sha("hello"),
        "randomness_proof": rnd.sign(key, CONTRACT, rid, data_id),
        "io_sha256": "",
        "http_calls": 0,
        "http_bytes": 0,
    }
    c.update(over)
    return c


def _response(c: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"success": True, "output": "hello", "resources_used": used(1000, 2, 3)}
    if c is not None:
        out["commitment"] = c
    return out


def test_the_key_is_published_and_settable_by_the_owner_only(offshore_code: CompiledContract) -> None:
    offshore = _keyed(offshore_code)
    assert offshore.view("get_config")["randomness_public_key"] == rnd.public_key_hex(KEY)
    other = rnd.public_key_hex(Ed25519PrivateKey.generate())
    assert "only the owner" in offshore.err("set_randomness_key", {"public_key": other}, predecessor=OPERATOR)
    assert "64 lowercase hex" in offshore.err("set_randomness_key", {"public_key": "zz"}, predecessor=OWNER)
    offshore.ok("set_randomness_key", {"public_key": other}, predecessor=OWNER)
    assert offshore.view("get_config")["randomness_public_key"] == other


def test_a_valid_commitment_is_checked_stored_and_emitted(offshore_code: CompiledContract) -> None:
    offshore = _keyed(offshore_code)
    rid = offshore.request()
    c = commitment(offshore, rid)
    out = offshore.settle(rid, _response(c))
    (event,) = events_of(out)
    emitted = event["data"][0]["commitment"]
    assert event["version"] == "1.1.0"
    assert emitted == {**c, "randomness_checked": True, "delivered_sha256": _sha("hello")}
    assert offshore.view("get_request", {"request_id": rid})["commitment"] == emitted
    flat = commitment_fields(emitted)
    assert flat["randomness_checked"] and flat["commitment_version"] == 1 and flat["io_sha256"] == ""


def test_a_proof_by_another_key_is_refused(offshore_code: CompiledContract) -> None:
    offshore = _keyed(offshore_code)
    rid = offshore.request()
    forged = commitment(offshore, rid, key=Ed25519PrivateKey.generate())
    message = offshore.err(
        "resolve_execution", {"request_id": rid, "response": _response(forged)}, predecessor=OPERATOR
    )
    assert "not the randomness key's signature" in message
    other = offshore.request()  # a genuine proof, but of another request
    stolen = commitment(offshore, other)
    message = offshore.err(
        "resolve_execution", {"request_id": rid, "response": _response(stolen)}, predecessor=OPERATOR
    )
    assert "not the randomness key's signature" in message
    offshore.settle(rid, _response(commitment(offshore, rid)))  # the right proof still resolves it


def test_an_input_hash_other_than_the_requests_is_refused(offshore_code: CompiledContract) -> None:
    offshore = _keyed(offshore_code)
    rid = offshore.request()
    bad = commitment(offshore, rid, input_sha256=_sha("not the input"))
    message = offshore.err("resolve_execution", {"request_id": rid, "response": _response(bad)}, predecessor=OPERATOR)
    assert "input_sha256 does not match" in message
    for field, value, text in (
        ("wasm_sha256", "XYZ", "wasm_sha256 must be a sha256"),
        ("engine_id", "has space", "engine_id must be printable"),
        ("http_calls", -1, "http_calls must be a non-negative"),
        ("version", 2, "version must be 1"),
    ):
        c = commitment(offshore, rid, **{field: value})
        assert text in offshore.err(
            "resolve_execution", {"request_id": rid, "response": _response(c)}, predecessor=OPERATOR
        )


def test_the_batch_method_skips_an_item_with_a_bad_commitment(offshore_code: CompiledContract) -> None:
    offshore = _keyed(offshore_code)
    good, bad = offshore.request(), offshore.request()
    items = [
        {"request_id": good, "response": _response(commitment(offshore, good))},
        {"request_id": bad, "response": _response(commitment(offshore, bad, key=Ed25519PrivateKey.generate()))},
    ]
    result = offshore.ok("resolve_executions", {"items": items}, predecessor=OPERATOR)
    assert result["resolved"] == [good]
    assert result["skipped"][0]["request_id"] == bad and result["skipped"][0]["reason"] == "invalid"
    assert offshore.view("get_request", {"request_id": good})["commitment"]["randomness_checked"] is True


def test_without_a_published_key_the_proof_is_stored_unchecked(offshore: Offshore) -> None:
    rid = offshore.request()
    out = offshore.settle(rid, _response(commitment(offshore, rid, key=Ed25519PrivateKey.generate())))
    assert events_of(out)[0]["data"][0]["commitment"]["randomness_checked"] is False


def test_ed25519_verify_gas(offshore_code: CompiledContract) -> None:
    """What checking the proof on chain costs: resolve with vs without a published key (same args)."""
    keyed, plain = _keyed(offshore_code), Offshore(offshore_code)
    plain.init()
    gas = {}
    for name, harness in (("keyed", keyed), ("plain", plain)):
        rid = harness.request()
        c = commitment(harness, rid)
        out = harness.call("resolve_execution", {"request_id": rid, "response": _response(c)}, predecessor=OPERATOR)
        assert out.error is None, out.error
        gas[name] = out.gas_burnt
    extra = gas["keyed"] - gas["plain"]
    print(f"\nresolve_execution with commitment: {gas['plain'] / TGAS:.2f} TGas unchecked, "
          f"{gas['keyed'] / TGAS:.2f} TGas with ed25519_verify (+{extra / TGAS:.3f} TGas)")  # fmt: skip
    assert 0 < extra < 2 * TGAS  # nearcore: 0.21 TGas base + per byte; affordable inside resolve_gas
    assert gas["keyed"] < 100 * TGAS


def test_a_compact_item_settles_exactly_like_its_object_form(offshore_code: CompiledContract) -> None:
    # settle sends compact arrays (streams/settle/batching.py item_args): same checks, same record,
    # same event as the object form; a wrong commitment is refused in either form
    import json

    from streams.settle.batching import batch_args, item_args

    settled = []
    for compact in (False, True):
        offshore = _keyed(offshore_code)
        good, bad = offshore.request(), offshore.request()
        items = [
            (good, _response(commitment(offshore, good))),
            (bad, _response(commitment(offshore, bad, wasm_sha256="A" * 64))),
        ]
        args = batch_args(
            [
                item_args(r, resp) if compact else json.dumps({"request_id": r, "response": resp}).encode()
                for r, resp in items
            ]
        )
        assert args.startswith(b'{"items":[["') is compact
        out = offshore.call("resolve_executions", args, predecessor=OPERATOR)
        assert out.error is None, out.error
        result = json.loads(out.return_value or b"")
        assert result["resolved"] == [good] and [s["reason"] for s in result["skipped"]] == ["invalid"]
        pending = offshore.view("get_request", {"request_id": good})
        assert pending["resolved"] is True and pending["commitment"]["randomness_checked"] is True
        (resume,) = out.yield_resumes
        done = offshore.callback(good, resume.payload)
        settled.append((offshore.view("get_request", {"request_id": good}), events_of(done)))
    assert settled[0] == settled[1]
    assert settled[1][0]["commitment"] == settled[1][1][0]["data"][0]["commitment"]


def test_a_response_parked_by_the_previous_layout_still_settles(offshore_code: CompiledContract) -> None:
    # releases before 2026-11-30 parked the response as JSON with the commitment's object form in
    # o:<id> and the output under v:<id>; one resolved before an upgrade settles with this code
    import json

    settled = []
    for old_layout in (False, True):
        offshore = _keyed(offshore_code)
        rid = offshore.request()
        payload = offshore.resolve(rid, _response(commitment(offshore, rid)))
        before = offshore.view("get_request", {"request_id": rid})
        if old_layout:
            head, line, output = offshore.chain.data[b"o:" + rid.encode()].split(b"\n", 2)
            assert line.startswith(b"1 " + b"a" * 64) and output == b"hello"
            offshore.chain.data[b"o:" + rid.encode()] = json.dumps(
                {**json.loads(head), "commitment": before["commitment"]}
            ).encode()
            offshore.chain.data[b"v:" + rid.encode()] = output
            assert offshore.view("get_request", {"request_id": rid}) == before
        done = offshore.callback(rid, payload)
        assert done.error is None, done.error
        assert json.loads(done.return_value or b"") == "hello"
        assert not any(k.startswith((b"o:", b"v:")) for k in offshore.chain.data)
        settled.append((offshore.view("get_request", {"request_id": rid}), events_of(done)))
    assert settled[0] == settled[1]
    assert settled[1][0]["commitment"]["randomness_checked"] is True


LINE_CASES = [
    {},
    {"wasm_sha256": "A" * 64},
    {"output_sha256": "g" * 64},
    {"input_sha256": "c" * 64},
    {"builder_id": "tab\there"},
    {"engine_id": "e" * 129},
    {"engine_id": "caf\u00e9"},
    {"io_sha256": "b" * 64, "http_calls": 2, "http_bytes": 10},
    {"io_sha256": "B" * 64},
    {"randomness_proof": "d" * 128},
    {"wasm_sha256": "1" * 64, "output_sha256": "2" * 64},
]


@pytest.mark.parametrize("over", LINE_CASES)
def test_the_line_form_is_judged_like_the_object_form(offshore_code: CompiledContract, over: dict[str, Any]) -> None:
    # settle sends the line (streams/settle/batching.py commitment_line); the contract accepts and
    # refuses exactly what the object form does, with the same reason
    import json

    from streams.settle.batching import batch_args, commitment_line, item_args

    verdicts = []
    for line in (False, True):
        offshore = _keyed(offshore_code)
        rid = offshore.request()
        c = commitment(offshore, rid, **over)
        if not line:
            out = offshore.call(
                "resolve_execution", {"request_id": rid, "response": _response(c)}, predecessor=OPERATOR
            )
            verdicts.append(out.error.message if out.error is not None else None)
            continue
        assert commitment_line(c) is not None  # every case travels as a line
        out = offshore.call("resolve_executions", batch_args([item_args(rid, _response(c))]), predecessor=OPERATOR)
        assert out.error is None, out.error
        skipped = json.loads(out.return_value or b"")["skipped"]
        verdicts.append(skipped[0]["message"] if skipped else None)
    assert verdicts[0] == verdicts[1]
    assert (verdicts[0] is None) == (over in ({}, LINE_CASES[7], LINE_CASES[-1]))
