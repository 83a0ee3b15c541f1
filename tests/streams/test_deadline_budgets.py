"""Budgets come from the yield window (OFFSHORE_YIELD_TIMEOUT_BLOCKS x block time), never constants."""

from __future__ import annotations

import dataclasses

import pytest

import executor
from schemas.samples import sample_requested
from streams.deadline import DeadlinePolicy

REQ = sample_requested()  # block 120, max_execution_seconds 10


@pytest.mark.parametrize(
    ("timeout_blocks", "block_time_s"), [(200, 0.6), (200, 1.0), (600, 0.1), (60, 0.1), (1000, 1.2)]
)
def test_fetch_build_module_compile_and_run_fit_strictly_inside_the_window(
    timeout_blocks: int, block_time_s: float
) -> None:
    policy = DeadlinePolicy(timeout_blocks=timeout_blocks, block_time_s=block_time_s)
    compile_cfg = policy.compile_config(executor.CompileConfig())
    exec_cfg = policy.executor_config(executor.ExecutorConfig())
    static = (
        compile_cfg.git_timeout_seconds
        + compile_cfg.build_limits.wall_seconds
        + compile_cfg.wasm_compile.wall_seconds
        + exec_cfg.wasm_compile.wall_seconds
    )
    assert static < policy.window_s  # the static caps alone leave room
    assert compile_cfg.build_limits.cpu_seconds <= compile_cfg.build_limits.wall_seconds
    for height in range(REQ.block_height, policy.deadline(REQ) + 5):
        left = policy.compile_time_left(REQ, height)
        run = policy.run_seconds(REQ, height)
        if left is not None:  # the worst case from here: every step uses all it may, then the run
            total = left + exec_cfg.wasm_compile.wall_seconds + run
            assert total <= policy.seconds_left(REQ, height) + 1e-9
        assert run <= policy.seconds_left(REQ, height)


def test_the_old_constants_exceeded_the_window() -> None:
    """Issue 19.2: build 300 s, CPU 120 s, git 120 s > a 200-block window of 0.6 s blocks (114 s)."""
    policy = DeadlinePolicy(timeout_blocks=200, block_time_s=0.6)
    cfg = policy.compile_config(
        dataclasses.replace(
            executor.CompileConfig(),
            git_timeout_seconds=120,
            build_limits=executor.BuildLimits(cpu_seconds=120, wall_seconds=300),
        )
    )
    assert cfg.git_timeout_seconds + cfg.build_limits.wall_seconds < policy.window_s
    assert cfg.build_limits.cpu_seconds < 120


def test_a_request_without_room_for_its_run_is_expired_before_compile() -> None:
    policy = DeadlinePolicy(timeout_blocks=200, block_time_s=0.6)
    assert policy.compile_time_left(REQ, REQ.block_height) is not None
    # 10 s run + 17.1 s module compile reserve = 27.1 s = 46 blocks; margin 10: expired from ~height 265.
    assert policy.compile_time_left(REQ, REQ.block_height + 160) is None
    assert policy.compile_time_left(REQ, policy.deadline(REQ)) is None
