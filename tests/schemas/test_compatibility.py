"""BACKWARD_TRANSITIVE: the current reader of each event decodes every version ever written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastavro.schema import parse_schema

from schemas import DecodeError
from schemas.codec import Codec, SchemaVersion, load_schema_versions
from schemas.fixtures import FIXTURE_DIR, to_json

VERSIONS = load_schema_versions()


def _fixture(v: SchemaVersion) -> Path:
    return FIXTURE_DIR / v.name / f"v{v.version}.avro"


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: f"{v.name}-v{v.version}")
def test_every_schema_version_has_a_frozen_fixture(version: SchemaVersion) -> None:
    assert _fixture(version).exists(), "run `python -m schemas.fixtures` and commit the new fixture"


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: f"{v.name}-v{v.version}")
def test_current_reader_decodes_fixture(version: SchemaVersion) -> None:
    event = Codec(VERSIONS).decode(_fixture(version).read_bytes())
    expected = json.loads(_fixture(version).with_suffix(".json").read_text())
    decoded = to_json(event)
    # Fields added by later versions take their defaults; every field the old writer had must survive.
    assert {k: decoded[k] for k in expected if k in decoded} == expected


def _evolve(version: SchemaVersion, change: dict[str, Any]) -> SchemaVersion:
    raw = json.loads(json.dumps(version.raw))
    raw["fields"].append(change)
    return SchemaVersion(version.name, version.version + 1, b"\xff" * 8, parse_schema(raw, _write_hint=False), raw)


def test_compatible_change_still_decodes_old_fixtures() -> None:
    v1 = next(v for v in VERSIONS if v.name == "ExecutionRequested")
    v2 = _evolve(v1, {"name": "priority", "type": "int", "default": 0})
    event = Codec([*VERSIONS, v2]).decode(_fixture(v1).read_bytes())
    assert event.request_id == "7"


def test_breaking_change_makes_the_compatibility_check_fail() -> None:
    v1 = next(v for v in VERSIONS if v.name == "ExecutionRequested")
    v2 = _evolve(v1, {"name": "priority", "type": "int"})  # no default: old data cannot be read
    with pytest.raises(DecodeError):
        Codec([*VERSIONS, v2]).decode(_fixture(v1).read_bytes())
