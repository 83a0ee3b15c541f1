"""Devnet throughput under the pipeline's kind of load (issue 14, item 3): the devnet in its own process
with the offshore contract, then

- `view_calls_per_second`: VIEW_CLIENTS concurrent clients calling `get_request` (final block) for
  VIEW_SECONDS, `distinct` (random requests: settle's reads) and `polling` (each client re-reads its
  own 4 requests: how waiting clients used to follow their requests);
- `contract_calls_per_second`: TX_ACCOUNTS accounts each keeping one `request_execution` in flight
  for TX_SECONDS (py-near waits for inclusion), counted by the contract's own `total_requests`;
- `blocks_per_second` during each phase (the head's height over time), against 1/block interval.

With `OFFSHORE_BENCH_PROFILE=DIR` the devnet runs under py-spy (if installed) and writes a flame graph
and a raw profile there: that is how the hot spots in devnet/README.md were found.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

VIEW_CLIENTS = 8
VIEW_SECONDS = 8.0
TX_ACCOUNTS = 16
TX_SECONDS = 8.0
BLOCK_INTERVAL_S = 0.1
CONTRACT = "offshore.test.near"


def run() -> dict[str, Any]:
    from contract import build_offshore
    from devnet.testing import DevnetProcess

    tmp = Path(tempfile.mkdtemp(prefix="offshore-bench-devnet-"))
    try:
        wasm = build_offshore(tmp / "offshore.wasm")
        senders = [f"s{i}.test.near" for i in range(TX_ACCOUNTS)]
        init = json.dumps({"owner_id": senders[0], "operator_id": senders[0]})
        args = ["--yield-timeout-blocks", "100000", "--deploy", f"{CONTRACT}={wasm}:new:{init}"]
        for s in senders:
            args += ["--account", s]
        proc = DevnetProcess(state_dir=tmp, block_interval_s=BLOCK_INTERVAL_S, extra_args=tuple(args))
        proc.start()
        profiler = _profile(proc, tmp)
        try:
            out = asyncio.run(_load(proc.rpc_url, proc.credentials_dir, senders))
        finally:
            if profiler is not None:
                profiler.send_signal(2)
                profiler.wait(timeout=60)
            proc.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["block_interval_s"] = BLOCK_INTERVAL_S
    out["load_average_1m"] = os.getloadavg()[0]
    return out


def _profile(proc: Any, tmp: Path) -> subprocess.Popen[bytes] | None:
    target = os.environ.get("OFFSHORE_BENCH_PROFILE")
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not target or not Path(spy).exists():
        return None
    Path(target).mkdir(parents=True, exist_ok=True)
    cmd = [spy, "record", "--pid", str(proc.proc.pid), "--rate", "200", "--format", "raw", "-o"]
    return subprocess.Popen(
        [*cmd, str(Path(target) / "devnet.txt")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def _load(rpc: str, creds: Path, senders: list[str]) -> dict[str, Any]:
    import aiohttp
    from py_near.account import Account

    from contract.testing import SOURCE
    from devnet import TGAS

    accounts = [Account(s, _key(creds, s), rpc_addr=rpc) for s in senders]
    for a in accounts:
        await a.startup()
    try:
        async with aiohttp.ClientSession() as http:
            need = 0
            while not need:  # poll: the init transaction lands a block or two after start
                try:
                    need = int(await _view(http, rpc, "estimate_execution_cost", {}))
                except Exception:
                    await asyncio.sleep(0.05)  # poll

            async def one(a: Any) -> None:
                args = {"code_source": SOURCE, "input_data": "bench"}
                await a.function_call(CONTRACT, "request_execution", args, amount=need, gas=100 * TGAS, included=True)

            stop = time.monotonic() + TX_SECONDS
            h0, s0, t0 = await _height(http, rpc), await _total(http, rpc), time.monotonic()

            async def sender(a: Any) -> None:
                while time.monotonic() < stop:
                    await one(a)

            await asyncio.gather(*(sender(a) for a in accounts))
            await asyncio.sleep(2 * BLOCK_INTERVAL_S)  # included transactions execute in the next block
            h1, s1, t1 = await _height(http, rpc), await _total(http, rpc), time.monotonic()
            rates: dict[str, float] = {}
            blocks: dict[str, float] = {}
            for pattern in ("distinct", "polling"):
                views = 0
                stop = time.monotonic() + VIEW_SECONDS
                v0, hv0 = time.monotonic(), await _height(http, rpc)

                async def viewer(mine: list[int], stop: float = stop, distinct: bool = pattern == "distinct") -> None:
                    nonlocal views
                    while time.monotonic() < stop:
                        rid = random.randint(1, s1) if distinct else mine[views % len(mine)]
                        await _view(http, rpc, "get_request", {"request_id": str(rid)})
                        views += 1

                # polling: each client waits on its own few requests, as `offshore request` did
                await asyncio.gather(*(viewer([c * 4 + k + 1 for k in range(4)]) for c in range(VIEW_CLIENTS)))
                v1 = time.monotonic()
                rates[pattern] = round(views / (v1 - v0), 1)
                blocks[pattern] = round((await _height(http, rpc) - hv0) / (v1 - v0), 2)
    finally:
        for a in accounts:
            await a.shutdown()
    return {
        "contract_calls_per_second": round((s1 - s0) / (t1 - t0), 1),
        "blocks_per_second_under_calls": round((h1 - h0) / (t1 - t0), 2),
        "view_calls_per_second": rates,
        "blocks_per_second_under_views": blocks,
        "requests_sent": s1 - s0,
    }


def _key(creds: Path, account: str) -> str:
    data = json.loads((creds / "localnet" / f"{account}.json").read_text())
    return str(data.get("secret_key") or data["private_key"])


async def _rpc(http: Any, rpc: str, method: str, params: Any) -> Any:
    async with http.post(rpc, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}) as resp:
        body = await resp.json()
    if "error" in body:
        raise RuntimeError(body["error"])
    return body["result"]


async def _view(http: Any, rpc: str, method: str, args: dict[str, Any]) -> Any:
    params = {
        "request_type": "call_function",
        "finality": "final",
        "account_id": CONTRACT,
        "method_name": method,
        "args_base64": base64.b64encode(json.dumps(args).encode()).decode(),
    }
    result = await _rpc(http, rpc, "query", params)
    if "error" in result:
        raise RuntimeError(result["error"])
    return json.loads(bytes(result["result"]))


async def _height(http: Any, rpc: str) -> int:
    return int((await _rpc(http, rpc, "block", {"finality": "final"}))["header"]["height"])


async def _total(http: Any, rpc: str) -> int:
    return int((await _view(http, rpc, "get_stats", {}))["total_requests"])
