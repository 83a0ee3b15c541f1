"""End-to-end fixtures: the whole platform (devnet, broker, Postgres, every stage as a process)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import executor.examples as examples
from offshore.audit import resolve_counts
from offshore.client import OffshoreClient, Submitted
from offshore.local import LocalPlatform, PlatformInfo
from offshore.testing import scrape, total

LIMITS = {"max_instructions": 1_000_000_000, "max_memory_mb": 32, "max_execution_seconds": 5}


@dataclass
class Harness:
    platform: LocalPlatform
    info: PlatformInfo
    repos: dict[str, tuple[str, str]]

    def client(self, account: str) -> OffshoreClient:
        return self.info.client(account)

    async def send(self, n: int, *, guest: str = "json_echo", concurrency: int = 8, **kw: Any) -> list[Submitted]:
        """n requests spread over the client accounts, `concurrency` in flight per account."""
        url, commit = self.repos[guest]
        return await self.info.send_many(
            n, repo=url, commit=commit, concurrency=concurrency, limits=kw.get("limits", LIMITS)
        )

    async def finals(self, ids: list[str], *, timeout_s: float = 180) -> dict[str, dict[str, Any]]:
        return await self.info.wait_settled(ids, timeout_s=timeout_s)

    def resolve_counts(self) -> Counter[str]:
        """resolve_execution transactions per request id, read from every block on chain."""
        return resolve_counts(self.info.block_api_url, self.info.contract_id)

    def metrics(self, process: str) -> dict[str, float]:
        return scrape(self.info.metrics[process])

    async def progressed(self, process: str, prefix: str, by: float, *, timeout_s: float = 60) -> None:
        """Waits until a counter of a running process grew by `by`: the process is mid-run."""
        start = total(self.metrics(process), prefix)
        deadline = time.monotonic() + timeout_s
        while total(self.metrics(process), prefix) < start + by:  # poll
            if time.monotonic() > deadline:
                raise AssertionError(f"{process} made no progress on {prefix}")
            await asyncio.sleep(0.05)  # poll


def _harness(tmp_prefix: str, **platform_kw: Any) -> Iterator[Harness]:
    state = Path(tempfile.mkdtemp(prefix=tmp_prefix, dir="/tmp"))
    platform = LocalPlatform(state, **platform_kw)
    try:
        info = platform.start()
        repos = {g: examples.publish(g, state / "repos") for g in ("json_echo", "infinite_loop", "sha256")}
        yield Harness(platform, info, repos)
    finally:
        platform.stop()
        if not os.environ.get("OFFSHORE_KEEP_E2E_STATE"):
            shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    # 0.1 s blocks and a 600-block yield window (60 s): room for restarts and rebalances mid-run.
    yield from _harness("offshore-e2e-", block_interval_s=0.1, yield_timeout_blocks=600, reconcile_after_blocks=80)
