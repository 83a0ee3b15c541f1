"""Operator gas per request on the devnet node: `resolve_executions` batches of 1, 10 and the largest
batch settle's gas model allows (streams/settle/batching.py), each a real signed transaction; once
with items without a result commitment, once with one (what settle sends for every seeded run: the
randomness proof checked on chain against the published key).

The operator pays the transaction's conversion plus the resolve receipt's execution (the resumed
callbacks run on gas the requester reserved). Gas does not depend on machine load.
"""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
from pathlib import Path
from typing import Any

SENDERS = 8
USAGE = {"instructions": 1_000_000, "time_ms": 3, "compile_time_ms": 0}


def run() -> dict[str, Any]:
    return asyncio.run(_run())


async def _run() -> dict[str, Any]:
    from py_near.account import Account
    from py_near.transactions import create_function_call_action

    from contract import build_offshore
    from contract.testing import SOURCE
    from devnet import TGAS, Devnet
    from executor import randomness as rnd
    from offshore.testing import offshore_devnet_config
    from schemas.commitment import build_commitment
    from streams.settle.batching import GAS, BatchLimits, batch_args, item_args, max_items, parse_result

    offshore, operator = "offshore.test.near", "operator.test.near"
    senders = [f"s{i}.test.near" for i in range(SENDERS)]
    response = {"success": True, "output": "o" * 64, "resources_used": USAGE}
    largest = max_items(len(item_args("1000000", response)), BatchLimits(max_items=10_000))
    sizes = (1, 10, largest)
    key = rnd.private_key("42" * 32)

    def seeded(rid: str, record: dict[str, Any]) -> dict[str, Any]:
        c = build_commitment(
            wasm_sha256="a" * 64,
            builder_id="debian-12-rustc-1.85.0",
            engine_id="wasmtime-29.0.1-" + "b" * 16,
            input_data=record["input_data"],
            stdout=b"o" * 64,
            randomness_proof=rnd.sign(key, offshore, rid, record["data_id"]),
        )
        return {**response, "commitment": c}

    sample = {"input_data": "r0", "data_id": "00" * 32}
    largest_c = max_items(len(item_args("1000000", seeded("1000000", sample))), BatchLimits(max_items=10_000))
    sizes_c = (1, 10, largest_c)
    with tempfile.TemporaryDirectory(prefix="offshore-bench-gas-") as tmp:
        wasm = build_offshore(Path(tmp) / "offshore.wasm")
        config = offshore_devnet_config(
            wasm,
            Path(tmp) / "credentials",
            owner=operator,
            operator=operator,
            accounts=(operator, *senders),
            contract_id=offshore,
            block_interval_s=0.05,
            tx_wait_timeout_s=60.0,
            balance_near=1000,
        )
        async with Devnet(config) as d:
            accounts = [Account(s, d.key(s).secret_key_str, rpc_addr=d.rpc_url) for s in (operator, *senders)]
            for a in accounts:
                await a.startup()
            op, clients = accounts[0], accounts[1:]
            try:
                need = 0
                while not need:  # poll: the init transaction lands a block or two after start
                    try:
                        need = int((await op.view_function(offshore, "estimate_execution_cost", {})).result)
                    except Exception:
                        await asyncio.sleep(0.05)  # poll
                await op.function_call(offshore, "set_randomness_key", {"public_key": rnd.public_key_hex(key)})
                total = sum(sizes) + sum(sizes_c)
                records = await _requests(clients, offshore, need, total, SOURCE, TGAS)
                ids = sorted(records, key=int)
                out: dict[str, Any] = {}
                start = 0
                runs = [(f"batch_{n}", n, False) for n in sizes] + [(f"seeded_batch_{n}", n, True) for n in sizes_c]
                for name, n, with_c in runs:
                    batch = ids[start : start + n]
                    start += n
                    args = batch_args([item_args(r, seeded(r, records[r]) if with_c else response) for r in batch])
                    result = await op.sign_and_submit_tx(
                        offshore,
                        [create_function_call_action("resolve_executions", args, GAS.attach(n, len(args)), 0)],
                    )
                    assert not (isinstance(result.status, dict) and "Failure" in result.status), result.status
                    value = json.loads(base64.b64decode(result.status["SuccessValue"]))
                    assert len(parse_result(value).resolved) == n, value
                    receipt = next(
                        r for r in result.receipt_outcome if r.receipt_id in result.transaction_outcome.receipt_ids
                    )
                    burnt = result.transaction_outcome.gas_burnt + receipt.gas_burnt
                    out[name] = {
                        "items": n,
                        "operator_gas_tgas": round(burnt / TGAS, 2),
                        "per_request_tgas": round(burnt / TGAS / n, 3),
                        "argument_bytes": len(args),
                        "model_estimate_tgas": round(GAS.estimate(n, len(args)) / TGAS, 2),
                    }
            finally:
                for a in accounts:
                    await a.shutdown()
    out["max_batch"] = largest
    out["per_request_tgas_at_max"] = out[f"batch_{largest}"]["per_request_tgas"]
    out["max_batch_with_commitment"] = largest_c
    out["per_request_tgas_at_max_with_commitment"] = out[f"seeded_batch_{largest_c}"]["per_request_tgas"]
    out["item"] = (
        "64-byte output; batch_N without a result commitment, seeded_batch_N with one (every seeded run: "
        "its randomness proof checked by ed25519_verify; contract/README.md Gas, test_resolve_gas_model.py)"
    )
    out["targets"] = {
        "per_request_tgas_at_max": "<= 2 (issue 14)",
        "per_request_tgas_at_max_with_commitment": "<= 2 (issue 14)",
    }
    return out


async def _requests(
    clients: list[Any], contract: str, need: int, total: int, source: Any, tgas: int
) -> dict[str, dict[str, Any]]:
    """`total` requests spread over the client accounts (included, not awaited: each waits on its
    yield); returns their records by id once all are pending."""

    async def send(client: Any, count: int) -> None:
        for i in range(count):
            args = {"code_source": source, "input_data": f"r{i}"}
            await client.function_call(contract, "request_execution", args, amount=need, gas=100 * tgas, included=True)

    per = -(-total // len(clients))
    counts = [min(per, total - i * per) for i in range(len(clients))]
    await asyncio.gather(*(send(c, k) for c, k in zip(clients, counts, strict=True) if k > 0))
    records: dict[str, dict[str, Any]] = {}
    while len(records) < total:  # poll: included transactions execute in the next block
        records = {}
        page: list[dict[str, Any]] = [{"request_id": 0}]
        while page:
            args = {"from": str(int(page[-1]["request_id"]) + 1), "limit": 100}
            page = (await clients[0].view_function(contract, "list_pending_requests", args)).result
            records.update((str(r["request_id"]), r) for r in page)
        await asyncio.sleep(0.05)  # poll
    return records
