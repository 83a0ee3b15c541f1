"""`offshore run` tells the truth about production: the same request through the whole platform
(devnet, broker, every stage) and through `offshore run --rpc` (no chain, broker or database; its own
state dir, so its own sandboxed build) gives the same output, instructions and charge.

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
from pathlib import Path

from py_near.account import Account

from offshore.local import CLIENTS, OWNER

from .conftest import LIMITS, Harness

ROOT = Path(__file__).resolve().parents[2]


async def test_offshore_run_matches_the_platform(harness: Harness, tmp_path: Path) -> None:
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

    url, commit = harness.repos["sha256"]
    async with harness.client(CLIENTS[0]) as client:
        sent = await client.request(repo=url, commit=commit, input_data="abc", limits=LIMITS, response_format="Text")
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
        }
    )
    limit_args = [f"--{k.replace('_', '-')}={v}" for k, v in LIMITS.items()]
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "offshore.cli", "run", "--repo", url, "--commit", commit, "--input", "abc",
         "--rpc", info.rpc_url, "--json", *limit_args],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)

    assert report["output"] == platform_output  # Text: the callback returns stdout as one JSON string
    assert report["instructions"] == record["resources_used"]["instructions"]
    assert report["deposit"] == sent.deposit
    assert report["cost"] == int(record["payment_charged"])
