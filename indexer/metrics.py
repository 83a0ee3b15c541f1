"""Indexer metrics (SPEC 8): height, final height, lag and events published per type."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

HEIGHT = Gauge("offshore_indexer_height", "Last block height fully published to Kafka.")
FINAL_HEIGHT = Gauge("offshore_indexer_final_height", "Last final block height reported by the block API.")
LAG = Gauge("offshore_indexer_lag_blocks", "Final height minus published height.")
BLOCKS = Counter("offshore_indexer_blocks_total", "Blocks processed.", ["outcome"])  # published | skipped
EVENTS = Counter("offshore_indexer_events_total", "Events published.", ["type"])
API_ERRORS = Counter("offshore_indexer_block_api_errors_total", "Block API failures that were retried.", ["kind"])
