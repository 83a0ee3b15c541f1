"""py-near's ordinary flow against the devnet: accounts, keys, deploy, call, view, transfer, yields."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Awaitable, Callable

import base58
import pytest
from py_near.account import Account
from py_near.exceptions.exceptions import FunctionCallError
from py_near.exceptions.provider import UnknownAccount

from devnet import NEAR, TGAS, Devnet, DevnetConfig, KeyPair

pytestmark = pytest.mark.asyncio(loop_scope="session")
CONTRACT = "contract.test.near"  # these three exist at genesis (see conftest.py)
ALICE = "alice.test.near"
BOB = "bob.test.near"
AccountFactory = Callable[..., Awaitable[Account]]


def _value(status: dict[str, str]) -> bytes:
    return base64.b64decode(status["SuccessValue"])


async def test_create_account_transfer_and_keys(devnet: Devnet, near: AccountFactory) -> None:
    root = await near("test.near")
    key = KeyPair.generate()
    res = await root.create_account("carol.test.near", key.public_key_str, 5 * NEAR)
    assert res.status == {"SuccessValue": ""}
    carol = await near("carol.test.near", key.secret_key_str)
    assert await carol.get_balance() == 5 * NEAR

    res = await carol.send_money(BOB, 2 * NEAR)
    assert "SuccessValue" in res.status
    assert await carol.get_balance("bob.test.near") == 102 * NEAR
    spent = 5 * NEAR - await carol.get_balance()
    assert 2 * NEAR < spent < 2 * NEAR + NEAR // 1000  # the transfer plus a small gas fee

    extra = KeyPair.generate()
    await carol.add_full_access_public_key(extra.public_key_str)
    keys = {k.public_key for k in await carol.get_access_key_list()}
    assert keys == {key.public_key_str, extra.public_key_str}
    await carol.delete_public_key(extra.public_key_str)
    assert {k.public_key for k in await carol.get_access_key_list()} == {key.public_key_str}

    # a sub-account can only be created by its parent
    res = await carol.create_account("dave.test.near", key.public_key_str, NEAR)
    kind = res.status["Failure"]["ActionError"]["kind"]
    assert kind == {"CreateAccountNotAllowed": {"account_id": "dave.test.near", "predecessor_id": "carol.test.near"}}


async def test_deploy_call_and_view(devnet: Devnet, near: AccountFactory, test_wasm_bytes: bytes) -> None:
    alice = await near(ALICE)
    res = await alice.deploy_contract(test_wasm_bytes)
    assert "SuccessValue" in res.status
    res = await alice.function_call(ALICE, "set", {"greeting": "hello"})
    assert res.status == {"SuccessValue": ""}
    view = await alice.view_function(ALICE, "get", {})
    assert view.result == {"greeting": "hello"}
    await devnet.wait_for_final_height(devnet.head_height)  # `final` lags the head, as on NEAR
    state = await alice.provider.json_rpc(
        "query", {"request_type": "view_state", "account_id": ALICE, "prefix_base64": "", "finality": "final"}
    )
    assert state["values"] == [
        {"key": base64.b64encode(b"k").decode(), "value": base64.b64encode(b'{"greeting": "hello"}').decode()}
    ]
    account = await alice.fetch_state()
    assert account["code_hash"] != "11111111111111111111111111111111"
    assert account["storage_usage"] > len(test_wasm_bytes)


async def test_view_of_unknown_account_is_unknown_account(near: AccountFactory) -> None:
    alice = await near(ALICE)
    with pytest.raises(UnknownAccount):
        await alice.provider.get_account("nobody.test.near")


async def test_failed_call_refunds_deposit_and_keeps_logs(devnet: Devnet, near: AccountFactory) -> None:
    alice = await near(ALICE)
    before = await alice.get_balance()
    res = await alice.function_call(CONTRACT, "fail", {"boom": 1}, amount=3 * NEAR)
    failure = res.status["Failure"]["ActionError"]
    assert failure["kind"]["FunctionCallError"]["ExecutionError"] == 'Smart contract panicked: {"boom": 1}'
    assert res.receipt_outcome[0].logs == ['{"boom": 1}']
    assert isinstance(res.receipt_outcome[0].error, FunctionCallError)
    # the write before the panic was rolled back
    raw = await alice.provider.view_call(CONTRACT, "get", b"{}")
    assert raw["result"] == []
    # the deposit and the unused gas come back in refund receipts of the next block
    await devnet.wait_for_height(devnet.head_height + 2)
    after = await alice.get_balance()
    assert before - after < NEAR // 100


async def test_deposit_forwarded_between_accounts(devnet: Devnet, near: AccountFactory) -> None:
    alice = await near(ALICE)
    bob_before = await alice.get_balance(BOB)
    res = await alice.function_call(CONTRACT, "pay", BOB, amount=7 * NEAR)
    assert "SuccessValue" in res.status
    await devnet.wait_for_height(devnet.head_height + 2)
    assert await alice.get_balance(BOB) == bob_before + 7 * NEAR


async def test_promise_then_sees_the_result_of_its_dependency(
    devnet: Devnet, near: AccountFactory, test_wasm_bytes: bytes
) -> None:
    alice = await near(ALICE)
    await alice.function_call(CONTRACT, "set", {"v": 42})
    # alice's own copy of the contract asks CONTRACT.get() and returns it through on_get()
    await alice.deploy_contract(test_wasm_bytes)
    res = await alice.function_call(ALICE, "call_get", CONTRACT, gas=100 * TGAS)
    assert json.loads(_value(res.status)) == {"v": 42}
    executors = [o.status for o in res.receipt_outcome]
    assert len(executors) >= 3  # call_get, CONTRACT.get, on_get


async def _height_of(devnet: Devnet, outcome_id: str) -> int:
    """Block height in which the receipt (or transaction) with this id was executed."""
    oid = bytes(base58.b58decode(outcome_id))
    return await devnet.call(lambda n: n.outcomes[oid].block_height if oid in n.outcomes else n.txs[oid].block_height)


async def test_yield_times_out_after_n_blocks(devnet: Devnet, near: AccountFactory) -> None:
    alice = await near(ALICE)
    res = await alice.function_call(CONTRACT, "yield", {}, gas=100 * TGAS)
    assert _value(res.status) == b"timeout"
    first, *rest = res.receipt_outcome
    callback = [o for o in rest if o.logs == ["timeout"]]
    assert len(callback) == 1
    yielded_at = await _height_of(devnet, first.receipt_id)
    assert await _height_of(devnet, callback[0].receipt_id) == yielded_at + devnet.config.yield_timeout_blocks + 1


async def test_yield_resumed_delivers_payload_next_block(devnet_config: DevnetConfig) -> None:
    # a 200-block window: the resume must land before the timeout, and 5 blocks of 20 ms are too few
    # on a loaded machine (py-near sends the resume only after it saw the yield)
    async with Devnet(dataclasses.replace(devnet_config, yield_timeout_blocks=200)) as devnet:
        alice = Account(ALICE, devnet.key(ALICE).secret_key_str, rpc_addr=devnet.rpc_url)
        bob = Account(BOB, devnet.key(BOB).secret_key_str, rpc_addr=devnet.rpc_url)
        await alice.startup()
        await bob.startup()
        try:
            await _yield_then_resume(devnet, alice, bob)
        finally:
            await alice.shutdown()
            await bob.shutdown()


async def _yield_then_resume(devnet: Devnet, alice: Account, bob: Account) -> None:
    tx_hash = await alice.function_call(CONTRACT, "yield", {}, gas=100 * TGAS, included=True)
    # optimistic: the yield shows up at the head (at `final` two blocks later)
    query = {
        "request_type": "view_state",
        "account_id": CONTRACT,
        "prefix_base64": "eWllbGQ=",
        "finality": "optimistic",
    }
    for _ in range(100):  # poll: the yield exists once the first receipt ran (it stores the data id)
        if (await alice.provider.json_rpc("query", query))["values"]:
            break
        await devnet.wait_for_height(devnet.head_height + 1)
    res = await bob.function_call(CONTRACT, "resume", {"answer": 7})
    assert "SuccessValue" in res.status
    view = await devnet.wait_for_tx(tx_hash)
    assert json.loads(base64.b64decode(view["status"]["SuccessValue"])) == {"answer": 7}
    callback = [o for o in view["receipts_outcome"] if o["outcome"]["logs"] == ["resumed"]]
    assert len(callback) == 1
    resumed_at = await _height_of(devnet, res.receipt_outcome[0].receipt_id)
    assert await _height_of(devnet, callback[0]["id"]) == resumed_at + 1
    # the yield is no longer pending: a second resume finds nothing
    res = await bob.function_call(CONTRACT, "resume", {"answer": 8})
    assert res.receipt_outcome[0].logs == ["resume_failed"]


async def test_callback_sees_a_failed_dependency(devnet: Devnet, near: AccountFactory, test_wasm_bytes: bytes) -> None:
    alice = await near(ALICE)
    await alice.deploy_contract(test_wasm_bytes)
    res = await alice.function_call(ALICE, "call_get", BOB, gas=100 * TGAS)  # BOB has no code: get() fails
    on_get = [
        o for o in res.receipt_outcome if o.status.get("Failure") and o.receipt_id != res.receipt_outcome[0].receipt_id
    ]
    kinds = [o.status["Failure"]["ActionError"]["kind"] for o in on_get]
    assert {"FunctionCallError": {"CompilationError": {"CodeDoesNotExist": {"account_id": BOB}}}} in kinds
    assert {"FunctionCallError": {"ExecutionError": "Smart contract panicked: on_get"}} in kinds
    assert res.status["Failure"]["ActionError"]["kind"] == {
        "FunctionCallError": {"ExecutionError": "Smart contract panicked: on_get"}
    }
