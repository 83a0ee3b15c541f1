"""The follower against a static neardata-like API serving real mainnet blocks.

Two real aiohttp servers on loopback play fastnear's hosts: the main host and an archive host
(different ports); the main host redirects old heights there, as neardata does. Both behave as
neardata-server does (fastnear/neardata-server src/api.rs): `/first_block` and `/last_block/final/headers`
redirect to `/block/{h}`, `null` for a height without a block, a request for a height up to 10 above
the tip held open until the tip reaches it (re-checked every 100 ms + 1 s per further block, as
neardata does), 404 beyond that, 500 "The block is not cached" just below the tip, 429 with
Retry-After. Requests are authenticated by `?apiKey=` only. `holds=False` plays an API that 404s
every height above its tip instead of holding it.

The blocks are real (tests/indexer/fixtures/neardata, sources in SOURCES.md). 107503704 and
107503705 are served as they are: a real parent and child. The blocks after them are other real
mainnet blocks "stitched" on: their header's height, prev_height, prev_hash and timestamp set so
they follow 107503705 at its real block interval (0.819 s); their shards are untouched. One of them
gets three `near-offshore` logs appended to a real `token.sweat` receipt, next to its real nep141 log.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import REGISTRY, generate_latest

from indexer import BlockApiError, Checkpoint, IndexerConfig, KafkaPublisher, run_indexer
from indexer.chain import Anchor
from schemas import DeadLetter, Event, ExecutionRequested

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).parent / "fixtures" / "neardata"
CONTRACT = "token.sweat"  # a real contract with real nep141 events in most fixture blocks
KEY = f"key-{uuid.uuid4().hex}"
REAL_PARENT, REAL_CHILD = 107503704, 107503705
ARCHIVE_BELOW = 107503706  # heights below are on the archive host
EVENTS_AT = 107503709
INJECTED_RECEIPT = "6xDNRsW65Njcm2wzHCdrtLpcfx7fNdjhthqPN8XcXuaj"  # token.sweat's receipt in 105793821
COMMIT = "d" * 40


def _load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return doc


def _header(block: dict[str, Any]) -> dict[str, Any]:
    header: dict[str, Any] = block["block"]["header"]
    return header


def _stitch(block: dict[str, Any], height: int, parent: dict[str, Any], *, early: bool = False) -> dict[str, Any]:
    """A real block re-linked to follow `parent` (see the module docstring); `early` drops prev_height
    as in mainnet blocks from before the protocol added it."""
    out = copy.deepcopy(block)
    header, up = _header(out), _header(parent)
    real = _header(_load("mainnet-000107503704.lake.json")), _header(_load("mainnet-000107503705.lake.json"))
    interval = int(real[1]["timestamp_nanosec"]) - int(real[0]["timestamp_nanosec"])
    ts = int(up["timestamp_nanosec"]) + interval * (height - up["height"])
    header.update(
        height=height, prev_hash=up["hash"], prev_height=up["height"], timestamp=ts, timestamp_nanosec=str(ts)
    )
    if early:
        del header["prev_height"]
    return out


def _log(event: str, data: Any) -> str:
    return "EVENT_JSON:" + json.dumps({"standard": "near-offshore", "version": "1.0.0", "event": event, "data": data})


def _requested(request_id: str) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "sender_id": "alice.near",
        "code_source": {"repo": "https://example.com/g.git", "commit": COMMIT, "build_target": "wasm32-wasip1"},
        "resource_limits": {"max_instructions": 10**9, "max_memory_mb": 64, "max_execution_seconds": 10},
        "input_data": "{}",
        "encrypted_secrets": None,
        "response_format": "Json",
        "payment": "1000000000000000000000000",
        "data_id": "ab" * 32,
    }


def _with_our_logs(block: dict[str, Any]) -> dict[str, Any]:
    """Appends to the real token.sweat receipt: a request, an event kind this indexer does not know
    (without request_id), and a malformed request (no code_source)."""
    malformed = _requested("bad-1")
    del malformed["code_source"]
    for shard in block["shards"]:
        for item in shard["receipt_execution_outcomes"]:
            if item["execution_outcome"]["id"] == INJECTED_RECEIPT:
                item["execution_outcome"]["outcome"]["logs"] += [
                    _log("execution_requested", [_requested("req-1")]),
                    _log("execution_paused", [{"reason": "a kind from a newer contract"}]),
                    _log("execution_requested", [malformed]),
                ]
                return block
    raise AssertionError("the fixture lost its token.sweat receipt")


def _chain() -> dict[int, dict[str, Any] | None]:
    """Height -> block (None: no block, neardata answers `null`). 107503707 is a declared skip."""
    parent, child = _load("mainnet-000107503704.lake.json"), _load("mainnet-000107503705.lake.json")
    b706 = _stitch(_load("mainnet-000093085141.lake.json"), 107503706, child)
    b708 = _stitch(_load("mainnet-000061321189.from-camel.json"), 107503708, b706, early=True)
    b709 = _with_our_logs(_stitch(_load("mainnet-000105793821.from-camel.json"), EVENTS_AT, b708))
    b710 = _stitch(_load("mainnet-000100596707.from-camel.json"), 107503710, b709)
    b711 = _stitch(_load("localnet-000000879765.lake.json"), 107503711, b710)
    return {
        REAL_PARENT: parent,
        REAL_CHILD: child,
        107503706: b706,
        107503707: None,
        107503708: b708,
        EVENTS_AT: b709,
        107503710: b710,
        107503711: b711,
    }


@dataclass(frozen=True)
class _Request:
    host: str  # main | archive
    path: str
    keys: list[str]  # every apiKey value in the query
    authorization: str | None
    at: float  # monotonic
    above_tip: bool


@dataclass
class _NearData:
    """The two hosts' behaviour and a record of every request they received."""

    blocks: dict[int, dict[str, Any] | None]
    tip: int
    first: int = REAL_PARENT
    null_first: dict[int, int] = field(default_factory=dict)  # height -> times answered null (out of range)
    not_cached_once: set[int] = field(default_factory=set)  # heights answered 500 once
    rate_limit_once: bool = False  # the first final-height probe gets 429 Retry-After: 1
    holds: bool = True  # a height just above the tip is held until produced (neardata); else 404
    closing: bool = False  # the servers are stopping: held requests end (404)
    requests: list[_Request] = field(default_factory=list)
    main_url: str = ""
    archive_url: str = ""
    answers: dict[str, int] = field(default_factory=dict)  # "429" / "500" / "null:<h>" -> count

    def block_body(self, height: int, headers_only: bool) -> bytes:
        block = self.blocks.get(height)
        if self.null_first.get(height, 0) > 0:
            self.null_first[height] -= 1
            self.answers[f"null:{height}"] = self.answers.get(f"null:{height}", 0) + 1
            block = None
        if block is None:
            return b"null"
        return json.dumps(block["block"] if headers_only else block).encode()


def _apps(api: _NearData) -> tuple[web.Application, web.Application]:
    def recorder(host: str) -> Any:
        @web.middleware
        async def record(request: web.Request, handler: Any) -> web.StreamResponse:
            height = request.match_info.get("height")
            api.requests.append(
                _Request(
                    host,
                    request.path,
                    request.query.getall("apiKey", []),
                    request.headers.get("Authorization"),
                    time.monotonic(),
                    height is not None and int(height) > api.tip,
                )
            )
            if request.query.getall("apiKey", []) != [KEY]:
                return web.json_response("Unauthorized", status=401)
            response: web.StreamResponse = await handler(request)
            return response

        return record

    async def first_block(request: web.Request) -> web.Response:
        # Absolute redirect to the archive host without the query: the follower must add the key back.
        raise web.HTTPFound(f"{api.archive_url}/v0/block/{api.first}")

    async def last_final(request: web.Request) -> web.Response:
        if api.rate_limit_once:
            api.rate_limit_once = False
            api.answers["429"] = api.answers.get("429", 0) + 1
            return web.json_response("Too Many Requests", status=429, headers={"Retry-After": "1"})
        suffix = "/headers" if request.path.endswith("/headers") else ""
        raise web.HTTPFound(f"/v0/block/{api.tip}{suffix}?{request.query_string}")  # neardata keeps the query

    async def main_block(request: web.Request) -> web.Response:
        height = int(request.match_info["height"])
        suffix = "/headers" if request.path.endswith("/headers") else ""
        if height < ARCHIVE_BELOW:  # neardata keeps the query; odd heights here drop it (worst case)
            query = "" if height % 2 else f"?{request.query_string}"
            raise web.HTTPFound(f"{api.archive_url}/v0/block/{height}{suffix}{query}")
        # neardata's own loop (MAX_WAIT_BLOCKS 10): it re-reads its cache after 100 ms + 1 s per further block
        while api.holds and not api.closing and api.tip < height <= api.tip + 10:  # noqa: ASYNC110 (as neardata polls)
            await asyncio.sleep(0.1 + (height - api.tip - 1))  # poll
        if height > api.tip:
            return web.json_response(
                {"error": "The block is too far in the future", "type": "BLOCK_DOES_NOT_EXIST"}, status=404
            )
        if height in api.not_cached_once:
            api.not_cached_once.discard(height)
            api.answers["500"] = api.answers.get("500", 0) + 1
            return web.json_response("Cache error: The block is not cached", status=500)
        return web.Response(body=api.block_body(height, bool(suffix)), content_type="application/json")

    async def archive_block(request: web.Request) -> web.Response:
        height = int(request.match_info["height"])
        suffix = "/headers" if request.path.endswith("/headers") else ""
        if height >= ARCHIVE_BELOW:  # the archive redirects fresh heights back, without the query
            raise web.HTTPFound(f"{api.main_url}/v0/block/{height}{suffix}")
        return web.Response(body=api.block_body(height, bool(suffix)), content_type="application/json")

    main = web.Application(middlewares=[recorder("main")])
    main.router.add_get("/v0/first_block", first_block)
    main.router.add_get("/v0/last_block/final", last_final)
    main.router.add_get("/v0/last_block/final/headers", last_final)
    main.router.add_get("/v0/block/{height}", main_block)
    main.router.add_get("/v0/block/{height}/headers", main_block)
    archive = web.Application(middlewares=[recorder("archive")])
    archive.router.add_get("/v0/block/{height}", archive_block)
    archive.router.add_get("/v0/block/{height}/headers", archive_block)
    return main, archive


@asynccontextmanager
async def _serve(api: _NearData) -> AsyncIterator[_NearData]:
    runners = [web.AppRunner(app, access_log=None) for app in _apps(api)]  # its log would show the key
    try:
        urls = []
        for runner in runners:
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            urls.append(f"http://127.0.0.1:{runner.addresses[0][1]}")
        api.main_url, api.archive_url = urls
        yield api
    finally:
        api.closing = True
        for runner in runners:
            await runner.cleanup()


class _Recording:
    """The real KafkaPublisher, plus a record of what the indexer handed it (acknowledged)."""

    def __init__(self, bootstrap: str) -> None:
        self._inner = KafkaPublisher(bootstrap)
        self.events: list[Event] = []

    def publish(self, events: Sequence[Event]) -> None:
        self._inner.publish(events)
        self.events.extend(events)


def _config(api: _NearData, checkpoint: Path, **overrides: Any) -> IndexerConfig:
    base: dict[str, Any] = {
        "block_api_url": f"{api.main_url}/v0",
        "contract_id": CONTRACT,
        "checkpoint_path": checkpoint,
        "api_key": KEY,
        "window": 4,
        "max_retry_delay_s": 0.2,
    }
    return IndexerConfig(**(base | overrides))


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _until(predicate: Any, run: asyncio.Task[Any], what: str, deadline_s: float = 20) -> None:
    deadline = time.monotonic() + deadline_s
    while not predicate():  # poll
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        assert not run.done(), f"the indexer stopped early: {run.result()}"
        await asyncio.sleep(0.01)  # poll


@pytest.mark.parametrize("holds", [True, False], ids=["api holds the next height", "api answers 404 above its tip"])
async def test_follows_real_blocks_through_redirects_skips_and_errors_within_the_rules(
    holds: bool, kafka_bootstrap: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    blocks = _chain()
    api = _NearData(
        blocks,
        tip=107503710,
        null_first={REAL_PARENT: 2},  # out of the archive's range at first: the real child names it
        not_cached_once={107503709, 107503710},
        rate_limit_once=True,
        holds=holds,
    )
    cp = tmp_path / "cp.json"
    breaks, skipped = (
        _metric("offshore_indexer_chain_breaks_total"),
        _metric("offshore_indexer_blocks_total", outcome="skipped"),
    )
    published = _metric("offshore_indexer_blocks_total", outcome="published")
    http_500 = _metric("offshore_indexer_block_api_errors_total", kind="http_500")
    async with _serve(api):
        publisher = _Recording(kafka_bootstrap)
        stop = asyncio.Event()
        run = asyncio.create_task(run_indexer(_config(api, cp), publisher, stop=stop))
        await _until(lambda: Checkpoint(cp).load() == api.tip, run, "the tip")
        at_tip = time.monotonic()

        # Idle at the tip: one request held open for the next height, or (an API that does not hold)
        # probes only, one per block interval (measured from the blocks' timestamps).
        idle_from, idle_s = time.monotonic(), 2.5
        await asyncio.sleep(idle_s)  # the idle period being measured, not a readiness wait
        idle = [r for r in api.requests if r.at >= idle_from]
        interval = 0.819249484  # 107503705 - 107503704, the real pair's timestamps

        # The chain moves on by one block: the held request answers it (or one probe sees it and one
        # request reads it).
        step_from = time.monotonic()
        api.tip = 107503711
        await _until(lambda: Checkpoint(cp).load() == api.tip, run, "the new tip")
        step = [r for r in api.requests if r.at >= step_from]
        stop.set()
        assert await asyncio.wait_for(run, 5) == api.tip

    # Exactly the expected events: the request and the malformed request's dead letter from the
    # injected logs; the real nep141 events and the unknown kind are not ours to publish.
    assert [type(e) for e in publisher.events] == [ExecutionRequested, DeadLetter]
    requested, dead = publisher.events
    assert isinstance(requested, ExecutionRequested)
    assert requested.event_id == f"chain:{EVENTS_AT}:{INJECTED_RECEIPT}:1:0" and requested.request_id == "req-1"
    assert (requested.block_height, requested.block_hash) == (EVENTS_AT, _header(blocks[EVENTS_AT] or {})["hash"])
    assert isinstance(dead, DeadLetter) and dead.event_id == f"dlq:chain:{EVENTS_AT}:{INJECTED_RECEIPT}:3:0"
    assert _metric("offshore_indexer_unknown_events_total", event="execution_paused") >= 1
    assert Checkpoint(cp).anchor() == Anchor(107503711, _header(blocks[107503711] or {})["hash"])

    # The key went on every request, redirect hops included, exactly once, and never as a header.
    assert api.requests and all(r.keys == [KEY] and r.authorization is None for r in api.requests)
    assert {r.host for r in api.requests} == {"main", "archive"}
    assert KEY not in caplog.text and KEY.encode() not in generate_latest(REGISTRY)
    # Never asked beyond the final height it knew, but for the next height: held (the tip's next,
    # then the new tip's), or once, answered 404, which turned the follower to probing.
    above = [r.path for r in api.requests if r.above_tip]
    if holds:
        assert above == ["/v0/block/107503711", "/v0/block/107503712"]
    else:
        assert above == ["/v0/block/107503711"] and "probing it every block interval" in caplog.text

    # The real parent answered null (out of range) was not passed over: its child named it, the
    # follower stalled and re-read until the archive served it. Only 107503707 was a skip.
    assert api.answers[f"null:{REAL_PARENT}"] == 2
    assert _metric("offshore_indexer_chain_breaks_total") - breaks >= 1
    assert _metric("offshore_indexer_stalled") == 0
    assert _metric("offshore_indexer_blocks_total", outcome="skipped") - skipped == 1
    assert _metric("offshore_indexer_blocks_total", outcome="published") - published == 7  # 704..711 but 707
    assert "contradicts the chain" in caplog.text

    # 500 "not cached" below the tip was retried; the 429's Retry-After held every request.
    assert (
        api.answers["500"] == 2 and _metric("offshore_indexer_block_api_errors_total", kind="http_500") - http_500 >= 2
    )
    assert api.answers["429"] == 1
    (limited,) = [i for i, r in enumerate(api.requests) if r.path.startswith("/v0/last_block")][:1]
    assert api.requests[limited + 1].at - api.requests[limited].at >= 0.95

    # The request budget at the tip. Holding: no request while idle (the held one was sent before),
    # then one per new block, that block's own request answering it, and at most one final-height
    # probe a second while blocks come (it would show a backlog the held blocks hide).
    if holds:
        assert idle == [], [r.path for r in idle]
        assert [r.path for r in step if r.path.startswith("/v0/block/")] == ["/v0/block/107503712"]
        assert len([r for r in api.requests if r.at >= at_tip and r.path.startswith("/v0/last_block")]) <= 1
        return
    # Probing: at most one probe per block interval, and nothing else.
    assert idle and all(r.path == "/v0/last_block/final/headers" for r in idle)
    assert len(idle) <= idle_s / interval + 1, [round(r.at - idle_from, 2) for r in idle]
    assert len(idle) / idle_s <= 1 / interval + 1 / idle_s  # requests per second
    blocks_read = [r for r in step if r.path.startswith("/v0/block/")]
    assert [r.path for r in blocks_read] == ["/v0/block/107503711"]  # the new block, read once
    assert len(step) - len(blocks_read) <= (step[-1].at - step_from) / interval + 1


@pytest.mark.parametrize("case", ["fresh start, early header", "resumed from a hash"])
async def test_a_null_that_the_next_block_names_as_parent_is_never_passed_over(
    case: str, kafka_bootstrap: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocks = _chain()
    cp = tmp_path / "cp.json"
    if case == "fresh start, early header":
        # The real 107503705 names 107503704, which the archive keeps answering null.
        api = _NearData(blocks, tip=107503706, null_first={REAL_PARENT: 10**6})
        never = REAL_PARENT
    else:
        # Resumed after 107503706 (checkpoint with its hash); 107503707 is a real skip, 107503708 is
        # answered null, and 107503709, in the early form without prev_height, names 107503708 by
        # hash only: only the hash shows the contradiction.
        blocks[EVENTS_AT] = _stitch(blocks[EVENTS_AT] or {}, EVENTS_AT, blocks[107503708] or {}, early=True)
        api = _NearData(blocks, tip=107503710, null_first={107503708: 10**6})
        Checkpoint(cp).save(107503706, _header(blocks[107503706] or {})["hash"])
        never = 107503708
    breaks = _metric("offshore_indexer_chain_breaks_total")
    async with _serve(api):
        publisher = _Recording(kafka_bootstrap)
        stop = asyncio.Event()
        run = asyncio.create_task(run_indexer(_config(api, cp), publisher, stop=stop))
        await _until(lambda: api.answers.get(f"null:{never}", 0) >= 3, run, "re-reads of the contradicted height")
        assert _metric("offshore_indexer_stalled") == 1
        assert _metric("offshore_indexer_chain_breaks_total") - breaks == 1
        stop.set()
        started = time.monotonic()
        await asyncio.wait_for(run, 5)
        assert time.monotonic() - started < 1.5  # not held by the stall's back-off
    before = Checkpoint(cp).load()
    assert before is None or before < never  # never checkpointed past it
    assert publisher.events == []
    assert "contradicts the chain" in caplog.text and f"{never}" in caplog.text


async def test_a_refused_key_ends_the_run_without_the_key_in_the_error(kafka_bootstrap: str, tmp_path: Path) -> None:
    async with _serve(_NearData(_chain(), tip=107503706)) as api:
        wrong = f"wrong-{uuid.uuid4().hex}"
        with pytest.raises(BlockApiError) as caught:
            await run_indexer(_config(api, tmp_path / "cp.json", api_key=wrong), _Recording(kafka_bootstrap))
    assert "401" in str(caught.value) and "REDACTED" in str(caught.value) and wrong not in str(caught.value)
    assert [r.keys for r in api.requests] == [[wrong]]  # one request: retrying cannot fix a key
