"""Indexer metrics (docs/design.md §8): height, final height, lag, events per type, block API load and chain breaks."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

HEIGHT = Gauge("offshore_indexer_height", "Last block height fully published to Kafka.")
FINAL_HEIGHT = Gauge("offshore_indexer_final_height", "Last final block height reported by the block API.")
LAG = Gauge("offshore_indexer_lag_blocks", "Final height minus published height.")
BLOCKS = Counter("offshore_indexer_blocks_total", "Blocks processed.", ["outcome"])  # published | skipped
EVENTS = Counter("offshore_indexer_events_total", "Events published.", ["type"])
API_ERRORS = Counter("offshore_indexer_block_api_errors_total", "Block API failures that were retried.", ["kind"])
UNKNOWN_EVENTS = Counter(
    "offshore_indexer_unknown_events_total", "near-offshore events of a kind this indexer ignores.", ["event"]
)
REQUESTS = Counter("offshore_indexer_block_api_requests_total", "HTTP requests sent to the block API.", ["path"])
CHAIN_BREAKS = Counter(
    "offshore_indexer_chain_breaks_total", "Times a block named as its parent a height the API answered null."
)
STALLED = Gauge("offshore_indexer_stalled", "1 while the API's answers contradict the chain (not passing over).")
