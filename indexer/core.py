"""Pure extraction: a neardata-style block in, our contract's events out.

Only successful receipts whose receiver is our contract count (a failed receipt's logs describe state
that was rolled back). Event ids are `chain:<height>:<receipt_id>:<log index>:<item index>`, so a
re-read block yields the same ids and downstream drops the duplicates. A log that claims our standard
but cannot be mapped becomes a DeadLetter instead of stopping the indexer; an event kind this indexer
does not know is ignored (counted), never dead-lettered: a newer contract may log more kinds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from indexer import metrics
from schemas import (
    DeadLetter,
    Event,
    ExecutionCancelled,
    ExecutionCompleted,
    ResourcesUsed,
)
from schemas.request_view import RequestView

STANDARD = "near-offshore"
EVENT_PREFIX = "EVENT_JSON:"
PRODUCER = "indexer"
KNOWN_EVENTS = frozenset({"execution_requested", "execution_completed", "execution_cancelled"})
_LABEL = re.compile(r"[a-z][a-z0-9_]{0,39}")  # an event name fit for a metric label; others are "other"


@dataclass(frozen=True)
class BlockInfo:
    height: int
    hash: str
    timestamp_ns: int


@dataclass(frozen=True)
class LogSite:
    """Where a log was found; enough to give its events deterministic ids."""

    block: BlockInfo
    receipt_id: str
    log_index: int


def block_info(block: dict[str, Any]) -> BlockInfo:
    header = block["block"]["header"]
    ts = header.get("timestamp_nanosec", header.get("timestamp", 0))
    return BlockInfo(height=int(header["height"]), hash=str(header["hash"]), timestamp_ns=int(ts))


def may_hold_events(raw_block: bytes, contract_id: str) -> bool:
    """A cheap test on a block's raw JSON before parsing it: our events need a receipt whose receiver is
    our contract, and account ids are plain ASCII that JSON never escapes, so a block without the id's
    bytes holds none of our events. Most blocks do not mention us; parsing only those that do is most
    of the indexer's speed on large mainnet blocks. False positives just get parsed."""
    return contract_id.encode() in raw_block


def events_in_block(block: dict[str, Any], contract_id: str) -> list[Event]:
    info = block_info(block)
    events: list[Event] = []
    for shard in block.get("shards") or ():
        for item in shard.get("receipt_execution_outcomes") or ():
            outcome = item["execution_outcome"]["outcome"]
            receiver = (item.get("receipt") or {}).get("receiver_id", outcome.get("executor_id"))
            if receiver != contract_id or _failed(outcome.get("status")):
                continue
            receipt_id = str(item["execution_outcome"]["id"])
            for index, log in enumerate(outcome.get("logs") or ()):
                events.extend(parse_event_log(log, LogSite(info, receipt_id, index)))
    return events


def parse_event_log(log: str, site: LogSite) -> list[Event]:
    """Events in one log line: [] for foreign logs, a DeadLetter for a malformed log of ours."""
    if not log.startswith(EVENT_PREFIX):
        return []
    try:
        envelope = json.loads(log[len(EVENT_PREFIX) :])
    except ValueError:
        return []  # not NEP-297 JSON at all: not ours to judge
    if not isinstance(envelope, dict) or envelope.get("standard") != STANDARD:
        return []
    kind = str(envelope.get("event"))
    if kind not in KNOWN_EVENTS:
        # A newer contract may log kinds this indexer has no schema for: ignored, whatever their data.
        metrics.UNKNOWN_EVENTS.labels(kind if _LABEL.fullmatch(kind) else "other").inc()
        return []
    data = envelope.get("data")
    items = data if isinstance(data, list) else [data]
    out: list[Event] = []
    for item_index, item in enumerate(items):
        event_id = f"chain:{site.block.height}:{site.receipt_id}:{site.log_index}:{item_index}"
        try:
            event = _map(kind, item, event_id, site)
        except (KeyError, TypeError, ValueError) as exc:
            out.append(_dead_letter(log, event_id, site, exc))
            continue
        out.append(event)
    return out


def _map(kind: str, data: dict[str, Any], event_id: str, site: LogSite) -> Event:
    head: dict[str, Any] = {
        "event_id": event_id,
        "request_id": str(data["request_id"]),
        "occurred_at": datetime.fromtimestamp(site.block.timestamp_ns / 1e9, tz=UTC),
        "producer": PRODUCER,
    }
    chain: dict[str, Any] = {
        "block_height": site.block.height,
        "block_hash": site.block.hash,
        "receipt_id": site.receipt_id,
        "timestamp_ns": site.block.timestamp_ns,
    }
    if kind == "execution_requested":
        return RequestView.from_json(data).to_requested(
            event_id=event_id, occurred_at=head["occurred_at"], producer=PRODUCER, **chain
        )
    if kind == "execution_completed":
        used = data.get("resources_used") or {}
        return ExecutionCompleted(
            **head,
            **chain,
            sender_id=str(data["sender_id"]),
            success=bool(data["success"]),
            error=data.get("error"),
            resources_used=ResourcesUsed(
                instructions=int(used.get("instructions", 0)),
                time_ms=int(used.get("time_ms", 0)),
                compile_time_ms=int(used.get("compile_time_ms", 0)),
            ),
            payment_charged=str(int(data["payment_charged"])),
            payment_refunded=str(int(data["payment_refunded"])),
        )
    return ExecutionCancelled(**head, **chain, reason=str(data["reason"]), refunded=str(int(data["refunded"])))


def _dead_letter(log: str, event_id: str, site: LogSite, exc: Exception) -> DeadLetter:
    return DeadLetter(
        event_id=f"dlq:{event_id}",
        request_id="",
        occurred_at=datetime.fromtimestamp(site.block.timestamp_ns / 1e9, tz=UTC),
        producer=PRODUCER,
        stage="indexer",
        source_topic=f"block:{site.block.height}",
        partition=0,
        offset=site.log_index,
        key=None,
        payload=log.encode(),
        error_type=type(exc).__name__,
        error=f"malformed {STANDARD} event: {exc!r}",
    )


def _failed(status: Any) -> bool:
    return (isinstance(status, dict) and "Failure" in status) or status in ("Failure", "Unknown")
