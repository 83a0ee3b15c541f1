"""Execute stage core: a compile outcome in, ExecutionFinished (or RequestExpired) out.

A compile failure becomes a failed execution so settle has one input. Guest misbehaviour (trap,
limits) is data in the result, never an exception. Work is skipped when the yield would expire first.
"""

from __future__ import annotations

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
from streams.deadline import DeadlinePolicy


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


def _head(req: ExecutionRequested, producer: str) -> dict[str, Any]:
    return {"request_id": req.request_id, "occurred_at": datetime.now(UTC), "producer": producer}


def expired_event(
    req: ExecutionRequested, policy: DeadlinePolicy, height: int, *, stage: str, producer: str
) -> RequestExpired:
    return RequestExpired(
        event_id=f"expired:{req.request_id}",
        stage=stage,
        deadline_height=policy.deadline(req),
        observed_height=height,
        **_head(req, producer),
    )


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
) -> ExecutionFinished | RequestExpired:
    req = ev.request
    if isinstance(ev, CompilationFailed):
        error = f"{ev.error}\n{ev.build_log}".strip()
        return failed(req, f"compile_{ev.error_kind}", error[-4000:], compile_ms=ev.compile_time_ms, producer=producer)
    if policy.expired(req, final_height):
        return expired_event(req, policy, final_height, stage="execute", producer=producer)
    wasm = artifacts.get(ev.wasm_sha256)
    if wasm is None:
        return failed(
            req,
            "artifact_missing",
            f"artifact {ev.wasm_sha256} is not in the store",
            compile_ms=ev.compile_time_ms,
            producer=producer,
        )
    try:
        env = secrets.open(req)
    except ValueError as exc:
        return failed(req, "secrets_unavailable", str(exc), compile_ms=ev.compile_time_ms, producer=producer)
    limits = executor.Limits(
        max_instructions=req.resource_limits.max_instructions,
        max_memory_mb=req.resource_limits.max_memory_mb,
        max_execution_seconds=req.resource_limits.max_execution_seconds,
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
