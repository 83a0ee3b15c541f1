"""Chain-side audit: how many resolves each request got (exactly once = 1): every resolve_execution
transaction, and every item a resolve_executions call reports as resolved (an item it skipped was
not resolved again: the contract refused the second resume).

Reads every block of a neardata-style block API, so it needs no trust in the pipeline's own records.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections import Counter
from typing import Any


def resolve_counts(block_api_url: str, contract_id: str, *, timeout_s: float = 30.0) -> Counter[str]:
    """Counts up to the head as of the call, once it is final: a request seen settled at the head
    (optimistic reads) has its resolve in a block that is final only a couple of blocks later."""
    counts: Counter[str] = Counter()
    head = _get(f"{block_api_url}/last_block/optimistic")["block"]["header"]["height"]
    deadline = time.monotonic() + timeout_s
    while (final := _get(f"{block_api_url}/last_block/final")["block"]["header"]["height"]) < head:  # poll
        if time.monotonic() > deadline:
            raise TimeoutError(f"block {head} did not become final within {timeout_s:.0f}s (final is {final})")
        time.sleep(0.05)  # poll: finality follows block production
    first = _get(f"{block_api_url}/first_block")["block"]["header"]["height"]
    for height in range(first, final + 1):
        block = _get(f"{block_api_url}/block/{height}")
        for shard in (block or {}).get("shards", ()):
            for item in shard["chunk"]["transactions"]:
                tx = item["transaction"]
                if tx["receiver_id"] != contract_id:
                    continue
                for action in tx["actions"]:
                    call = action.get("FunctionCall") if isinstance(action, dict) else None
                    if call and call["method_name"] == "resolve_execution":
                        counts[str(json.loads(base64.b64decode(call["args"]))["request_id"])] += 1
            for item in shard.get("receipt_execution_outcomes") or ():
                outcome = item["execution_outcome"]["outcome"]
                if outcome.get("executor_id") == contract_id:
                    for rid in _batch_resolved(outcome.get("status")):
                        counts[rid] += 1
    return counts


def _batch_resolved(status: Any) -> list[str]:
    """The ids a resolve_executions receipt resolved (its return value), else []."""
    value = status.get("SuccessValue") if isinstance(status, dict) else None
    if not value:
        return []
    try:
        result = json.loads(base64.b64decode(value))
    except ValueError:
        return []
    if isinstance(result, dict) and isinstance(result.get("resolved"), list) and "skipped" in result:
        return [str(r) for r in result["resolved"]]
    return []


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())
