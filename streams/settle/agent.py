"""The settle stage's agent: an execution outcome in, one item of a `resolve_executions` call out.

Outcomes go through the batcher (`streams.settle.batcher`: count, bytes and gas limits, a short window
only while calls are in flight, soonest deadline first, expired ones never sent); the call's result
says, per item, resolved or skipped and why (`core.batch_outcome`), so no view is read per outcome.
The shell's guard keeps two deliveries of one request in this process from racing each other, and
the contract skips a second resolve of the same request. The reconciler runs as a timer in this process
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
from streams.deadline import expired_event
from streams.errors import ResolveRefused
from streams.reasons import FailureReason
from streams.reconcile.agent import ReconcileAgent
from streams.settle.batcher import Batcher
from streams.settle.batching import BatchLimits
from streams.settle.core import batch_outcome, refused_payload, response_payload
from streams.shell import Delivery, FaustSender, StageShell, data_dir, producer_name
from streams.topics import EXECUTED


class SettleAgent:
    def __init__(self, config: PipelineConfig, sender: Any, *, chain: NearChain) -> None:
        self.config = config
        self.chain = chain
        self.producer = producer_name("settle")
        self.shell = StageShell("settle", sender, accepts=(ExecutionFinished,), handler=self.settle)
        self.batcher: Batcher | None = None  # created on the event loop, at the first outcome

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
            metrics.SETTLEMENTS.labels(FailureReason.EXPIRED).inc()
            metrics.EXPIRED.labels("settle").inc()

    async def _settle(self, ev: ExecutionFinished) -> Event:
        """Through the batcher: the call's result says what happened to the request, so no view of
        it is read (issue 14); the contract skips, and reports, what it can no longer resolve."""
        policy, req = self.config.deadline, ev.request
        height = await self.chain.final_height()
        if policy.expired(req, height):
            return expired_event(req, policy, height, stage="settle", producer=self.producer)
        batcher = self._batcher()
        response = response_payload(ev)
        got = await batcher.resolve(req.request_id, response, deadline=policy.deadline(req))
        out = batch_outcome(ev, response, got, height=height, policy=policy, producer=self.producer)
        if out is None:  # the contract refused this response: a failure with the same usage, once
            assert got.skipped is not None
            response = refused_payload(ev, got.skipped[1])
            got = await batcher.resolve(req.request_id, response, deadline=policy.deadline(req))
            out = batch_outcome(ev, response, got, height=height, policy=policy, producer=self.producer)
            if out is None:
                raise ResolveRefused(f"resolve refused twice: {got.skipped}")
        metrics.SETTLE_BATCH_SIZE.observe(got.batch_size)
        return out

    def _batcher(self) -> Batcher:
        if self.batcher is None:
            self.batcher = Batcher(
                self.chain.resolve_batch,
                senders=max(1, len(self.config.operator_keys)),
                final_height=self.chain.final_height,
                margin_blocks=self.config.deadline.margin_blocks,
                window_s=self.config.settle_batch_window_s,
                limits=BatchLimits(max_items=self.config.settle_batch_max_items),
            )
            metrics.SETTLE_BACKLOG.set_function(lambda: self.batcher.backlog if self.batcher else 0)
        return self.batcher


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
