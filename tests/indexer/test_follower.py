"""The indexer against the real chain: an in-process devnet serving the block API, a hand-written
contract logging NEP-297 events (contracts/offshore_events.wat), and the session's real broker.

Blocks are produced by hand (`block_interval_s=0`), so every test knows which height holds what.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import wasmtime
from aiohttp import web
from confluent_kafka import OFFSET_BEGINNING, TopicPartition
from prometheus_client import REGISTRY

from devnet import TGAS, ContractDeployment, Devnet, DevnetConfig, GenesisAccount
from devnet.vm.types import FunctionCall
from indexer import Checkpoint, IndexerConfig, KafkaPublisher, run_indexer
from indexer.follower import BlockApi
from schemas import Event, ExecutionRequested, decode
from streams import make_consumer
from streams.topics import REQUESTS

pytestmark = pytest.mark.integration
WAT = Path(__file__).parent / "contracts" / "offshore_events.wat"
CONTRACT = "offshore.test.near"
CLIENT = "client.test.near"
COMMIT = "c" * 40


@pytest.fixture(scope="session")
def events_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("indexer-contract") / "offshore_events.wasm"
    path.write_bytes(wasmtime.wat2wasm(WAT.read_text()))
    return path


@asynccontextmanager
async def _chain(wasm: Path, **faults: Any) -> AsyncIterator[Devnet]:
    # final_lag_blocks=0 unless asked: these tests place events at exact final heights by hand; the
    # lag itself is test_an_event_is_published_only_once_its_block_is_final (last in this file)
    faults.setdefault("final_lag_blocks", 0)
    config = DevnetConfig(
        port=0,
        block_interval_s=0,
        genesis_accounts=(GenesisAccount(account_id=CLIENT),),
        deploy=(ContractDeployment(account_id=CONTRACT, wasm_path=wasm),),
        **faults,
    )
    async with Devnet(config) as devnet:
        yield devnet


@dataclass(frozen=True)
class _Call:
    request_id: str
    receipt_id: str
    height: int  # where the receipt ran (and logged)
    block_hash: str


async def _call(devnet: Devnet, method: str, request_id: str) -> _Call:
    """A real transaction to the contract: included in one block, its receipt runs in the next."""
    args = json.dumps(_envelope(request_id)).encode()
    tx = await devnet.sign_and_submit(CLIENT, CONTRACT, [FunctionCall(method, args, 30 * TGAS, 0)])
    await devnet.produce_block()
    height = await devnet.produce_block()
    view = await devnet.wait_for_tx(tx)
    receipt = view["receipts_outcome"][0]
    return _Call(request_id, receipt["id"], height, receipt["block_hash"])


def _envelope(request_id: str) -> dict[str, Any]:
    data = {
        "request_id": request_id,
        "sender_id": CLIENT,
        "code_source": {"repo": "https://example.com/guest.git", "commit": COMMIT, "build_target": "wasm32-wasip1"},
        "resource_limits": {"max_instructions": 10**9, "max_memory_mb": 64, "max_execution_seconds": 10},
        "input_data": '{"n": 7}',
        "encrypted_secrets": None,
        "response_format": "Json",
        "payment": "2000000000000000000000000",
        "data_id": "ef" * 32,
    }
    return {"standard": "near-offshore", "version": "1.0.0", "event": "execution_requested", "data": [data]}


async def _produce(devnet: Devnet, blocks: int) -> int:
    for _ in range(blocks):
        await devnet.produce_block()
    return devnet.head_height


class _BlockApiProbe:
    """Reads one block the way a client of the API would (to check what the chain holds)."""

    def __init__(self, devnet: Devnet) -> None:
        self._url = devnet.block_api_url

    async def block(self, height: int) -> dict[str, Any]:
        async with aiohttp.ClientSession() as http, http.get(f"{self._url}/block/{height}") as resp:
            assert resp.status == 200
            body: dict[str, Any] = json.loads(await resp.read())
            return body


@asynccontextmanager
async def _garbling_proxy(upstream: str) -> AsyncIterator[str]:
    """A real HTTP proxy in front of the devnet that answers each block path's first request with an
    error page and status 200, as a misbehaving CDN does. The devnet cannot cause this fault itself."""
    garbled: set[str] = set()
    async with aiohttp.ClientSession() as client:

        async def handle(request: web.Request) -> web.Response:
            if request.path.startswith("/v0/block/") and request.path not in garbled:
                garbled.add(request.path)
                return web.Response(body=b"<html>upstream hiccup</html>", content_type="text/html")
            async with client.get(upstream + request.path, allow_redirects=False) as resp:
                headers = {"Location": resp.headers["Location"]} if "Location" in resp.headers else {}
                return web.Response(body=await resp.read(), status=resp.status, headers=headers)

        app = web.Application()
        app.router.add_get("/{tail:.*}", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            yield f"http://127.0.0.1:{runner.addresses[0][1]}/v0"
        finally:
            await runner.cleanup()


class _Recording:
    """The real KafkaPublisher, plus a record of what the indexer handed it: lets a test assert what was
    never published, which reading the topic cannot show (Tansu's high watermark is unreliable)."""

    def __init__(self, bootstrap: str) -> None:
        self._inner = KafkaPublisher(bootstrap)
        self.events: list[Event] = []

    def publish(self, events: Sequence[Event]) -> None:
        self._inner.publish(events)
        self.events.extend(events)

    def ids(self) -> list[str]:
        return [e.request_id for e in self.events]


def _config(devnet: Devnet, checkpoint: Path, **overrides: Any) -> IndexerConfig:
    fast: dict[str, Any] = {"start_height": 1, "poll_interval_s": 0.02, "max_retry_delay_s": 0.05}
    base: dict[str, Any] = {
        "block_api_url": devnet.block_api_url,
        "contract_id": CONTRACT,
        "checkpoint_path": checkpoint,
    }
    return IndexerConfig(**(base | fast | overrides))


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _read(
    bootstrap: str, request_ids: set[str], enough: Callable[[list[tuple[bytes, Event]]], bool], deadline_s: float = 15
) -> list[tuple[bytes, Event]]:
    """(key, event) of our requests on the requests topic, read from the start until `enough` holds."""
    consumer = make_consumer(bootstrap, f"test-indexer-{uuid.uuid4()}")
    keys = {r.encode() for r in request_ids}
    found: list[tuple[bytes, Event]] = []
    try:
        consumer.assign([TopicPartition(REQUESTS.name, p, OFFSET_BEGINNING) for p in range(REQUESTS.partitions)])
        deadline = time.monotonic() + deadline_s
        while not enough(found):  # poll
            assert time.monotonic() < deadline, f"only {len(found)} of our events arrived: {found}"
            for msg in consumer.consume(500, 0.1):
                key, value = msg.key(), msg.value()
                if msg.error() is None and key in keys and value is not None:
                    found.append((key, decode(value)))
        return found
    finally:
        consumer.close()


async def _until_checkpoint(path: Path, height: int, run: asyncio.Task[Any]) -> None:
    deadline = time.monotonic() + 10
    while Checkpoint(path).load() != height:  # poll
        assert time.monotonic() < deadline, f"checkpoint stuck at {Checkpoint(path).load()}, expected {height}"
        assert not run.done(), f"the indexer stopped early: {run.result()}"
        await asyncio.sleep(0.01)  # poll


def _garbled() -> float:
    errors = "offshore_indexer_block_api_errors_total"
    return _metric(errors, kind="invalid_block") + _metric(errors, kind="invalid_json")


def _height(event: Event) -> int:
    assert isinstance(event, ExecutionRequested)
    return event.block_height


def _rid() -> str:
    return f"ix-{uuid.uuid4().hex[:12]}"


async def test_contract_call_event_arrives_keyed_with_its_chain_id_and_a_failed_receipt_is_ignored(
    events_wasm: Path, kafka_bootstrap: str, tmp_path: Path
) -> None:
    async with _chain(events_wasm) as devnet:
        ok = await _call(devnet, "emit", _rid())
        failed = await _call(devnet, "emit_and_fail", _rid())
        head = await _produce(devnet, 2)
        # The failed receipt is in the chain with its event log (as on NEAR): only its status tells.
        block = await _BlockApiProbe(devnet).block(failed.height)
        (reo,) = [
            r for r in block["shards"][0]["receipt_execution_outcomes"] if r["receipt"]["receiver_id"] == CONTRACT
        ]
        assert "Failure" in reo["execution_outcome"]["outcome"]["status"]
        assert reo["execution_outcome"]["outcome"]["logs"][0].startswith("EVENT_JSON:")

        publisher = _Recording(kafka_bootstrap)
        assert await run_indexer(_config(devnet, tmp_path / "cp.json", stop_height=head), publisher) == head

    assert publisher.ids() == [ok.request_id]  # never handed to Kafka: the failed receipt's log
    ((key, event),) = _read(kafka_bootstrap, {ok.request_id}, lambda found: len(found) >= 1)
    assert key == ok.request_id.encode()
    assert isinstance(event, ExecutionRequested)
    # log index 1: the contract logs a plain line first
    assert event.event_id == f"chain:{ok.height}:{ok.receipt_id}:1:0"
    assert (event.block_height, event.block_hash, event.receipt_id) == (ok.height, ok.block_hash, ok.receipt_id)
    assert event.producer == "indexer" and event.sender_id == CLIENT
    assert (event.code_source.repo, event.code_source.commit) == ("https://example.com/guest.git", COMMIT)
    assert event.resource_limits.max_memory_mb == 64 and event.input_data == '{"n": 7}'
    assert (event.payment, event.data_id, event.response_format) == ("2000000000000000000000000", "ef" * 32, "Json")
    assert Checkpoint(tmp_path / "cp.json").load() == head


async def test_a_skipped_height_is_passed_over_and_every_other_block_is_read(
    events_wasm: Path, kafka_bootstrap: str, tmp_path: Path
) -> None:
    async with _chain(events_wasm, skip_heights=frozenset({6})) as devnet:
        await _produce(devnet, 3 - devnet.head_height)  # head 3; the call is included at 4, runs at 5
        before = await _call(devnet, "emit", _rid())
        after = await _call(devnet, "emit", _rid())  # included at 7 (6 is skipped), runs at 8
        head = await _produce(devnet, 2)
        assert (before.height, after.height) == (5, 8)
        skipped = _metric("offshore_indexer_blocks_total", outcome="skipped")
        published = _metric("offshore_indexer_blocks_total", outcome="published")
        publisher = _Recording(kafka_bootstrap)
        assert await run_indexer(_config(devnet, tmp_path / "cp.json", stop_height=head, window=4), publisher) == head

    assert _metric("offshore_indexer_blocks_total", outcome="skipped") - skipped == 1
    assert _metric("offshore_indexer_blocks_total", outcome="published") - published == head - 1  # 1..head but 6
    assert publisher.ids() == [before.request_id, after.request_id]
    found = _read(kafka_bootstrap, {before.request_id, after.request_id}, lambda f: len(f) >= 2)
    assert sorted(_height(e) for _, e in found) == [5, 8]


async def test_waits_for_heights_not_produced_yet_then_reads_them(
    events_wasm: Path, kafka_bootstrap: str, tmp_path: Path
) -> None:
    async with _chain(events_wasm) as devnet:
        head = await _produce(devnet, 3)
        publisher = _Recording(kafka_bootstrap)
        run = asyncio.create_task(run_indexer(_config(devnet, tmp_path / "cp.json", stop_height=head + 4), publisher))
        await _until_checkpoint(tmp_path / "cp.json", head, run)
        assert _metric("offshore_indexer_height") == head
        assert _metric("offshore_indexer_lag_blocks") == 0
        assert _metric("offshore_indexer_final_height") == head
        assert not run.done()  # caught up, waiting for head+1..head+4

        call = await _call(devnet, "emit", _rid())  # heads +1 (included) and +2 (runs)
        await _produce(devnet, 2)
        assert await asyncio.wait_for(run, 10) == head + 4
    assert publisher.ids() == [call.request_id] and call.height == head + 2
    _read(kafka_bootstrap, {call.request_id}, lambda f: len(f) >= 1)


async def test_a_block_answered_404_is_retried_until_produced(events_wasm: Path, tmp_path: Path) -> None:
    async with _chain(events_wasm) as devnet:
        far = devnet.final_height + 11  # beyond what the API holds open: 404 until it is final
        not_found = _metric("offshore_indexer_block_api_errors_total", kind="not_found")
        async with aiohttp.ClientSession() as http:
            api = BlockApi(http, _config(devnet, tmp_path / "cp.json"))
            fetch = asyncio.create_task(api.block(far))
            deadline = time.monotonic() + 10
            while _metric("offshore_indexer_block_api_errors_total", kind="not_found") - not_found < 2:  # poll
                assert time.monotonic() < deadline and not fetch.done()
                await asyncio.sleep(0.01)  # poll
            await _produce(devnet, far - devnet.final_height)
            block = await asyncio.wait_for(fetch, 10)
    assert block is not None and block["block"]["header"]["height"] == far


async def test_at_the_tip_each_block_is_read_by_the_request_the_api_held_for_it(
    events_wasm: Path, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Caught up, the follower asks for the next height and the devnet holds the request until that
    block is final (as neardata does): each new block costs one request; the final height is probed
    at most once a second (to see a backlog the held blocks would hide)."""
    async with _chain(events_wasm) as devnet:
        head = await _produce(devnet, 3)
        probes = _metric("offshore_indexer_block_api_requests_total", path="final")
        held = _metric("offshore_indexer_block_api_requests_total", path="next_block")
        publisher = _Recording(kafka_bootstrap)
        run = asyncio.create_task(run_indexer(_config(devnet, tmp_path / "cp.json", stop_height=head + 6), publisher))
        await _until_checkpoint(tmp_path / "cp.json", head, run)
        probes_at_tip, at_tip = _metric("offshore_indexer_block_api_requests_total", path="final"), time.monotonic()
        reads_at_tip = _metric("offshore_indexer_block_api_requests_total", path="block")
        call = await _call(devnet, "emit", _rid())
        await _produce(devnet, 4)
        assert await asyncio.wait_for(run, 10) == head + 6
        following_s = time.monotonic() - at_tip
    assert publisher.ids() == [call.request_id]
    assert probes_at_tip > probes  # the start's
    assert _metric("offshore_indexer_block_api_requests_total", path="final") - probes_at_tip <= following_s + 1
    held_reads = _metric("offshore_indexer_block_api_requests_total", path="next_block") - held
    other_reads = _metric("offshore_indexer_block_api_requests_total", path="block") - reads_at_tip
    assert held_reads >= 1 and held_reads + other_reads == 6  # one read per new block, most of them held


async def test_block_api_errors_are_retried_and_no_block_is_skipped(
    events_wasm: Path, kafka_bootstrap: str, tmp_path: Path
) -> None:
    async with _chain(events_wasm, block_api_error_rate=0.3, fault_seed=7) as devnet:
        calls = [await _call(devnet, "emit", _rid()) for _ in range(3)]
        head = await _produce(devnet, 20)
        errors = _metric("offshore_indexer_block_api_errors_total", kind="http_500")
        published = _metric("offshore_indexer_blocks_total", outcome="published")
        publisher = _Recording(kafka_bootstrap)
        assert await run_indexer(_config(devnet, tmp_path / "cp.json", stop_height=head, window=8), publisher) == head

    assert _metric("offshore_indexer_block_api_errors_total", kind="http_500") - errors >= 5
    assert _metric("offshore_indexer_blocks_total", outcome="published") - published == head
    assert publisher.ids() == [c.request_id for c in calls]
    found = _read(kafka_bootstrap, {c.request_id for c in calls}, lambda f: len(f) >= 3)
    assert sorted(_height(e) for _, e in found) == sorted(c.height for c in calls)


async def test_a_garbled_answer_is_retried_not_taken_for_a_block_without_events(
    events_wasm: Path, kafka_bootstrap: str, tmp_path: Path
) -> None:
    async with _chain(events_wasm) as devnet, _garbling_proxy(devnet.rpc_url) as api_url:
        call = await _call(devnet, "emit", _rid())
        head = await _produce(devnet, 1)
        garbled = _garbled()
        publisher = _Recording(kafka_bootstrap)
        config = _config(devnet, tmp_path / "cp.json", block_api_url=api_url, stop_height=head)
        assert await run_indexer(config, publisher) == head
    assert publisher.ids() == [call.request_id]
    # every height garbled once: noticed by the block fetch, or by the first/final height probes
    assert _garbled() - garbled == head


async def test_resumes_after_the_checkpoint_and_a_reread_republishes_the_same_event_ids(
    events_wasm: Path, kafka_bootstrap: str, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "cp.json"
    async with _chain(events_wasm) as devnet:
        first = await _call(devnet, "emit", _rid())
        stop_at = await _produce(devnet, 2)
        second = await _call(devnet, "emit", _rid())
        head = await _produce(devnet, 3)

        one = _Recording(kafka_bootstrap)
        assert await run_indexer(_config(devnet, checkpoint, stop_height=stop_at, window=4), one) == stop_at
        assert Checkpoint(checkpoint).load() == stop_at
        assert _metric("offshore_indexer_height") == stop_at
        assert _metric("offshore_indexer_lag_blocks") == head - stop_at  # the chain is ahead of the backfill
        assert one.ids() == [first.request_id]

        published = _metric("offshore_indexer_blocks_total", outcome="published")
        seen: list[int] = []
        two = _Recording(kafka_bootstrap)
        config = _config(devnet, checkpoint, stop_height=head, window=1)
        assert await run_indexer(config, two, progress=lambda h, _target: seen.append(h)) == head
        assert seen == list(range(stop_at + 1, head + 1))  # resumed right after the checkpoint
        assert _metric("offshore_indexer_blocks_total", outcome="published") - published == head - stop_at
        assert two.ids() == [second.request_id]
        assert _metric("offshore_indexer_lag_blocks") == 0

        Checkpoint(checkpoint).save(first.height - 1)  # rewind: re-read both calls' blocks
        three = _Recording(kafka_bootstrap)
        assert await run_indexer(_config(devnet, checkpoint, stop_height=head), three) == head

    assert [e.event_id for e in three.events] == [e.event_id for e in one.events + two.events]
    found = _read(kafka_bootstrap, {first.request_id, second.request_id}, lambda f: len(f) >= 4)
    assert len(found) == 4  # each event twice on the topic: duplicates with the same id, for downstream to drop
    by_id: dict[str, list[Event]] = {}
    for _, event in found:
        by_id.setdefault(event.event_id, []).append(event)
    assert sorted(by_id) == sorted(e.event_id for e in one.events + two.events)
    assert all(len(copies) == 2 and copies[0] == copies[1] for copies in by_id.values())


async def test_follows_new_blocks_until_stopped(events_wasm: Path, kafka_bootstrap: str, tmp_path: Path) -> None:
    async with _chain(events_wasm) as devnet:
        head = await _produce(devnet, 2)
        publisher = _Recording(kafka_bootstrap)
        stop = asyncio.Event()
        run = asyncio.create_task(run_indexer(_config(devnet, tmp_path / "cp.json"), publisher, stop=stop))
        await _until_checkpoint(tmp_path / "cp.json", head, run)  # caught up with the chain
        call = await _call(devnet, "emit", _rid())
        new_head = await _produce(devnet, 1)
        await _until_checkpoint(tmp_path / "cp.json", new_head, run)  # and still following it
        stop.set()
        assert await asyncio.wait_for(run, 5) == new_head > head
    assert publisher.ids() == [call.request_id]
    assert _metric("offshore_indexer_final_height") == new_head


async def test_stops_promptly_while_the_block_api_is_down(
    events_wasm: Path, kafka_bootstrap: str, tmp_path: Path
) -> None:
    async with _chain(events_wasm, block_api_error_rate=1.0) as devnet:
        errors = _metric("offshore_indexer_block_api_errors_total", kind="http_500")
        stop = asyncio.Event()
        config = _config(devnet, tmp_path / "cp.json", max_retry_delay_s=5.0)
        run = asyncio.create_task(run_indexer(config, _Recording(kafka_bootstrap), stop=stop))
        deadline = time.monotonic() + 10
        while _metric("offshore_indexer_block_api_errors_total", kind="http_500") - errors < 3:  # poll
            assert time.monotonic() < deadline and not run.done()
            await asyncio.sleep(0.01)  # poll
        stop.set()
        assert await asyncio.wait_for(run, 1.0) is None  # not stuck in a retry back-off; nothing published
    assert Checkpoint(tmp_path / "cp.json").load() is None


async def test_an_event_is_published_only_once_its_block_is_final(
    events_wasm: Path, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """With NEAR's finality lag (2 blocks) the indexer reads final blocks only: an event in a block at
    the head is not published until two more blocks make it final."""
    async with _chain(events_wasm, final_lag_blocks=2) as devnet:
        head = await _produce(devnet, 3)
        publisher = _Recording(kafka_bootstrap)
        stop = asyncio.Event()
        run = asyncio.create_task(run_indexer(_config(devnet, tmp_path / "cp.json"), publisher, stop=stop))
        await _until_checkpoint(tmp_path / "cp.json", head - 2, run)  # caught up with the FINAL block
        assert _metric("offshore_indexer_final_height") == head - 2
        call = await _call(devnet, "emit", _rid())  # the event's block is the head: not final
        await _until_checkpoint(tmp_path / "cp.json", call.height - 2, run)
        assert publisher.ids() == []
        await _produce(devnet, 2)  # now it is final
        await _until_checkpoint(tmp_path / "cp.json", call.height, run)
        stop.set()
        await asyncio.wait_for(run, 5)
    assert publisher.ids() == [call.request_id]
