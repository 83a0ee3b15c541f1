"""Avro single-object encoding of events (magic C3 01, 8-byte CRC-64-AVRO fingerprint, body).

The fingerprint names the writer schema, so a consumer decodes every version it has a file for and
resolves it to the newest (reader) version of the same record. Schemas are parsed once at import.
Layout: `schemas/avro/<Name>/v<N>.avsc`; the highest N is the current writer and reader schema; older
files stay forever so old messages (and the fixtures in `schemas/fixtures/`) keep decoding.
"""

from __future__ import annotations

import dataclasses
import io
import json
import types
import typing
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from schemas.errors import DecodeError, EncodeError, UnknownSchemaError
from schemas.events import EVENT_TYPES, Event

MAGIC = b"\xc3\x01"
SCHEMA_DIR = Path(__file__).with_name("avro")


@dataclass(frozen=True)
class SchemaVersion:
    name: str
    version: int
    fingerprint: bytes
    parsed: Any  # fastavro parsed schema
    raw: dict[str, Any]


def load_schema_versions(root: Path = SCHEMA_DIR) -> list[SchemaVersion]:
    """Every `<Name>/v<N>.avsc` under root, parsed and fingerprinted."""
    out = []
    for path in sorted(root.glob("*/v*.avsc")):
        raw = json.loads(path.read_text())
        parsed = parse_schema(raw, _write_hint=False)
        fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
        out.append(SchemaVersion(path.parent.name, int(path.stem[1:]), fp, parsed, raw))
    return out


class Codec:
    """Encodes events with the current schema of their type and decodes any known writer version."""

    def __init__(self, versions: list[SchemaVersion]) -> None:
        self._by_fingerprint = {v.fingerprint: v for v in versions}
        self.current: dict[str, SchemaVersion] = {}
        for v in sorted(versions, key=lambda v: v.version):
            self.current[v.name] = v

    def encode(self, event: Event) -> bytes:
        name = type(event).__name__
        schema = self.current.get(name)
        if schema is None:
            raise EncodeError(f"no schema for event type {name}")
        buf = io.BytesIO()
        buf.write(MAGIC + schema.fingerprint)
        try:
            schemaless_writer(buf, schema.parsed, dataclasses.asdict(event))
        except (ValueError, TypeError, KeyError) as exc:
            raise EncodeError(f"{name} does not fit schema v{schema.version}: {exc}") from exc
        return buf.getvalue()

    def decode(self, data: bytes) -> Event:
        if len(data) < 10 or data[:2] != MAGIC:
            raise DecodeError("not an Avro single-object encoded message (bad magic)")
        writer = self._by_fingerprint.get(data[2:10])
        if writer is None:
            raise UnknownSchemaError(f"unknown writer schema fingerprint {data[2:10].hex()}")
        reader = self.current[writer.name]
        try:
            record = schemaless_reader(io.BytesIO(data[10:]), writer.parsed, reader.parsed)
        except Exception as exc:  # fastavro raises bare EOFError/ValueError/SchemaResolutionError
            raise DecodeError(f"cannot decode {writer.name} v{writer.version}: {exc}") from exc
        if not isinstance(record, dict):
            raise DecodeError(f"{writer.name} v{writer.version} is not a record")
        event: Event = _build(EVENT_TYPES[writer.name], record)
        return event


@cache
def default_codec() -> Codec:
    return Codec(load_schema_versions())


def encode(event: Event) -> bytes:
    return default_codec().encode(event)


def decode(data: bytes) -> Event:
    return default_codec().decode(data)


def _build(cls: type[Any], record: dict[str, Any]) -> Any:
    """Turns a decoded record into the (possibly nested) dataclass; unknown fields are dropped."""
    kwargs = {}
    for name, nested in _plan(cls):
        if name in record:
            value = record[name]
            kwargs[name] = _build(nested, value) if nested is not None and isinstance(value, dict) else value
    return cls(**kwargs)


_PLANS: dict[type[Any], tuple[tuple[str, type[Any] | None], ...]] = {}


def _plan(cls: type[Any]) -> tuple[tuple[str, type[Any] | None], ...]:
    """Per class, once: each field and the dataclass nested in it (decode is the projector's hot path)."""
    plan = _PLANS.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls)
        plan = _PLANS[cls] = tuple((f.name, _dataclass_in(hints[f.name])) for f in dataclasses.fields(cls))
    return plan


def _dataclass_in(hint: Any) -> type[Any] | None:
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return hint
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        for arg in typing.get_args(hint):
            if dataclasses.is_dataclass(arg) and isinstance(arg, type):
                return arg
    return None
