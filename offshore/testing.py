"""Helpers for tests and benchmarks of the running platform (like `devnet/testing.py` for the chain):
scraping a process's Prometheus metrics and waiting for a condition. Production code never imports it.
"""

from __future__ import annotations

import contextlib
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from py_near.account import Account

    from devnet import ContractDeployment, Devnet, DevnetConfig
    from offshore.client import OffshoreClient


def scrape(url: str) -> dict[str, float]:
    """Prometheus text format -> {'name{labels}': value} (summing nothing; exact series)."""
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def total(metrics: dict[str, float], prefix: str) -> float:
    """The sum of every series whose `name{labels}` starts with `prefix`."""
    return sum(v for k, v in metrics.items() if k.startswith(prefix))


def wait_until(predicate: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    """Polls `predicate` until true; AssertionError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not predicate():  # poll
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)  # poll


@contextlib.asynccontextmanager
async def contract_on_devnet(tmp_path: Path) -> AsyncIterator[tuple[Devnet, OffshoreClient, Account]]:
    """A devnet with 20 ms blocks and the offshore contract (owner = operator), a client for alice and
    a started operator account, once the contract answers: what the batch-resolve and block-following
    tests share. The operator account is shut down on exit."""
    import asyncio

    from py_near.account import Account

    from contract import OFFSHORE_SOURCE, build_contract
    from devnet import Devnet
    from offshore.client import OffshoreClient

    offshore, operator_id, alice = "offshore.test.near", "operator.test.near", "alice.test.near"
    wasm = build_contract(OFFSHORE_SOURCE, tmp_path / "offshore.wasm")
    config = offshore_devnet_config(
        wasm, tmp_path / "credentials", owner=operator_id, operator=operator_id, accounts=(operator_id, alice)
    )
    async with Devnet(config) as d:
        client = OffshoreClient(
            rpc_url=d.rpc_url,
            account_id=alice,
            secret_key=d.key(alice).secret_key_str,
            contract_id=offshore,
            block_api_url=d.block_api_url,
        )
        operator = Account(operator_id, d.key(operator_id).secret_key_str, rpc_addr=d.rpc_url)
        await operator.startup()
        async with client:
            try:
                while True:  # poll: the init transaction lands a block or two after start
                    try:
                        await client.estimate({})
                        break
                    except Exception:
                        await asyncio.sleep(0.05)  # poll
                yield d, client, operator
            finally:
                await operator.shutdown()


def offshore_devnet_config(
    wasm: Path,
    credentials_dir: Path,
    *,
    owner: str,
    operator: str,
    accounts: tuple[str, ...],
    contract_id: str = "offshore.test.near",
    block_interval_s: float = 0.02,
    tx_wait_timeout_s: float = 30.0,
    balance_near: int = 100,
    yield_timeout_blocks: int = 100_000,
    also_deploy: tuple[ContractDeployment, ...] = (),
) -> DevnetConfig:
    """An in-process devnet with the offshore contract deployed (then `also_deploy`) and `accounts`
    funded; by default yields never run out while a busy machine sends the requests (100 000 blocks)."""
    import json

    from devnet import NEAR, ContractDeployment, DevnetConfig, GenesisAccount

    return DevnetConfig(
        port=0,
        block_interval_s=block_interval_s,
        yield_timeout_blocks=yield_timeout_blocks,
        tx_wait_timeout_s=tx_wait_timeout_s,
        credentials_dir=credentials_dir,
        genesis_accounts=tuple(GenesisAccount(account_id=a, balance=balance_near * NEAR) for a in accounts),
        deploy=(
            ContractDeployment(
                account_id=contract_id,
                wasm_path=wasm,
                init_method="new",
                init_args=json.dumps({"owner_id": owner, "operator_id": operator}).encode(),
            ),
            *also_deploy,
        ),
    )
