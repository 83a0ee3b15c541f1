"""Broker wipe (issue 14): the embedded Kafka-API broker is killed mid-run and restarted empty (Tansu
keeps nothing), then every process is restarted against it. Every request must still settle exactly
once: the chain is the ledger, and the reconciler re-drives what Kafka lost.

Requests are offered at `BENCH_WIPE_RATE` per second (default 7: 70 % of the measured capacity) for
`BENCH_WIPE_REQUESTS` (default 300). So that the wipe loses real work, the execute stage is stopped
at a quarter of the offer: compiled requests pile up in Kafka between compile and execute, and the
broker is wiped once at least `BENCH_WIPE_IN_FLIGHT` (default 40) requests are pending on chain (or
at the end of the offer), while requests keep coming. The pending count at that moment is reported
(`in_flight_at_wipe`). Resolves are counted per request from the chain.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from typing import Any

REQUESTS = int(os.environ.get("BENCH_WIPE_REQUESTS", "300"))
RATE = float(os.environ.get("BENCH_WIPE_RATE", "7"))
IN_FLIGHT = int(os.environ.get("BENCH_WIPE_IN_FLIGHT", "40"))


def run() -> dict[str, Any]:
    import executor.examples as examples
    from bench.capacity import paced
    from bench.chaos import (
        FINAL_WAIT_S,
        _events,
        _final_views,
        _warm,
        _write_failures,
        fault_platform,
        not_settled_once,
        settlement,
    )
    from offshore.audit import resolve_counts

    state, platform = fault_platform("offshore-wipe-")
    wipe: dict[str, Any] = {}
    load = [os.getloadavg()[0]]
    keep = bool(os.environ.get("BENCH_KEEP_STATE"))
    try:
        info = platform.start()
        url, commit = examples.publish("sha256", state / "repos")
        asyncio.run(_warm(info, url, commit))  # cache-hit guest, as the capacity it is scaled to

        async def main() -> tuple[list[str], dict[str, Any], float]:
            started = time.monotonic()
            offer_s = REQUESTS / RATE
            sending = asyncio.create_task(paced(info, url, commit, RATE, offer_s))
            await asyncio.sleep(offer_s / 4)  # the fault schedule: a quarter into the offer
            platform.kill("execute", signal.SIGKILL)  # work piles up in Kafka, between compile and execute
            while True:  # poll: the backlog grows with the offer
                pending = await _pending(info)
                if pending >= IN_FLIGHT or time.monotonic() - started >= offer_s:
                    break
                await asyncio.sleep(0.5)  # poll
            wipe["in_flight_at_wipe"] = pending
            wipe["load_average_1m_at_wipe"] = round(os.getloadavg()[0], 1)
            await asyncio.to_thread(platform.wipe_broker)  # blocks until the new broker answers
            wipe["wiped_at_s"] = round(time.monotonic() - started, 1)
            wipe["in_flight_after_restart"] = await _pending(info)
            ids, _ = await sending
            views = await _final_views(info, ids, timeout_s=FINAL_WAIT_S)
            return ids, views, time.monotonic() - started

        ids, views, seconds = asyncio.run(main())
        load.append(os.getloadavg()[0])
        counts = resolve_counts(info.block_api_url, info.contract_id)
        events = _events(info.endpoints.kafka_bootstrap)  # on the new broker: after the wipe
        redrives = sum(e.event_id.startswith("redrive:") for e in events)
        bad = not_settled_once(ids, views, counts)
        if bad:  # kept for the post-mortem
            keep = True
            _write_failures(state, bad, views, counts, events, [])
    finally:
        platform.stop()
        if not keep:
            shutil.rmtree(state, ignore_errors=True)
    result = {
        "requests": len(ids),
        "not_offered": REQUESTS - len(ids),
        "offered_rps": RATE,
        **wipe,
        **settlement(ids, views, counts),
        "settled_every_request_once": not bad,
        "reconciler_redrives_after_wipe": redrives,
        "seconds": round(seconds, 1),
        "load_average_1m": {"min": round(min(load), 1), "max": round(max(load), 1)},
    }
    if bad:
        result["state_dir"] = str(state)
    return result


async def _pending(info: Any) -> int:
    """Requests pending on chain (made, not yet settled), paged from the contract."""
    from offshore.local import CLIENTS

    count, after = 0, None
    async with info.client(CLIENTS[0]) as c:
        while True:
            args: dict[str, Any] = {"height": 2**53, "limit": 100}
            if after is not None:
                args["from"] = str(after + 1)
            page = await c.view("list_pending_before", args)
            if not isinstance(page, list) or not page:
                return count
            count += len(page)
            if len(page) < 100:
                return count
            after = int(page[-1]["request_id"])
