"""The stage registry: which Faust app each `offshore <stage>` process runs.

Each stage is its own Faust app (its own consumer group), so a stage scales by adding processes and a
crash of one stage never rebalances another. The agents live in `streams/<stage>/agent.py`, over one
shared shell (`streams/shell.py`); the configuration is `streams.config.PipelineConfig`.
"""

from __future__ import annotations

from collections.abc import Callable

import faust

from streams.compile.agent import build_compile_app
from streams.config import PipelineConfig
from streams.execute.agent import build_execute_app
from streams.settle.agent import build_settle_app

STAGES = ("compile", "execute", "settle")

BUILDERS: dict[str, Callable[[PipelineConfig], faust.App]] = {
    "compile": build_compile_app,
    "execute": build_execute_app,
    "settle": build_settle_app,
}

__all__ = ["BUILDERS", "STAGES", "PipelineConfig", "build_compile_app", "build_execute_app", "build_settle_app"]
