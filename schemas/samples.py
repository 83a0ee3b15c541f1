"""One realistic example of every event, for fixtures, docs and tests of other components."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.events import (
    CodeSource,
    CompilationFailed,
    DeadLetter,
    Event,
    ExecutionCancelled,
    ExecutionCompleted,
    ExecutionFinished,
    ExecutionRequested,
    RequestExpired,
    ResolutionSubmitted,
    ResourceLimits,
    ResourcesUsed,
    SettlementSkipped,
    WasmCompiled,
)

_AT = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
_COMMIT = "3f786850e387550fdab836ed7e6dc881de23001b"
_SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def sample_requested(request_id: str = "7") -> ExecutionRequested:
    return ExecutionRequested(
        event_id=f"chain:120:Bq3z:{request_id}",
        request_id=request_id,
        occurred_at=_AT,
        producer="indexer",
        sender_id="client.test.near",
        code_source=CodeSource(
            repo="https://github.com/near-offshore/echo.git", commit=_COMMIT, build_target="wasm32-wasip1"
        ),
        resource_limits=ResourceLimits(max_instructions=10_000_000_000, max_memory_mb=64, max_execution_seconds=10),
        input_data='{"hello": "world"}',
        encrypted_secrets=None,
        response_format="Json",
        payment="100000000000000000000000",
        data_id="a1" * 32,
        block_height=120,
        block_hash="9aXcJv8Tf1GZ8t5m2s3Q",
        receipt_id="Bq3zK1",
        timestamp_ns=1_795_000_000_000_000_000,
    )


def samples() -> dict[str, Event]:
    req = sample_requested()
    used = ResourcesUsed(instructions=1_234_567, time_ms=12, compile_time_ms=850)
    head: dict[str, Any] = {"request_id": req.request_id, "occurred_at": _AT}
    chain: dict[str, Any] = {
        "block_height": 125,
        "block_hash": "4hWc",
        "receipt_id": "C9d",
        "timestamp_ns": 1_795_000_005_000_000_000,
    }
    events: list[Event] = [
        req,
        WasmCompiled(
            event_id="compiled:7",
            producer="compile",
            request=req,
            source_key="k" * 64,
            wasm_sha256=_SHA,
            wasm_size=48_211,
            compile_time_ms=850,
            cache_hit=False,
            **head,
        ),
        CompilationFailed(
            event_id="compile-failed:7",
            producer="compile",
            request=req,
            source_key="k" * 64,
            error_kind="build_failed",
            error="clang exited with 1",
            build_log="g.c:1: error",
            compile_time_ms=300,
            **head,
        ),
        ExecutionFinished(
            event_id="executed:7",
            producer="execute",
            request=req,
            wasm_sha256=_SHA,
            success=True,
            output=b'{"hello": "world"}',
            resources_used=used,
            exit_code=0,
            **head,
        ),
        ResolutionSubmitted(
            event_id="resolved:7",
            producer="settle",
            tx_hash="FvN1",
            success=True,
            resources_used=used,
            signer_public_key="ed25519:8xQ",
            attempts=1,
            sent_at_height=124,
            **head,
        ),
        SettlementSkipped(event_id="skipped:7", producer="settle", reason="already_resolved", **head),
        RequestExpired(
            event_id="expired:7",
            producer="settle",
            stage="settle",
            deadline_height=320,
            observed_height=318,
            **head,
        ),
        ExecutionCompleted(
            event_id="chain:125:C9d:0",
            producer="indexer",
            sender_id="client.test.near",
            success=True,
            resources_used=used,
            payment_charged="1850000000000000000000",
            payment_refunded="98150000000000000000000",
            **chain,
            **head,
        ),
        ExecutionCancelled(
            event_id="chain:125:C9d:1",
            producer="indexer",
            reason="stale",
            refunded="100000000000000000000000",
            **chain,
            **head,
        ),
        DeadLetter(
            event_id="dlq:offshore.requests.v1:0:17",
            producer="compile",
            stage="compile",
            source_topic="offshore.requests.v1",
            partition=0,
            offset=17,
            key=b"7",
            payload=b"\x00garbage",
            error_type="DecodeError",
            error="bad magic",
            **head,
        ),
    ]
    return {type(e).__name__: e for e in events}


def sample_record(req: ExecutionRequested | None = None, **changes: Any) -> dict[str, Any]:
    """The contract's `get_request` JSON for `req` (pending, not resolved), with `changes` applied:
    what `schemas.request_view.RequestView.from_json` reads."""
    req = req or sample_requested()
    record: dict[str, Any] = {
        "request_id": int(req.request_id),
        "sender_id": req.sender_id,
        "code_source": {
            "repo": req.code_source.repo,
            "commit": req.code_source.commit,
            "build_target": req.code_source.build_target,
            "path": req.code_source.path,
        },
        "resource_limits": {
            "max_instructions": req.resource_limits.max_instructions,
            "max_memory_mb": req.resource_limits.max_memory_mb,
            "max_execution_seconds": req.resource_limits.max_execution_seconds,
        },
        "response_format": req.response_format,
        "payment": req.payment,
        "data_id": req.data_id,
        "status": "pending",
        "resolved": False,
        "created_at_ns": req.timestamp_ns,
        "created_height": req.block_height,
        "input_data": req.input_data,
        "encrypted_secrets": req.encrypted_secrets,
    }
    record.update(changes)
    return record
