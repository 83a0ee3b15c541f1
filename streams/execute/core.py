"""Execute stage core: a compile outcome in, ExecutionFinished (or RequestExpired) out.

A compile failure becomes a failed execution so settle has one input. Guest misbehaviour (trap,
limits) is data in the result, never an exception. Work is skipped when the yield would expire first,
and the run's wall clock is cut to what is left of the window.

Secrets are opened only for a request confirmed on chain: Kafka is not a trust boundary (anyone who
can produce to it could forge an ExecutionRequested carrying a victim's ciphertext), so the contract's
own record (`get_request`, with its stored input) must match the event in sender, code source
(commit included), input, limits and ciphertext hash, and still be pending. An unconfirmed event is
raised as UnconfirmedRequest: the agent dead-letters it and records no result, so a forged event
can neither read a secret nor pre-empt the genuine request's result.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, Protocol

import executor
from schemas import (
    CompilationFailed,
    ExecutionFinished,
    ExecutionRequested,
    RequestExpired,
    ResourcesUsed,
    WasmCompiled,
)
from schemas.request_view import RequestView
from streams.deadline import DeadlinePolicy, expired_event


class Runner(Protocol):
    async def run_async(
        self,
        wasm: bytes,
        input_data: bytes = b"",
        *,
        limits: executor.Limits | None = None,
        secrets: dict[str, str] | None = None,
        sha256: str | None = None,
    ) -> executor.ExecutionResult: ...


class Artifacts(Protocol):
    def get(self, sha: str) -> bytes | None: ...


class SecretsOpener(Protocol):
    def open(self, req: ExecutionRequested) -> dict[str, str]:
        """Plaintext env vars for this request; raises ValueError if they cannot be opened."""
        ...


class RequestViews(Protocol):
    async def get_request(self, request_id: str) -> RequestView | None:
        """The contract's record of the request with its stored input, or None."""
        ...


class UnconfirmedRequest(Exception):
    """The event does not match a pending request on chain; its secrets are not opened."""


def _digest(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


def unconfirmed_reason(req: ExecutionRequested, view: RequestView | None) -> str | None:
    """Why the chain's record does not confirm `req` (None = confirmed). Pure; compares, never trusts."""
    if view is None:
        return "no such request on chain"
    if not view.awaiting_resolve():
        return f"request is not pending on chain (status {view.status!r})"
    if view.sender_id != req.sender_id:
        return "sender differs from the chain's record"
    if view.code_source != req.code_source:
        return "code source (repo, commit, target, path) differs from the chain's record"
    if view.input_data != req.input_data:
        return "input differs from the chain's record"
    if view.resource_limits != req.resource_limits:
        return "resource limits differ from the chain's record"
    if _digest(view.encrypted_secrets) != _digest(req.encrypted_secrets):
        return "secrets ciphertext differs from the chain's record"
    return None


def _head(req: ExecutionRequested, producer: str) -> dict[str, Any]:
    return {"request_id": req.request_id, "occurred_at": datetime.now(UTC), "producer": producer}


def failed(
    req: ExecutionRequested, kind: str, error: str, *, compile_ms: int, producer: str, sha: str | None = None
) -> ExecutionFinished:
    return ExecutionFinished(
        event_id=f"executed:{req.request_id}",
        request=req,
        wasm_sha256=sha,
        success=False,
        output=b"",
        error_kind=kind,
        error=error,
        resources_used=ResourcesUsed(compile_time_ms=compile_ms),
        **_head(req, producer),
    )


async def execute_request(
    ev: WasmCompiled | CompilationFailed,
    *,
    runner: Runner,
    artifacts: Artifacts,
    secrets: SecretsOpener,
    policy: DeadlinePolicy,
    final_height: int,
    producer: str,
    chain: RequestViews | None = None,
) -> ExecutionFinished | RequestExpired:
    """`chain` is required for a request with secrets: without it they are never opened."""
    req = ev.request
    if policy.expired(req, final_height):
        return expired_event(req, policy, final_height, stage="execute", producer=producer)
    if isinstance(ev, CompilationFailed):
        error = f"{ev.error}\n{ev.build_log}".strip()
        return failed(req, f"compile_{ev.error_kind}", error[-4000:], compile_ms=ev.compile_time_ms, producer=producer)
    wasm = artifacts.get(ev.wasm_sha256)
    if wasm is None:
        return failed(
            req,
            "artifact_missing",
            f"artifact {ev.wasm_sha256} is not in the store",
            compile_ms=ev.compile_time_ms,
            producer=producer,
        )
    if req.encrypted_secrets:
        if chain is None:
            raise UnconfirmedRequest("no chain view to confirm the request: secrets stay sealed")
        reason = unconfirmed_reason(req, await chain.get_request(req.request_id))
        if reason is not None:
            raise UnconfirmedRequest(f"request {req.request_id} not confirmed on chain: {reason}")
    try:
        env = secrets.open(req)
    except ValueError as exc:
        return failed(req, "secrets_unavailable", str(exc), compile_ms=ev.compile_time_ms, producer=producer)
    limits = executor.Limits(
        max_instructions=req.resource_limits.max_instructions,
        max_memory_mb=req.resource_limits.max_memory_mb,
        max_execution_seconds=max(0.001, policy.run_seconds(req, final_height)),
    )
    result = await runner.run_async(wasm, req.input_data.encode(), limits=limits, secrets=env, sha256=ev.wasm_sha256)
    return ExecutionFinished(
        event_id=f"executed:{req.request_id}",
        request=req,
        wasm_sha256=ev.wasm_sha256,
        success=result.success,
        output=result.stdout,
        error_kind=None if result.error_kind is None else str(result.error_kind),
        error=result.error,
        exit_code=result.exit_code,
        resources_used=ResourcesUsed(
            instructions=result.instructions, time_ms=result.time_ms, compile_time_ms=ev.compile_time_ms
        ),
        **_head(req, producer),
    )
