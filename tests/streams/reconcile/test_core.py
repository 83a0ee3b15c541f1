from __future__ import annotations

from typing import Any

from schemas import ExecutionRequested, decode
from schemas.request_view import RequestView
from streams.deadline import DeadlinePolicy
from streams.reconcile.core import Reconciler, due_for_redrive

POLICY = DeadlinePolicy(timeout_blocks=200, margin_blocks=10)


def record(rid: int, created: int) -> dict[str, Any]:
    """The shape of the contract's list_pending_requests items."""
    return {
        "request_id": rid,
        "sender_id": "c.test.near",
        "code_source": {"repo": "file:///r", "commit": "a" * 40, "build_target": "wasm32-wasip1"},
        "resource_limits": {"max_instructions": 10**9, "max_memory_mb": 64, "max_execution_seconds": 5},
        "input_data": "hi",
        "encrypted_secrets": None,
        "response_format": "Text",
        "payment": "100",
        "data_id": "ab" * 32,
        "status": "pending",
        "created_height": created,
        "created_at_ns": 5,
    }


def view(rid: int, created: int) -> RequestView:
    return RequestView.from_json(record(rid, created))


def test_only_old_enough_and_still_settleable_requests_are_due() -> None:
    views = [view(1, 990), view(2, 960), view(3, 805), view(4, 700)]
    due = due_for_redrive(views, height=1000, after_blocks=30, policy=POLICY, last_redrive={})
    # 1 is too young, 3 has 5 blocks left (< margin), 4 is past its deadline
    assert [v.request_id for v in due] == ["2"]


def test_resolved_requests_awaiting_their_callback_are_not_due() -> None:
    resolved = RequestView.from_json({**record(2, 960), "resolved": True})
    assert due_for_redrive([resolved], height=1000, after_blocks=30, policy=POLICY, last_redrive={}) == []


def test_recently_redriven_requests_wait() -> None:
    due = due_for_redrive([view(2, 960)], height=1000, after_blocks=30, policy=POLICY, last_redrive={"2": 990})
    assert due == []


class FakeSource:
    """Stand-in for the chain's pending list with the contract's list_pending_before semantics (the
    contract's view is tested in tests/contract/test_contract_batch.py, the whole on the devnet end to end)."""

    def __init__(self, views: list[RequestView], height: int) -> None:
        self.views, self.height = views, height
        self.asked: list[tuple[int, str | None]] = []

    async def final_height(self) -> int:
        return self.height

    async def list_pending_before(
        self, height: int, *, after: str | None = None, limit: int = 100
    ) -> list[RequestView]:
        self.asked.append((height, after))
        older = [v for v in self.views if (v.created_height or 0) < height and int(v.request_id) > int(after or 0)]
        return older[:limit]


class Sink:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes]] = []

    async def send(self, *, key: bytes, value: bytes) -> None:
        self.sent.append((key, value))


async def test_redrive_republishes_the_request_once_per_window() -> None:
    source, sink = FakeSource([view(2, 960)], 1000), Sink()
    rec = Reconciler(chain=source, requests_topic=sink, after_blocks=30, policy=POLICY, producer="t")
    assert await rec.run_once() == ["2"]
    assert await rec.run_once() == []  # same window
    source.height = 1031
    assert await rec.run_once() == ["2"]
    event = decode(sink.sent[0][1])
    assert isinstance(event, ExecutionRequested)
    assert (event.request_id, event.block_height, event.input_data) == ("2", 960, "hi")


def test_oldest_first_and_at_most_limit_per_run() -> None:
    views = [view(i, created) for i, created in ((1, 950), (2, 900), (3, 960), (4, 920))]
    due = due_for_redrive(views, height=1000, after_blocks=30, policy=POLICY, last_redrive={}, limit=2)
    assert [v.request_id for v in due] == ["2", "4"]


async def test_cost_follows_the_stuck_requests_not_the_backlog() -> None:
    young = [view(i, 995) for i in range(100, 1100)]  # a burst of 1000 pending, all younger than 30 blocks
    source, sink = FakeSource([view(2, 960), *young], 1000), Sink()
    rec = Reconciler(chain=source, requests_topic=sink, after_blocks=30, policy=POLICY, producer="t", page=10)
    assert await rec.run_once() == ["2"]
    assert source.asked == [(971, None)] and rec.pages_read == 1  # one short page, whatever the backlog


async def test_stuck_requests_are_paged_through_over_runs() -> None:
    stuck = [view(i, 900 + i) for i in range(1, 26)]  # 25 stuck requests, pages of 10, 2 pages a run
    source, sink = FakeSource(stuck, 1000), Sink()
    rec = Reconciler(chain=source, requests_topic=sink, after_blocks=30, policy=POLICY, producer="t", page=10)
    first = await rec.run_once()
    second = await rec.run_once()
    assert first == [str(i) for i in range(1, 21)] and second == [str(i) for i in range(21, 26)]
    assert source.asked == [(971, None), (971, "10"), (971, "20")]
    assert await rec.run_once() == []  # all re-driven in this window; the cursor wrapped to the oldest


async def test_each_redrive_of_a_request_doubles_its_wait() -> None:
    # Still pending after a re-drive: most likely queued behind a backlog, not lost; copies cost a batch item each.
    source, sink = FakeSource([view(2, 960)], 1000), Sink()
    rec = Reconciler(chain=source, requests_topic=sink, after_blocks=30, policy=POLICY, producer="t")
    assert await rec.run_once() == ["2"]
    source.height = 1030
    assert await rec.run_once() == ["2"]  # the first wait: after_blocks
    source.height = 1060
    assert await rec.run_once() == []  # the second: twice as long
    source.height = 1090
    assert await rec.run_once() == ["2"]


def test_the_backoff_is_capped_at_eight_times_after_blocks() -> None:
    due = due_for_redrive(
        [view(2, 100)], height=1000, after_blocks=30, policy=DeadlinePolicy(timeout_blocks=2000, margin_blocks=10),
        last_redrive={"2": 760}, redrives={"2": 9},
    )  # fmt: skip
    assert [v.request_id for v in due] == ["2"]  # 240 blocks = 8 x 30 since the last, after 9 re-drives
