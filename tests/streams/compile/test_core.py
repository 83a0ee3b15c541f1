"""Compile stage core with the real builder: expired requests are skipped before any work, a build is
cut to the request's window, and the time of a failed build is reported (so the contract charges it)."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

import executor
from schemas import CodeSource, CompilationFailed, ExecutionRequested, RequestExpired, ResourceLimits, WasmCompiled
from schemas.samples import sample_requested
from streams.compile.core import compile_request
from streams.deadline import DeadlinePolicy

BOMB = "#define A0 x\n" + "".join(f"#define A{i} A{i - 1} A{i - 1}\n" for i in range(1, 40)) + "int x = A39;\n"
HELLO = '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n'


class RealCompiler:
    def __init__(self, root: Path) -> None:
        self.store = executor.ArtifactStore(executor.StoreConfig(root=root / "artifacts"))
        self.config = executor.CompileConfig(allow_file_urls=True, allowed_file_roots=(root,))
        self.calls = 0

    async def compile(self, source: executor.CodeSource, *, time_left_s: float | None) -> executor.CompileResult:
        self.calls += 1
        return await executor.compile_async(source, store=self.store, config=self.config, time_left_s=time_left_s)


def _repo(root: Path, text: str) -> tuple[str, str]:
    root.mkdir(parents=True)
    (root / "main.c").write_text(text)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"}
    ident = ["-c", "user.name=t", "-c", "user.email=t@t.invalid"]
    for cmd in (["init", "-q"], ["add", "-A"], [*ident, "commit", "-q", "-m", "t"]):
        subprocess.run(["git", *cmd], cwd=root, env=env, check=True, capture_output=True)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
    return f"file://{root}", sha.stdout.strip()


def _request(url: str, commit: str, run_s: int = 2) -> ExecutionRequested:
    return dataclasses.replace(
        sample_requested(),
        code_source=CodeSource(repo=url, commit=commit, build_target="wasm32-wasip1"),
        resource_limits=ResourceLimits(max_instructions=10**9, max_memory_mb=32, max_execution_seconds=run_s),
    )


async def test_expired_request_is_skipped_before_any_work(tmp_path: Path) -> None:
    compiler = RealCompiler(tmp_path)
    url, commit = _repo(tmp_path / "r", HELLO)
    req = _request(url, commit)
    policy = DeadlinePolicy(timeout_blocks=200, block_time_s=0.6)
    out = await compile_request(req, compiler, producer="t", policy=policy, final_height=req.block_height + 185)
    assert isinstance(out, RequestExpired) and out.stage == "compile"
    assert out.deadline_height == req.block_height + 200
    assert compiler.calls == 0 and compiler.store.total_bytes() == 0


async def test_a_build_is_cut_to_the_window_and_its_time_is_charged(tmp_path: Path) -> None:
    compiler = RealCompiler(tmp_path)
    url, commit = _repo(tmp_path / "r", BOMB + "int main(void) { return 0; }\n")
    req = _request(url, commit, run_s=1)
    # 60 blocks of 0.1 s, margin 10: 5 s left; minus the 1 s run and 0.75 s module-compile reserve;
    # the build itself is capped at its 30 % share of the window (1.5 s).
    policy = DeadlinePolicy(timeout_blocks=60, block_time_s=0.1)
    out = await compile_request(req, compiler, producer="t", policy=policy, final_height=req.block_height)
    assert isinstance(out, CompilationFailed), out
    assert out.error_kind == "build_timeout"
    assert 1000 <= out.compile_time_ms <= 8000  # what it used is reported, so it is charged


async def test_a_normal_request_still_compiles(tmp_path: Path) -> None:
    compiler = RealCompiler(tmp_path)
    url, commit = _repo(tmp_path / "r", HELLO)
    req = _request(url, commit)
    out = await compile_request(req, compiler, producer="t", policy=DeadlinePolicy(), final_height=req.block_height)
    assert isinstance(out, WasmCompiled) and not out.cache_hit and out.compile_time_ms > 0


@pytest.mark.parametrize("commit", ["main", "g" * 40])
async def test_a_bad_commit_fails_the_request_with_its_time(tmp_path: Path, commit: str) -> None:
    compiler = RealCompiler(tmp_path)
    url, _ = _repo(tmp_path / "r", HELLO)
    out = await compile_request(_request(url, commit), compiler, producer="t")
    assert isinstance(out, CompilationFailed) and out.error_kind == "invalid_source"
    assert out.compile_time_ms >= 1


class _Sent:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []

    async def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.sent.append((topic, key, value))


class _Height:
    def __init__(self, height: int) -> None:
        self.height = height

    async def final_height(self) -> int:
        return self.height


async def test_route_answers_a_cached_program_itself_and_queues_a_build_by_program(tmp_path: Path) -> None:
    """Single flight is only needed for a build: a program in the store is answered by `route` (no
    compile-queue hop); one that is not goes to the queue keyed by program, and is built there."""
    from schemas import decode, encode
    from streams.compile.agent import CompileAgent
    from streams.compile.core import source_key
    from streams.config import PipelineConfig
    from streams.shell import Delivery
    from streams.topics import COMPILE_QUEUE, COMPILED, REQUESTS

    url, commit = _repo(tmp_path / "r", HELLO)
    req = _request(url, commit)
    config = PipelineConfig(
        bootstrap="",
        data_dir=tmp_path,
        rpc_url="",
        contract_id="",
        compile=executor.CompileConfig(allow_file_urls=True, allowed_file_roots=(tmp_path,)),
        store=executor.StoreConfig(root=tmp_path / "artifacts"),
    )
    sender = _Sent()
    agent = CompileAgent(config, sender, chain=_Height(req.block_height))  # type: ignore[arg-type]
    delivery = Delivery(REQUESTS.name, 0, 7, req.request_id.encode(), encode(req))

    await agent.router.process(delivery)  # not built yet: queued for its builder
    assert [(t, k) for t, k, _ in sender.sent] == [(COMPILE_QUEUE.name, source_key(req.code_source).encode())]
    await agent.builder.process(Delivery(COMPILE_QUEUE.name, 0, 0, *sender.sent[0][1:]))
    built = decode(sender.sent[1][2])
    assert sender.sent[1][0] == COMPILED.name and isinstance(built, WasmCompiled) and not built.cache_hit

    await agent.router.process(delivery)  # in the store now: answered in place, nothing queued
    assert [t for t, _, _ in sender.sent[2:]] == [COMPILED.name]
    hit = decode(sender.sent[2][2])
    assert isinstance(hit, WasmCompiled) and hit.cache_hit and hit.wasm_sha256 == built.wasm_sha256

    bad = dataclasses.replace(
        req, code_source=CodeSource(repo="ftp://nowhere", commit=commit, build_target="wasm32-wasip1")
    )
    await agent.router.process(
        Delivery(REQUESTS.name, 0, 8, b"x", encode(bad))
    )  # refused sources: the builder's to report
    assert sender.sent[3][0] == COMPILE_QUEUE.name
