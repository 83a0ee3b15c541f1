"""The stage shell and its guard, without a broker: what the shell sends is recorded (the same shell
runs on the real broker in tests/e2e: re-delivery, poison messages, SIGKILL mid-run)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from schemas import DeadLetter, Event, ExecutionFinished, ExecutionRequested, WasmCompiled, decode, encode
from schemas.samples import samples
from streams.execute.results import ResultStore
from streams.guard import Duplicate, OnceGuard
from streams.shell import Delivery, StageShell
from streams.topics import COMPILED, DEAD_LETTERS, EXECUTED

COMPILED_EVENT = samples()["WasmCompiled"]
FINISHED = samples()["ExecutionFinished"]
assert isinstance(COMPILED_EVENT, WasmCompiled) and isinstance(FINISHED, ExecutionFinished)


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []

    async def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.sent.append((topic, key, value))


def delivery(event: Event | None = None, *, value: bytes | None = None, offset: int = 3) -> Delivery:
    data = value if value is not None else encode(event) if event is not None else b""
    return Delivery(COMPILED.name, 1, offset, b"7", data)


def test_the_guard_claims_once_and_answers_duplicates_from_the_store(tmp_path: Path) -> None:
    guard = OnceGuard(ResultStore(tmp_path))
    assert guard.claim("7") is None
    assert guard.claim("7") == Duplicate(None)  # in flight in this process
    guard.record("7", b"outcome")
    guard.release("7")
    assert guard.inflight == 0
    assert guard.claim("7") == Duplicate(b"outcome")  # recorded: re-emit, never re-run
    assert OnceGuard(ResultStore(tmp_path)).claim("7") == Duplicate(b"outcome")  # another process, same volume


def test_a_guard_without_a_store_only_stops_concurrent_duplicates() -> None:
    guard = OnceGuard()
    assert guard.claim("7") is None
    assert guard.claim("7") == Duplicate(None)
    guard.record("7", b"ignored")
    guard.release("7")
    assert guard.claim("7") is None


async def test_the_work_runs_once_and_a_redelivery_re_emits_the_stored_outcome(tmp_path: Path) -> None:
    sender, runs = RecordingSender(), []

    async def work() -> Event:
        runs.append(1)
        return FINISHED

    shell = StageShell("execute", sender, accepts=(WasmCompiled,), guard=OnceGuard(ResultStore(tmp_path)))
    assert await shell.once("7", work) == FINISHED
    assert await shell.once("7", work) is None
    assert len(runs) == 1
    assert [(topic, key) for topic, key, _ in sender.sent] == [(EXECUTED.name, b"7"), (EXECUTED.name, b"7")]
    assert sender.sent[0][2] == sender.sent[1][2] == encode(FINISHED)


async def test_concurrent_deliveries_run_the_work_once() -> None:
    sender, started, release = RecordingSender(), asyncio.Event(), asyncio.Event()
    runs: list[int] = []

    async def work() -> Event:
        runs.append(1)
        started.set()
        await release.wait()
        return FINISHED

    shell = StageShell("settle", sender, accepts=(ExecutionFinished,))
    first = asyncio.create_task(shell.once("7", work))
    await started.wait()
    assert await shell.once("7", work) is None  # the first delivery emits
    release.set()
    assert await first == FINISHED
    assert len(runs) == 1 and len(sender.sent) == 1


async def test_a_failed_work_records_nothing_and_frees_the_request(tmp_path: Path) -> None:
    shell = StageShell("execute", RecordingSender(), accepts=(WasmCompiled,), guard=OnceGuard(ResultStore(tmp_path)))

    async def fails() -> Event:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await shell.once("7", fails)
    assert shell.guard.claim("7") is None  # not a duplicate: nothing was recorded


async def test_the_handler_gets_the_decoded_event() -> None:
    seen: list[Event] = []

    async def handler(d: Delivery, ev: Event) -> None:
        seen.append(ev)

    sender = RecordingSender()
    shell = StageShell("execute", sender, accepts=(WasmCompiled,), handler=handler)
    await shell.process(delivery(COMPILED_EVENT))
    assert seen == [COMPILED_EVENT] and sender.sent == []


async def test_undecodable_misplaced_and_failing_events_are_dead_lettered_with_their_origin() -> None:
    async def handler(d: Delivery, ev: Event) -> None:
        raise ValueError("cannot handle this")

    sender = RecordingSender()
    shell = StageShell("execute", sender, accepts=(WasmCompiled,), handler=handler)
    request = samples()["ExecutionRequested"]
    assert isinstance(request, ExecutionRequested)
    await shell.process(delivery(value=b"\x00garbage", offset=1))
    await shell.process(delivery(request, offset=2))  # decodes, but does not belong on this topic
    await shell.process(delivery(COMPILED_EVENT, offset=3))  # the handler raises
    letters = [decode(value) for topic, _, value in sender.sent]
    assert [topic for topic, _, _ in sender.sent] == [DEAD_LETTERS.name] * 3
    assert all(isinstance(x, DeadLetter) for x in letters)
    first, second, third = (x for x in letters if isinstance(x, DeadLetter))
    assert (first.offset, first.payload, first.source_topic, first.stage) == (
        1,
        b"\x00garbage",
        COMPILED.name,
        "execute",
    )
    assert second.error_type == "SchemaError" and "does not belong on" in second.error
    assert (third.error_type, third.error, third.event_id) == (
        "ValueError",
        "cannot handle this",
        "dlq:offshore.compiled.v1:1:3",
    )
    assert third.payload == encode(COMPILED_EVENT) and third.key == b"7"


async def test_emit_keys_by_request_id_on_the_events_topic() -> None:
    sender = RecordingSender()
    shell = StageShell("execute", sender, accepts=(WasmCompiled,))
    other = dataclasses.replace(FINISHED, request_id="42")
    await shell.emit(other)
    assert sender.sent == [(EXECUTED.name, b"42", encode(other))]
