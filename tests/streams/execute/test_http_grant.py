"""The execute stage's HTTP grant comes from the contract's own record (the real contract WASM on the
devnet VM), and only for guests that import the host API: a forged or stripped Kafka event can neither
widen nor grant network access."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import wasmtime

from contract import OFFSHORE_SOURCE, build_contract
from contract.testing import Offshore
from devnet.vm import CompiledContract, load_contract
from executor import HttpGrant, examples
from streams.execute.http import GrantUnavailable, grant_from_record, request_grant

FETCH = bytes(wasmtime.wat2wasm((examples.GUESTS_DIR / "http_fetch_wat" / "fetch.wat").read_text()))
HELLO = bytes(wasmtime.wat2wasm((examples.GUESTS_DIR / "hello_wat" / "hello.wat").read_text()))


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> CompiledContract:
    return load_contract(build_contract(OFFSHORE_SOURCE, tmp_path_factory.mktemp("c") / "offshore.wasm").read_bytes())


class ContractViews:
    """`view` of the stage's chain client, answered by the real contract on the VM."""

    def __init__(self, chain: Offshore) -> None:
        self.chain = chain
        self.calls = 0

    async def view(self, method: str, args: dict[str, Any]) -> Any:
        self.calls += 1
        return self.chain.view(method, args)


class Unreachable:
    async def view(self, method: str, args: dict[str, Any]) -> Any:
        raise OSError("connection refused")


async def test_the_grant_is_the_contracts(code: CompiledContract) -> None:
    chain = Offshore(code)
    chain.init()
    rid = chain.request(resource_limits={"max_http_calls": 2, "http_hosts": ["api.example.com", "127.0.0.1"]})
    views = ContractViews(chain)
    grant = await request_grant(FETCH, rid, views)
    assert grant == HttpGrant(hosts=("api.example.com", "127.0.0.1"), max_calls=2, max_kb=1024)
    plain = chain.request()
    assert await request_grant(FETCH, plain, views) == HttpGrant()  # no grant on chain: no network
    assert views.calls == 2


async def test_guests_without_the_host_api_cost_no_view(code: CompiledContract) -> None:
    views = ContractViews(Offshore(code))
    assert await request_grant(HELLO, "1", views) is None
    assert views.calls == 0


async def test_an_unreadable_chain_means_retry_not_run_without(tmp_path: Path) -> None:
    with pytest.raises(GrantUnavailable, match="OSError"):
        await request_grant(FETCH, "1", Unreachable())
    with pytest.raises(GrantUnavailable, match="no chain view"):
        await request_grant(FETCH, "1", None)


def test_records_without_a_usable_grant_give_no_network() -> None:
    assert grant_from_record(None) == HttpGrant()
    assert grant_from_record({"resource_limits": {"max_http_calls": 99, "http_hosts": ["a.example"]}}) == HttpGrant()
    assert grant_from_record({"resource_limits": {"max_http_calls": 1, "http_hosts": ["Bad Host"]}}) == HttpGrant()
