"""Measures two settle replicas sharing the operator keys on the local stack (deploy/README.md, Scaling).

Starts the whole platform (`LocalPlatform`), adds a second settle process with the same operator
keys, sends N requests, waits until each is final on chain and prints JSON: outcomes, resolve
transactions per request (from the blocks), the share of resolutions each replica made, and how many
InvalidNonce errors the replicas met (each is retried by streams/chain.py). Not a test: a measurement
to run by hand (`python deploy/tools/settle_replicas.py 200 [replicas=2]`; 1 is the baseline;
SETTLE_POLL=all polls every request's status at once, as the first runs did).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

import executor.examples as examples
from offshore.audit import resolve_counts
from offshore.errors import OffshoreError
from offshore.local import LocalPlatform

# Series each settle replica reports: what it resolved, and what went wrong (an InvalidNonce that
# outlived its retries would show as a settle failure or dead letter).
SERIES = ("offshore_settlement_outcomes_total", "offshore_request_failures_total", "offshore_dead_letters_total")


def _series(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        lines = resp.read().decode().splitlines()
    return {
        name: float(value)
        for name, _, value in (line.rpartition(" ") for line in lines)
        if name.startswith(SERIES) and float(value)
    }


async def _run(n: int, platform: LocalPlatform, repo: tuple[str, str], names: list[str]) -> dict[str, object]:
    info = platform.info
    assert info is not None
    started = time.monotonic()
    sent = await info.send_many(n, repo=repo[0], commit=repo[1], concurrency=4)
    pending: list[str] = []
    finals: dict[str, dict[str, object]] = {}
    if os.environ.get("SETTLE_POLL") == "all":  # every request polled at once: a heavy RPC load on the devnet
        try:
            finals = await info.wait_settled([s.request_id for s in sent], timeout_s=300)
        except OffshoreError:
            pending.append("?")  # at least one; the others are not told apart
    else:
        for s in sent:  # one at a time: a request still pending is counted, not fatal
            try:
                left = max(5.0, 300 - (time.monotonic() - started))
                finals.update(await info.wait_settled([s.request_id], timeout_s=left))
            except OffshoreError:
                pending.append(s.request_id)
    elapsed = time.monotonic() - started
    counts = resolve_counts(info.block_api_url, info.contract_id)
    logs = {name: platform.log_tail(name, 10_000_000) for name in names}
    return {
        "requests": n,
        "settle_replicas": len(names),
        "seconds": round(elapsed, 1),
        "statuses": dict(Counter(str(v["status"]) for v in finals.values())),
        "still_pending_after_300s": len(pending),
        "resolves_per_request": dict(Counter(counts[s.request_id] for s in sent)),
        "settle_metrics": {name: _series(info.metrics[name]) for name in names},
        "invalid_nonce_log_lines": {name: text.count("InvalidNonce") for name, text in logs.items()},
    }


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    replicas = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    names = ["settle", *(f"settle-{i}" for i in range(2, replicas + 1))]
    state = Path(tempfile.mkdtemp(prefix="offshore-settle2-", dir="/tmp"))
    platform = LocalPlatform(state, block_interval_s=0.1, yield_timeout_blocks=600)
    try:
        platform.start()
        for name in names[1:]:
            platform.add_process(name, "settle")
        repo = examples.publish("json_echo", state / "repos")
        print(json.dumps(asyncio.run(_run(n, platform, repo, names)), indent=1))
    finally:
        platform.stop()
        if not os.environ.get("OFFSHORE_KEEP_E2E_STATE"):
            shutil.rmtree(state, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
