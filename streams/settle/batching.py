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

    Measured on the devnet VM (2026-11-30, commitment line and one parked value per item; contract/
    README.md Gas): empty call ~5.2 TGas; per item 1.58 TGas without a result commitment (1.20 of it
    nearcore's yield_resume_base) and ~2.05 with one (ed25519_verify 0.22), at ~120 and ~490
    argument bytes; at most ~0.23 TGas per KB of arguments beyond (a plain 16 KB output: parsed,
    hashed, parked; escape-heavy text costs less per argument byte). `per_item` assumes a commitment
    (every seeded run carries one; settle does not know which items do), so an item without one is
    overestimated by ~0.5 TGas: safe, batches a little smaller.
    Rounded up, so the estimate bounds the measurement; `attach` adds headroom for what it does not see.
    """

    base: int = 6 * TGAS
    per_item: int = 2_100 * 10**9
    per_byte: int = 250_000_000  # 0.25 TGas per KB
    headroom: float = 1.2
    max_call_gas: int = MAX_CALL_GAS

    def estimate(self, items: int, arg_bytes: int) -> int:
        return self.base + self.per_item * items + self.per_byte * arg_bytes

    floor: int = 100 * TGAS  # what a single resolve_execution always attached: unused gas is refunded

    def attach(self, items: int, arg_bytes: int) -> int:
        """Gas to attach to a call: the estimate plus headroom, at least the single-resolve gas (unused
        gas is refunded; a near-limit output once ran out with an estimate that predated the result
        commitment, so a lone item keeps the budget it always had), never above the per-call limit."""
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


USAGE_FIELDS = ("instructions", "time_ms", "compile_time_ms")
HTTP_USAGE_FIELDS = ("http_calls", "http_bytes")
COMMITMENT_FIELDS = ("version", "wasm_sha256", "builder_id", "engine_id", "input_sha256", "output_sha256",
                     "randomness_proof", "io_sha256", "http_calls", "http_bytes")  # fmt: skip
"""The contract's order of a compact item's usage and commitment values (contract/src/offshore/
execution.py `USAGE_FIELDS`, commitment.py `FIELDS`)."""
LINE_HASHES = (("wasm_sha256", 64), ("input_sha256", 64), ("output_sha256", 64), ("randomness_proof", 128))


def commitment_line(c: dict[str, Any]) -> str | None:
    """The commitment in the contract's line form (contract/src/offshore/commitment.py): `1 <wasm,
    input, output sha256, proof, io sha256 concatenated> <builder_id> <engine_id> <http_calls>
    <http_bytes>`, which the contract checks and parks for ~0.6 TGas less than the ten values.

    None when the line cannot carry `c` exactly (a field of another type or length, a space in an
    identifier, an unknown field): settle then sends the values and the contract judges them. The
    hashes are concatenated, so their lengths are checked here: a 63- and a 65-character hash must
    not pass as two good ones."""
    if set(c) - set(COMMITMENT_FIELDS) or c.get("version") != 1 or isinstance(c.get("version"), bool):
        return None
    hashes: list[str] = []
    for name, n in LINE_HASHES:
        h = c.get(name)
        if not (isinstance(h, str) and len(h) == n):
            return None
        hashes.append(h)
    io = c.get("io_sha256")
    io = "" if io is None else io
    builder, engine = c.get("builder_id"), c.get("engine_id")
    counts = [0 if c.get(k) is None else c.get(k) for k in ("http_calls", "http_bytes")]
    if not (isinstance(io, str) and len(io) in (0, 64)):
        return None
    if not (isinstance(builder, str) and isinstance(engine, str) and builder and engine):
        return None
    if " " in builder + engine:
        return None
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts):
        return None
    return " ".join(["1", "".join(hashes) + io, builder, engine, *(str(n) for n in counts)])


def item_args(request_id: str, response: dict[str, Any]) -> bytes:
    """One item as it travels in the call's arguments (compact UTF-8 JSON, as settle sends it): the
    compact array `[request_id, success, output, error, usage, commitment]` (contract/README.md,
    `resolve_executions`), which the contract parses for less gas than the object form (no keys),
    the commitment as one line (`commitment_line`) or, when the line cannot carry it, its values.
    A response the array cannot carry exactly (a field it has no slot for) travels as the object
    `{request_id, response}`, so the contract judges what it was given."""
    used = response.get("resources_used")
    commitment = response.get("commitment")
    compact = set(response) <= {"success", "output", "error", "resources_used", "commitment"}
    usage: Any = used
    if isinstance(used, dict):
        http = any(k in used for k in HTTP_USAGE_FIELDS)
        names = USAGE_FIELDS + HTTP_USAGE_FIELDS if http else USAGE_FIELDS
        compact = compact and set(used) <= set(names)
        usage = [used.get(k, 0) for k in names]
    packed: Any = commitment
    if isinstance(commitment, dict):
        compact = compact and set(commitment) <= set(COMMITMENT_FIELDS)
        packed = commitment_line(commitment) or [commitment.get(k) for k in COMMITMENT_FIELDS]
    value: Any = (
        [request_id, response.get("success"), response.get("output"), response.get("error"), usage, packed]
        if compact
        else {"request_id": request_id, "response": response}
    )
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


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
