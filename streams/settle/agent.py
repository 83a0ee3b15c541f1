"""The settle stage's agent: an execution outcome in, at most one resolve_execution out.

`streams.settle.core.settle_request` reads the chain and `decide`s (resolve, skip, expire); the shell's
guard keeps two deliveries of one request in this process from racing each other, and the chain check
keeps any later one from sending a second transaction. The reconciler runs as a timer in this process
(`streams.reconcile.agent`).
"""

from __future__ import annotations

import time
from typing import Any

import faust

from schemas import Event, ExecutionFinished, RequestExpired, ResolutionSubmitted, SettlementSkipped
from streams import metrics
from streams.app import create_app
from streams.chain import NearChain
from streams.config import PipelineConfig
from streams.reconcile.agent import ReconcileAgent
from streams.settle.core import settle_request
from streams.shell import Delivery, FaustSender, StageShell, data_dir, producer_name
from streams.topics import EXECUTED


class SettleAgent:
    def __init__(self, config: PipelineConfig, sender: Any, *, chain: NearChain) -> None:
        self.config = config
        self.chain = chain
        self.producer = producer_name("settle")
        self.shell = StageShell("settle", sender, accepts=(ExecutionFinished,), handler=self.settle)

    async def settle(self, delivery: Delivery, ev: Event) -> None:
        assert isinstance(ev, ExecutionFinished)  # the shell checked
        out = await self.shell.once(ev.request_id, lambda: self._settle(ev))
        if out is None:
            return
        if isinstance(out, ResolutionSubmitted):
            metrics.SETTLEMENTS.labels("resolved").inc()
            metrics.YIELD_SLACK.observe(self.config.deadline.slack(ev.request, out.sent_at_height))
            metrics.REQUEST_TO_SETTLEMENT.observe(max(time.time() - ev.request.timestamp_ns / 1e9, 0))
        elif isinstance(out, SettlementSkipped):
            metrics.SETTLEMENTS.labels(f"skipped_{out.reason}").inc()
        elif isinstance(out, RequestExpired):
            metrics.SETTLEMENTS.labels("expired").inc()

    async def _settle(self, ev: ExecutionFinished) -> Event:
        return await settle_request(ev, self.chain, policy=self.config.deadline, producer=self.producer)


def build_settle_app(config: PipelineConfig, *, chain: NearChain | None = None) -> faust.App:
    app = create_app(
        f"{config.app_prefix}-settle",
        bootstrap=config.bootstrap,
        data_dir=data_dir(config.data_dir, "settle"),
        topic_replication_factor=config.replication_factor,
    )
    near = chain or NearChain(
        rpc_url=config.rpc_url,
        contract_id=config.contract_id,
        operator_id=config.operator_id,
        operator_keys=config.operator_keys,
    )
    sender = FaustSender(app)
    agent = SettleAgent(config, sender, chain=near)
    app.agent(app.topic(EXECUTED.name), name="settle", concurrency=config.settle_concurrency)(agent.shell.consume)
    reconciler = ReconcileAgent(config, sender, chain=near)
    app.timer(config.reconcile_interval_s)(reconciler.tick)
    return app
