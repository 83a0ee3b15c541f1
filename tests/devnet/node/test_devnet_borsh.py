"""Borsh: our codec against py-near's (Rust) encoder, and encode/decode round trips."""

from __future__ import annotations

import base64
import hashlib

import base58
import pytest
from hypothesis import given
from hypothesis import strategies as st
from py_near import transactions

from devnet.errors import BorshError
from devnet.node.borsh import (
    Transaction,
    decode_signed_transaction,
    encode_signed_transaction,
    encode_transaction,
)
from devnet.node.keys import KeyPair, verify
from devnet.vm.types import (
    AddKey,
    CreateAccount,
    DeleteAccount,
    DeleteKey,
    DeployContract,
    FullAccess,
    FunctionCall,
    FunctionCallPermission,
    Transfer,
)

KEY = KeyPair(bytes(range(32)))


def test_decodes_what_py_near_signs() -> None:
    other = KeyPair(bytes(range(1, 33)))
    actions = [
        transactions.create_create_account_action(),
        transactions.create_deploy_contract_action(b"\x00asm"),
        transactions.create_function_call_action("go", b'{"a":1}', 7 * 10**12, 5),
        transactions.create_transfer_action(10**24),
        transactions.create_full_access_key_action(other.public_key_str),
        transactions.create_function_call_access_key_action(other.public_key_str, 99, "c.near", ["x", "y"]),
        transactions.create_delete_access_key_action(other.public_key_str),
    ]
    sk = KEY.secret + KEY.public_key
    signed = transactions.sign_and_serialize_transaction("a.near", sk, "b.near", 42, actions, bytes(range(32)))
    stx = decode_signed_transaction(base64.b64decode(signed))
    assert stx.transaction == Transaction(
        signer_id="a.near",
        public_key=KEY.borsh_public_key,
        nonce=42,
        receiver_id="b.near",
        block_hash=bytes(range(32)),
        actions=(
            CreateAccount(),
            DeployContract(code=b"\x00asm"),
            FunctionCall(method_name="go", args=b'{"a":1}', gas=7 * 10**12, deposit=5),
            Transfer(deposit=10**24),
            AddKey(public_key=other.borsh_public_key, nonce=0, permission=FullAccess()),
            AddKey(
                public_key=other.borsh_public_key,
                nonce=0,
                permission=FunctionCallPermission(receiver_id="c.near", method_names=("x", "y"), allowance=99),
            ),
            DeleteKey(public_key=other.borsh_public_key),
        ),
    )
    expected_hash = transactions.calc_trx_hash("a.near", sk, "b.near", 42, actions, bytes(range(32)))
    assert base58.b58encode(stx.hash).decode() == expected_hash
    assert verify(stx.transaction.public_key, stx.hash, stx.signature)
    assert encode_signed_transaction(stx.transaction, stx.signature) == stx.raw


_account = st.from_regex(r"[a-z][a-z0-9]{1,20}\.near", fullmatch=True)
_permission = st.one_of(
    st.just(FullAccess()),
    st.builds(
        FunctionCallPermission,
        receiver_id=_account,
        method_names=st.lists(st.text(min_size=1, max_size=8), max_size=3).map(tuple),
        allowance=st.one_of(st.none(), st.integers(0, 2**128 - 1)),
    ),
)
_pk = st.binary(min_size=32, max_size=32).map(lambda b: b"\x00" + b)
_action = st.one_of(
    st.just(CreateAccount()),
    st.builds(DeployContract, code=st.binary(max_size=64)),
    st.builds(
        FunctionCall,
        method_name=st.text(min_size=1, max_size=16),
        args=st.binary(max_size=64),
        gas=st.integers(0, 2**64 - 1),
        deposit=st.integers(0, 2**128 - 1),
    ),
    st.builds(Transfer, deposit=st.integers(0, 2**128 - 1)),
    st.builds(AddKey, public_key=_pk, nonce=st.integers(0, 2**64 - 1), permission=_permission),
    st.builds(DeleteKey, public_key=_pk),
    st.builds(DeleteAccount, beneficiary_id=_account),
)


@given(
    signer=_account,
    receiver=_account,
    nonce=st.integers(0, 2**64 - 1),
    actions=st.lists(_action, max_size=4),
    priority_fee=st.one_of(st.none(), st.integers(0, 2**64 - 1)),
)
def test_round_trip(signer: str, receiver: str, nonce: int, actions: list[object], priority_fee: int | None) -> None:
    tx = Transaction(signer, KEY.borsh_public_key, nonce, receiver, bytes(32), tuple(actions), priority_fee)  # type: ignore[arg-type]
    body = encode_transaction(tx)
    sig = b"\x00" + KEY.sign(hashlib.sha256(body).digest())
    stx = decode_signed_transaction(encode_signed_transaction(tx, sig))
    assert stx.transaction == tx
    assert stx.hash == hashlib.sha256(body).digest()
    assert verify(KEY.borsh_public_key, stx.hash, stx.signature)


@pytest.mark.parametrize("raw", [b"", b"\x05\x00\x00\x00ab", b"\x02\x00\x00\x00ab\x07"])
def test_garbage_is_a_borsh_error(raw: bytes) -> None:
    with pytest.raises(BorshError):
        decode_signed_transaction(raw)


def test_trailing_bytes_are_rejected() -> None:
    tx = Transaction("a.near", KEY.borsh_public_key, 1, "b.near", bytes(32), (Transfer(1),))
    raw = encode_signed_transaction(tx, b"\x00" + bytes(64)) + b"\x00"
    with pytest.raises(BorshError):
        decode_signed_transaction(raw)
