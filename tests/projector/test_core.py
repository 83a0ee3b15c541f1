"""The pure event -> row mapping: what reaches Postgres and what never does."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projector import Position, to_row
from projector.core import COLUMNS, block_time, next_offsets
from schemas import EVENT_TYPES
from schemas.events import (
    CompilationFailed,
    DeadLetter,
    Event,
    ExecutionFinished,
    ExecutionRequested,
    WasmCompiled,
)
from schemas.samples import sample_requested, samples


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_every_event_type_maps_to_a_row(name: str) -> None:
    event = samples()[name]
    row = to_row(event)
    assert (row.event_id, row.request_id, row.event_type, row.producer) == (
        event.event_id,
        event.request_id,
        name,
        event.producer,
    )
    assert row.occurred_at == event.occurred_at
    assert not {"event_id", "request_id", "occurred_at", "producer"} & set(row.payload)
    assert len(row.copy_record(Position("t", 1, 2))) == len(COLUMNS)
    json.loads(row.payload_json)  # valid JSON


def test_secrets_are_stripped_at_every_depth_and_flagged() -> None:
    req = dataclasses.replace(sample_requested(), encrypted_secrets="Q0lQSEVSVEVYVA==")
    sample = samples()["WasmCompiled"]
    assert isinstance(sample, WasmCompiled)
    compiled = dataclasses.replace(sample, request=req)
    for event in (req, compiled):
        row = to_row(event)
        assert row.has_secrets
        assert "encrypted_secrets" not in row.payload_json
        assert "Q0lQSEVSVEVYVA" not in row.payload_json
    assert not to_row(sample_requested()).has_secrets  # None is not a secret
    assert not to_row(dataclasses.replace(sample_requested(), encrypted_secrets="")).has_secrets


def test_dead_letter_payload_is_kept_only_as_size_and_hash() -> None:
    secret_bytes = b"\xc3\x01 carries encrypted_secrets SECRETCIPHER"
    sample = samples()["DeadLetter"]
    assert isinstance(sample, DeadLetter)
    dead = dataclasses.replace(sample, payload=secret_bytes)
    row = to_row(dead)
    assert "payload" not in row.payload
    assert row.payload["payload_size"] == len(secret_bytes)
    assert len(row.payload["payload_sha256"]) == 64
    assert "SECRETCIPHER" not in row.payload_json


def test_chain_events_get_an_exact_block_time() -> None:
    row = to_row(samples()["ExecutionCompleted"])
    assert row.block_height == 125
    assert row.block_time == datetime.fromtimestamp(1_795_000_005, UTC)  # sample: 1_795_000_005_000_000_000 ns
    # one nanosecond before midnight stays on the previous day: no float rounding
    midnight_ns = int(datetime(2026, 11, 25, tzinfo=UTC).timestamp()) * 10**9
    assert block_time(midnight_ns - 1).date().day == 24
    assert block_time(midnight_ns).date().day == 25
    assert to_row(samples()["WasmCompiled"]).block_time is None


def test_bytes_become_base64() -> None:
    finished = samples()["ExecutionFinished"]
    assert isinstance(finished, ExecutionFinished)
    assert to_row(finished).payload["output"] == "eyJoZWxsbyI6ICJ3b3JsZCJ9"


@given(st.text())
def test_any_text_is_storable_json(text: str) -> None:
    row = to_row(dataclasses.replace(sample_requested(), input_data=text, sender_id=text))
    decoded = json.loads(row.payload_json)
    assert "\x00" not in decoded["input_data"]
    assert decoded["input_data"] == text.replace("\x00", "\ufffd")


def test_payload_json_is_canonical() -> None:
    event = samples()["ExecutionCompleted"]
    assert to_row(event).payload_json == to_row(event).payload_json
    assert list(json.loads(to_row(event).payload_json)) == sorted(json.loads(to_row(event).payload_json))


def test_next_offsets_is_one_past_the_highest_per_partition() -> None:
    positions = [Position("a", 0, 5), Position("a", 0, 3), Position("a", 1, 0), Position("b", 0, 9)]
    assert next_offsets(positions) == {("a", 0): 6, ("a", 1): 1, ("b", 0): 10}


@given(st.binary(min_size=12, max_size=200))
def test_no_secret_ciphertext_survives_in_any_event_that_carries_it(secret: bytes) -> None:
    ciphertext = base64.b64encode(secret).decode()
    req = dataclasses.replace(sample_requested(), encrypted_secrets=ciphertext)
    carriers: list[Event] = [req]
    for name in ("WasmCompiled", "CompilationFailed", "ExecutionFinished"):
        sample = samples()[name]
        assert isinstance(sample, WasmCompiled | CompilationFailed | ExecutionFinished)
        carriers.append(dataclasses.replace(sample, request=req))
    for event in carriers:
        row = to_row(event)
        assert row.has_secrets
        if ciphertext in row.payload_json:  # only legitimate if the same text is elsewhere in the event
            assert ciphertext in to_row(dataclasses.replace(event, **_without_secrets(event))).payload_json


def _without_secrets(event: Event) -> dict[str, Any]:
    if isinstance(event, ExecutionRequested):
        return {"encrypted_secrets": None}
    return {"request": dataclasses.replace(sample_requested(), encrypted_secrets=None)}
