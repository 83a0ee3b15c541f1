"""The compile core's mapping from the builder's answer to an event, with a scripted builder (the real
builder runs in test_core.py): what the requester is charged for, and what stays an infrastructure
error for the agent to retry."""

from __future__ import annotations

import pytest

import executor
from schemas import CompilationFailed, RequestExpired, WasmCompiled
from schemas.samples import sample_requested
from streams.compile.core import MAX_BUILD_LOG, compile_request, source_key
from streams.deadline import DeadlinePolicy

REQ = sample_requested()
POLICY = DeadlinePolicy(timeout_blocks=200, margin_blocks=10, block_time_s=1.0)


class ScriptedBuilder:
    def __init__(self, answer: executor.CompileResult | Exception) -> None:
        self.answer, self.calls = answer, 0

    async def compile(self, source: executor.CodeSource, *, time_left_s: float | None) -> executor.CompileResult:
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def result(*, cached: bool) -> executor.CompileResult:
    return executor.CompileResult(
        sha256="ab" * 32,
        size=10,
        cached=cached,
        compile_time_ms=1234,
        repo=REQ.code_source.repo,
        commit=REQ.code_source.commit,
        build_target="wasm32-wasip1",
        path=None,
    )


async def run(builder: ScriptedBuilder, height: int | None = None) -> WasmCompiled | CompilationFailed | RequestExpired:
    return await compile_request(
        REQ, builder, producer="t", policy=POLICY, final_height=REQ.block_height if height is None else height
    )


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (executor.InvalidSourceError("no such repo"), "invalid_source"),
        (executor.FetchError("unreachable"), "fetch_failed"),
        (executor.BuildError("exit 1", log="x" * (MAX_BUILD_LOG + 10)), "build_failed"),
        (executor.BuildError("slow", timed_out=True), "build_timeout"),
        (executor.InvalidArtifactError("not wasm"), "invalid_artifact"),
    ],
)
async def test_a_request_that_cannot_be_built_fails_that_request(error: Exception, kind: str) -> None:
    out = await run(ScriptedBuilder(error))
    assert isinstance(out, CompilationFailed)
    assert (out.error_kind, out.error, out.source_key) == (kind, str(error), source_key(REQ.code_source))
    assert len(out.build_log) <= MAX_BUILD_LOG and out.compile_time_ms >= 1  # the time is charged


@pytest.mark.parametrize("error", [executor.SandboxError("bwrap missing"), executor.ArtifactStoreError("disk full")])
async def test_infrastructure_errors_are_raised_for_the_agent(error: Exception) -> None:
    with pytest.raises(type(error)):
        await run(ScriptedBuilder(error))


async def test_a_cache_hit_costs_no_compile_time() -> None:
    hit, miss = await run(ScriptedBuilder(result(cached=True))), await run(ScriptedBuilder(result(cached=False)))
    assert isinstance(hit, WasmCompiled) and isinstance(miss, WasmCompiled)
    assert (hit.cache_hit, hit.compile_time_ms, miss.cache_hit, miss.compile_time_ms) == (True, 0, False, 1234)
    assert hit.request == REQ and hit.event_id == f"compiled:{REQ.request_id}"


async def test_no_room_left_in_the_window_expires_before_any_work() -> None:
    builder = ScriptedBuilder(result(cached=True))
    out = await run(builder, height=REQ.block_height + 190)
    assert isinstance(out, RequestExpired) and out.stage == "compile" and builder.calls == 0
