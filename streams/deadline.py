"""Yield deadlines: a request must be resolved before its yield times out on chain.

The yield is created in the block of the request's receipt and times out `timeout_blocks` later. A
stage that sees fewer than `margin_blocks` left gives up on the request (RequestExpired) instead of
doing work whose result the chain would refuse; the chain then refunds the request in full.

Every budget of the work before the resolve is derived from the window, never a constant: the
static caps (`compile_config`, `executor_config`) split the window's seconds between fetch, build
and module compile, and per request the compile stage gets what is left after setting aside the
run (`compile_time_left`) and execute runs at most until the window closes (`run_seconds`). So
fetch + build + module compile + run fit strictly inside the window, and a request with too little
left is skipped before any work starts.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import UTC, datetime

import executor
from schemas import ExecutionRequested, RequestExpired

# Shares of the window's seconds: fetch 10 %, build 30 %, module compile 15 % in compile and again in
# execute (a cold cache there); the run and the queues between stages get the rest.
FETCH_SHARE, BUILD_SHARE, MODULE_COMPILE_SHARE = 0.10, 0.30, 0.15
MIN_STEP_S = 1.0  # below this a step cannot do useful work: the request is expired instead


@dataclass(frozen=True, kw_only=True)
class DeadlinePolicy:
    timeout_blocks: int = 200  # nearcore's yield timeout
    margin_blocks: int = 10  # blocks needed to land resolve_execution and its receipt
    block_time_s: float = 0.6  # lower bound of the chain's block time: budgets err on the short side

    def deadline(self, req: ExecutionRequested) -> int:
        return req.block_height + self.timeout_blocks

    def expired(self, req: ExecutionRequested, final_height: int) -> bool:
        return final_height + self.margin_blocks >= self.deadline(req)

    def slack(self, req: ExecutionRequested, final_height: int) -> int:
        return self.deadline(req) - final_height

    @property
    def window_s(self) -> float:
        """Seconds from a request's block until its resolve must be sent."""
        return max(0.0, (self.timeout_blocks - self.margin_blocks) * self.block_time_s)

    def seconds_left(self, req: ExecutionRequested, final_height: int) -> float:
        return max(0.0, (self.deadline(req) - self.margin_blocks - final_height) * self.block_time_s)

    def run_seconds(self, req: ExecutionRequested, final_height: int) -> float:
        """The run's wall clock: the request's limit, cut to what is left of the window."""
        return min(float(req.resource_limits.max_execution_seconds), self.seconds_left(req, final_height))

    def compile_time_left(self, req: ExecutionRequested, final_height: int) -> float | None:
        """Seconds for fetch + build + module compile, or None when the request is expired for compile.

        Set aside first: the run (its own limit) and a module compile in execute (a cold cache there).
        """
        reserve = float(req.resource_limits.max_execution_seconds) + self.window_s * MODULE_COMPILE_SHARE
        left = self.seconds_left(req, final_height) - reserve
        return left if left >= MIN_STEP_S and not self.expired(req, final_height) else None

    def compile_config(self, config: executor.CompileConfig) -> executor.CompileConfig:
        """`config` with every compile-side cap cut to its share of the window."""
        fetch = self.window_s * FETCH_SHARE
        build = self.window_s * BUILD_SHARE
        limits = config.build_limits
        return dataclasses.replace(
            config,
            git_timeout_seconds=min(config.git_timeout_seconds, fetch),
            build_limits=dataclasses.replace(
                limits,
                wall_seconds=min(limits.wall_seconds, build),
                cpu_seconds=max(1, min(limits.cpu_seconds, math.floor(build))),
            ),
            wasm_compile=self._module_compile(config.wasm_compile),
        )

    def executor_config(self, config: executor.ExecutorConfig) -> executor.ExecutorConfig:
        """`config` with the module compile (a cold cache in execute) cut to its share of the window."""
        return dataclasses.replace(config, wasm_compile=self._module_compile(config.wasm_compile))

    def _module_compile(self, limits: executor.WasmCompileLimits) -> executor.WasmCompileLimits:
        share = self.window_s * MODULE_COMPILE_SHARE
        return dataclasses.replace(
            limits,
            wall_seconds=min(limits.wall_seconds, share),
            cpu_seconds=max(1, min(limits.cpu_seconds, math.floor(share))),
        )


def expired_event(
    req: ExecutionRequested, policy: DeadlinePolicy, height: int, *, stage: str, producer: str
) -> RequestExpired:
    """The outcome of a request given up by `stage` at `height`: the chain times its yield out."""
    return RequestExpired(
        event_id=f"expired:{req.request_id}",
        request_id=req.request_id,
        occurred_at=datetime.now(UTC),
        producer=producer,
        stage=stage,
        deadline_height=policy.deadline(req),
        observed_height=height,
    )
