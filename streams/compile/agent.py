"""The compile stage's agents: `route` re-keys requests by program, `build` compiles them.

`route` answers a request whose program is already in the artifact store at once (the `build`
handler, run in place: a cache hit needs no single flight, and skipping the compile-queue hop saves
its Kafka round trip, ~34 ms of a request's p50 latency). Every other request it re-keys by its
source key (repo, commit, target, path), so every request for one program lands on one builder:
single flight through partitioning. `build` fetches and builds in the executor's sandbox
(`streams.compile.core.compile_request`); the content-addressed artifact store makes a duplicate a
cache hit. Decoding, dead letters, emits and metrics are the shared shell's (`streams.shell`).
"""

from __future__ import annotations

from typing import Any

import faust

import executor
from schemas import CodeSource, CompilationFailed, Event, ExecutionRequested, WasmCompiled
from streams import metrics
from streams.app import create_app
from streams.chain import NearChain
from streams.compile.core import compile_request, executor_source, source_key
from streams.config import PipelineConfig
from streams.reasons import FailureReason
from streams.shell import Delivery, FaustSender, StageShell, data_dir, producer_name
from streams.topics import COMPILE_QUEUE, REQUESTS


class StoreCompiler:
    """`compile_request`'s compiler: the executor's sandboxed build into the artifact store."""

    def __init__(self, store: executor.ArtifactStore, config: executor.CompileConfig) -> None:
        self._store, self._config = store, config

    async def compile(self, source: executor.CodeSource, *, time_left_s: float | None) -> executor.CompileResult:
        return await executor.compile_async(source, store=self._store, config=self._config, time_left_s=time_left_s)

    def has(self, source: CodeSource) -> bool:
        """Whether the store already holds `source`'s artifact (one small file read, on the loop)."""
        try:
            found = executor.find_cached(executor_source(source), store=self._store, config=self._config)
        except executor.ExecutorError:  # a source the builder refuses: it reports why
            return False
        return found is not None


class CompileAgent:
    def __init__(self, config: PipelineConfig, sender: Any, *, chain: NearChain | None = None) -> None:
        self.config = config
        self.chain = chain or NearChain(rpc_url=config.rpc_url, contract_id=config.contract_id)
        # caps: shares of the yield window
        self.compiler = StoreCompiler(
            executor.ArtifactStore(config.store), config.deadline.compile_config(config.compile)
        )
        self.producer = producer_name("compile")
        self.router = StageShell("route", sender, accepts=(ExecutionRequested,), handler=self.route)
        self.builder = StageShell("compile", sender, accepts=(ExecutionRequested,), handler=self.build)

    async def route(self, delivery: Delivery, req: Event) -> None:
        assert isinstance(req, ExecutionRequested)  # the shell checked
        if self.compiler.has(req.code_source):
            await self.builder.process(delivery)  # as the builder would: its metrics, its dead letters
            return
        await self.router.sender.send(COMPILE_QUEUE.name, source_key(req.code_source).encode(), delivery.value)
        metrics.MESSAGES.labels("route", "out", "ExecutionRequested").inc()  # a copy the projector reads too

    async def build(self, delivery: Delivery, req: Event) -> None:
        assert isinstance(req, ExecutionRequested)
        height = await self.chain.final_height()
        out = await compile_request(
            req, self.compiler, producer=self.producer, policy=self.config.deadline, final_height=height
        )
        if isinstance(out, WasmCompiled):
            metrics.COMPILE_CACHE.labels("hit" if out.cache_hit else "miss").inc()
            if not out.cache_hit:
                metrics.BUILD_SECONDS.observe(out.compile_time_ms / 1000)
        elif isinstance(out, CompilationFailed):
            metrics.FAILURES.labels("compile", out.error_kind).inc()
        else:
            metrics.FAILURES.labels("compile", FailureReason.EXPIRED).inc()
        await self.builder.emit(out)


def build_compile_app(config: PipelineConfig, *, chain: NearChain | None = None) -> faust.App:
    app = create_app(
        f"{config.app_prefix}-compile",
        bootstrap=config.bootstrap,
        data_dir=data_dir(config.data_dir, "compile"),
        topic_replication_factor=config.replication_factor,
    )
    agent = CompileAgent(config, FaustSender(app), chain=chain)
    # route answers cache hits (the build handler in place), so it gets the builders' concurrency
    app.agent(app.topic(REQUESTS.name), name="route", concurrency=config.compile_concurrency)(agent.router.consume)
    app.agent(app.topic(COMPILE_QUEUE.name), name="build", concurrency=config.compile_concurrency)(
        agent.builder.consume
    )
    return app
