"""settle's decision, pure: the chain's record and the final height in, Resolve | Skip | Expire out."""

from __future__ import annotations

from typing import Any

import pytest

from schemas import ExecutionFinished
from schemas.request_view import RequestView
from schemas.samples import sample_record, samples
from streams.deadline import DeadlinePolicy
from streams.settle.core import Expire, Resolve, Skip, decide

FINISHED = samples()["ExecutionFinished"]
assert isinstance(FINISHED, ExecutionFinished)
POLICY = DeadlinePolicy(timeout_blocks=200, margin_blocks=10)
BLOCK = FINISHED.request.block_height  # deadline BLOCK + 200, give up at BLOCK + 190


def record(**changes: Any) -> RequestView:
    return RequestView.from_json(sample_record(FINISHED.request, **changes))


@pytest.mark.parametrize(
    ("view", "height", "expected"),
    [
        (record(), BLOCK + 10, Resolve()),
        (record(), BLOCK + 189, Resolve()),
        (record(), BLOCK + 190, Expire()),
        (record(status="completed"), BLOCK + 10, Skip("already_resolved", "completed")),
        (record(status="failed"), BLOCK + 10, Skip("not_pending:failed", "failed")),
        (record(resolved=True), BLOCK + 10, Skip("already_resolved", "pending")),
        (record(status="cancelled"), BLOCK + 10, Skip("cancelled", "cancelled")),
        (record(status="timed_out"), BLOCK + 10, Skip("timed_out", "timed_out")),
        (None, BLOCK + 10, Skip("not_found", None)),
        (record(status="completed"), BLOCK + 500, Skip("already_resolved", "completed")),  # skip beats expire
    ],
)
def test_decide(view: RequestView | None, height: int, expected: Resolve | Skip | Expire) -> None:
    assert decide(FINISHED, view, height, POLICY) == expected
