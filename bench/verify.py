"""Verify benchmark (issue 15): seconds to verify one settled request with `offshore verify`.

The whole local platform settles REQUESTS small requests (dice and sha256 guests, each with a result
commitment); a first verification pass builds the guests into the verifier's own store, then the
timed pass verifies every request again with a cache-hit build: reading the chain (get_request,
the request's and the completion's blocks, pricing at that block), the randomness proof, the re-run
with the recorded seed, and the charge. `all_verified` must be true.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

REQUESTS = 10
LIMITS = {"max_instructions": 1_000_000_000, "max_memory_mb": 32, "max_execution_seconds": 5}


def run() -> dict[str, Any]:
    import executor.examples as examples
    from offshore.local import PIPELINE, LocalPlatform
    from offshore.settings import load_settings
    from offshore.verify import verify_requests

    state = Path(tempfile.mkdtemp(prefix="offshore-bench-verify-", dir="/tmp"))
    state.chmod(0o755)
    platform = LocalPlatform(state, block_interval_s=0.1, yield_timeout_blocks=600, processes=PIPELINE)
    load_start = os.getloadavg()[0]
    try:
        info = platform.start()
        ids: list[str] = []
        for guest, data in (("dice", "4"), ("sha256", "abc")):
            url, commit = examples.publish(guest, state / "repos")

            def input_for(i: int, d: str = data) -> str:
                return f"{d}{i}"

            sent = asyncio.run(
                info.send_many(
                    REQUESTS // 2, repo=url, commit=commit, concurrency=2, input_for=input_for,
                    limits=LIMITS, response_format="Text",
                )
            )  # fmt: skip
            ids += [s.request_id for s in sent]
        asyncio.run(info.wait_settled(ids, timeout_s=300))
        settings = load_settings(
            near_rpc_url=info.rpc_url,
            block_api_url=info.block_api_url,
            contract_id=info.contract_id,
            allow_file_urls=True,
            file_url_roots=str(state / "repos"),
            state_dir=state / "verifier",
        )
        asyncio.run(_wait_final(settings, ids))
        cold_started = time.perf_counter()
        asyncio.run(verify_requests(settings, ids))
        cold = time.perf_counter() - cold_started
        started = time.perf_counter()
        reports = asyncio.run(verify_requests(settings, ids))
        seconds = time.perf_counter() - started
    finally:
        platform.stop()
        shutil.rmtree(state, ignore_errors=True)
    return {
        "seconds_per_request": round(seconds / len(ids), 3),
        "first_pass_seconds_per_request": round(cold / len(ids), 3),
        "requests": len(ids),
        "all_verified": all(r.verdict == "verified" for r in reports),
        "load_average": [round(load_start, 1), round(os.getloadavg()[0], 1)],
    }


async def _wait_final(settings: Any, ids: list[str]) -> None:
    """The verifier reads final state: wait until every settlement is final."""
    import aiohttp

    from offshore.verify import _Chain

    async with aiohttp.ClientSession() as http:
        chain = _Chain(http, settings.near_rpc_url, settings.block_api_url, settings.contract_id, None)
        for rid in ids:
            for _ in range(600):  # poll
                if (await chain.view("get_request", {"request_id": rid}))["status"] != "pending":
                    break
                await asyncio.sleep(0.05)  # poll
