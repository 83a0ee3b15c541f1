"""The reconciler's agent: a timer (in the settle process) that re-drives stuck requests.

`streams.reconcile.core.Reconciler` lists the contract's pending requests and re-publishes those
pending too long; a failed run is logged and the next tick retries (the pipeline is unaffected).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from streams.config import PipelineConfig
from streams.reconcile.core import PendingSource, Reconciler
from streams.shell import Sender, producer_name
from streams.topics import REQUESTS

log = logging.getLogger("offshore.streams")


class TopicSink:
    """The reconciler's sink: the requests topic through the stage's sender."""

    def __init__(self, sender: Sender, topic: str) -> None:
        self._sender, self._topic = sender, topic

    async def send(self, *, key: bytes, value: bytes) -> Any:
        await self._sender.send(self._topic, key, value)


class ReconcileAgent:
    def __init__(self, config: PipelineConfig, sender: Sender, *, chain: PendingSource) -> None:
        self.reconciler = Reconciler(
            chain=chain,
            requests_topic=TopicSink(sender, REQUESTS.name),
            after_blocks=config.reconcile_after_blocks,
            policy=config.deadline,
            producer=producer_name("reconcile"),
        )

    async def tick(self) -> None:
        started = time.monotonic()
        try:
            redriven = await self.reconciler.run_once()
        except Exception as exc:  # the next tick retries; the pipeline itself is unaffected
            log.warning("reconcile failed after %.1fs: %r", time.monotonic() - started, exc)
            return
        if redriven:  # one line per run that found stuck work: the operator's trace of re-drives
            log.info("reconcile: re-drove %d request(s) in %.1fs", len(redriven), time.monotonic() - started)
