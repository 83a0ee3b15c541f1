"""Compile stage core: a request in, WasmCompiled or CompilationFailed out (no Kafka here).

A request that cannot be built fails that request (the failure is settled on chain with the capped
build log), never the stage. Only infrastructure trouble (sandbox, artifact store) is raised, so the
agent retries instead of blaming the requester.

Deadlines: a request whose yield window has no room left for compile plus run is expired before any
work starts (RequestExpired, refunded in full by the chain's timeout); otherwise the build gets only
what is left of the window (`DeadlinePolicy.compile_time_left`), so a slow or hostile build fails in
time to be settled, and the time it took is charged (`compile_time_ms` of the failure).
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any, Protocol

import executor
from schemas import CodeSource, CompilationFailed, ExecutionRequested, RequestExpired, WasmCompiled
from streams.deadline import DeadlinePolicy, expired_event
from streams.reasons import FailureReason

MAX_BUILD_LOG = 16 * 1024
MAX_ERROR = 2000

_ERROR_KINDS: tuple[tuple[type[executor.ExecutorError], FailureReason], ...] = (
    (executor.InvalidSourceError, FailureReason.INVALID_SOURCE),
    (executor.FetchError, FailureReason.FETCH_FAILED),
    (executor.BuildError, FailureReason.BUILD_FAILED),
    (executor.InvalidArtifactError, FailureReason.INVALID_ARTIFACT),
)


class Compiler(Protocol):
    async def compile(self, source: executor.CodeSource, *, time_left_s: float | None) -> executor.CompileResult:
        """Builds or finds the artifact; raises executor errors."""
        ...


def source_key(source: CodeSource) -> str:
    """The partitioning key: every request for the same program lands on the same builder."""
    raw = json.dumps([source.repo.strip(), source.commit.lower(), source.build_target, source.path])
    return hashlib.sha256(raw.encode()).hexdigest()


def executor_source(source: CodeSource) -> executor.CodeSource:
    """The event's code source as the executor takes it (it validates; a bad one raises its errors)."""
    return executor.CodeSource.from_mapping(
        {"repo": source.repo, "commit": source.commit, "build_target": source.build_target, "path": source.path}
    )


async def compile_request(
    req: ExecutionRequested,
    compiler: Compiler,
    *,
    producer: str,
    policy: DeadlinePolicy | None = None,
    final_height: int | None = None,
) -> WasmCompiled | CompilationFailed | RequestExpired:
    """Builds `req`'s program within its yield window (when `policy` and `final_height` are given)."""
    key = source_key(req.code_source)
    started = time.perf_counter()
    time_left: float | None = None
    if policy is not None and final_height is not None:
        time_left = policy.compile_time_left(req, final_height)
        if time_left is None:
            return expired_event(req, policy, final_height, stage="compile", producer=producer)
    head: dict[str, Any] = {
        "request_id": req.request_id,
        "occurred_at": datetime.now(UTC),
        "producer": producer,
        "request": req,
    }
    try:
        result = await compiler.compile(executor_source(req.code_source), time_left_s=time_left)
    except tuple(cls for cls, _ in _ERROR_KINDS) as exc:
        kind = next(name for cls, name in _ERROR_KINDS if isinstance(exc, cls))
        if isinstance(exc, executor.BuildError) and exc.timed_out:
            kind = FailureReason.BUILD_TIMEOUT
        return CompilationFailed(
            event_id=f"compile-failed:{req.request_id}",
            source_key=key,
            error_kind=kind,
            error=str(exc)[:MAX_ERROR],
            build_log=getattr(exc, "log", "")[-MAX_BUILD_LOG:],
            compile_time_ms=max(1, round((time.perf_counter() - started) * 1000)),  # charged, like a success
            **head,
        )
    return WasmCompiled(
        event_id=f"compiled:{req.request_id}",
        source_key=key,
        wasm_sha256=result.sha256,
        wasm_size=result.size,
        compile_time_ms=0 if result.cached else result.compile_time_ms,
        cache_hit=result.cached,
        builder_id=result.builder_id,
        **head,
    )
