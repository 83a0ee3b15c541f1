"""settle's reading of one batch item, pure: the contract's per-item result in, the settle event out,
with the same skip reasons as `decide` gives from a view (tests/streams/settle/test_decide.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas import ExecutionFinished, RequestExpired, ResolutionSubmitted, SettlementSkipped
from schemas.samples import samples
from streams.deadline import DeadlinePolicy
from streams.settle.batcher import EXPIRED, Resolved
from streams.settle.core import batch_outcome, response_payload

_SAMPLE = samples()["ExecutionFinished"]
assert isinstance(_SAMPLE, ExecutionFinished)
FINISHED: ExecutionFinished = _SAMPLE
POLICY = DeadlinePolicy(timeout_blocks=200, margin_blocks=10)
RID = FINISHED.request_id
SENT = datetime(2026, 11, 29, tzinfo=UTC)


def _out(skipped: tuple[str, str] | None) -> object:
    got = Resolved(RID, skipped, "txh", 7, SENT)
    return batch_outcome(FINISHED, response_payload(FINISHED), got, height=123, policy=POLICY, producer="t")


def test_resolved_item_is_a_resolution_sent_when_its_call_left() -> None:
    out = _out(None)
    assert isinstance(out, ResolutionSubmitted)
    assert out.tx_hash == "txh" and out.occurred_at == SENT and out.sent_at_height == 123


@pytest.mark.parametrize(
    ("skipped", "reason", "status"),
    [
        (("already_resolved", f"request {RID} is already resolved"), "already_resolved", "pending"),
        (("not_pending", f"request {RID} is not pending (completed)"), "already_resolved", "completed"),
        (("not_pending", f"request {RID} is not pending (failed)"), "not_pending:failed", "failed"),
        (("not_pending", f"request {RID} is not pending (cancelled)"), "cancelled", "cancelled"),
        (("not_pending", f"request {RID} is not pending (timed_out)"), "timed_out", "timed_out"),
    ],
)
def test_skipped_items_carry_the_chain_reason(skipped: tuple[str, str], reason: str, status: str) -> None:
    out = _out(skipped)
    assert isinstance(out, SettlementSkipped) and out.reason == reason and out.chain_status == status


def test_expired_and_refused_items() -> None:
    for why in ((EXPIRED, "yield deadline too close"), ("yield_expired", "the yield of request 1 has expired")):
        out = _out(why)
        assert isinstance(out, RequestExpired) and out.stage == "settle"
    assert _out(("invalid", "response.output exceeds 16384 bytes (UTF-8)")) is None  # settle sends the fallback
