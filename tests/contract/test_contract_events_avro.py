"""Every event the contract logs fits the indexer's Avro schemas (schemas/avro) and round-trips.

The mapping below is what the indexer does: the event's data plus the block context (height, hash,
receipt id) it reads from the block. It consumes every field the contract emits, so a field added to
the contract without a place in the schema fails here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from contract.testing import OWNER, Offshore, events_of, used
from schemas import (
    CodeSource,
    Event,
    ExecutionCancelled,
    ExecutionCompleted,
    ExecutionRequested,
    ResourceLimits,
    ResourcesUsed,
    decode,
    encode,
)
from schemas.commitment import commitment_fields

BLOCK = {"block_height": 1234, "block_hash": "7tkzFg8RHBmMw1ncRJZCCZAizgq4rwCftTKYLce8RU8t", "receipt_id": "E2r8"}


def _take(data: dict[str, Any], *names: str) -> dict[str, Any]:
    out = {n: data.pop(n) for n in names}
    return out


def to_schema_event(event: dict[str, Any], *, block_ts_ns: int, index: int) -> Event:
    assert event["standard"] == "near-offshore" and event["version"] == "1.1.0"
    (data,) = event["data"]
    data = dict(data)
    head = {
        "event_id": f"chain:{BLOCK['block_height']}:{BLOCK['receipt_id']}:{index}",
        "request_id": data.pop("request_id"),
        "producer": "indexer@test",
        **BLOCK,
    }
    result: Event
    if event["event"] == "execution_requested":
        ts = data.pop("timestamp")
        result = ExecutionRequested(
            **head,
            occurred_at=datetime.fromtimestamp(ts // 10**9, UTC),
            timestamp_ns=ts,
            code_source=CodeSource(**data.pop("code_source")),
            resource_limits=ResourceLimits(**data.pop("resource_limits")),
            **_take(
                data,
                "sender_id",
                "input_data",
                "encrypted_secrets",
                "response_format",
                "payment",
                "data_id",
            ),
        )
    elif event["event"] == "execution_completed":
        ts = data.pop("timestamp")
        result = ExecutionCompleted(
            **head,
            occurred_at=datetime.fromtimestamp(ts // 10**9, UTC),
            timestamp_ns=ts,
            resources_used=ResourcesUsed(**data.pop("resources_used")),
            **commitment_fields(data.pop("commitment")),
            **_take(data, "sender_id", "success", "error", "payment_charged", "payment_refunded"),
        )
    elif event["event"] == "execution_cancelled":
        # no timestamp in the event (docs/design.md §2): the indexer takes the block's
        result = ExecutionCancelled(
            **head,
            occurred_at=datetime.fromtimestamp(block_ts_ns // 10**9, UTC),
            timestamp_ns=block_ts_ns,
            **_take(data, "reason", "refunded"),
        )
    else:
        raise AssertionError(f"unknown event {event['event']}")
    assert data == {}, f"fields with no place in the schema: {sorted(data)}"
    return result


def test_every_event_of_every_flow_decodes_with_the_indexer_schema(offshore: Offshore) -> None:
    ok = offshore.request(response_format="Json", encrypted_secrets="Y2lwaGVy")
    offshore.settle(ok, {"success": True, "output": "[1]", "resources_used": used(10**7, 3, 900)})
    failed = offshore.request(code_source={**_wasm_source()})
    offshore.settle(failed, {"success": False, "error": "trap: unreachable", "resources_used": used(5, 1, 0)})
    timed_out = offshore.request()
    offshore.callback(timed_out, None)
    stale = offshore.request()
    offshore.now_ns += 600 * 10**9
    assert offshore.call("cancel_stale_execution", {"request_id": stale}).error is None
    emergency = offshore.request()
    assert offshore.call("emergency_cancel_execution", {"request_id": emergency}, predecessor=OWNER).error is None

    seen: dict[str, int] = {}
    for out in offshore.outcomes:
        for i, event in enumerate(events_of(out)):
            mapped = to_schema_event(event, block_ts_ns=offshore.now_ns, index=i)
            assert decode(encode(mapped)) == mapped
            seen[event["event"]] = seen.get(event["event"], 0) + 1
    assert seen == {"execution_requested": 5, "execution_completed": 3, "execution_cancelled": 2}


def _wasm_source() -> dict[str, str]:
    return {
        "repo": "https://github.com/near-offshore/prebuilt.git",
        "commit": "f" * 40,
        "build_target": "wasm",
        "path": "out/app.wasm",
    }
