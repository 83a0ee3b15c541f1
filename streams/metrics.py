"""Pipeline metrics (docs/design.md §8), labelled by stage, type and outcome, never by request id."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter("offshore_stage_messages_total", "Events consumed and produced.", ["stage", "direction", "type"])
DURATION = Histogram(
    "offshore_stage_duration_seconds",
    "Time a stage spent on one event.",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
REQUEST_TO_SETTLEMENT = Histogram(
    "offshore_request_to_settlement_seconds",
    "From the request's block timestamp to resolve_execution sent.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)
COMPILE_CACHE = Counter("offshore_compile_cache_total", "Compile cache lookups.", ["result"])
BUILD_SECONDS = Histogram(
    "offshore_compile_build_seconds", "Wall time of real builds.", buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)
)
FUEL = Histogram(
    "offshore_execution_fuel", "Fuel (wasm instructions) per execution.", buckets=tuple(10.0**k for k in range(3, 12))
)
FAILURES = Counter("offshore_request_failures_total", "Requests failed, by stage and reason.", ["stage", "reason"])
SETTLEMENTS = Counter("offshore_settlement_outcomes_total", "Settle stage outcomes.", ["outcome"])
YIELD_SLACK = Histogram(
    "offshore_yield_slack_blocks",
    "Blocks left before the yield times out, when resolve is sent.",
    buckets=(5, 10, 20, 50, 100, 150, 200),
)
DEAD_LETTERS = Counter("offshore_dead_letters_total", "Messages sent to the dead-letter topic.", ["stage"])
DUPLICATES = Counter(
    "offshore_duplicates_dropped_total", "Redelivered events answered without redoing work.", ["stage"]
)
REDRIVES = Counter("offshore_reconciler_redrives_total", "Pending requests re-driven by the reconciler.")
SETTLE_BACKLOG = Gauge("offshore_settle_backlog", "Outcomes queued in settle's batcher, not yet sent.")
SETTLE_BATCH_SIZE = Histogram(
    "offshore_settle_batch_size",
    "Outcomes per resolve_executions call, per outcome settled.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 400),
)
EXPIRED = Counter("offshore_requests_expired_total", "Requests given up before their yield deadline.", ["stage"])
