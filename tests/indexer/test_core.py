"""Extraction of our events from neardata-shaped blocks (pure; the follower is tested on the devnet)."""

from __future__ import annotations

import json
from typing import Any

from indexer import events_in_block
from schemas import DeadLetter, ExecutionCancelled, ExecutionCompleted, ExecutionRequested, decode, encode

CONTRACT = "offshore.test.near"
COMMIT = "a" * 40


def _log(event: str, data: Any, standard: str = "near-offshore") -> str:
    return "EVENT_JSON:" + json.dumps({"standard": standard, "version": "1.0.0", "event": event, "data": data})


def _requested(request_id: str) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "sender_id": "client.test.near",
        "code_source": {"repo": "https://example.com/r.git", "commit": COMMIT, "build_target": "wasm32-wasip1"},
        "resource_limits": {"max_instructions": 10**9, "max_memory_mb": 64, "max_execution_seconds": 10},
        "input_data": "{}",
        "encrypted_secrets": None,
        "response_format": "Json",
        "payment": "1000000000000000000000000",
        "data_id": "ab" * 32,
        "timestamp": 1,
    }


def _outcome(receipt_id: str, receiver: str, logs: list[str], status: Any = None) -> dict[str, Any]:
    return {
        "execution_outcome": {
            "id": receipt_id,
            "outcome": {"executor_id": receiver, "logs": logs, "status": status or {"SuccessValue": ""}},
        },
        "receipt": {"receipt_id": receipt_id, "receiver_id": receiver, "predecessor_id": "client.test.near"},
        "tx_hash": "TX" + receipt_id,
    }


def _block(height: int, outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    header = {"height": height, "hash": f"H{height}", "timestamp_nanosec": str(1_795_000_000_000_000_000 + height)}
    return {"block": {"header": header}, "shards": [{"shard_id": 0, "receipt_execution_outcomes": outcomes}]}


def test_extracts_requested_completed_and_cancelled() -> None:
    completed = {
        "request_id": "1",
        "sender_id": "client.test.near",
        "success": True,
        "error": None,
        "resources_used": {"instructions": 5, "time_ms": 2, "compile_time_ms": 0},
        "payment_charged": "10",
        "payment_refunded": "90",
        "timestamp": 1,
    }
    block = _block(
        120,
        [
            _outcome("R1", CONTRACT, ["plain text log", _log("execution_requested", [_requested("1")])]),
            _outcome("R2", CONTRACT, [_log("execution_completed", [completed])]),
            _outcome(
                "R3", CONTRACT, [_log("execution_cancelled", [{"request_id": "2", "reason": "stale", "refunded": "5"}])]
            ),
        ],
    )
    events = events_in_block(block, CONTRACT)
    assert [type(e) for e in events] == [ExecutionRequested, ExecutionCompleted, ExecutionCancelled]
    req = events[0]
    assert isinstance(req, ExecutionRequested)
    assert req.event_id == "chain:120:R1:1:0"
    assert (req.block_height, req.block_hash, req.receipt_id) == (120, "H120", "R1")
    assert req.code_source.commit == COMMIT and req.resource_limits.max_memory_mb == 64
    for event in events:  # every extracted event fits its Avro schema
        assert decode(encode(event)) == event


def test_ignores_failed_receipts_other_receivers_and_other_standards() -> None:
    block = _block(
        7,
        [
            _outcome("F", CONTRACT, [_log("execution_requested", [_requested("1")])], {"Failure": {"ActionError": {}}}),
            _outcome("O", "other.near", [_log("execution_requested", [_requested("2")])]),
            _outcome("S", CONTRACT, [_log("execution_requested", [_requested("3")], standard="nep171")]),
            _outcome("U", CONTRACT, [_log("some_future_event", [{"request_id": "4"}])]),
        ],
    )
    assert events_in_block(block, CONTRACT) == []


def test_same_block_twice_gives_the_same_event_ids() -> None:
    block = _block(9, [_outcome("R", CONTRACT, [_log("execution_requested", [_requested("1"), _requested("2")])])])
    first, second = events_in_block(block, CONTRACT), events_in_block(block, CONTRACT)
    assert [e.event_id for e in first] == [e.event_id for e in second] == ["chain:9:R:0:0", "chain:9:R:0:1"]


def test_malformed_event_of_ours_becomes_a_dead_letter() -> None:
    bad = _requested("1")
    del bad["code_source"]
    block = _block(11, [_outcome("R", CONTRACT, [_log("execution_requested", [bad])])])
    (event,) = events_in_block(block, CONTRACT)
    assert isinstance(event, DeadLetter)
    assert event.stage == "indexer" and "code_source" in event.error
    assert b"execution_requested" in event.payload


def test_an_unknown_event_kind_is_ignored_and_counted_even_without_request_id() -> None:
    from prometheus_client import REGISTRY

    def count() -> float:
        return REGISTRY.get_sample_value("offshore_indexer_unknown_events_total", {"event": "execution_paused"}) or 0.0

    before = count()
    logs = [_log("execution_paused", [{"reason": "newer contract"}]), _log("execution_paused", {"no": "list"})]
    block = _block(13, [_outcome("R", CONTRACT, logs)])
    assert events_in_block(block, CONTRACT) == []  # no DeadLetter: the README promises unknown kinds are ignored
    assert count() - before == 2


def test_the_indexer_names_topics_without_loading_kafka_clients_or_faust() -> None:
    """`import streams` (the topic registry) must stay light: a fresh interpreter proves it."""
    import subprocess
    import sys

    heavy = "('faust', 'confluent_kafka')"
    code = f"import sys, indexer.core, indexer.follower; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_the_result_commitment_is_flattened_into_execution_completed_v2() -> None:
    """contract event 1.1.0 `commitment` -> ExecutionCompleted v2 fields; null (1.0.0 events) -> defaults."""
    base = {
        "request_id": "4", "sender_id": "client.test.near", "success": True, "error": None,
        "resources_used": {"instructions": 5, "time_ms": 2, "compile_time_ms": 0},
        "payment_charged": "10", "payment_refunded": "90", "timestamp": 1,
    }  # fmt: skip
    commitment = {
        "version": 1, "wasm_sha256": "a" * 64, "builder_id": "b1", "engine_id": "e1", "input_sha256": "c" * 64,
        "output_sha256": "d" * 64, "randomness_proof": "ef" * 64, "io_sha256": "", "http_calls": 0,
        "http_bytes": 0, "randomness_checked": True, "delivered_sha256": "f" * 64,
    }  # fmt: skip
    block = _block(121, [
        _outcome("R1", CONTRACT, [_log("execution_completed", [{**base, "commitment": commitment}])]),
        _outcome("R2", CONTRACT, [_log("execution_completed", [{**base, "request_id": "5"}])]),
    ])  # fmt: skip
    with_c, without = events_in_block(block, CONTRACT)
    assert isinstance(with_c, ExecutionCompleted) and isinstance(without, ExecutionCompleted)
    assert (with_c.commitment_version, with_c.wasm_sha256, with_c.engine_id) == (1, "a" * 64, "e1")
    assert with_c.randomness_checked and with_c.delivered_sha256 == "f" * 64 and with_c.randomness_proof == "ef" * 64
    assert (without.commitment_version, without.wasm_sha256, without.randomness_checked) == (0, "", False)
    assert decode(encode(with_c)) == with_c
