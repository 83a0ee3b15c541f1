"""Projector metrics (docs/design.md §8), labelled by outcome and type, never by id."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter(
    "offshore_projector_events_total",
    "Messages consumed, by outcome (written | duplicate | rejected).",
    ["outcome"],
)
BATCH_SECONDS = Histogram(
    "offshore_projector_batch_duration_seconds",
    "Time to write one batch and its offsets to Postgres.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
REFRESH_SECONDS = Histogram(
    "offshore_projector_refresh_duration_seconds",
    "Time to refresh every materialised view.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
REFRESH_FAILURES = Counter("offshore_projector_refresh_failures_total", "View refreshes that failed.")
LAST_REFRESH = Gauge("offshore_projector_last_refresh_timestamp_seconds", "When the views last refreshed.")
