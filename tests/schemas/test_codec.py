from __future__ import annotations

import dataclasses

import pytest

from schemas import EVENT_TYPES, DecodeError, EncodeError, UnknownSchemaError, decode, encode
from schemas.codec import MAGIC
from schemas.samples import sample_requested, samples


def test_every_event_type_has_a_sample() -> None:
    assert set(samples()) == set(EVENT_TYPES)


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_round_trip(name: str) -> None:
    event = samples()[name]
    data = encode(event)
    assert data[:2] == MAGIC
    assert decode(data) == event


def test_header_names_the_writer_schema() -> None:
    a, b = encode(samples()["ExecutionRequested"]), encode(samples()["WasmCompiled"])
    assert a[2:10] != b[2:10]


def test_unknown_fingerprint_is_a_clear_error() -> None:
    data = bytearray(encode(sample_requested()))
    data[2:10] = b"\x00" * 8
    with pytest.raises(UnknownSchemaError, match="unknown writer schema fingerprint 0000000000000000"):
        decode(bytes(data))


@pytest.mark.parametrize("data", [b"", b"{}", b"\xc3\x01", b"\x00" * 20])
def test_garbage_is_a_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode(data)


def test_truncated_body_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="cannot decode ExecutionRequested v1"):
        decode(encode(sample_requested())[:40])


def test_event_that_does_not_fit_its_schema_is_an_encode_error() -> None:
    bad = dataclasses.replace(sample_requested(), block_height="not a number")  # type: ignore[arg-type]
    with pytest.raises(EncodeError, match="ExecutionRequested does not fit schema v1"):
        encode(bad)
