"""NEAR's error shapes as py-near sees them, and function-call access keys."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

import base58
import pytest
from py_near import transactions
from py_near.account import Account
from py_near.exceptions.provider import (
    InvalidAccessKeyError,
    InvalidChain,
    InvalidNonce,
    InvalidSignature,
    InvalidTransactionError,
    NotEnoughBalance,
    SignerDoesNotExist,
)

from devnet import NEAR, TGAS, Devnet, KeyPair

pytestmark = pytest.mark.asyncio(loop_scope="session")
CONTRACT = "contract.test.near"
ALICE = "alice.test.near"
BOB = "bob.test.near"
AccountFactory = Callable[..., Awaitable[Account]]


async def _send_raw(
    acc: Account,
    signer: str,
    key: KeyPair,
    nonce: int,
    actions: list[Any],
    *,
    receiver: str = BOB,
    block_hash: bytes | None = None,
    tamper: bool = False,
) -> Any:
    if block_hash is None:
        block_hash = base58.b58decode((await acc.provider.get_status())["sync_info"]["latest_block_hash"])
    signed = transactions.sign_and_serialize_transaction(
        signer, key.secret + key.public_key, receiver, nonce, actions, block_hash
    )
    if tamper:
        raw = bytearray(base64.b64decode(signed))
        raw[-1] ^= 0xFF
        signed = base64.b64encode(bytes(raw)).decode()
    return await acc.provider.send_tx_and_wait(signed)


async def _nonce(acc: Account, account_id: str, key: KeyPair) -> int:
    ak = await acc.provider.get_access_key(account_id, key.public_key_str)
    return int(ak["nonce"])


async def test_invalid_nonce(devnet: Devnet, near: AccountFactory) -> None:
    alice = await near(ALICE)
    key = devnet.key(ALICE)
    await alice.send_money(BOB, 1)  # the key's nonce is now > 0
    current = await _nonce(alice, ALICE, key)
    with pytest.raises(InvalidNonce) as err:
        await _send_raw(alice, ALICE, key, current, [transactions.create_transfer_action(1)])
    assert err.value.tx_nonce == current
    assert err.value.ak_nonce == current
    assert err.value.error_json["cause"]["name"] == "INVALID_TRANSACTION"


async def test_bad_signature(devnet: Devnet, near: AccountFactory) -> None:
    alice = await near(ALICE)
    key = devnet.key(ALICE)
    nonce = await _nonce(alice, ALICE, key) + 1
    with pytest.raises(InvalidSignature):
        await _send_raw(alice, ALICE, key, nonce, [transactions.create_transfer_action(1)], tamper=True)


async def test_not_enough_balance(devnet: Devnet, near: AccountFactory) -> None:
    alice = await near(ALICE)
    balance = await alice.get_balance()
    with pytest.raises(NotEnoughBalance) as err:
        await alice.send_money(BOB, 10**30)
    assert err.value.signer_id == ALICE
    assert int(err.value.balance) == balance
    assert int(err.value.cost) > 10**30


async def test_unknown_signer_and_unknown_block(devnet: Devnet, near: AccountFactory) -> None:
    alice = await near(ALICE)
    ghost = KeyPair.generate()
    with pytest.raises(SignerDoesNotExist) as err:
        await _send_raw(alice, "ghost.test.near", ghost, 1, [transactions.create_transfer_action(1)])
    assert err.value.signer_id == "ghost.test.near"
    key = devnet.key(ALICE)
    nonce = await _nonce(alice, ALICE, key) + 1
    with pytest.raises(InvalidChain):
        await _send_raw(alice, ALICE, key, nonce, [transactions.create_transfer_action(1)], block_hash=b"\x07" * 32)


async def test_function_call_key_may_only_call_its_methods(devnet: Devnet, near: AccountFactory) -> None:
    alice = await near(ALICE)
    fc = KeyPair.generate()
    allowance = NEAR // 100
    res = await alice.add_public_key(fc.public_key_str, CONTRACT, ["set"], allowance)
    assert "SuccessValue" in res.status
    limited = await near(ALICE, fc.secret_key_str)

    res = await limited.function_call(CONTRACT, "set", {"by": "fc key"}, gas=30 * TGAS)
    assert res.status == {"SuccessValue": ""}
    ak = await alice.provider.get_access_key(ALICE, fc.public_key_str)
    left = int(ak["permission"]["FunctionCall"]["allowance"])
    assert 0 < left < allowance
    assert ak["permission"]["FunctionCall"]["method_names"] == ["set"]

    with pytest.raises(InvalidAccessKeyError) as err:
        await limited.function_call(CONTRACT, "log", {}, gas=30 * TGAS)
    data = err.value.error_json["data"]["TxExecutionError"]["InvalidTxError"]["InvalidAccessKeyError"]
    assert data == {"MethodNameMismatch": {"method_name": "log"}}

    with pytest.raises(InvalidAccessKeyError) as err:
        await limited.function_call(BOB, "set", {}, gas=30 * TGAS)
    data = err.value.error_json["data"]["TxExecutionError"]["InvalidTxError"]["InvalidAccessKeyError"]
    assert data == {"ReceiverMismatch": {"tx_receiver": BOB, "ak_receiver": CONTRACT}}

    # py-near itself chokes on the bare-string kind (as against mainnet) and raises its parent class
    with pytest.raises(InvalidTransactionError):
        await limited.send_money(BOB, 1)

    with pytest.raises(InvalidAccessKeyError) as err:
        await limited.function_call(CONTRACT, "set", {}, gas=300 * TGAS)  # costs more than what is left
    data = err.value.error_json["data"]["TxExecutionError"]["InvalidTxError"]["InvalidAccessKeyError"]
    assert set(data["NotEnoughAllowance"]) == {"account_id", "public_key", "allowance", "cost"}


async def test_unknown_access_key_is_reported_in_result(devnet: Devnet, near: AccountFactory) -> None:
    alice = await near(ALICE)
    missing = KeyPair.generate().public_key_str
    resp = await alice.provider.get_access_key(ALICE, missing)
    assert resp["error"] == f"access key {missing} does not exist while viewing"
    stranger = await near(ALICE, KeyPair.generate().secret_key_str)
    with pytest.raises(ValueError):  # py-near's own reaction to that shape
        await stranger.get_access_key(None)
