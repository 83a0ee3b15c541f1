"""`offshore run` tells the truth about production: the same request through the whole platform
(devnet, broker, every stage) and through `offshore run --rpc` (no chain, broker or database; its own
state dir, so its own sandboxed build) gives the same output, instructions and charge; for a plain
guest and for the price oracle over guest HTTP (both in dev mode against a loopback mock API).

Wall-clock quantities (execution and compile milliseconds) differ between any two runs, so the owner
prices them at zero for this test: every remaining term of the charge must then match exactly.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from py_near.account import Account

from executor import examples
from executor.testing_http import mock_web
from offshore.local import CLIENTS, OWNER

from .conftest import LIMITS, Harness, _harness

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def http_harness() -> Iterator[Harness]:
    yield from _harness("offshore-e2e-run-", block_interval_s=0.1, yield_timeout_blocks=600,
                        extra_env={"OFFSHORE_HTTP_DEV_MODE": "true"})  # fmt: skip


async def _zero_time_prices(harness: Harness) -> None:
    info = harness.info
    owner = Account(OWNER, info.client_key(OWNER), rpc_addr=info.rpc_url)
    await owner.startup()
    try:
        await owner.function_call(
            info.contract_id, "set_pricing", {"pricing": {"per_ms_fee": "0", "per_compile_ms_fee": "0"}}, included=True
        )
        deadline = time.monotonic() + 60
        while (await owner.view_function(info.contract_id, "get_pricing", {})).result["per_ms_fee"] != "0":  # poll
            if time.monotonic() > deadline:
                raise AssertionError("set_pricing never took effect")
            await asyncio.sleep(0.05)  # poll: the call's receipt executes a block after inclusion
    finally:
        await owner.shutdown()


async def _compare(harness: Harness, tmp_path: Path, url: str, commit: str, text: str, limits: dict[str, Any]) -> None:
    info = harness.info
    async with harness.client(CLIENTS[0]) as client:
        sent = await client.request(repo=url, commit=commit, input_data=text, limits=limits, response_format="Text")
        platform_output = await client.result(sent.tx_hash, timeout_s=180)
    record = (await harness.finals([sent.request_id]))[sent.request_id]
    assert record["status"] == "completed", record

    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFSHORE_")}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "OFFSHORE_STATE_DIR": str(tmp_path / "run-state"),
            "OFFSHORE_CONTRACT_ID": info.contract_id,
            "OFFSHORE_ALLOW_FILE_URLS": "true",
            "OFFSHORE_FILE_URL_ROOTS": str(Path(url.removeprefix("file://")).parent),
            "OFFSHORE_HTTP_DEV_MODE": "true",
        }
    )
    args = [f"--{k.replace('_', '-')}={v}" for k, v in limits.items() if k != "http_hosts"]
    args += [f"--allow-host={h}" for h in limits.get("http_hosts", [])]
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "offshore.cli", "run", "--repo", url, "--commit", commit, "--input", text,
         "--rpc", info.rpc_url, "--json", *args],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)

    assert report["output"] == platform_output  # Text: the callback returns stdout as one JSON string
    assert report["instructions"] == record["resources_used"]["instructions"]
    assert report["http_calls"] == record["resources_used"].get("http_calls", 0)
    assert report["deposit"] == sent.deposit
    assert report["cost"] == int(record["payment_charged"])


async def test_offshore_run_matches_the_platform(http_harness: Harness, tmp_path: Path) -> None:
    await _zero_time_prices(http_harness)
    url, commit = http_harness.repos["sha256"]
    await _compare(http_harness, tmp_path / "plain", url, commit, "abc", LIMITS)


async def test_offshore_run_matches_the_platform_with_guest_http(http_harness: Harness, tmp_path: Path) -> None:
    await _zero_time_prices(http_harness)
    url, commit = examples.publish("oracle_median", http_harness.info.state_dir / "repos")
    with mock_web() as web:
        prices = "\n".join(web.url(f"/price/{n}") for n in ("alpha", "beta", "gamma"))
        limits = {**LIMITS, "max_http_calls": 3, "max_http_kb": 16, "http_hosts": ["127.0.0.1"]}
        await _compare(http_harness, tmp_path / "http", url, commit, prices, limits)
