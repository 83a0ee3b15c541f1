"""Realistic synthetic event streams (full request lifecycles) for the benchmark, tests and demos.

Charges follow the contract's formula (docs/design.md §2) with `PRICING`; nothing here talks to a chain.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.events import (
    CodeSource,
    CompilationFailed,
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

OUTCOMES = ("succeeded", "failed", "timed_out", "cancelled", "compile_failed", "expired", "skipped", "pending")


@dataclass(frozen=True)
class Pricing:
    base_fee: int = 10**21
    per_million_instructions_fee: int = 10**18
    per_ms_fee: int = 10**17
    per_compile_ms_fee: int = 10**16


PRICING = Pricing()
DEFAULT_USAGE = ResourcesUsed(instructions=1_234_567, time_ms=12, compile_time_ms=850)


def charge(used: ResourcesUsed, payment: int, pricing: Pricing = PRICING) -> tuple[int, int]:
    """(charged, refunded) as the contract computes them: the formula capped at the payment."""
    millions = -(-used.instructions // 1_000_000)  # ceil without float
    cost = (
        pricing.base_fee
        + millions * pricing.per_million_instructions_fee
        + used.time_ms * pricing.per_ms_fee
        + used.compile_time_ms * pricing.per_compile_ms_fee
    )
    charged = min(cost, payment)
    return charged, payment - charged


def lifecycle(
    request_id: str,
    *,
    payer: str = "client.test.near",
    at: datetime = datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
    outcome: str = "succeeded",
    repo: str = "https://github.com/near-offshore/echo.git",
    commit: str = "3f786850e387550fdab836ed7e6dc881de23001b",
    payment: int = 10**23,
    used: ResourcesUsed = DEFAULT_USAGE,
    cache_hit: bool = False,
    secrets: str | None = None,
) -> list[Event]:
    """Every event one request produces for the given outcome, timestamps a few ms apart."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; one of {OUTCOMES}")
    height = 100 + int(hashlib.sha256(request_id.encode()).hexdigest()[:6], 16) % 1_000_000
    wasm = hashlib.sha256(f"{repo}@{commit}".encode()).hexdigest()

    def t(ms: int) -> datetime:
        return at + timedelta(milliseconds=ms)

    def ns(ms: int) -> int:
        return int((at - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1)) * 1000 + ms * 1_000_000

    head: dict[str, Any] = {"request_id": request_id}
    req = ExecutionRequested(
        event_id=f"chain:{height}:R{request_id}:0",
        occurred_at=t(0),
        producer="indexer",
        sender_id=payer,
        code_source=CodeSource(repo=repo, commit=commit, build_target="wasm32-wasip1"),
        resource_limits=ResourceLimits(max_instructions=10**10, max_memory_mb=64, max_execution_seconds=10),
        input_data=f'{{"n": {request_id!r}}}',
        encrypted_secrets=secrets,
        response_format="Json",
        payment=str(payment),
        data_id=hashlib.sha256(request_id.encode()).hexdigest(),
        block_height=height,
        block_hash=f"h{height}",
        receipt_id=f"R{request_id}",
        timestamp_ns=ns(0),
        **head,
    )
    events: list[Event] = [req]
    if outcome == "pending":
        return events
    chain: dict[str, Any] = {"block_hash": f"h{height + 5}", "receipt_id": f"C{request_id}", "block_height": height + 5}
    if outcome == "cancelled":
        events.append(
            ExecutionCancelled(
                event_id=f"chain:{height + 5}:C{request_id}:0",
                occurred_at=t(600_000),
                producer="indexer",
                reason="stale",
                refunded=str(payment),
                timestamp_ns=ns(600_000),
                **chain,
                **head,
            )
        )
        return events
    if outcome == "compile_failed":
        events.append(
            CompilationFailed(
                event_id=f"compile-failed:{request_id}",
                occurred_at=t(40),
                producer="compile",
                request=req,
                source_key=wasm,
                error_kind="build_failed",
                error="clang exited with 1",
                build_log="g.c:1:1: error: expected identifier",
                compile_time_ms=used.compile_time_ms,
                **head,
            )
        )
        used = ResourcesUsed(instructions=0, time_ms=0, compile_time_ms=used.compile_time_ms)
    else:
        events.append(
            WasmCompiled(
                event_id=f"compiled:{request_id}",
                occurred_at=t(40),
                producer="compile",
                request=req,
                source_key=wasm,
                wasm_sha256=wasm,
                wasm_size=48_211,
                compile_time_ms=0 if cache_hit else used.compile_time_ms,
                cache_hit=cache_hit,
                **head,
            )
        )
        if cache_hit:
            used = dataclasses.replace(used, compile_time_ms=0)
        ok = outcome != "failed"
        events.append(
            ExecutionFinished(
                event_id=f"executed:{request_id}",
                occurred_at=t(55),
                producer="execute",
                request=req,
                wasm_sha256=wasm,
                success=ok,
                output=b'{"ok": true}' if ok else b"",
                error_kind=None if ok else "trap",
                error=None if ok else "unreachable executed",
                exit_code=0 if ok else None,
                resources_used=used,
                **head,
            )
        )
    if outcome == "expired":
        events.append(
            RequestExpired(
                event_id=f"expired:{request_id}",
                occurred_at=t(70),
                producer="settle",
                stage="settle",
                deadline_height=height + 200,
                observed_height=height + 199,
                **head,
            )
        )
        return events
    if outcome == "skipped":
        events.append(
            SettlementSkipped(
                event_id=f"skipped:{request_id}",
                occurred_at=t(70),
                producer="settle",
                reason="already_resolved",
                chain_status="resolved",
                **head,
            )
        )
        return events
    success = outcome == "succeeded"
    if outcome != "timed_out":
        events.append(
            ResolutionSubmitted(
                event_id=f"resolved:{request_id}",
                occurred_at=t(80),
                producer="settle",
                tx_hash=f"tx{request_id}",
                success=success,
                resources_used=used,
                signer_public_key="ed25519:8xQ",
                attempts=1,
                sent_at_height=height + 3,
                **head,
            )
        )
        charged, refunded = charge(used, payment)
        error = None if success else "execution failed"
    else:
        charged, refunded, error = 0, payment, "timeout"
        used = ResourcesUsed()
    events.append(
        ExecutionCompleted(
            event_id=f"chain:{height + 5}:C{request_id}:0",
            occurred_at=t(2_000),
            producer="indexer",
            sender_id=payer,
            success=success,
            error=error,
            resources_used=used,
            payment_charged=str(charged),
            payment_refunded=str(refunded),
            timestamp_ns=ns(2_000),
            **chain,
            **head,
        )
    )
    return events


def synthetic_events(requests: int, *, prefix: str = "s", payers: int = 7, days: int = 3) -> Iterator[Event]:
    """`requests` lifecycles across payers, days, repos and every outcome; deterministic."""
    start = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    for i in range(requests):
        yield from lifecycle(
            f"{prefix}{i}",
            payer=f"payer{i % payers}.test.near",
            at=start + timedelta(days=i % days, seconds=(i * 7919) % 86_000),
            outcome=OUTCOMES[i % len(OUTCOMES)] if i % 3 == 0 else "succeeded",
            repo=f"https://github.com/near-offshore/guest{i % 5}.git",
            used=ResourcesUsed(instructions=(i * 104_729) % 50_000_000, time_ms=i % 40, compile_time_ms=(i % 9) * 100),
            cache_hit=i % 4 != 0,
            secrets="c2VjcmV0" if i % 10 == 0 else None,
        )
