"""The product's main job on the real local platform: requests settle on chain exactly once.

Every component is a real process (devnet with the nearc-built contract, Tansu, Postgres, the
indexer, the three Faust stages, the projector); faults are caused for real (SIGKILL, SIGTERM,
re-published messages), never mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import uuid
from collections import Counter

import pytest
from confluent_kafka import KafkaException

from contract.pricing import Pricing, charge
from offshore.local import CLIENTS
from offshore.testing import total, wait_until
from schemas import DeadLetter, SettlementSkipped, decode
from streams.kafka import make_consumer, make_producer
from streams.topics import COMPILE_QUEUE, COMPILED, DEAD_LETTERS, EXECUTED, REQUESTS, SETTLED

from .conftest import Harness

pytestmark = pytest.mark.integration


async def test_requests_settle_with_the_right_output_and_refund(harness: Harness) -> None:
    async with harness.client(CLIENTS[0]) as alice:
        pricing = Pricing.from_json(await alice.view("get_pricing", {}))
        url, commit = harness.repos["json_echo"]
        ok = await alice.request(repo=url, commit=commit, input_data='{"answer": 42}', response_format="Json")
        loop_url, loop_commit = harness.repos["infinite_loop"]
        fuel = await alice.request(
            repo=loop_url, commit=loop_commit, limits={"max_instructions": 3_000_000, "max_execution_seconds": 5}
        )
        views = await harness.finals([ok.request_id, fuel.request_id])
        assert await alice.result(ok.tx_hash) == {"answer": 42}  # the caller gets the output, Json parsed
        assert await alice.result(fuel.tx_hash) is None  # a failure returns null

    good, bad = views[ok.request_id], views[fuel.request_id]
    assert good["status"] == "completed"
    assert bad["status"] == "failed" and bad["error"].startswith("fuel_exhausted")
    assert int(bad["resources_used"]["instructions"]) == 3_000_000
    for view, sent in ((good, ok), (bad, fuel)):
        used = view["resources_used"]
        expected = charge(
            pricing, sent.deposit, **{k: int(used[k]) for k in ("instructions", "time_ms", "compile_time_ms")}
        )
        assert int(view["payment_charged"]) == expected
        assert int(view["payment_charged"]) + int(view["payment_refunded"]) == sent.deposit
    assert harness.resolve_counts()[ok.request_id] == 1


async def test_redelivering_every_topic_causes_no_second_resolve(harness: Harness) -> None:
    sent = await harness.send(12)
    await harness.finals([s.request_id for s in sent])
    before = harness.resolve_counts()
    ids = {s.request_id for s in sent}
    assert all(before[i] == 1 for i in ids)

    # Re-publish every message these requests produced on every pipeline topic, as a producer retry
    # or a consumer rewind would: each stage must answer from what it already did. The cached program
    # never went through the compile queue (route answers a cache hit itself), so each request is also
    # put there, keyed by program, as route does for a build.
    group = f"redeliver-{uuid.uuid4().hex[:6]}"
    topics = [REQUESTS.name, COMPILED.name, EXECUTED.name]
    copies = _read(harness, topics, group, want=lambda t, e: e.request_id in ids, count=len(ids) * len(topics))
    copies += [(COMPILE_QUEUE.name, _program(value), value) for topic, _, value in copies if topic == REQUESTS.name]
    producer = make_producer(harness.info.endpoints.kafka_bootstrap)
    for topic, key, value in copies:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(10) == 0
    del producer  # no client left reconnecting after the platform stops

    # Every re-delivered ExecutionFinished reaches settle, which finds the request resolved and skips.
    watcher = make_consumer(harness.info.endpoints.kafka_bootstrap, f"{group}-watch")
    watcher.subscribe([SETTLED.name])
    skipped: set[str] = set()

    def all_skipped() -> bool:
        msg = watcher.poll(0.2)
        if msg is not None and msg.error() is None:
            event = decode(msg.value() or b"")
            if isinstance(event, SettlementSkipped) and event.reason == "already_resolved":
                skipped.add(event.request_id)
        return ids <= skipped

    try:
        wait_until(all_skipped, timeout_s=90, what="settle to skip every re-delivered request")
    finally:
        watcher.close()
    after = harness.resolve_counts()
    assert {i: after[i] for i in ids} == {i: 1 for i in ids}
    assert total(harness.metrics("execute"), "offshore_duplicates_dropped_total") >= len(ids)


async def test_sigkill_and_restart_of_every_stage_mid_run_settles_each_request_once(harness: Harness) -> None:
    platform = harness.platform
    sending = asyncio.create_task(harness.send(120, concurrency=4))
    progress = {
        "compile": 'offshore_stage_messages_total{direction="out",stage="compile"',
        "execute": 'offshore_stage_messages_total{direction="out",stage="execute"',
        "settle": 'offshore_settlement_outcomes_total{outcome="resolved"}',
        "indexer": "offshore_indexer_events_total",
    }
    for process, counter in progress.items():
        await harness.progressed(process, counter, 5)  # it is mid-run: killed with work in flight
        platform.kill(process, signal.SIGKILL)
        platform.restart(process)
    sent = await sending
    views = await harness.finals([s.request_id for s in sent], timeout_s=240)
    assert {v["status"] for v in views.values()} == {"completed"}
    counts = harness.resolve_counts()
    assert {s.request_id: counts[s.request_id] for s in sent} == {s.request_id: 1 for s in sent}


async def test_a_rebalance_between_two_workers_settles_each_request_once(harness: Harness) -> None:
    platform = harness.platform
    platform.add_process("execute-2", "execute")
    platform.add_process("settle-2", "settle")
    sending = asyncio.create_task(harness.send(100, concurrency=4))
    await harness.progressed("execute-2", 'offshore_stage_messages_total{direction="out",stage="execute"', 5)
    platform.kill("execute", signal.SIGTERM)  # a graceful stop: Faust rebalances onto execute-2
    platform.kill("settle-2", signal.SIGTERM)
    sent = await sending
    views = await harness.finals([s.request_id for s in sent], timeout_s=240)
    assert {v["status"] for v in views.values()} == {"completed"}
    counts = harness.resolve_counts()
    assert {s.request_id: counts[s.request_id] for s in sent} == {s.request_id: 1 for s in sent}
    platform.restart("execute")


async def test_requests_the_pipeline_lost_are_redriven_by_the_reconciler(harness: Harness) -> None:
    platform = harness.platform
    platform.kill("indexer", signal.SIGKILL)
    sent = await harness.send(3)
    # Lose the requests on purpose: move the indexer's checkpoint past their blocks, as if their
    # events had vanished (what Faust does on a rebalance). Only the chain still knows about them.
    # `send` returns once each request's receipt ran (optimistic), which may be after the final head:
    # the checkpoint goes to the newest block that created one of them, never to a height before it.
    async with harness.client(CLIENTS[0]) as c:
        created = [(await c.get_request(s.request_id) or {}).get("created_height") for s in sent]
    assert all(isinstance(h, int) for h in created), created
    past = max(h for h in created if isinstance(h, int))
    (harness.info.state_dir / "indexer" / "checkpoint.json").write_text(json.dumps({"height": past}))
    platform.restart("indexer")
    views = await harness.finals([s.request_id for s in sent], timeout_s=120)
    assert {v["status"] for v in views.values()} == {"completed"}
    counts = harness.resolve_counts()
    assert [counts[s.request_id] for s in sent] == [1, 1, 1]
    assert total(harness.metrics("settle"), "offshore_reconciler_redrives_total") >= 3


async def test_poison_messages_go_to_dead_letters_and_never_block_a_partition(harness: Harness) -> None:
    producer = make_producer(harness.info.endpoints.kafka_bootstrap)
    poison = {
        REQUESTS.name: b"\x00not avro",
        COMPILED.name: b"\xc3\x01" + b"\xff" * 8 + b"garbage",
        EXECUTED.name: b"{}",
    }
    for partition in range(REQUESTS.partitions):  # one in every partition, ahead of the next real request
        for topic, value in poison.items():
            producer.produce(topic, key=b"poison", value=value, partition=partition)
    assert producer.flush(10) == 0
    del producer
    sent = await harness.send(4)
    views = await harness.finals([s.request_id for s in sent])
    assert {v["status"] for v in views.values()} == {"completed"}

    letters = _read(
        harness, [DEAD_LETTERS.name], f"dlq-{uuid.uuid4().hex[:6]}", want=lambda t, e: e.request_id == "poison",
        count=len(poison) * REQUESTS.partitions,
    )  # fmt: skip
    by_stage = Counter(decode(value).stage for _, _, value in letters)  # type: ignore[attr-defined]
    assert by_stage == {"route": 8, "execute": 8, "settle": 8}
    example = decode(letters[0][2])
    assert isinstance(example, DeadLetter) and example.error_type in {"DecodeError", "UnknownSchemaError"}


def test_every_process_exports_metrics_that_moved(harness: Harness) -> None:
    compile_m, execute_m, settle_m = (harness.metrics(p) for p in ("compile", "execute", "settle"))
    assert total(compile_m, 'offshore_stage_messages_total{direction="out",stage="compile"') > 0
    assert total(compile_m, "offshore_compile_cache_total") > 0
    assert total(execute_m, 'offshore_stage_messages_total{direction="out",stage="execute"') > 0
    assert total(execute_m, "offshore_execution_fuel_count") > 0
    assert total(settle_m, 'offshore_settlement_outcomes_total{outcome="resolved"}') > 0
    assert total(settle_m, "offshore_request_to_settlement_seconds_count") > 0
    assert total(settle_m, "offshore_yield_slack_blocks_count") > 0
    indexer_m = harness.metrics("indexer")
    assert indexer_m["offshore_indexer_height"] > 0
    assert total(indexer_m, "offshore_indexer_events_total") > 0
    assert total(harness.metrics("project"), "offshore_projector_events_total") > 0


def _program(value: bytes) -> bytes:
    """The compile queue's key of an ExecutionRequested: its program."""
    from schemas import ExecutionRequested
    from streams.compile.core import source_key

    event = decode(value)
    assert isinstance(event, ExecutionRequested)
    return source_key(event.code_source).encode()


def _read(
    harness: Harness, topics: list[str], group: str, *, want, count: int | None = None
) -> list[tuple[str, bytes, bytes]]:  # type: ignore[no-untyped-def]
    """Messages of `topics` matching `want(topic, event)`: all of them until `count`, or what is there now."""
    consumer = make_consumer(harness.info.endpoints.kafka_bootstrap, group)
    consumer.subscribe(topics)
    found: list[tuple[str, bytes, bytes]] = []
    idle = 0
    try:
        while (count is None and idle < 20) or (count is not None and len(found) < count):  # poll
            msg = consumer.poll(0.1)
            if msg is None or msg.error() is not None:
                idle += 1
                if count is not None and idle > 600:
                    raise AssertionError(f"only {len(found)} of {count} messages on {topics}")
                continue
            idle = 0
            value = msg.value() or b""
            if want(msg.topic(), decode(value)):
                found.append((msg.topic() or "", msg.key() or b"", value))
        if found or count is None:
            with contextlib.suppress(KafkaException):  # nothing consumed yet: nothing to commit
                consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return found
