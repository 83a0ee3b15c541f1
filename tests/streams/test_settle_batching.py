"""Packing settle's outcomes into `resolve_executions` calls (streams/settle/batching.py): order kept,
every call within the count, byte and gas limits, an oversized item alone, the result parsed."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.settle.batching import (
    COMMITMENT_FIELDS,
    GAS,
    MAX_CALL_GAS,
    BatchLimits,
    batch_args,
    commitment_line,
    fits,
    item_args,
    max_items,
    pack,
    parse_result,
)


@given(st.lists(st.integers(min_value=50, max_value=100_000), max_size=400), st.integers(min_value=1, max_value=300))
def test_pack_keeps_order_and_every_call_fits(sizes: list[int], count: int) -> None:
    limits = BatchLimits(max_items=count)
    ranges = pack(sizes, limits)
    assert [i for r in ranges for i in r] == list(range(len(sizes)))
    for r in ranges:
        size = 12 + sum(sizes[i] + 1 for i in r)
        assert len(r) == 1 or fits(len(r), size, limits)


def test_pack_cuts_by_count_bytes_and_gas() -> None:
    assert [len(r) for r in pack([100] * 25, BatchLimits(max_items=10))] == [10, 10, 5]
    assert [len(r) for r in pack([100_000] * 5, BatchLimits(max_items=100))] == [2, 2, 1]  # 256 KiB
    by_gas = pack([200] * 1000, BatchLimits(max_items=10_000))
    assert all(GAS.attach(len(r), 12 + 201 * len(r)) <= MAX_CALL_GAS for r in by_gas)
    assert 250 < len(by_gas[0]) < 400
    assert [len(r) for r in pack([10**6, 10], BatchLimits())] == [1, 1]  # too big for any batch: alone


def test_max_items_and_args_encoding() -> None:
    one = item_args("7", {"success": True, "output": "\u20ac", "resources_used": {"instructions": 5, "time_ms": 2}})
    assert one == '["7",true,"\u20ac",null,[5,2,0],null]'.encode()
    assert batch_args([one, one]) == b'{"items":[' + one + b"," + one + b"]}"
    assert max_items(len(one), BatchLimits(max_items=50)) == 50


def test_compact_items_carry_usage_and_commitment_in_the_contracts_order() -> None:
    used = {"instructions": 1, "time_ms": 2, "compile_time_ms": 3, "http_calls": 4, "http_bytes": 5}
    commitment = {name: f"v-{name}" for name in reversed(COMMITMENT_FIELDS)}
    got = json.loads(item_args("9", {"success": False, "error": "e", "resources_used": used, "commitment": commitment}))
    assert got == ["9", False, None, "e", [1, 2, 3, 4, 5], [f"v-{name}" for name in COMMITMENT_FIELDS]]


def _seeded() -> dict[str, object]:
    hashes = {
        "wasm_sha256": "a" * 64,
        "input_sha256": "c" * 64,
        "output_sha256": "d" * 64,
        "randomness_proof": "f" * 128,
    }
    return {
        "version": 1,
        **hashes,
        "builder_id": "b-1",
        "engine_id": "e-2",
        "io_sha256": "",
        "http_calls": 3,
        "http_bytes": 40,
    }


def test_a_commitment_travels_as_the_contracts_line() -> None:
    line = "1 " + "a" * 64 + "c" * 64 + "d" * 64 + "f" * 128 + " b-1 e-2 3 40"
    assert commitment_line(_seeded()) == line
    assert json.loads(item_args("9", {"success": True, "commitment": _seeded()}))[5] == line
    assert commitment_line({**_seeded(), "io_sha256": "9" * 64}) == line.replace(" b-1", "9" * 64 + " b-1")
    assert commitment_line({**_seeded(), "io_sha256": None, "http_calls": None}) == line.replace(" 3 ", " 0 ")


@pytest.mark.parametrize(
    "over",
    [
        {"wasm_sha256": "a" * 63},  # concatenated with a 65-character hash it would look right: lengths checked
        {"input_sha256": "c" * 65},
        {"randomness_proof": None},
        {"io_sha256": "9" * 10},
        {"builder_id": "with space"},
        {"engine_id": ""},
        {"version": True},
        {"version": 2},
        {"http_bytes": -1},
        {"http_calls": False},
        {"surprise": 1},
    ],
)
def test_a_commitment_the_line_cannot_carry_exactly_travels_as_its_values(over: dict[str, object]) -> None:
    c = {**_seeded(), **over}
    assert commitment_line(c) is None
    if "surprise" not in over:
        assert json.loads(item_args("9", {"success": True, "commitment": c}))[5] == [
            c.get(k) for k in COMMITMENT_FIELDS
        ]


@pytest.mark.parametrize(
    "response",
    [
        {"success": True, "resources_used": {"instructions": 1, "surprise": 2}},
        {"success": True, "commitment": {"version": 1, "surprise": 2}},
        {"success": True, "extra": 1},
    ],
)
def test_a_response_the_compact_array_cannot_carry_travels_as_an_object(response: dict[str, object]) -> None:
    assert json.loads(item_args("3", response)) == {"request_id": "3", "response": response}


def test_parse_result() -> None:
    got = parse_result(
        {"resolved": ["1", "3"], "skipped": [{"request_id": "2", "reason": "yield_expired", "message": "m"}]}
    )
    assert got.resolved == {"1", "3"} and got.skipped == {"2": ("yield_expired", "m")}
    with pytest.raises(ValueError):
        parse_result(None)
