"""Settle stage core: an execution outcome in, one resolve_execution transaction (at most) out.

The chain is read first and `decide` (pure) chooses: a request that is no longer pending (resolved,
cancelled, timed out) is skipped and the reason recorded, so a duplicate or a re-driven event never
sends a second transaction; a request whose yield would expire before the transaction lands is given
up (RequestExpired); anything else is resolved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from schemas import ExecutionFinished, RequestExpired, ResolutionSubmitted, SettlementSkipped
from schemas.commitment import build_commitment
from schemas.request_view import RequestView
from streams.deadline import DeadlinePolicy, expired_event
from streams.errors import ResolveRefused
from streams.reasons import FailureReason, SkipReason
from streams.settle.batcher import Resolved
from streams.settle.output import OutputRejected, error_text, shape_output

MAX_ERROR_CHARS = 512  # kept for importers; the bound is now bytes (streams.settle.output.MAX_ERROR_BYTES)


@dataclass(frozen=True)
class SentTransaction:
    tx_hash: str
    signer_public_key: str
    attempts: int
    sent_at: datetime | None = None  # when the transaction left us (its inclusion comes blocks later)


class Chain(Protocol):
    async def final_height(self) -> int: ...

    async def get_request(self, request_id: str) -> RequestView | None:
        """The contract's view of the request, or None if it does not know it."""
        ...

    async def resolve(self, request_id: str, response: dict[str, Any]) -> SentTransaction:
        """Sends resolve_execution (retrying transient RPC errors); raises if it could not be sent."""
        ...


def response_payload(ev: ExecutionFinished) -> dict[str, Any]:
    """The `response` argument of resolve_execution. The output is checked and bounded off chain
    (streams.settle.output): a guest whose output the contract must not see fails here, and is still
    charged for the compute it used."""
    success, output, error = ev.success, None, None
    if ev.success:
        try:
            output = shape_output(ev.request.response_format, ev.output)
        except OutputRejected as exc:
            success, error = False, exc.error
    else:
        error = f"{ev.error_kind or 'error'}: {ev.error or ''}".strip().rstrip(":")
    response = _response(ev, success=success, output=output, error=error)
    commitment = commitment_of(ev)
    if commitment is not None:
        response["commitment"] = commitment
    return response


def commitment_of(ev: ExecutionFinished) -> dict[str, Any] | None:
    """The result commitment (issue 15) of a seeded run; None for an unseeded one or no program."""
    if not (ev.randomness_proof and ev.wasm_sha256 and ev.engine_id and ev.builder_id):
        return None
    return build_commitment(
        wasm_sha256=ev.wasm_sha256,
        builder_id=ev.builder_id,
        engine_id=ev.engine_id,
        input_data=ev.request.input_data,
        stdout=ev.output,
        randomness_proof=ev.randomness_proof,
        io_sha256=ev.io_sha256,
        http_calls=ev.http_calls,
        http_bytes=ev.http_bytes,
    )


def refused_payload(ev: ExecutionFinished, reason: str) -> dict[str, Any]:
    """The fallback after the contract refused a resolve: a failure with the same usage, so a
    failed resolve still charges for the compute used (and the yield does not run out)."""
    return _response(ev, success=False, output=None, error=f"{FailureReason.RESOLVE_REFUSED}: {reason}")


def _response(ev: ExecutionFinished, *, success: bool, output: str | None, error: str | None) -> dict[str, Any]:
    used = ev.resources_used
    response: dict[str, Any] = {
        "success": success,
        "resources_used": {
            "instructions": used.instructions,
            "time_ms": used.time_ms,
            "compile_time_ms": used.compile_time_ms,
        },
    }
    if ev.http_calls or ev.http_bytes:  # guest HTTP: the contract caps both at the request's grant
        response["resources_used"].update({"http_calls": ev.http_calls, "http_bytes": ev.http_bytes})
    if success:
        response["output"] = output
    else:
        response["error"] = error_text(error or "error")
    return response


@dataclass(frozen=True)
class Resolve:
    """Send resolve_execution (the request awaits it and there is time to land it)."""


@dataclass(frozen=True)
class Skip:
    reason: str  # SettlementSkipped.reason: not_found, already_resolved, cancelled, timed_out, not_pending:<s>
    chain_status: str | None


@dataclass(frozen=True)
class Expire:
    """Too close to the yield's deadline: the chain times it out and refunds in full."""


def decide(
    ev: ExecutionFinished, view: RequestView | None, height: int, policy: DeadlinePolicy
) -> Resolve | Skip | Expire:
    """What settle does with `ev`, given the chain's record of its request and the final height."""
    if view is None:
        return Skip(SkipReason.NOT_FOUND, None)
    reason = view.not_pending_reason()
    if reason is not None:
        return Skip(reason, view.status)
    if policy.expired(ev.request, height):
        return Expire()
    return Resolve()


async def settle_request(
    ev: ExecutionFinished, chain: Chain, *, policy: DeadlinePolicy, producer: str
) -> ResolutionSubmitted | SettlementSkipped | RequestExpired:
    req = ev.request
    head: dict[str, Any] = {"request_id": req.request_id, "occurred_at": datetime.now(UTC), "producer": producer}
    view = await chain.get_request(req.request_id)
    height = await chain.final_height()
    decision = decide(ev, view, height, policy)
    if isinstance(decision, Skip):
        return SettlementSkipped(
            event_id=f"skipped:{req.request_id}", reason=decision.reason, chain_status=decision.chain_status, **head
        )
    if isinstance(decision, Expire):
        return expired_event(req, policy, height, stage="settle", producer=producer)
    response = response_payload(ev)
    try:
        sent = await chain.resolve(req.request_id, response)
    except ResolveRefused as exc:
        # The contract refused this response (a panic, or out of gas): settle once more with a small
        # failure that it cannot refuse, instead of retrying the same transaction until the yield ends.
        # Only if the request still awaits a resolve (a concurrent one may have won: no useless tx).
        now = await chain.get_request(req.request_id)
        if now is None or not now.awaiting_resolve():
            raise
        response = refused_payload(ev, str(exc))
        sent = await chain.resolve(req.request_id, response)
    head["occurred_at"] = sent.sent_at or head["occurred_at"]
    return ResolutionSubmitted(
        event_id=f"resolved:{req.request_id}",
        tx_hash=sent.tx_hash,
        success=bool(response["success"]),
        resources_used=ev.resources_used,
        signer_public_key=sent.signer_public_key,
        attempts=sent.attempts,
        sent_at_height=height,
        **head,
    )


def batch_outcome(
    ev: ExecutionFinished,
    response: dict[str, Any],
    got: Resolved,
    *,
    height: int,
    policy: DeadlinePolicy,
    producer: str,
) -> ResolutionSubmitted | SettlementSkipped | RequestExpired | None:
    """What one item of a resolve_executions call means for the request, from the call's own result
    (no view of the request): resolved, skipped (with the chain's reason), expired, or None when the
    contract refused this response (settle then sends `refused_payload` once)."""
    req = ev.request
    sent = got.sent_at or datetime.now(UTC)
    head: dict[str, Any] = {"request_id": req.request_id, "occurred_at": sent, "producer": producer}
    if got.skipped is None:
        return ResolutionSubmitted(
            event_id=f"resolved:{req.request_id}",
            tx_hash=got.tx_hash,
            success=bool(response["success"]),
            resources_used=ev.resources_used,
            signer_public_key="",
            attempts=1,
            sent_at_height=height,
            **head,
        )
    reason, message = got.skipped
    if reason in ("expired", "yield_expired"):  # the batcher's deadline check, or the chain's own
        return expired_event(req, policy, height, stage="settle", producer=producer)
    if reason == "invalid":
        return None
    status = message.rsplit("(", 1)[-1].rstrip(")") if reason == "not_pending" else "pending"
    skip = "already_resolved" if reason == "already_resolved" else _NOT_PENDING.get(status, f"not_pending:{status}")
    return SettlementSkipped(event_id=f"skipped:{req.request_id}", reason=skip, chain_status=status, **head)


_NOT_PENDING = {"completed": "already_resolved", "cancelled": "cancelled", "timed_out": "timed_out"}  # as RequestView
