"""Indexer backfill throughput (docs/design.md §12: at least 1000 blocks/s from a local block API).

A devnet chain of BENCH_INDEXER_BLOCKS blocks is built in-process (a real contract call logging an
`execution_requested` event every EVENT_EVERY blocks) into a state file, then served by a devnet in
its own process, so the block API and the indexer do not share one interpreter. The indexer backfills
the whole chain into a real broker (its own embedded stack) and every event is read back from Kafka.

The headline is a cold backfill (the devnet renders each block on its first read), best of COLD_RUNS
fresh devnet processes, since other work on the machine moves single runs a lot. To tell the two
sides apart it also reports the CPU each process spent per block, the block API read alone (no
extraction, no Kafka) and the indexer against the API's warm cache.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import wasmtime
from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from devnet import TGAS, ContractDeployment, Devnet, DevnetConfig, GenesisAccount
from devnet.testing import DevnetProcess
from devnet.vm.types import FunctionCall
from indexer import IndexerConfig, KafkaPublisher, run_indexer
from offshore.stack import running_stack
from schemas import Event, decode
from streams import create_topics, make_consumer
from streams.topics import REQUESTS

BLOCKS = int(os.environ.get("BENCH_INDEXER_BLOCKS", "4000"))
WINDOW = int(os.environ.get("BENCH_INDEXER_WINDOW", "0")) or IndexerConfig.window  # 0 = the indexer's default
EVENT_EVERY = 10
COLD_RUNS = 2
TARGET_BLOCKS_PER_SECOND = 1000
CONTRACT = "offshore.test.near"
CLIENT = "client.test.near"
WAT = Path(__file__).parents[1] / "tests" / "indexer" / "contracts" / "offshore_events.wat"


@dataclass(frozen=True)
class _Run:
    seconds: float
    cpu_s: float  # this process: event loop, publish thread, librdkafka threads
    devnet_cpu_s: float


def run() -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="offshore-bench-indexer-", dir="/tmp"))
    work.chmod(0o755)  # the postgres user must reach its data dir when we run as root
    try:
        chain = work / "chain"
        wasm = work / "events.wasm"
        wasm.write_bytes(wasmtime.wat2wasm(WAT.read_text()))
        calls, head = asyncio.run(_build_chain(chain, wasm))
        with running_stack(work / "stack") as endpoints:
            bootstrap = endpoints.kafka_bootstrap
            create_topics(bootstrap)
            cold: list[_Run] = []
            publisher = _CountingPublisher(KafkaPublisher(bootstrap))
            for attempt in range(COLD_RUNS):
                with DevnetProcess(state_dir=chain, block_interval_s=0) as node:
                    assert node.proc is not None
                    devnet, api = _ProcessCpu(node.proc.pid), node.rpc_url + "/v0"
                    before = publisher.events
                    cold.append(asyncio.run(_backfill(api, publisher, work / f"cold{attempt}.json", head, devnet)))
                    if publisher.events - before != calls:
                        raise RuntimeError(f"indexer published {publisher.events - before} events, not {calls}")
                    if attempt < COLD_RUNS - 1:
                        continue
                    api_only = asyncio.run(_read_api(api, head))
                    warm_runs = [
                        asyncio.run(_backfill(api, publisher, work / f"warm{i}.json", head, devnet)) for i in range(2)
                    ]
                    warm = min(warm_runs, key=lambda r: r.seconds)
            del publisher  # its librdkafka threads must go before the broker does
            arrived = _count_on_kafka(bootstrap, calls, deadline_s=30.0)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if arrived != calls:
        raise RuntimeError(f"{arrived} of {calls} distinct events arrived on {REQUESTS.name}")
    best = min(cold, key=lambda r: r.seconds)
    return {
        "blocks_per_second": round(head / best.seconds),
        "target_blocks_per_second": TARGET_BLOCKS_PER_SECOND,
        "meets_target": head / best.seconds >= TARGET_BLOCKS_PER_SECOND,
        "blocks": head,
        "events": calls,
        "events_on_kafka": arrived,
        "window": WINDOW,
        "backfill_seconds": round(best.seconds, 3),
        "cold_runs_blocks_per_second": [round(head / r.seconds) for r in cold],
        # CPU per block on each side: the rate each could reach with a core to itself, whatever else runs
        "indexer_cpu_ms_per_block": round(1000 * best.cpu_s / head, 3),
        "devnet_cpu_ms_per_block_first_read": round(1000 * best.devnet_cpu_s / head, 3),
        "warm_cache_blocks_per_second": round(head / warm.seconds),
        "indexer_cpu_ms_per_block_warm": round(1000 * warm.cpu_s / head, 3),
        "devnet_cpu_ms_per_block_cached": round(1000 * warm.devnet_cpu_s / head, 3),
        "block_api_only_blocks_per_second": round(head / api_only),
        # the side that spends more CPU per block is the one that sets the cold rate
        "bottleneck": "devnet block API" if best.devnet_cpu_s > best.cpu_s else "indexer",
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


async def _build_chain(state_dir: Path, wasm: Path) -> tuple[int, int]:
    """BLOCKS blocks with a contract call every EVENT_EVERY blocks; returns (calls, head height)."""
    config = DevnetConfig(
        port=0,
        block_interval_s=0,
        state_file=state_dir / "chain.sqlite",
        credentials_dir=state_dir / "credentials",
        genesis_accounts=(GenesisAccount(account_id=CLIENT),),
        deploy=(ContractDeployment(account_id=CONTRACT, wasm_path=wasm),),
    )
    calls = 0
    async with Devnet(config) as devnet:
        while devnet.head_height < BLOCKS:
            if devnet.head_height % EVENT_EVERY == 0:
                args = _envelope(f"bench-{calls}")
                await devnet.sign_and_submit(CLIENT, CONTRACT, [FunctionCall("emit", args, 30 * TGAS, 0)])
                calls += 1
            await devnet.produce_block()
        await devnet.produce_block()  # the last call's receipt runs here
        for _ in range(config.final_lag_blocks):  # and these make it final: the block API serves final blocks
            await devnet.produce_block()
        return calls, devnet.final_height


async def _backfill(
    api_url: str, publisher: _CountingPublisher, checkpoint: Path, head: int, devnet: _ProcessCpu
) -> _Run:
    config = IndexerConfig(
        block_api_url=api_url,
        contract_id=CONTRACT,
        checkpoint_path=checkpoint,
        start_height=1,
        stop_height=head,
        window=WINDOW,
    )
    started, cpu, devnet_cpu = time.perf_counter(), time.process_time(), devnet.seconds()
    last = await run_indexer(config, publisher)
    run = _Run(time.perf_counter() - started, time.process_time() - cpu, devnet.seconds() - devnet_cpu)
    if last != head:
        raise RuntimeError(f"backfill stopped at {last}, expected {head}")
    return run


async def _read_api(api_url: str, head: int) -> float:
    """The block API alone: every block fetched and parsed, WINDOW at a time, nothing else."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=WINDOW)) as http:

        async def fetch(height: int) -> Any:
            async with http.get(f"{api_url}/block/{height}") as resp:
                return json.loads(await resp.read())

        started = time.perf_counter()
        for first in range(1, head + 1, WINDOW):
            await asyncio.gather(*(fetch(h) for h in range(first, min(first + WINDOW, head + 1))))
        return time.perf_counter() - started


def _count_on_kafka(bootstrap: str, expected: int, *, deadline_s: float) -> int:
    """Distinct bench event ids on the requests topic; reads until all arrived or the deadline."""
    consumer = make_consumer(bootstrap, f"bench-indexer-{time.time_ns()}")
    try:
        consumer.assign([TopicPartition(REQUESTS.name, p, OFFSET_BEGINNING) for p in range(REQUESTS.partitions)])
        seen: set[str] = set()
        deadline = time.monotonic() + deadline_s
        while len(seen) < expected and time.monotonic() < deadline:  # poll
            for msg in consumer.consume(1000, 0.2):
                if msg.error() is None and (value := msg.value()) is not None:
                    event = decode(value)
                    if event.request_id.startswith("bench-"):
                        seen.add(event.event_id)
        return len(seen)
    finally:
        consumer.close()


class _ProcessCpu:
    """CPU seconds (user + system) another process used so far, from /proc."""

    def __init__(self, pid: int) -> None:
        self._stat = Path(f"/proc/{pid}/stat")
        self._tick = os.sysconf("SC_CLK_TCK")

    def seconds(self) -> float:
        fields = self._stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self._tick


class _CountingPublisher:
    def __init__(self, inner: KafkaPublisher) -> None:
        self._inner = inner
        self.events = 0

    def publish(self, events: Sequence[Event]) -> None:
        self._inner.publish(events)
        self.events += len(events)


def _envelope(request_id: str) -> bytes:
    data = {
        "request_id": request_id,
        "sender_id": CLIENT,
        "code_source": {"repo": "https://example.com/r.git", "commit": "a" * 40, "build_target": "wasm32-wasip1"},
        "resource_limits": {"max_instructions": 10**9, "max_memory_mb": 64, "max_execution_seconds": 10},
        "input_data": "{}",
        "encrypted_secrets": None,
        "response_format": "Json",
        "payment": "1000000000000000000000000",
        "data_id": "ab" * 32,
    }
    envelope = {"standard": "near-offshore", "version": "1.0.0", "event": "execution_requested", "data": [data]}
    return json.dumps(envelope).encode()
