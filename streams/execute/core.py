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

The stage holds no master key: the keystore service (keystore/README.md) confirms the request on
chain again itself, applies the owner's sealed policy and returns the env map. Its denial fails the
request (settled as failed, refund rule); its "unconfirmed" is treated like ours.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, Protocol

import executor
from executor import randomness as _randomness
from keystore import SecretsDenied, SecretsError, SecretsUnconfirmed
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
from streams.execute.http import request_grant
from streams.reasons import FailureReason


class RandomnessKey:
    """The platform's randomness key (`OFFSHORE_RANDOMNESS_KEY`) and the contract it signs for."""

    def __init__(self, secret_hex: str, contract_id: str) -> None:
        self._key = _randomness.private_key(secret_hex)
        self.contract_id = contract_id

    def proof(self, request_id: str, data_id: str) -> str:
        return _randomness.sign(self._key, self.contract_id, request_id, data_id)


class Runner(Protocol):
    async def run_async(
        self,
        wasm: bytes,
        input_data: bytes = b"",
        *,
        limits: executor.Limits | None = None,
        secrets: dict[str, str] | None = None,
        sha256: str | None = None,
        http: executor.HttpGrant | None = None,
        io_store: executor.ArtifactStore | None = None,
        determinism: executor.Determinism | None = None,
    ) -> executor.ExecutionResult: ...


class Artifacts(Protocol):
    def get(self, sha: str) -> bytes | None: ...


class SecretsOpener(Protocol):
    async def open(self, req: ExecutionRequested) -> dict[str, str]:
        """Plaintext env vars for this request. Raises SecretsDenied (the request fails),
        SecretsUnconfirmed (not the chain's request) or KeystoreUnavailable (retry later)."""
        ...


class RequestViews(Protocol):
    async def get_request(self, request_id: str) -> RequestView | None:
        """The contract's record of the request with its stored input, or None."""
        ...

    async def view(self, method: str, args: dict[str, Any]) -> Any:
        """A raw view call (the guest-HTTP grant is read from the record as the contract stores it)."""
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
    randomness: RandomnessKey | None = None,
) -> ExecutionFinished | RequestExpired:
    """`chain` is required for a request with secrets: without it they are never opened.

    With `randomness` (the platform's key) the run is deterministic: its seed is sha256 of the key's
    signature of the request, its clocks start at the request's block time (issue 15), and the
    result carries what the settle stage commits to on chain. Without it: an unseeded run, no commitment.
    """
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
            FailureReason.ARTIFACT_MISSING,
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
        env = await secrets.open(req)
    except SecretsUnconfirmed as exc:  # the keystore's own chain read disagrees: no result, dead-letter
        raise UnconfirmedRequest(f"request {req.request_id} not confirmed by the keystore: {exc}") from None
    except SecretsError as exc:  # the owner's policy refuses this request: it fails (refund rule)
        kind = FailureReason.SECRETS_DENIED if isinstance(exc, SecretsDenied) else FailureReason.SECRETS_UNAVAILABLE
        return failed(req, kind, str(exc), compile_ms=ev.compile_time_ms, producer=producer)
    # KeystoreUnavailable propagates: a stage error (dead letter), and the reconciler re-drives the request
    limits = executor.Limits(
        max_instructions=req.resource_limits.max_instructions,
        max_memory_mb=req.resource_limits.max_memory_mb,
        max_execution_seconds=max(0.001, policy.run_seconds(req, final_height)),
    )
    proof, determinism = "", None
    if randomness is not None:
        proof = randomness.proof(req.request_id, req.data_id)
        determinism = executor.Determinism(seed=_randomness.seed(proof), time_ns=req.timestamp_ns)
    grant = await request_grant(wasm, req.request_id, chain)  # from the chain, for host-API guests only
    io: dict[str, Any] = {}
    if grant is not None:  # responses are recorded in the artifact store for replay
        io = {"http": grant, "io_store": artifacts if isinstance(artifacts, executor.ArtifactStore) else None}
    result = await runner.run_async(
        wasm,
        req.input_data.encode(),
        limits=limits,
        secrets=env,
        sha256=ev.wasm_sha256,
        determinism=determinism,
        **io,
    )
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
        io_sha256=result.io_sha256,
        http_calls=result.http_calls,
        http_bytes=result.http_bytes,
        builder_id=ev.builder_id,
        engine_id=result.engine_id,
        randomness_proof=proof,
        **_head(req, producer),
    )
