"""The result commitment of an `execution_completed` log as the flat ExecutionCompleted v2 fields.

The contract emits `commitment` as one object (or null: no commitment, e.g. an older operator); the
indexer and tests flatten it with this one function, so the mapping lives in one place.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

_TEXT = ("wasm_sha256", "builder_id", "engine_id", "input_sha256", "output_sha256", "delivered_sha256",
         "randomness_proof", "io_sha256")  # fmt: skip
_COUNTS = ("http_calls", "http_bytes")


def commitment_fields(commitment: Mapping[str, Any] | None) -> dict[str, Any]:
    """ExecutionCompleted's commitment fields; {} (the schema defaults) when there is none."""
    if not commitment:
        return {}
    out: dict[str, Any] = {"commitment_version": int(commitment.get("version") or 0)}
    out.update({name: str(commitment.get(name) or "") for name in _TEXT})
    out.update({name: int(commitment.get(name) or 0) for name in _COUNTS})
    out["randomness_checked"] = bool(commitment.get("randomness_checked"))
    return out


def build_commitment(
    *,
    wasm_sha256: str,
    builder_id: str,
    engine_id: str,
    input_data: str,
    stdout: bytes,
    randomness_proof: str,
    io_sha256: str = "",
    http_calls: int = 0,
    http_bytes: int = 0,
) -> dict[str, Any]:
    """`response.commitment` of resolve_execution (version 1; contract/src/offshore/commitment.py)."""
    return {
        "version": 1,
        "wasm_sha256": wasm_sha256,
        "builder_id": builder_id,
        "engine_id": engine_id,
        "input_sha256": hashlib.sha256(input_data.encode()).hexdigest(),
        "output_sha256": hashlib.sha256(stdout).hexdigest(),
        "randomness_proof": randomness_proof,
        "io_sha256": io_sha256,
        "http_calls": http_calls,
        "http_bytes": http_bytes,
    }
