"""The execute stage's HTTP grant comes from the contract's own record (the real contract WASM on the
devnet VM), and only for guests that import the host API: a forged or stripped Kafka event can neither
widen nor grant network access."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from contract import OFFSHORE_SOURCE, build_contract
from contract.testing import Offshore
from devnet.vm import CompiledContract, load_contract
from executor import ArtifactStore, Executor, ExecutorConfig, HttpConfig, HttpGrant, StoreConfig, examples
from executor.testing_http import mock_web
from schemas import ExecutionFinished, WasmCompiled
from schemas.samples import samples
from streams.deadline import DeadlinePolicy
from streams.execute.agent import NoSecrets
from streams.execute.core import execute_request
from streams.execute.http import GrantUnavailable, grant_from_record, request_grant
from streams.settle.core import response_payload

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


async def test_the_execute_stage_runs_a_granted_guest_and_settle_reports_its_usage(
    code: CompiledContract, tmp_path: Path
) -> None:
    """execute_request with the real executor (dev mode), artifact store and contract record: the grant
    comes from the chain, the I/O is recorded, ExecutionFinished carries it, settle's payload bills it."""
    chain = Offshore(code)
    chain.init()
    rid = chain.request(resource_limits={"max_http_calls": 1, "max_http_kb": 4, "http_hosts": ["127.0.0.1"]})
    store = ArtifactStore(StoreConfig(root=tmp_path / "store"))
    sha = store.put(FETCH)
    compiled = samples()["WasmCompiled"]
    assert isinstance(compiled, WasmCompiled)
    with mock_web() as web:
        req = dataclasses.replace(compiled.request, request_id=rid, input_data=web.url("/price/gamma"))
        ev = dataclasses.replace(compiled, request=req, request_id=rid, wasm_sha256=sha)
        with Executor(ExecutorConfig(module_cache_dir=None, http=HttpConfig(dev_mode=True))) as runner:
            out = await execute_request(
                ev, runner=runner, artifacts=store, secrets=NoSecrets(),
                policy=DeadlinePolicy(timeout_blocks=10**6, margin_blocks=0, block_time_s=1.0),
                final_height=req.block_height, producer="t", chain=ContractViews(chain),  # type: ignore[arg-type]
            )  # fmt: skip
    assert isinstance(out, ExecutionFinished) and out.success, out
    assert out.output.startswith(b'200\n{"source": "gamma", "price": 100.25}')
    assert out.http_calls == 1 and out.http_bytes > 0 and len(out.io_sha256) == 64
    assert store.get_ref({"kind": "offshore-io-transcript", "head": out.io_sha256}) is not None
    used = response_payload(out)["resources_used"]
    assert (used["http_calls"], used["http_bytes"]) == (1, out.http_bytes)
