"""Settle decisions, table-driven, with a recording stand-in for the chain (the real one is in e2e)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from schemas import ExecutionFinished, RequestExpired, ResolutionSubmitted, ResourcesUsed, SettlementSkipped
from schemas.request_view import RequestView
from schemas.samples import sample_record, sample_requested, samples
from streams.deadline import DeadlinePolicy
from streams.settle.core import SentTransaction, response_payload, settle_request


class RecordingChain:
    """Stand-in for NearChain: the real chain is exercised by the end-to-end tests."""

    def __init__(self, changes: dict[str, Any] | None, height: int) -> None:
        self.view = None if changes is None else RequestView.from_json(sample_record(FINISHED.request, **changes))
        self.height, self.sent = height, []  # type: ignore[var-annotated]

    async def final_height(self) -> int:
        return self.height

    async def get_request(self, request_id: str) -> RequestView | None:
        return self.view

    async def resolve(self, request_id: str, response: dict[str, Any]) -> SentTransaction:
        self.sent.append((request_id, response))
        return SentTransaction("TX1", "ed25519:K", 1)


FINISHED = samples()["ExecutionFinished"]
assert isinstance(FINISHED, ExecutionFinished)
POLICY = DeadlinePolicy(timeout_blocks=200, margin_blocks=10)


@pytest.mark.parametrize(
    ("view", "height", "expected", "detail"),
    [
        ({"status": "pending"}, 130, ResolutionSubmitted, None),
        ({"status": "completed"}, 130, SettlementSkipped, "already_resolved"),
        ({"status": "pending", "resolved": True}, 130, SettlementSkipped, "already_resolved"),
        ({"status": "failed"}, 130, SettlementSkipped, "not_pending:failed"),
        ({"status": "cancelled"}, 130, SettlementSkipped, "cancelled"),
        ({"status": "timed_out"}, 130, SettlementSkipped, "timed_out"),
        (None, 130, SettlementSkipped, "not_found"),
        ({"status": "pending"}, 310, RequestExpired, None),  # 120 + 200 - 10 = 310: no time left
        ({"status": "pending"}, 309, ResolutionSubmitted, None),
    ],
)
async def test_decision(view: dict[str, Any] | None, height: int, expected: type, detail: str | None) -> None:
    chain = RecordingChain(view, height)
    out = await settle_request(FINISHED, chain, policy=POLICY, producer="t")
    assert type(out) is expected
    assert len(chain.sent) == (1 if expected is ResolutionSubmitted else 0)
    if isinstance(out, SettlementSkipped):
        assert out.reason == detail
    if isinstance(out, ResolutionSubmitted):
        assert (out.tx_hash, out.sent_at_height, out.event_id) == ("TX1", height, "resolved:7")


@pytest.mark.parametrize(
    ("fmt", "output", "expected"),
    [("Text", b"hi \xe2\x82\xac", "hi \u20ac"), ("Json", b' {"a":1}\n', '{"a":1}'), ("Bytes", b"\x00\x01", "AAE=")],
)
def test_output_encoding_per_format(fmt: str, output: bytes, expected: str) -> None:
    req = dataclasses.replace(sample_requested(), response_format=fmt)
    ev = dataclasses.replace(FINISHED, request=req, output=output)
    assert response_payload(ev)["output"] == expected


def test_failure_carries_error_not_output() -> None:
    ev = dataclasses.replace(
        FINISHED,
        success=False,
        output=b"partial",
        error_kind="fuel_exhausted",
        error="ran out",
        resources_used=ResourcesUsed(instructions=5),
    )
    payload = response_payload(ev)
    assert payload == {
        "success": False,
        "error": "fuel_exhausted: ran out",
        "resources_used": {"instructions": 5, "time_ms": 0, "compile_time_ms": 0},
    }
