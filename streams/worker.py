"""Faust wiring of the stages. Each stage is its own Faust app (its own consumer group), so a stage
scales by adding processes and a crash of one stage never rebalances another.

Every agent follows one pattern: decode, skip work already done (a duplicate re-emits the stored
result), do the work off the event loop, emit, and dead-letter anything that cannot be processed so
a partition never blocks. Offsets are committed by Faust only after the handler returns
(at-least-once); the reconciler re-drives whatever Faust still loses on a rebalance.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust

import executor
from schemas import (
    CompilationFailed,
    DeadLetter,
    Event,
    ExecutionFinished,
    ExecutionRequested,
    RequestExpired,
    ResolutionSubmitted,
    SchemaError,
    SettlementSkipped,
    WasmCompiled,
    decode,
    encode,
)
from streams import metrics
from streams.app import create_app
from streams.chain import NearChain
from streams.compile.core import compile_request, source_key
from streams.deadline import DeadlinePolicy
from streams.execute.core import execute_request
from streams.execute.results import ResultStore
from streams.keystore import Keystore
from streams.reconcile.core import Reconciler
from streams.settle.core import settle_request
from streams.topics import COMPILE_QUEUE, COMPILED, DEAD_LETTERS, EXECUTED, REQUESTS, topic_for

log = logging.getLogger("offshore.streams")
STAGES = ("compile", "execute", "settle")


@dataclass(frozen=True, kw_only=True)
class PipelineConfig:
    bootstrap: str
    data_dir: Path
    rpc_url: str
    contract_id: str
    operator_id: str = ""
    operator_keys: tuple[str, ...] = ()
    keystore_master_key: str | None = None
    compile: executor.CompileConfig = field(default_factory=executor.CompileConfig)
    store: executor.StoreConfig = field(default_factory=executor.StoreConfig)
    executor: executor.ExecutorConfig = field(default_factory=executor.ExecutorConfig)
    deadline: DeadlinePolicy = field(default_factory=DeadlinePolicy)
    compile_concurrency: int = 2
    execute_concurrency: int = 2
    settle_concurrency: int = 4
    reconcile_interval_s: float = 5.0
    reconcile_after_blocks: int = 30  # a request pending this long is re-driven
    app_prefix: str = "offshore"
    replication_factor: int = 1  # of the internal topics Faust creates (e.g. its leader topic)


class _DeadLetters:
    def __init__(self, app: faust.App, stage: str) -> None:
        self._topic = app.topic(DEAD_LETTERS.name)
        self._stage = stage

    async def send(self, event: Any, exc: BaseException) -> None:
        msg = event.message
        key = event.key if isinstance(event.key, bytes) else None
        letter = DeadLetter(
            event_id=f"dlq:{msg.topic}:{msg.partition}:{msg.offset}",
            request_id=(key or b"").decode(errors="replace"),
            occurred_at=datetime.now(UTC),
            producer=self._stage,
            stage=self._stage,
            source_topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            key=key,
            payload=bytes(event.value or b""),
            error_type=type(exc).__name__,
            error=str(exc)[:2000],
        )
        metrics.DEAD_LETTERS.labels(self._stage).inc()
        log.warning("dead-lettered %s[%s]@%s: %s: %s", msg.topic, msg.partition, msg.offset, type(exc).__name__, exc)
        await self._topic.send(key=key, value=encode(letter))


Handler = Callable[[Any, Event], Awaitable[None]]


def _guarded(app: faust.App, stage: str, handler: Handler) -> Callable[[Any], Awaitable[None]]:
    """Decode and run `handler`; anything it cannot handle goes to dead letters, never up the stack."""
    dead = _DeadLetters(app, stage)

    async def agent(stream: Any) -> None:
        async for event in stream.events():
            started = time.perf_counter()
            try:
                decoded = decode(bytes(event.value or b""))
                metrics.MESSAGES.labels(stage, "in", type(decoded).__name__).inc()
                await handler(event, decoded)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # poison message or bug: park it, keep the partition moving
                await dead.send(event, exc)
            finally:
                metrics.DURATION.labels(stage).observe(time.perf_counter() - started)

    return agent


async def _emit(app: faust.App, stage: str, event: Event, data: bytes | None = None) -> None:
    topic = app.topic(topic_for(type(event).__name__).name)
    await topic.send(key=event.request_id.encode(), value=data or encode(event))
    metrics.MESSAGES.labels(stage, "out", type(event).__name__).inc()


def _data_dir(config: PipelineConfig, stage: str) -> str:
    """Per process: two workers of one stage on a host must not share Faust's data directory."""
    import os

    return str(config.data_dir / f"{stage}-{os.getpid()}")


def _producer(stage: str) -> str:
    import socket

    return f"{stage}@{socket.gethostname()}"


# ---------------------------------------------------------------- compile


def build_compile_app(config: PipelineConfig, *, chain: NearChain | None = None) -> faust.App:
    app = create_app(
        f"{config.app_prefix}-compile",
        bootstrap=config.bootstrap,
        data_dir=_data_dir(config, "compile"),
        topic_replication_factor=config.replication_factor,
    )
    store = executor.ArtifactStore(config.store)
    producer = _producer("compile")
    near = chain or NearChain(rpc_url=config.rpc_url, contract_id=config.contract_id)
    compile_config = config.deadline.compile_config(config.compile)  # caps: shares of the yield window

    class _Compiler:
        async def compile(self, source: executor.CodeSource, *, time_left_s: float | None) -> executor.CompileResult:
            return await executor.compile_async(source, store=store, config=compile_config, time_left_s=time_left_s)

    compiler = _Compiler()
    queue = app.topic(COMPILE_QUEUE.name)

    async def route(event: Any, req: Event) -> None:
        if not isinstance(req, ExecutionRequested):
            raise SchemaError(f"{type(req).__name__} does not belong on {REQUESTS.name}")
        await queue.send(key=source_key(req.code_source).encode(), value=bytes(event.value))

    async def build(event: Any, req: Event) -> None:
        if not isinstance(req, ExecutionRequested):
            raise SchemaError(f"{type(req).__name__} does not belong on {COMPILE_QUEUE.name}")
        height = await near.final_height()
        out = await compile_request(req, compiler, producer=producer, policy=config.deadline, final_height=height)
        if isinstance(out, WasmCompiled):
            metrics.COMPILE_CACHE.labels("hit" if out.cache_hit else "miss").inc()
            if not out.cache_hit:
                metrics.BUILD_SECONDS.observe(out.compile_time_ms / 1000)
        elif isinstance(out, CompilationFailed):
            metrics.FAILURES.labels("compile", out.error_kind).inc()
        else:
            metrics.FAILURES.labels("compile", "expired").inc()
        await _emit(app, "compile", out)

    app.agent(app.topic(REQUESTS.name), name="route")(_guarded(app, "route", route))
    app.agent(queue, name="build", concurrency=config.compile_concurrency)(_guarded(app, "compile", build))
    return app


# ---------------------------------------------------------------- execute


def build_execute_app(config: PipelineConfig, *, chain: NearChain | None = None) -> faust.App:
    app = create_app(
        f"{config.app_prefix}-execute",
        bootstrap=config.bootstrap,
        data_dir=_data_dir(config, "execute"),
        topic_replication_factor=config.replication_factor,
    )
    store = executor.ArtifactStore(config.store)
    runner = executor.Executor(config.deadline.executor_config(config.executor))
    keystore = Keystore.from_hex(config.keystore_master_key) if config.keystore_master_key else None
    near = chain or NearChain(rpc_url=config.rpc_url, contract_id=config.contract_id)
    producer = _producer("execute")
    done = ResultStore(config.store.root / "results")  # on the artifact volume every execute pod shares
    inflight: set[bytes] = set()

    class _NoSecrets:
        def open(self, req: ExecutionRequested) -> dict[str, str]:
            if req.encrypted_secrets:
                raise ValueError("this deployment has no keystore; secrets cannot be opened")
            return {}

    secrets = keystore or _NoSecrets()

    async def run(event: Any, ev: Event) -> None:
        if not isinstance(ev, WasmCompiled | CompilationFailed):
            raise SchemaError(f"{type(ev).__name__} does not belong on {COMPILED.name}")
        key = ev.request_id.encode()
        stored = done.get(ev.request_id)
        if stored is not None or key in inflight:  # a duplicate: the first delivery emits
            metrics.DUPLICATES.labels("execute").inc()
            if stored is not None:
                await _emit(app, "execute", decode(stored), stored)
            return
        inflight.add(key)
        try:
            height = await near.final_height()
            out = await execute_request(
                ev,
                runner=runner,
                artifacts=store,
                secrets=secrets,
                policy=config.deadline,
                final_height=height,
                producer=producer,
                chain=near,
            )
            if isinstance(out, ExecutionFinished):
                metrics.FUEL.observe(out.resources_used.instructions)
                if not out.success:
                    metrics.FAILURES.labels("execute", out.error_kind or "error").inc()
            else:
                metrics.FAILURES.labels("execute", "expired").inc()
            data = encode(out)
            done.put(ev.request_id, data)  # recorded before emitting: a crash in between re-emits, never re-runs
            await _emit(app, "execute", out, data)
        finally:
            inflight.discard(key)

    app.agent(app.topic(COMPILED.name), name="run", concurrency=config.execute_concurrency)(
        _guarded(app, "execute", run)
    )

    async def prune() -> None:
        await asyncio.to_thread(done.prune)

    app.timer(600.0)(prune)
    return app


# ---------------------------------------------------------------- settle


def build_settle_app(config: PipelineConfig, *, chain: NearChain | None = None) -> faust.App:
    app = create_app(
        f"{config.app_prefix}-settle",
        bootstrap=config.bootstrap,
        data_dir=_data_dir(config, "settle"),
        topic_replication_factor=config.replication_factor,
    )
    near = chain or NearChain(
        rpc_url=config.rpc_url,
        contract_id=config.contract_id,
        operator_id=config.operator_id,
        operator_keys=config.operator_keys,
    )
    producer = _producer("settle")
    inflight: set[bytes] = set()
    reconciler = Reconciler(
        chain=near,
        requests_topic=app.topic(REQUESTS.name),
        after_blocks=config.reconcile_after_blocks,
        policy=config.deadline,
        producer=_producer("reconcile"),
    )

    async def settle(event: Any, ev: Event) -> None:
        if not isinstance(ev, ExecutionFinished):
            raise SchemaError(f"{type(ev).__name__} does not belong on {EXECUTED.name}")
        key = ev.request_id.encode()
        if key in inflight:
            metrics.DUPLICATES.labels("settle").inc()
            return
        inflight.add(key)
        try:
            out = await settle_request(ev, near, policy=config.deadline, producer=producer)
        finally:
            inflight.discard(key)
        if isinstance(out, ResolutionSubmitted):
            metrics.SETTLEMENTS.labels("resolved").inc()
            metrics.YIELD_SLACK.observe(config.deadline.slack(ev.request, out.sent_at_height))
            metrics.REQUEST_TO_SETTLEMENT.observe(max(time.time() - ev.request.timestamp_ns / 1e9, 0))
        elif isinstance(out, SettlementSkipped):
            metrics.SETTLEMENTS.labels(f"skipped_{out.reason}").inc()
        elif isinstance(out, RequestExpired):
            metrics.SETTLEMENTS.labels("expired").inc()
        await _emit(app, "settle", out)

    app.agent(app.topic(EXECUTED.name), name="settle", concurrency=config.settle_concurrency)(
        _guarded(app, "settle", settle)
    )

    async def reconcile() -> None:
        try:
            await reconciler.run_once()
        except Exception as exc:  # the next tick retries; the pipeline itself is unaffected
            log.warning("reconcile failed: %s", exc)

    app.timer(config.reconcile_interval_s)(reconcile)
    return app


BUILDERS: dict[str, Callable[[PipelineConfig], faust.App]] = {
    "compile": build_compile_app,
    "execute": build_execute_app,
    "settle": build_settle_app,
}
