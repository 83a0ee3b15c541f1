"""docs/design.md §12's last target: kill any process at any moment during a run of 1000 requests; every
request must still settle exactly once. Issue 14: on a busy machine, at 70 % of the measured capacity.

While the requests are offered at a fixed rate (open loop: `BENCH_CHAOS_RATE` requests/s, default 70 %
of `pipeline.capacity_rps` when the pipeline section ran in this process, else 0.7 x 50), a random
pipeline process (indexer, compile, execute, settle, projector) is SIGKILLed every few seconds and
restarted, and a CPU hog spins on core 0 for the whole run (started and stopped here, bounded by
`timeout`). Once per seed (`BENCH_CHAOS_SEEDS`, default 12,13,14), each on a fresh platform. Afterwards
every request's on-chain status is read and its resolves are counted from the chain's blocks.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REQUESTS = int(os.environ.get("BENCH_CHAOS_REQUESTS", "1000"))
SEEDS = tuple(int(x) for x in os.environ.get("BENCH_CHAOS_SEEDS", "12,13,14").split(","))
KILL_EVERY_S = 3.0
VICTIMS = ("indexer", "compile", "execute", "settle", "project")
HOG_LIMIT_S = 1800  # the hog's own bound (`timeout`), whatever happens to this process


def run() -> dict[str, Any]:
    from bench import capacity

    rate = float(os.environ.get("BENCH_CHAOS_RATE") or 0.7 * (capacity.LAST_CAPACITY_RPS or 50.0))
    runs = {f"seed_{seed}": run_seed(seed, rate) for seed in SEEDS}
    return {
        "offered_rps": round(rate, 1),
        "cpu_hog": "one spinning process on core 0 for each whole run",
        "exactly_once": all(r["exactly_once"] for r in runs.values()),
        **runs,
    }


def _hog() -> subprocess.Popen[bytes]:
    spin = [sys.executable, "-c", "while True: pass"]
    return subprocess.Popen(["taskset", "-c", "0", "timeout", str(HOG_LIMIT_S), *spin])


def run_seed(seed: int, rate: float) -> dict[str, Any]:
    import executor.examples as examples
    from bench.capacity import paced
    from offshore.audit import resolve_counts
    from offshore.local import LocalPlatform

    state = Path(tempfile.mkdtemp(prefix="offshore-chaos-", dir="/tmp"))
    state.chmod(0o755)
    # 600-block yields (60 s at 0.1 s blocks): room for restarts; re-drive after 8 s pending.
    platform = LocalPlatform(state, block_interval_s=0.1, yield_timeout_blocks=600, reconcile_after_blocks=80)
    rng = random.Random(seed)
    kills: list[str] = []
    hog = _hog()
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
                ids, _ = await paced(info, url, commit, rate, REQUESTS / rate)
            finally:
                done.set()
                await monkey
            views = await info.wait_settled(ids, timeout_s=300)
            return ids, views, time.monotonic() - started

        ids, views, seconds = asyncio.run(main())
        counts = resolve_counts(info.block_api_url, info.contract_id)
        redrives = _redrives(info.endpoints.kafka_bootstrap)
    finally:
        hog.kill()
        hog.wait()
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
