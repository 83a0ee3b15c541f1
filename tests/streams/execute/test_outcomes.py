"""The execute core's decisions before and around a run, with scripted collaborators (the real
executor runs in test_confirm.py and tests/e2e): expiry, compile failures, a missing artifact,
unavailable secrets, and what a run's result becomes."""

from __future__ import annotations

import dataclasses

import executor
from schemas import CompilationFailed, ExecutionFinished, ExecutionRequested, RequestExpired, WasmCompiled
from schemas.samples import samples
from streams.deadline import DeadlinePolicy
from streams.execute.core import execute_request

COMPILED = samples()["WasmCompiled"]
FAILED = samples()["CompilationFailed"]
assert isinstance(COMPILED, WasmCompiled) and isinstance(FAILED, CompilationFailed)
POLICY = DeadlinePolicy(timeout_blocks=200, margin_blocks=10, block_time_s=1.0)
BLOCK = COMPILED.request.block_height


class ScriptedRunner:
    def __init__(self) -> None:
        self.runs: list[executor.Limits | None] = []

    async def run_async(
        self,
        wasm: bytes,
        input_data: bytes = b"",
        *,
        limits: executor.Limits | None = None,
        secrets: dict[str, str] | None = None,
        sha256: str | None = None,
    ) -> executor.ExecutionResult:
        self.runs.append(limits)
        return executor.ExecutionResult(
            success=True,
            stdout=b"out",
            stderr=b"",
            exit_code=0,
            error_kind=None,
            error=None,
            instructions=42,
            time_ms=3,
            memory_bytes=0,
            module_sha256=sha256 or "",
        )


class Artifacts:
    def __init__(self, present: bool) -> None:
        self.present = present

    def get(self, sha: str) -> bytes | None:
        return b"\0asm" if self.present else None


class Secrets:
    def __init__(self, error: str | None = None) -> None:
        self.error = error

    def open(self, req: ExecutionRequested) -> dict[str, str]:
        if self.error:
            raise ValueError(self.error)
        return {}


async def run(
    ev: WasmCompiled | CompilationFailed,
    *,
    height: int = BLOCK + 5,
    present: bool = True,
    secrets: Secrets | None = None,
    runner: ScriptedRunner | None = None,
) -> ExecutionFinished | RequestExpired:
    return await execute_request(
        ev,
        runner=runner or ScriptedRunner(),
        artifacts=Artifacts(present),
        secrets=secrets or Secrets(),
        policy=POLICY,
        final_height=height,
        producer="t",
    )


async def test_no_time_left_expires_without_running() -> None:
    runner = ScriptedRunner()
    out = await run(COMPILED, height=BLOCK + 190, runner=runner)
    assert isinstance(out, RequestExpired) and out.stage == "execute" and runner.runs == []


async def test_a_compile_failure_becomes_a_charged_failed_execution() -> None:
    out = await run(FAILED)
    assert isinstance(out, ExecutionFinished) and not out.success
    assert out.error_kind == f"compile_{FAILED.error_kind}"
    assert out.resources_used.compile_time_ms == FAILED.compile_time_ms


async def test_a_missing_artifact_fails_the_request() -> None:
    out = await run(COMPILED, present=False)
    assert isinstance(out, ExecutionFinished) and (out.success, out.error_kind) == (False, "artifact_missing")


async def test_secrets_that_cannot_be_opened_fail_the_request() -> None:
    out = await run(COMPILED, secrets=Secrets("no keystore"))
    assert isinstance(out, ExecutionFinished) and (out.error_kind, out.error) == ("secrets_unavailable", "no keystore")


async def test_the_run_is_cut_to_what_is_left_of_the_window() -> None:
    runner = ScriptedRunner()
    req = dataclasses.replace(
        COMPILED.request,
        resource_limits=dataclasses.replace(COMPILED.request.resource_limits, max_execution_seconds=60),
    )
    out = await run(dataclasses.replace(COMPILED, request=req), height=BLOCK + 170, runner=runner)
    (limits,) = runner.runs
    assert limits is not None and limits.max_execution_seconds == 20.0  # 200 - 10 - 170 blocks of 1 s
    assert isinstance(out, ExecutionFinished) and out.success and out.output == b"out"
    assert (out.resources_used.instructions, out.resources_used.compile_time_ms) == (42, COMPILED.compile_time_ms)
