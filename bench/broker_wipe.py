"""Broker wipe (issue 14): the embedded Kafka-API broker is killed mid-run and restarted empty (Tansu
keeps nothing), then every process is restarted against it. Every request must still settle exactly
once: the chain is the ledger, and the reconciler re-drives what Kafka lost.

Requests are offered at `BENCH_WIPE_RATE` per second (default 20) for `BENCH_WIPE_REQUESTS` (default
300); the wipe happens half-way through the offer, while requests keep coming. Resolves are
counted per request from the chain.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

REQUESTS = int(os.environ.get("BENCH_WIPE_REQUESTS", "300"))
RATE = float(os.environ.get("BENCH_WIPE_RATE", "20"))


def run() -> dict[str, Any]:
    import executor.examples as examples
    from bench.capacity import paced
    from offshore.audit import resolve_counts
    from offshore.local import LocalPlatform

    state = Path(tempfile.mkdtemp(prefix="offshore-wipe-", dir="/tmp"))
    state.chmod(0o755)
    # 600-block yields (60 s at 0.1 s blocks); re-drive after 8 s pending (as the chaos run).
    platform = LocalPlatform(state, block_interval_s=0.1, yield_timeout_blocks=600, reconcile_after_blocks=80)
    wiped_at: float | None = None
    try:
        info = platform.start()
        url, commit = examples.publish("sha256", state / "repos")

        async def main() -> tuple[list[str], dict[str, Any], float]:
            nonlocal wiped_at
            started = time.monotonic()
            sending = asyncio.create_task(paced(info, url, commit, RATE, REQUESTS / RATE))
            await asyncio.sleep(REQUESTS / RATE / 2)  # the fault schedule: half-way through the offer
            await asyncio.to_thread(platform.wipe_broker)  # blocks until the new broker answers
            wiped_at = time.monotonic() - started
            ids, _ = await sending
            views = await info.wait_settled(ids, timeout_s=300)
            return ids, views, time.monotonic() - started

        ids, views, seconds = asyncio.run(main())
        counts = resolve_counts(info.block_api_url, info.contract_id)
        from bench.chaos import _redrives

        redrives = _redrives(info.endpoints.kafka_bootstrap)  # on the new broker: after the wipe
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
        "offered_rps": RATE,
        "wiped_at_s": round(wiped_at or 0.0, 1),
        "statuses": statuses,
        "resolved_exactly_once": once,
        "resolved_twice_or_more": sum(1 for rid in ids if counts[rid] > 1),
        "never_resolved": sum(1 for rid in ids if counts[rid] == 0),
        "settled_every_request_once": once == len(ids) and statuses.get("completed", 0) == len(ids),
        "reconciler_redrives_after_wipe": redrives,
        "seconds": round(seconds, 1),
    }
