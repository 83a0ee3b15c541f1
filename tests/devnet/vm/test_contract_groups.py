"""Each host-function group exercised through the nearc-built test contract (real MicroPython WASM)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import nacl.signing
import pytest
from Crypto.Hash import RIPEMD160, keccak
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

from devnet.vm import HOST_FUNCTIONS, CompiledContract
from devnet.vm.config import TGAS
from devnet.vm.testing import DEFAULT_CONTEXT, NEAR, MemoryChainState
from devnet.vm.types import (
    AddKey,
    CreateAccount,
    DeleteAccount,
    DeleteKey,
    DeployContract,
    FullAccess,
    FunctionCall,
    FunctionCallPermission,
    Outcome,
    PromiseResult,
    Transfer,
)

U64_MAX = 2**64 - 1


Call = Callable[..., Outcome]
Result = Callable[[Outcome], Any]


def test_contract_links_the_58_nearc_imports(vmtest: CompiledContract) -> None:
    imports = {imp.name for imp in vmtest.module.imports}
    assert len(imports) == 58
    assert imports <= HOST_FUNCTIONS


def test_registers(call: Call, result: Result) -> None:
    assert result(call("registers")) == {"len_set": 3, "len_unused": U64_MAX, "read": "abc"}


def test_context_and_balances(call: Call, result: Result) -> None:
    out = result(call("context", b"hello"))
    used_gas = out.pop("used_gas")
    assert 0 < used_gas < DEFAULT_CONTEXT.prepaid_gas
    assert out == {
        "current": "c.test",
        "signer": "alice.test",
        "signer_pk": DEFAULT_CONTEXT.signer_account_pk.hex(),
        "predecessor": "bob.test",
        "input": "hello",
        "block_height": 42,
        "block_timestamp": DEFAULT_CONTEXT.block_timestamp_ns,
        "epoch_height": 3,
        "storage_usage": 1_000,
        "balance": 5 * NEAR,  # u128 read back through 16 little-endian bytes
        "locked_balance": 7,
        "attached_deposit": 11,
        "prepaid_gas": 300 * TGAS,
        "random_seed": DEFAULT_CONTEXT.random_seed.hex(),
    }


def test_storage_write_read_remove(call: Call, result: Result, chain: MemoryChainState) -> None:
    first = call("storage_set", {"key": "k", "value": "v1"})
    assert result(first) == {"evicted": None}
    assert first.storage_writes == {b"k": b"v1"}
    assert result(call("storage_set", {"key": "k", "value": "v2"})) == {"evicted": "v1"}
    assert result(call("storage_get", {"key": "k"})) == {"value": "v2", "has": True}
    removed = call("storage_del", {"key": "k"})
    assert result(removed) == {"removed": "v2"}
    assert removed.storage_writes == {b"k": None}
    assert chain.data == {}
    assert result(call("storage_get", {"key": "k"})) == {"value": None, "has": False}
    assert result(call("storage_del", {"key": "k"})) == {"removed": None}


@pytest.mark.parametrize("method", ["write_then_panic", "write_then_raise"])
def test_failed_call_leaves_storage_unchanged(call: Call, result: Result, chain: MemoryChainState, method: str) -> None:
    call("storage_set", {"key": "keep", "value": "1"})
    out = call(method, {"why": "test"})
    assert out.error is not None and out.error.kind == "GuestPanic"
    assert out.storage_writes == {} and out.receipts == () and out.return_value is None
    assert chain.data == {b"keep": b"1"}
    assert out.gas_burnt > 0


def test_panic_message_and_logs_survive_the_failure(call: Call, result: Result) -> None:
    out = call("write_then_panic", {"why": "because"})
    assert out.error is not None and out.error.message == "boom: because"
    assert out.logs == ("about to panic",)


def test_uncaught_python_exception_is_a_guest_panic_with_its_traceback_logged(call: Call, result: Result) -> None:
    out = call("write_then_raise")
    assert out.error is not None and out.error.kind == "GuestPanic"
    assert any("ValueError: uncaught in contract" in line for line in out.logs)


def test_logs(call: Call, result: Result) -> None:
    out = call("logs", {"n": 3, "size": 4})
    assert out.logs == ("xxxx",) * 3


def test_log_count_limit(call: Call, result: Result) -> None:
    assert call("logs", {"n": 100}).ok
    out = call("logs", {"n": 101})
    assert out.error is not None and out.error.kind == "NumberOfLogsExceeded"
    assert len(out.logs) == 100


def test_log_total_length_limit(call: Call, result: Result) -> None:
    assert call("logs", {"n": 2, "size": 8192}).ok
    out = call("logs", {"n": 3, "size": 8192})
    assert out.error is not None and out.error.kind == "TotalLogLengthExceeded"


def test_hashes(call: Call, result: Result) -> None:
    data = bytes(range(256)) * 3
    out = result(call("hashes", {"data": data.hex()}))
    assert out == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "keccak256": keccak.new(digest_bits=256, data=data).hexdigest(),
        "keccak512": keccak.new(digest_bits=512, data=data).hexdigest(),
        "ripemd160": RIPEMD160.new(data).hexdigest(),
    }
    # known vector: keccak256("") as used by Ethereum
    empty = result(call("hashes", {"data": ""}))
    assert empty["keccak256"] == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


def test_ed25519_verify(call: Call, result: Result) -> None:
    key = nacl.signing.SigningKey(bytes(range(32)))
    msg = b"offshore"
    sig = key.sign(msg).signature
    pk = bytes(key.verify_key)
    assert result(call("ed25519", {"sig": sig.hex(), "msg": msg.hex(), "pk": pk.hex()})) is True
    assert result(call("ed25519", {"sig": sig.hex(), "msg": b"other".hex(), "pk": pk.hex()})) is False
    bad = call("ed25519", {"sig": sig[:10].hex(), "msg": msg.hex(), "pk": pk.hex()})
    assert bad.error is not None and bad.error.kind == "Ed25519VerifyInvalidInput"


def test_ecrecover_finds_the_secp256k1_signer(call: Call, result: Result) -> None:
    key = ec.derive_private_key(123456789, ec.SECP256K1())
    numbers = key.public_key().public_numbers()
    expected = (numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")).hex()
    digest = hashlib.sha256(b"message").digest()
    r, s = decode_dss_signature(key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))))
    sig = (r.to_bytes(32, "big") + s.to_bytes(32, "big")).hex()
    recovered = [
        result(call("recover_signer", {"hash": digest.hex(), "sig": sig, "v": v, "flag": False})) for v in (0, 1)
    ]
    assert recovered.count(expected) == 1  # exactly one recovery id gives the signer back
    zero = "00" * 64
    assert result(call("recover_signer", {"hash": digest.hex(), "sig": zero, "v": 0, "flag": False})) is None


def test_unsupported_host_functions_fail_with_a_named_error(call: Call, result: Result) -> None:
    out = call("alt_bn128")
    assert out.error is not None
    assert out.error.kind == "UnsupportedHostFunction"
    assert "alt_bn128_g1_sum" in out.error.message


def test_total_stake_is_zero_on_a_chain_without_validators(call: Call, result: Result) -> None:
    assert result(call("validator")) == 0


def test_promise_then_chain(call: Call, result: Result) -> None:
    out = call("promise_chain")
    assert out.ok
    first, second = out.receipts
    assert first.receiver_id == "other.test" and first.depends_on == ()
    assert first.actions == (FunctionCall(method_name="do_it", args=b'{"a":1}', gas=10 * TGAS, deposit=5),)
    assert second.receiver_id == "c.test" and second.depends_on == (0,)
    assert second.actions == (FunctionCall(method_name="callback", args=b"{}", gas=5 * TGAS, deposit=0),)
    assert out.return_promise == 1 and out.return_value is None


def test_promise_and_is_resolved_into_depends_on(call: Call, result: Result) -> None:
    out = call("promise_join")
    assert [r.receiver_id for r in out.receipts] == ["a.test", "b.test", "c.test"]
    assert out.receipts[2].depends_on == (0, 1)
    assert out.return_promise == 2  # promise index 3 (the join is index 2) maps to receipt 2


def test_batch_actions(call: Call, result: Result) -> None:
    pk = b"\x00" + bytes(range(32))
    out = call("batch", {"pk": pk.hex()})
    assert result(out) == [0, 1]
    batch, then = out.receipts
    actions = list(batch.actions)
    rest = actions.pop()
    assert actions == [
        CreateAccount(),
        Transfer(deposit=1000),
        DeployContract(code=b"\0asm\x01\0\0\0"),
        AddKey(public_key=pk, nonce=7, permission=FullAccess()),
        AddKey(
            public_key=pk,
            nonce=8,
            permission=FunctionCallPermission(receiver_id="c.test", method_names=("one", "two"), allowance=250),
        ),
        DeleteKey(public_key=pk),
        FunctionCall(method_name="init", args=b'{"x":2}', gas=7 * TGAS, deposit=3),
    ]
    # function_call_weight: the unused prepaid gas goes to the weighted call
    assert isinstance(rest, FunctionCall) and rest.method_name == "rest"
    assert rest.gas > 200 * TGAS
    assert then.depends_on == (0,) and then.actions == (DeleteAccount(beneficiary_id="c.test"),)


def test_attaching_more_than_the_balance_fails(call: Call, result: Result) -> None:
    out = call("overspend")
    assert out.error is not None and out.error.kind == "BalanceExceeded"
    assert out.receipts == ()


def test_promise_results_reach_the_callback(call: Call, result: Result) -> None:
    results = (PromiseResult("successful", b"42"), PromiseResult("failed"))
    assert result(call("callback", promise_results=results)) == [[1, "42"], [2, None]]
    assert result(call("callback")) == []
