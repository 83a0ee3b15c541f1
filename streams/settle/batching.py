"""Batched settlement, the pure part: how much gas a `resolve_executions` call needs, how outcomes are
packed into calls (count, argument bytes, gas), and what a call's result says about each item.

The gas model is measured, not guessed: `tests/contract/test_resolve_gas_model.py` checks it bounds
the contract's gas on the devnet VM for batches of 1 to the maximum, tiny to worst-case outputs, and
`bench/gas.py` reports the operator's gas per request on the devnet node (contract/README.md, Gas).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

TGAS = 10**12
MAX_CALL_GAS = 1_000 * TGAS  # nearcore's max_total_prepaid_gas since protocol 83 (the devnet's too)


@dataclass(frozen=True)
class GasModel:
    """Gas of one `resolve_executions` call: `base + per_item * items + per_byte * argument bytes`.

    Measured on the devnet VM (2026-11-29, contract at tag contract-batch): empty call 5.06 TGas;
    2.27-2.41 TGas per item with small outputs (1.20 of it is nearcore's yield_resume_base, the rest
    MicroPython: reading the record, checks, three writes); ~0.39 TGas per KB of arguments (JSON
    parsing of the output; escaped control characters cost less per byte). Rounded up, so the
    estimate bounds the measurement; `attach` adds headroom for what the model does not see.
    """

    base: int = 6 * TGAS
    per_item: int = 2_450 * 10**9
    per_byte: int = 400_000_000  # 0.4 TGas per KB
    headroom: float = 1.2
    max_call_gas: int = MAX_CALL_GAS

    def estimate(self, items: int, arg_bytes: int) -> int:
        return self.base + self.per_item * items + self.per_byte * arg_bytes

    floor: int = 100 * TGAS  # what a single resolve_execution always attached: unused gas is refunded

    def attach(self, items: int, arg_bytes: int) -> int:
        """Gas to attach to a call: the estimate plus headroom, at least the single-resolve gas (the
        model was measured before the result commitment added on-chain hashing and ed25519_verify;
        a near-limit output ran out with the estimate alone), never above the per-call limit."""
        return min(self.max_call_gas, max(self.floor, int(self.estimate(items, arg_bytes) * self.headroom)))

    def fits(self, items: int, arg_bytes: int) -> bool:
        return self.estimate(items, arg_bytes) * self.headroom <= self.max_call_gas


GAS = GasModel()
# Arguments of one call: MicroPython's heap is 2 MiB without collection (contract/README.md); a
# 424 KB batch was measured to run, 848 KB exhausted the heap.
MAX_BATCH_BYTES = 256 * 1024


@dataclass(frozen=True)
class BatchLimits:
    max_items: int = 100
    max_bytes: int = MAX_BATCH_BYTES
    gas: GasModel = GAS


def item_args(request_id: str, response: dict[str, Any]) -> bytes:
    """One item as it travels in the call's arguments (compact UTF-8 JSON, as settle sends it)."""
    return json.dumps(
        {"request_id": request_id, "response": response}, ensure_ascii=False, separators=(",", ":")
    ).encode()


def batch_args(items: Sequence[bytes]) -> bytes:
    """The call's arguments from items already encoded by `item_args` (no second encoding)."""
    return b'{"items":[' + b",".join(items) + b"]}"


def fits(count: int, size: int, limits: BatchLimits) -> bool:
    """Whether `count` items of `size` argument bytes in total may go in one call."""
    return count <= limits.max_items and (count == 1 or size <= limits.max_bytes) and limits.gas.fits(count, size)


def pack(sizes: Sequence[int], limits: BatchLimits) -> list[range]:
    """Consecutive index ranges of `sizes` (argument bytes per item) that each fit one call, in order.
    An item too large for any batch travels alone (the contract's own limits refuse it then)."""
    out: list[range] = []
    start, total = 0, 12  # `{"items":[]}`
    for i, size in enumerate(sizes):
        if i > start and not fits(i - start + 1, total + size + 1, limits):
            out.append(range(start, i))
            start, total = i, 12
        total += size + 1
    if start < len(sizes):
        out.append(range(start, len(sizes)))
    return out


def max_items(item_bytes: int, limits: BatchLimits) -> int:
    """The largest batch of items of `item_bytes` each that fits one call."""
    n = 1
    while fits(n + 1, 12 + (n + 1) * (item_bytes + 1), limits):
        n += 1
    return n


@dataclass(frozen=True)
class BatchResult:
    """What `resolve_executions` returned: the ids resolved, and per skipped id (reason, message)."""

    resolved: frozenset[str]
    skipped: dict[str, tuple[str, str]]


def parse_result(value: Any) -> BatchResult:
    """The call's JSON return value; raises ValueError on anything else (a contract mismatch)."""
    if not isinstance(value, dict) or not isinstance(value.get("resolved"), list):
        raise ValueError(f"resolve_executions returned {value!r}")
    skipped = {str(s["request_id"]): (str(s["reason"]), str(s.get("message", ""))) for s in value.get("skipped", [])}
    return BatchResult(frozenset(str(r) for r in value["resolved"]), skipped)
