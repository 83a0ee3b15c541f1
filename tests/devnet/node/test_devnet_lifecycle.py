"""Restarts (state file), manual block production, fault injection and the subprocess entry point."""

from __future__ import annotations

import base64
import dataclasses
import json
import signal
import time
from pathlib import Path

import aiohttp
import pytest
from py_near import transactions
from py_near.account import Account

from devnet import NEAR, TGAS, Devnet, DevnetConfig, KeyPair
from devnet.node.keys import read_credentials
from devnet.testing import DevnetProcess, wait_for_height

pytestmark = pytest.mark.asyncio(loop_scope="session")
CONTRACT = "contract.test.near"
ALICE = "alice.test.near"
BOB = "bob.test.near"


async def _account(devnet: Devnet, account_id: str) -> Account:
    acc = Account(account_id, devnet.key(account_id).secret_key_str, rpc_addr=devnet.rpc_url)
    await acc.startup()
    return acc


async def test_restart_continues_the_chain(devnet_config: DevnetConfig, tmp_path: Path) -> None:
    cfg = dataclasses.replace(devnet_config, state_file=tmp_path / "chain.sqlite", yield_timeout_blocks=30)
    async with Devnet(cfg) as devnet:
        alice = await _account(devnet, ALICE)
        sent = await alice.send_money(BOB, 3 * NEAR)
        await alice.function_call(CONTRACT, "set", {"kept": True})
        pending = await alice.function_call(CONTRACT, "yield", {}, gas=100 * TGAS, included=True)
        await devnet.wait_for_height(devnet.head_height + 2)  # the yield is now waiting in the contract
        balance = await alice.get_balance()
        head = devnet.head_height
        await alice.shutdown()
    key_on_disk = read_credentials(tmp_path / "credentials", "localnet", ALICE)
    assert key_on_disk is not None

    async with Devnet(cfg) as devnet:
        assert devnet.head_height >= head
        assert devnet.key(ALICE) == key_on_disk
        await devnet.wait_for_height(head + 1)
        alice = await _account(devnet, ALICE)
        assert await alice.get_balance() == balance
        assert (await alice.view_function(CONTRACT, "get", {})).result == {"kept": True}
        old = await alice.provider.get_tx(sent.transaction.hash, ALICE)
        assert old.status == {"SuccessValue": ""}
        # the yield created before the restart still times out, counted in blocks across the restart
        view = await devnet.wait_for_tx(pending, timeout=20)
        assert base64.b64decode(view["status"]["SuccessValue"]) == b"timeout"
        res = await alice.send_money(BOB, 1)  # nonces continue
        assert "SuccessValue" in res.status
        await alice.shutdown()


async def test_manual_block_production(devnet_config: DevnetConfig) -> None:
    cfg = dataclasses.replace(devnet_config, block_interval_s=0, yield_timeout_blocks=3)
    async with Devnet(cfg) as devnet:
        assert devnet.head_height == devnet.genesis_height
        tx = await devnet.sign_and_submit(ALICE, CONTRACT, [_fc("yield", b"{}", 100 * TGAS)])
        start = await devnet.produce_block()  # includes the tx
        assert devnet.tx_state(tx) == "included"
        await devnet.produce_block()  # runs the receipt: the yield is created here
        for _ in range(cfg.yield_timeout_blocks):
            await devnet.produce_block()
        assert devnet.tx_state(tx) == "included"
        await devnet.produce_block()  # the timeout is delivered: the callback runs
        assert devnet.tx_state(tx) == "executed"
        assert devnet.head_height == start + cfg.yield_timeout_blocks + 2
        view = await devnet.wait_for_tx(tx, timeout=1)
        assert base64.b64decode(view["status"]["SuccessValue"]) == b"timeout"


def _fc(method: str, args: bytes, gas: int) -> object:
    from devnet.vm.types import FunctionCall

    return FunctionCall(method_name=method, args=args, gas=gas, deposit=0)


async def test_rpc_faults(devnet_config: DevnetConfig) -> None:
    cfg = dataclasses.replace(devnet_config, rpc_error_rate=1.0, block_api_error_rate=1.0)
    async with Devnet(cfg) as devnet:
        body = {"jsonrpc": "2.0", "id": 1, "method": "block", "params": {"finality": "final"}}
        async with aiohttp.ClientSession() as s:
            async with s.post(devnet.rpc_url, json=body) as r:
                assert (await r.json())["error"]["cause"]["name"] == "INTERNAL_ERROR"
            async with s.get(f"{devnet.block_api_url}/block/1") as r:
                assert r.status == 500

    # a lost response: the transaction went through although the client saw an error
    cfg = dataclasses.replace(devnet_config, rpc_lost_response_rate=1.0)
    async with Devnet(cfg) as devnet:
        key = devnet.key(ALICE)
        before, block_hash = await devnet.call(lambda n: (n.accounts[BOB].balance, n.head.hash if n.head else b""))
        signed = transactions.sign_and_serialize_transaction(
            ALICE, key.secret + key.public_key, BOB, 1, [transactions.create_transfer_action(11)], block_hash
        )
        body = {"jsonrpc": "2.0", "id": 1, "method": "broadcast_tx_commit", "params": [signed]}
        async with aiohttp.ClientSession() as s, s.post(devnet.rpc_url, json=body) as r:
            assert (await r.json())["error"]["cause"]["name"] == "INTERNAL_ERROR"
        await devnet.wait_for_height(devnet.head_height + 2)  # the refund-free transfer has landed
        assert await devnet.call(lambda n: n.accounts[BOB].balance) == before + 11

    cfg = dataclasses.replace(devnet_config, rpc_latency_s=0.2)
    async with Devnet(cfg) as devnet:
        started = time.monotonic()
        async with aiohttp.ClientSession() as s, s.post(devnet.rpc_url, json={"method": "status", "id": 1}) as r:
            assert "result" in await r.json()
        assert time.monotonic() - started >= 0.2


async def test_subprocess_devnet_and_credentials(tmp_path: Path, test_wasm: Path) -> None:
    args = ("--deploy", f"{CONTRACT}={test_wasm}")
    with DevnetProcess(state_dir=tmp_path, extra_args=args) as proc:
        creds = json.loads((proc.credentials_dir / "localnet" / "test.near.json").read_text())
        assert creds["account_id"] == "test.near" and creds["private_key"].startswith("ed25519:")
        root = Account("test.near", creds["private_key"], rpc_addr=proc.rpc_url)
        await root.startup()
        new = KeyPair.generate()
        res = await root.create_account("eve.test.near", new.public_key_str, NEAR)
        assert res.status == {"SuccessValue": ""}
        view = await root.provider.view_call(CONTRACT, "get", b"{}")
        assert view["result"] == []  # nothing stored yet
        await root.shutdown()
        assert proc.stop(signal.SIGTERM) == 0
    with DevnetProcess(state_dir=tmp_path, extra_args=args) as proc:
        head = wait_for_height(proc.rpc_url, 1)
        root = Account("test.near", creds["private_key"], rpc_addr=proc.rpc_url)
        await root.startup()
        assert await root.get_balance("eve.test.near") == NEAR
        assert head > 1
        await root.shutdown()


async def test_advance_time_moves_block_time_not_height(devnet_config: DevnetConfig) -> None:
    cfg = dataclasses.replace(devnet_config, block_interval_s=0)
    async with Devnet(cfg) as devnet:
        h1 = await devnet.produce_block()
        t1 = (await devnet.call(lambda n: n.head)).timestamp_ns
        assert await devnet.advance_time(600) == 600 * 10**9
        h2 = await devnet.produce_block()
        t2 = (await devnet.call(lambda n: n.head)).timestamp_ns
        assert h2 == h1 + 1
        assert 600 * 10**9 <= t2 - t1 < 660 * 10**9
        with pytest.raises(ValueError, match="only moves forward"):
            await devnet.advance_time(-1)
