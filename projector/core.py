"""Pure mapping from events to event-store rows: no I/O, so it is table-tested without Postgres.

What is stored is decided here, once:
- `encrypted_secrets` never reaches Postgres, not even as ciphertext (docs/design.md §6): it is removed at every
  depth (downstream events carry the request forward) and only `has_secrets` is kept.
- A dead letter's raw `payload` is an unreadable message that may itself hold secrets: only its size
  and sha256 are kept.
- Bytes become base64; NUL characters (which jsonb cannot hold) become U+FFFD.
- Chain events get an exact `block_time` from `timestamp_ns` (integer arithmetic, no float), which is
  what billing days are cut on.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from schemas.events import DeadLetter, Event

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HEADER = frozenset({"event_id", "request_id", "occurred_at", "producer"})
_SECRET_FIELD = "encrypted_secrets"
_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")

# Column order of store.events as written by the projector (COPY follows it).
COLUMNS: tuple[str, ...] = (
    "event_id",
    "request_id",
    "event_type",
    "occurred_at",
    "producer",
    "block_height",
    "block_time",
    "has_secrets",
    "payload",
    "topic",
    "kafka_partition",
    "kafka_offset",
)


@dataclass(frozen=True, slots=True)
class Position:
    """Where a message was read: the projector records the next offset per (topic, partition)."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class EventRow:
    event_id: str
    request_id: str
    event_type: str
    occurred_at: datetime
    producer: str
    block_height: int | None
    block_time: datetime | None
    has_secrets: bool
    payload_json: str  # compact, key-sorted JSON: secrets removed, header fields (columns) left out

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.payload_json)  # type: ignore[no-any-return]

    def copy_record(self, position: Position) -> tuple[Any, ...]:
        """The values in `COLUMNS` order."""
        return (
            self.event_id,
            self.request_id,
            self.event_type,
            self.occurred_at,
            self.producer,
            self.block_height,
            self.block_time,
            self.has_secrets,
            self.payload_json,
            position.topic,
            position.partition,
            position.offset,
        )


def to_row(event: Event) -> EventRow:
    body = {name: value for name, value in _fields(event) if name not in _HEADER}
    if isinstance(event, DeadLetter):
        raw = body.pop("payload")
        body["payload_size"] = len(raw)
        body["payload_sha256"] = hashlib.sha256(raw).hexdigest()
    encoder = _Encoder()
    payload_json = encoder.dumps(body)
    timestamp_ns = body.get("timestamp_ns")
    block_height = body.get("block_height")
    return EventRow(
        event_id=_clean(event.event_id),
        request_id=_clean(event.request_id),
        event_type=type(event).__name__,
        occurred_at=event.occurred_at,
        producer=_clean(event.producer),
        block_height=block_height if isinstance(block_height, int) else None,
        block_time=block_time(timestamp_ns) if isinstance(timestamp_ns, int) else None,
        has_secrets=encoder.found_secret,
        payload_json=payload_json,
    )


def block_time(timestamp_ns: int) -> datetime:
    """The UTC instant of a chain timestamp, truncated to the microsecond (Postgres precision)."""
    return _EPOCH + timedelta(microseconds=timestamp_ns // 1000)


def next_offsets(positions: Iterable[Position]) -> dict[tuple[str, int], int]:
    """The offset to resume from per (topic, partition): one past the highest seen."""
    out: dict[tuple[str, int], int] = {}
    for pos in positions:
        key = (pos.topic, pos.partition)
        if pos.offset + 1 > out.get(key, -1):
            out[key] = pos.offset + 1
    return out


class _Encoder:
    """json.dumps in C for the plain values; `_default` only sees dataclasses, bytes and datetimes.

    This is the hot path (every field of every event), hence no Python walk over plain values.
    """

    def __init__(self) -> None:
        self.found_secret = False

    def dumps(self, body: dict[str, Any]) -> str:
        text = json.dumps(
            self._strip(body), default=self._default, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        # jsonb cannot hold NUL: json escapes it as \u0000 (only where not itself an escaped backslash)
        return _NUL_ESCAPE.sub(r"\1\\ufffd", text) if "\\u0000" in text else text

    def _strip(self, mapping: dict[str, Any]) -> dict[str, Any]:
        if _SECRET_FIELD in mapping:
            self.found_secret = self.found_secret or bool(mapping[_SECRET_FIELD])
            mapping = {k: v for k, v in mapping.items() if k != _SECRET_FIELD}
        return mapping

    def _default(self, value: Any) -> Any:
        kind = type(value)
        if hasattr(kind, "__dataclass_fields__"):
            return self._strip(dict(_fields(value)))
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()
        if isinstance(value, datetime):
            return value.isoformat()
        raise TypeError(f"cannot store a {kind.__name__} in the event payload")


def _fields(obj: Any) -> list[tuple[str, Any]]:
    cls: Any = type(obj)
    return [(name, getattr(obj, name)) for name in _field_names(cls)]


@cache
def _field_names(cls: Any) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _clean(text: str) -> str:
    return text.replace("\x00", "\ufffd") if "\x00" in text else text
