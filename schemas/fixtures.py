"""Freezes one encoded sample per schema version: `python -m schemas.fixtures`.

Fixtures are written once per (event, version) and never overwritten, so the compatibility test keeps
proving that the current reader decodes every version ever written (BACKWARD_TRANSITIVE).
"""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from schemas.codec import default_codec
from schemas.events import Event
from schemas.samples import samples

FIXTURE_DIR = Path(__file__).with_name("fixtures")


def to_json(event: Event) -> dict[str, Any]:
    """A JSON-able, stable view of an event (datetimes ISO, bytes base64)."""
    return _jsonable(dataclasses.asdict(event))  # type: ignore[no-any-return]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def freeze(directory: Path = FIXTURE_DIR) -> list[Path]:
    codec = default_codec()
    written = []
    for name, event in samples().items():
        version = codec.current[name].version
        target = directory / name / f"v{version}.avro"
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(codec.encode(event))
        target.with_suffix(".json").write_text(json.dumps(to_json(event), indent=2, sort_keys=True) + "\n")
        written.append(target)
    return written


if __name__ == "__main__":
    for path in freeze():
        print(f"wrote {path}")
