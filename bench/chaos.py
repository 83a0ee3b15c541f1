"""docs/design.md §12's last target: kill any process at any moment during a run of 1000 requests; every
request must still settle exactly once.

While the requests are being sent, a random pipeline process (indexer, compile, execute, settle,
projector) is SIGKILLed every few seconds and restarted. Afterwards every request's on-chain status is
read and resolve_execution transactions are counted per request from the chain's blocks.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

REQUESTS = int(os.environ.get("BENCH_CHAOS_REQUESTS", "1000"))
KILL_EVERY_S = 3.0
VICTIMS = ("indexer", "compile", "execute", "settle", "project")


def run() -> dict[str, Any]:
    import executor.examples as examples
    from bench.pipeline import _send
    from offshore.audit import resolve_counts
    from offshore.local import LocalPlatform

    state = Path(tempfile.mkdtemp(prefix="offshore-chaos-", dir="/tmp"))
    state.chmod(0o755)
    # 600-block yields (60 s at 0.1 s blocks): room for restarts; re-drive after 8 s pending.
    platform = LocalPlatform(state, block_interval_s=0.1, yield_timeout_blocks=600, reconcile_after_blocks=80)
    rng = random.Random(int(os.environ.get("BENCH_CHAOS_SEED", "12")))
    kills: list[str] = []
    try:
        info = platform.start()
        url, commit = examples.publish("sha256", state / "repos")

        async def chaos(done: asyncio.Event) -> None:
            while not done.is_set():
                await asyncio.sleep(KILL_EVERY_S)  # fault schedule, not a readiness wait
                victim = rng.choice(VICTIMS)
                platform.kill(victim, signal.SIGKILL)
                platform.restart(victim)
                kills.append(victim)

        async def main() -> tuple[list[str], dict[str, Any], float]:
            started = time.monotonic()
            done = asyncio.Event()
            monkey = asyncio.create_task(chaos(done))
            try:
                ids = await _send(info, url, commit, REQUESTS, concurrency=4)
            finally:
                done.set()
                await monkey
            views = await info.wait_settled(ids, timeout_s=300)
            return ids, views, time.monotonic() - started

        ids, views, seconds = asyncio.run(main())
        counts = resolve_counts(info.block_api_url, info.contract_id)
        redrives = _redrives(info.endpoints.kafka_bootstrap)
    finally:
        platform.stop()
        if not os.environ.get("BENCH_KEEP_STATE"):
            shutil.rmtree(state, ignore_errors=True)

    statuses: dict[str, int] = {}
    for view in views.values():
        statuses[str(view["status"])] = statuses.get(str(view["status"]), 0) + 1
    once = sum(1 for rid in ids if counts[rid] == 1)
    return {
        "requests": len(ids),
        "kills": len(kills),
        "killed": {v: kills.count(v) for v in VICTIMS},
        "statuses": statuses,
        "resolved_exactly_once": once,
        "resolved_twice_or_more": sum(1 for rid in ids if counts[rid] > 1),
        "never_resolved": sum(1 for rid in ids if counts[rid] == 0),
        "exactly_once": once == len(ids) and statuses.get("completed", 0) == len(ids),
        "reconciler_redrives": redrives,
        "seconds": round(seconds, 1),
    }


def _redrives(bootstrap: str) -> int:
    """Requests the reconciler re-published (event ids `redrive:...` on the requests topic)."""
    from streams.kafka import read_events
    from streams.topics import REQUESTS

    events = read_events(bootstrap, (REQUESTS.name,), quiet_s=3, timeout_s=120)
    return sum(e.event_id.startswith("redrive:") for e in events)
