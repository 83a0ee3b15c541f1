"""The offshore contract on the devnet node, through py-near transactions as production uses it:
a client contract's request resolved by the operator, a yield that times out, and the gas table."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from py_near.account import Account

from contract import Pricing, charge
from contract.testing import SOURCE, used
from devnet import NEAR, TGAS, ContractDeployment, Devnet, DevnetConfig, GenesisAccount
from offshore.testing import offshore_devnet_config

pytestmark = pytest.mark.asyncio(loop_scope="session")
OFFSHORE = "offshore.test.near"
CLIENT = "client.test.near"
OWNER = "owner.test.near"
OPERATOR = "operator.test.near"
ALICE = "alice.test.near"
YIELD_TIMEOUT_BLOCKS = 10
GAS_LIMIT = 100 * TGAS


@pytest.fixture(scope="module")
def wasm_paths(offshore_wasm: bytes, client_wasm: bytes, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("devnet-wasm")
    (d / "offshore.wasm").write_bytes(offshore_wasm)
    (d / "client.wasm").write_bytes(client_wasm)
    return d / "offshore.wasm", d / "client.wasm"


@pytest_asyncio.fixture(loop_scope="session")
async def devnet(wasm_paths: tuple[Path, Path], tmp_path: Path) -> AsyncIterator[Devnet]:
    offshore, client = wasm_paths
    config = offshore_devnet_config(
        offshore,
        tmp_path / "credentials",
        owner=OWNER,
        operator=OPERATOR,
        accounts=(OWNER, OPERATOR, ALICE),
        contract_id=OFFSHORE,
        tx_wait_timeout_s=20.0,
        yield_timeout_blocks=YIELD_TIMEOUT_BLOCKS,
        also_deploy=(ContractDeployment(account_id=CLIENT, wasm_path=client),),
    )
    async with Devnet(config) as d:
        yield d


@pytest_asyncio.fixture(loop_scope="session")
async def accounts(devnet: Devnet) -> AsyncIterator[dict[str, Account]]:
    out: dict[str, Account] = {}
    for name in (OWNER, OPERATOR, ALICE):
        acc = Account(name, devnet.key(name).secret_key_str, rpc_addr=devnet.rpc_url)
        await acc.startup()
        out[name] = acc
    await _wait_initialised(out[ALICE])
    yield out
    for acc in out.values():
        await acc.shutdown()


async def _wait_initialised(acc: Account) -> None:
    deadline = time.monotonic() + 20
    while True:  # poll: the devnet sends `new` in a real transaction once the chain runs
        try:
            await acc.view_function(OFFSHORE, "get_config", {})
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.05)  # poll


async def _view(acc: Account, method: str, args: dict[str, Any] | None = None) -> Any:
    return (await acc.view_function(OFFSHORE, method, args or {})).result


async def _wait_pending(acc: Account, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    while True:  # poll: the request lands a block or two after the transaction
        pending: list[dict[str, Any]] = await _view(acc, "list_pending_requests", {})
        if len(pending) >= count:
            return pending
        assert time.monotonic() < deadline, "request never became pending"
        await asyncio.sleep(0.02)  # poll


def _assert_panicked(status: dict[str, Any], text: str) -> None:
    """The contract rejected the call: py-near reports the panic in the status (it does not raise)."""
    err = status["Failure"]["ActionError"]["kind"]["FunctionCallError"]["ExecutionError"]
    assert text in err, err


def _events(tx: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for ro in tx["receipts_outcome"]:
        for line in ro["outcome"]["logs"]:
            if line.startswith("EVENT_JSON:"):
                out.append(json.loads(line[len("EVENT_JSON:") :]))
    return out


def _record_gas(name: str, gas: int) -> None:
    """Every method stays under 100 TGas on the node too (the worst cases are in test_contract_gas.py)."""
    assert gas < GAS_LIMIT, f"{name} burnt {gas / TGAS:.1f} TGas"


def _record_offshore_gas(tx: dict[str, Any]) -> None:
    """Gas of each offshore receipt in a transaction, named by the method it ran."""
    for ro in tx["receipts_outcome"]:
        if ro["outcome"]["executor_id"] != OFFSHORE:
            continue
        logs = " ".join(ro["outcome"]["logs"])
        if "execution_requested" in logs:
            _record_gas("request_execution", ro["outcome"]["gas_burnt"])
        elif "execution_completed" in logs:
            _record_gas("on_execution_response", ro["outcome"]["gas_burnt"])


async def test_client_contract_gets_the_output_of_a_resolved_request(
    devnet: Devnet, accounts: dict[str, Account]
) -> None:
    alice, operator = accounts[ALICE], accounts[OPERATOR]
    pay = int(await _view(alice, "estimate_execution_cost", {})) + NEAR // 100
    before = await alice.get_balance(CLIENT)
    tx_hash = await alice.function_call(
        CLIENT,
        "run",
        {"offshore_id": OFFSHORE, "code_source": SOURCE, "input_data": "[1,2]", "response_format": "Json"},
        gas=300 * TGAS,
        amount=pay,
        nowait=True,
    )
    (req,) = await _wait_pending(alice, 1)
    rid = str(req["request_id"])
    full = await _view(alice, "get_request", {"request_id": rid})
    assert full["sender_id"] == CLIENT and full["payment"] == str(pay) and full["input_data"] == "[1,2]"
    res = used(instructions=3_000_000, time_ms=4, compile_time_ms=1200)
    response = {"success": True, "output": '{"sum": 3}', "resources_used": res}
    out = await operator.function_call(OFFSHORE, "resolve_execution", {"request_id": rid, "response": response})
    assert out.status == {"SuccessValue": ""}, out.status
    _record_gas("resolve_execution", out.receipt_outcome[0].gas_burnt)

    tx = await devnet.wait_for_tx(tx_hash)
    final = json.loads(base64.b64decode(tx["status"]["SuccessValue"]))
    assert final == {"status": 1, "value": {"sum": 3}}  # the client's own callback got the parsed output
    assert (await alice.view_function(CLIENT, "get_last", {})).result == final
    _record_offshore_gas(tx)
    charged = charge(Pricing(), pay, **res)
    completed = [e for e in _events(tx) if e["event"] == "execution_completed"]
    assert completed[0]["data"][0]["payment_charged"] == str(charged)
    after = await alice.get_balance(CLIENT)
    assert after - before >= pay - charged  # the refund reached the client contract
    assert (await _view(alice, "get_request", {"request_id": rid}))["status"] == "completed"

    again = await operator.function_call(OFFSHORE, "resolve_execution", {"request_id": rid, "response": response})
    _assert_panicked(again.status, "not pending (completed)")


async def test_timed_out_request_refunds_in_full(devnet: Devnet, accounts: dict[str, Account]) -> None:
    alice = accounts[ALICE]
    pay = int(await _view(alice, "estimate_execution_cost", {})) + 777
    before = await alice.get_balance(CLIENT)
    tx_hash = await alice.function_call(
        CLIENT, "run", {"offshore_id": OFFSHORE, "code_source": SOURCE}, gas=300 * TGAS, amount=pay, nowait=True
    )
    (req,) = await _wait_pending(alice, 1)
    tx = await devnet.wait_for_tx(tx_hash, timeout=30)  # nobody resolves: the yield times out
    final = json.loads(base64.b64decode(tx["status"]["SuccessValue"]))
    assert final == {"status": 1, "value": None}
    completed = next(e for e in _events(tx) if e["event"] == "execution_completed")["data"][0]
    assert completed["error"] == "timeout" and completed["payment_refunded"] == str(pay)
    assert completed["payment_charged"] == "0"
    _record_offshore_gas(tx)
    after = await alice.get_balance(CLIENT)
    assert after - before >= pay  # everything came back
    got = await _view(alice, "get_request", {"request_id": str(req["request_id"])})
    assert got["status"] == "timed_out"
    late = await accounts[OPERATOR].function_call(
        OFFSHORE,
        "resolve_execution",
        {"request_id": str(req["request_id"]), "response": {"success": True, "resources_used": used()}},
    )
    _assert_panicked(late.status, "not pending (timed_out)")


async def test_rejections_and_admin_through_transactions(devnet: Devnet, accounts: dict[str, Account]) -> None:
    alice, owner = accounts[ALICE], accounts[OWNER]
    need = int(await _view(alice, "estimate_execution_cost", {}))
    out = await alice.function_call(OFFSHORE, "request_execution", {"code_source": SOURCE}, amount=need - 1)
    _assert_panicked(out.status, "below the estimated cost")
    out = await alice.function_call(OFFSHORE, "set_paused", {"paused": True})
    _assert_panicked(out.status, "only the owner")
    out = await alice.function_call(OFFSHORE, "resolve_execution", {"request_id": "1", "response": {"success": True}})
    _assert_panicked(out.status, "only the operator")
    for method, args in (
        ("set_paused", {"paused": True}),
        ("set_paused", {"paused": False}),
        ("set_pricing", {"pricing": {"base_fee": str(Pricing().base_fee)}}),
        ("set_operator", {"operator_id": OPERATOR}),
        ("set_owner", {"owner_id": OWNER}),
    ):
        out = await owner.function_call(OFFSHORE, method, args)
        assert out.status == {"SuccessValue": ""}, (method, out.status)
        _record_gas(method, out.receipt_outcome[0].gas_burnt)
    # a direct request (no client contract): cancel it by emergency, then the yield times out harmlessly
    tx_hash = await alice.function_call(
        OFFSHORE, "request_execution", {"code_source": SOURCE}, amount=need, gas=100 * TGAS, nowait=True
    )
    (req,) = await _wait_pending(alice, 1)
    out = await owner.function_call(
        OFFSHORE, "emergency_cancel_execution", {"request_id": str(req["request_id"]), "reason": "test"}
    )
    logged = [json.loads(line[len("EVENT_JSON:") :]) for line in out.logs if line.startswith("EVENT_JSON:")]
    assert [e["event"] for e in logged] == ["execution_cancelled"]
    _record_gas("emergency_cancel_execution", out.receipt_outcome[0].gas_burnt)
    tx = await devnet.wait_for_tx(tx_hash, timeout=30)
    assert base64.b64decode(tx["status"]["SuccessValue"]) == b"null"
    assert not [e for e in _events(tx) if e["event"] == "execution_completed"]  # no second refund


async def test_views_over_rpc(accounts: dict[str, Account]) -> None:
    alice = accounts[ALICE]
    assert (await _view(alice, "get_config"))["operator_id"] == OPERATOR
    assert await _view(alice, "is_paused") is False
    assert (await _view(alice, "get_max_limits"))["max_execution_seconds"] == 60
    assert Pricing.from_json(await _view(alice, "get_pricing")) == Pricing()
    stats = await _view(alice, "get_stats")
    assert int(stats["total_payment"]) == int(stats["total_charged"]) + int(stats["total_refunded"]) + sum(
        int(r["payment"]) for r in await _view(alice, "list_pending_requests", {})
    )


async def test_cancel_stale_execution_before_and_after_ten_minutes(
    wasm_paths: tuple[Path, Path], tmp_path: Path
) -> None:
    """The 10-minute rule through real transactions: the devnet moves block time forward on request
    (`devnet_advance_time`), with a yield window long enough that the request is still pending."""
    config = DevnetConfig(
        port=0,
        block_interval_s=0.02,
        yield_timeout_blocks=100_000,
        credentials_dir=tmp_path / "credentials",
        genesis_accounts=tuple(GenesisAccount(account_id=a, balance=100 * NEAR) for a in (OWNER, OPERATOR, ALICE)),
        deploy=(
            ContractDeployment(
                account_id=OFFSHORE,
                wasm_path=wasm_paths[0],
                init_method="new",
                init_args=json.dumps({"owner_id": OWNER, "operator_id": OPERATOR}).encode(),
            ),
        ),
    )
    async with Devnet(config) as d:
        alice = Account(ALICE, d.key(ALICE).secret_key_str, rpc_addr=d.rpc_url)
        await alice.startup()
        try:
            await _wait_initialised(alice)
            need = int(await _view(alice, "estimate_execution_cost", {}))
            await alice.function_call(
                OFFSHORE, "request_execution", {"code_source": SOURCE}, amount=need, gas=100 * TGAS, nowait=True
            )
            (req,) = await _wait_pending(alice, 1)
            rid = str(req["request_id"])
            early = await alice.function_call(OFFSHORE, "cancel_stale_execution", {"request_id": rid})
            _assert_panicked(early.status, "not stale yet")

            moved = await alice.provider.json_rpc("devnet_advance_time", {"seconds": 601})
            assert moved["time_offset_ns"] == 601 * 10**9
            before = await alice.get_balance()
            late = await alice.function_call(OFFSHORE, "cancel_stale_execution", {"request_id": rid})
            assert "SuccessValue" in late.status, late.status
            cancelled = [json.loads(x[len("EVENT_JSON:") :]) for x in late.logs if x.startswith("EVENT_JSON:")]
            assert cancelled[0]["event"] == "execution_cancelled"
            assert cancelled[0]["data"][0]["refunded"] == str(need)
            got = await _view(alice, "get_request", {"request_id": rid})
            assert got["status"] == "cancelled"
            assert await alice.get_balance() > before + need - NEAR // 100  # the refund minus this tx's gas
            _record_gas("cancel_stale_execution", late.receipt_outcome[0].gas_burnt)
        finally:
            await alice.shutdown()
