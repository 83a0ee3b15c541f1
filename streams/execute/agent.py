"""The execute stage's agent: a compile outcome in, the program run once, ExecutionFinished out.

The "never run a program twice" rule is the shell's guard (`streams.guard.OnceGuard`) over a result
store on the artifact volume every execute pod shares (`streams.execute.results.ResultStore`): a
redelivered event re-emits the stored outcome, whichever pod owns the partition now. The work itself
is `streams.execute.core.execute_request`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust

import executor
from schemas import CompilationFailed, Event, ExecutionFinished, ExecutionRequested, WasmCompiled
from streams import metrics
from streams.app import create_app
from streams.chain import NearChain
from streams.config import PipelineConfig
from streams.execute.core import SecretsOpener, execute_request
from streams.execute.results import ResultStore
from streams.guard import OnceGuard
from streams.keystore import Keystore
from streams.shell import Delivery, FaustSender, StageShell, data_dir, producer_name
from streams.topics import COMPILED


class NoSecrets:
    """The secrets opener of a deployment without a keystore: a request with secrets fails."""

    def open(self, req: ExecutionRequested) -> dict[str, str]:
        if req.encrypted_secrets:
            raise ValueError("this deployment has no keystore; secrets cannot be opened")
        return {}


class ExecuteAgent:
    def __init__(self, config: PipelineConfig, sender: Any, *, chain: NearChain | None = None) -> None:
        self.config = config
        self.store = executor.ArtifactStore(config.store)
        self.runner = executor.Executor(config.deadline.executor_config(config.executor))
        self.secrets: SecretsOpener = (
            Keystore.from_hex(config.keystore_master_key) if config.keystore_master_key else NoSecrets()
        )
        self.chain = chain or NearChain(rpc_url=config.rpc_url, contract_id=config.contract_id)
        self.producer = producer_name("execute")
        self.results = ResultStore(config.store.root / "results")  # on the artifact volume every pod shares
        self.shell = StageShell(
            "execute",
            sender,
            accepts=(WasmCompiled, CompilationFailed),
            handler=self.run,
            guard=OnceGuard(self.results),
        )

    async def run(self, delivery: Delivery, ev: Event) -> None:
        assert isinstance(ev, WasmCompiled | CompilationFailed)  # the shell checked
        await self.shell.once(ev.request_id, lambda: self._execute(ev))

    async def _execute(self, ev: WasmCompiled | CompilationFailed) -> Event:
        height = await self.chain.final_height()
        out = await execute_request(
            ev,
            runner=self.runner,
            artifacts=self.store,
            secrets=self.secrets,
            policy=self.config.deadline,
            final_height=height,
            producer=self.producer,
            chain=self.chain,
        )
        if isinstance(out, ExecutionFinished):
            metrics.FUEL.observe(out.resources_used.instructions)
            if not out.success:
                metrics.FAILURES.labels("execute", out.error_kind or "error").inc()
        else:
            metrics.FAILURES.labels("execute", "expired").inc()
        return out

    async def prune(self) -> None:
        await asyncio.to_thread(self.results.prune)


def build_execute_app(config: PipelineConfig, *, chain: NearChain | None = None) -> faust.App:
    app = create_app(
        f"{config.app_prefix}-execute",
        bootstrap=config.bootstrap,
        data_dir=data_dir(config.data_dir, "execute"),
        topic_replication_factor=config.replication_factor,
    )
    agent = ExecuteAgent(config, FaustSender(app), chain=chain)
    app.agent(app.topic(COMPILED.name), name="run", concurrency=config.execute_concurrency)(agent.shell.consume)
    app.timer(600.0)(agent.prune)
    return app
