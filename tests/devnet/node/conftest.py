"""Fixtures for the devnet node tests: a running devnet per test (fast blocks, the WAT test contract
deployed at genesis) and py-near accounts bound to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio
import wasmtime
from py_near.account import Account

from devnet import NEAR, ContractDeployment, Devnet, DevnetConfig, GenesisAccount

WAT = Path(__file__).parent / "contracts" / "devnet_test.wat"
CONTRACT = "contract.test.near"
ALICE = "alice.test.near"
BOB = "bob.test.near"

AccountFactory = Callable[..., Awaitable[Account]]


@pytest.fixture(scope="session")
def test_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("devnet-contract") / "devnet_test.wasm"
    path.write_bytes(wasmtime.wat2wasm(WAT.read_text()))
    return path


@pytest.fixture(scope="session")
def test_wasm_bytes(test_wasm: Path) -> bytes:
    return test_wasm.read_bytes()


@pytest.fixture
def devnet_config(test_wasm: Path, tmp_path: Path) -> DevnetConfig:
    return DevnetConfig(
        port=0,
        block_interval_s=0.02,
        yield_timeout_blocks=5,
        tx_wait_timeout_s=10.0,
        credentials_dir=tmp_path / "credentials",
        genesis_accounts=(
            GenesisAccount(account_id=ALICE, balance=100 * NEAR),
            GenesisAccount(account_id=BOB, balance=100 * NEAR),
        ),
        deploy=(ContractDeployment(account_id=CONTRACT, wasm_path=test_wasm),),
    )


@pytest_asyncio.fixture(loop_scope="session")
async def devnet(devnet_config: DevnetConfig) -> AsyncIterator[Devnet]:
    async with Devnet(devnet_config) as d:
        yield d


@pytest_asyncio.fixture(loop_scope="session")
async def near(devnet: Devnet) -> AsyncIterator[AccountFactory]:
    """near(account_id, secret=None) -> a started py-near Account on the devnet (closed at teardown)."""
    opened: list[Account] = []

    async def make(account_id: str, secret: str | None = None) -> Account:
        acc = Account(account_id, secret or devnet.key(account_id).secret_key_str, rpc_addr=devnet.rpc_url)
        await acc.startup()
        opened.append(acc)
        return acc

    yield make
    for acc in opened:
        await acc.shutdown()
