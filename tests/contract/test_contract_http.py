"""Guest HTTP in the contract: the grant is validated and capped, the estimate covers the declared
budget, the callback charges calls and started KB (capped at the grant), and the money property
(charged + refunded == payment, charged <= estimate, charged == the CPython formula) holds with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract import Pricing, charge, estimate, http_kb
from contract.testing import CLIENT, CallFailed, Offshore, events_of, transfers, used
from devnet.vm import CompiledContract
from executor import (
    ArtifactStore,
    CodeSource,
    CompileConfig,
    Executor,
    ExecutorConfig,
    HttpConfig,
    HttpGrant,
    StoreConfig,
    compile_source,
    examples,
)
from executor.testing_http import mock_web

GRANT = {"max_http_calls": 3, "max_http_kb": 64, "http_hosts": ["api.example.com", "127.0.0.1"]}


def test_estimate_covers_the_declared_http_budget(offshore: Offshore) -> None:
    plain = offshore.estimate(None)
    with_http = offshore.estimate(GRANT)
    p = Pricing()
    assert with_http - plain == 3 * p.per_http_call_fee + 64 * p.per_http_kb_fee
    assert with_http == estimate(p, max_instructions=10**10, max_execution_seconds=10, max_http_calls=3, max_http_kb=64)


def test_kb_defaults_when_calls_are_declared(offshore: Offshore) -> None:
    rid = offshore.request(resource_limits={"max_http_calls": 1, "http_hosts": ["api.example.com"]})
    limits = offshore.view("get_request", {"request_id": rid})["resource_limits"]
    assert limits["max_http_calls"] == 1 and limits["max_http_kb"] == 1024
    assert limits["http_hosts"] == ["api.example.com"]


def test_a_request_without_http_is_unchanged(offshore: Offshore) -> None:
    rid = offshore.request()
    limits = offshore.view("get_request", {"request_id": rid})["resource_limits"]
    assert set(limits) == {"max_instructions", "max_memory_mb", "max_execution_seconds"}


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"max_http_calls": 17, "http_hosts": ["a.example"]}, "max_http_calls 17 exceeds the hard cap of 16"),
        ({"max_http_calls": 1, "http_hosts": ["a.example"], "max_http_kb": 8193}, "max_http_kb 8193 exceeds"),
        ({"max_http_calls": 1}, "max_http_calls needs http_hosts"),
        ({"max_http_calls": 1, "http_hosts": []}, "max_http_calls needs http_hosts"),
        ({"max_http_calls": 1, "http_hosts": ["a"] * 9}, "max_http_calls needs http_hosts"),
        ({"http_hosts": ["a.example"]}, "need max_http_calls"),
        ({"max_http_kb": 5}, "need max_http_calls"),
        ({"max_http_calls": -1, "http_hosts": ["a.example"]}, "max_http_calls must be a non-negative integer"),
        ({"max_http_calls": True, "http_hosts": ["a.example"]}, "max_http_calls must be a non-negative integer"),
        ({"max_http_calls": 1, "http_hosts": ["https://a.example/"]}, "lowercase host names"),
        ({"max_http_calls": 1, "http_hosts": ["A.example"]}, "lowercase host names"),
        ({"max_http_calls": 1, "http_hosts": ["a.example:443"]}, "carry no port"),
        ({"max_http_calls": 1, "http_hosts": [7]}, "host names of 1 to 253"),
    ],
)
def test_bad_grants_are_refused(offshore: Offshore, limits: dict[str, Any], message: str) -> None:
    with pytest.raises(CallFailed, match=message):
        offshore.request(resource_limits=limits, deposit=10**26)


def test_http_usage_is_charged_and_capped_at_the_grant(offshore: Offshore) -> None:
    p = Pricing()
    need = offshore.estimate(GRANT)
    rid = offshore.request(resource_limits=GRANT, deposit=need)
    usage = used(instructions=5_000_000, time_ms=40, compile_time_ms=100, http_calls=3, http_bytes=2049)
    out = offshore.settle(rid, {"success": True, "output": "ok", "resources_used": usage})
    data = events_of(out)[0]["data"][0]
    assert data["resources_used"] == usage
    base = charge(p, need, instructions=5_000_000, time_ms=40, compile_time_ms=100)
    assert int(data["payment_charged"]) == base + 3 * p.per_http_call_fee + 3 * p.per_http_kb_fee  # 2049 B = 3 KB
    # an operator reporting more than the grant is capped at it
    rid = offshore.request(resource_limits=GRANT, deposit=need)
    over = used(http_calls=99, http_bytes=10**9)
    out = offshore.settle(rid, {"success": False, "error": "x", "resources_used": over})
    data = events_of(out)[0]["data"][0]
    assert data["resources_used"]["http_calls"] == 3 and data["resources_used"]["http_bytes"] == 64 * 1024
    assert int(data["payment_charged"]) == charge(
        p, need, http_calls=99, http_bytes=10**9, max_http_calls=3, max_http_kb=64, instructions=0, time_ms=0,
        compile_time_ms=0,
    )  # fmt: skip


def test_http_usage_without_a_grant_is_not_charged(offshore: Offshore) -> None:
    rid = offshore.request()
    out = offshore.settle(rid, {"success": True, "output": "ok", "resources_used": used(http_calls=5, http_bytes=9999)})
    data = events_of(out)[0]["data"][0]
    assert "http_calls" not in data["resources_used"]
    assert int(data["payment_charged"]) == charge(Pricing(), 10**30, instructions=0, time_ms=0, compile_time_ms=0)


fees = st.integers(min_value=0, max_value=10**22)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    call_fee=fees,
    kb_fee=fees,
    calls=st.integers(min_value=1, max_value=16),
    kb=st.integers(min_value=0, max_value=8192),
    used_calls=st.integers(min_value=0, max_value=40),
    used_bytes=st.integers(min_value=0, max_value=20 * 1024 * 1024),
    extra=st.integers(min_value=0, max_value=10**24),
)
def test_charged_plus_refunded_is_the_payment_with_http(
    offshore_code: CompiledContract,
    call_fee: int,
    kb_fee: int,
    calls: int,
    kb: int,
    used_calls: int,
    used_bytes: int,
    extra: int,
) -> None:
    pricing = Pricing(per_http_call_fee=call_fee, per_http_kb_fee=kb_fee)
    chain = Offshore(offshore_code)
    chain.init(pricing=pricing.to_json())
    lim = {"max_http_calls": calls, "max_http_kb": kb, "http_hosts": ["api.example.com"]}
    need = estimate(pricing, max_instructions=10**10, max_execution_seconds=10, max_http_calls=calls, max_http_kb=kb)
    assert chain.estimate(lim) == need
    pay = need + extra
    rid = chain.request(deposit=pay, resource_limits=lim)
    res = used(instructions=10**6, time_ms=3, compile_time_ms=1, http_calls=used_calls, http_bytes=used_bytes)
    out = chain.settle(rid, {"success": True, "output": "ok", "resources_used": res})
    data = events_of(out)[0]["data"][0]
    charged, refunded = int(data["payment_charged"]), int(data["payment_refunded"])
    assert charged + refunded == pay
    assert 0 <= charged <= min(pay, need)
    assert charged == charge(
        pricing, pay, instructions=10**6, time_ms=3, compile_time_ms=1, http_calls=used_calls, http_bytes=used_bytes,
        max_instructions=10**10, max_execution_seconds=10, max_http_calls=calls, max_http_kb=kb,
    )  # fmt: skip
    assert transfers(out) == ([(CLIENT, refunded)] if refunded else [])


def test_oracle_request_is_charged_for_its_calls(offshore: Offshore, tmp_path: Path) -> None:
    """The money path without the pipeline: the grant the contract stored drives the executor (dev mode,
    loopback price API), and the usage it measured is what the callback charges."""
    store = ArtifactStore(StoreConfig(root=tmp_path / "store"))
    url, commit = examples.publish("oracle_median", tmp_path / "repos")
    config = CompileConfig(allow_file_urls=True, allowed_file_roots=(tmp_path / "repos",))
    built = compile_source(CodeSource(repo=url, commit=commit), store=store, config=config)
    wasm = store.get(built.sha256)
    assert wasm is not None
    grant = {"max_http_calls": 3, "max_http_kb": 8, "http_hosts": ["127.0.0.1"]}
    deposit = offshore.estimate(grant)
    rid = offshore.request(resource_limits=grant, deposit=deposit)
    stored = offshore.view("get_request", {"request_id": rid})["resource_limits"]
    with mock_web() as web, Executor(ExecutorConfig(module_cache_dir=None, http=HttpConfig(dev_mode=True))) as ex:
        urls = "\n".join(web.url(f"/price/{n}") for n in ("alpha", "beta", "gamma"))
        result = ex.execute(wasm, urls.encode(), http=HttpGrant.from_mapping(stored), io_store=store)
    assert result.stdout == b'{"median": 100.25, "sources": 3}\n'
    usage = used(instructions=result.instructions, time_ms=result.time_ms, compile_time_ms=built.compile_time_ms,
                 http_calls=result.http_calls, http_bytes=result.http_bytes)  # fmt: skip
    out = offshore.settle(rid, {"success": True, "output": result.stdout.decode(), "resources_used": usage})
    data = events_of(out)[0]["data"][0]
    charged = int(data["payment_charged"])
    assert data["resources_used"]["http_calls"] == 3
    assert charged == charge(
        Pricing(), deposit, instructions=result.instructions, time_ms=result.time_ms,
        compile_time_ms=built.compile_time_ms, max_instructions=10**10, max_execution_seconds=10,
        http_calls=3, http_bytes=result.http_bytes, max_http_calls=3, max_http_kb=8,
    )  # fmt: skip
    without_http = charge(Pricing(), deposit, instructions=result.instructions, time_ms=result.time_ms,
                          compile_time_ms=built.compile_time_ms)  # fmt: skip
    assert (
        charged - without_http
        == 3 * Pricing().per_http_call_fee + http_kb(result.http_bytes) * Pricing().per_http_kb_fee
    )
    assert transfers(out) == [(CLIENT, deposit - charged)]
