"""One reading of the contract's request record: the event log (indexer) and the views (settle,
execute, reconciler) give the same RequestView and the same ExecutionRequested."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from indexer.core import BlockInfo, LogSite, parse_event_log
from schemas import DeadLetter, ExecutionRequested
from schemas.request_view import RequestView
from schemas.samples import sample_record, sample_requested
from streams.reconcile.core import request_from_view

REQ = sample_requested()


def log_data(**changes: Any) -> dict[str, Any]:
    """The `execution_requested` log's data (contract/src/offshore/events.py): no status, no height."""
    record = sample_record(REQ)
    data = {k: record[k] for k in ("sender_id", "code_source", "resource_limits", "input_data")}
    data.update(
        request_id=REQ.request_id,
        encrypted_secrets=record["encrypted_secrets"],
        response_format=record["response_format"],
        payment=record["payment"],
        data_id=record["data_id"],
        timestamp=record["created_at_ns"],
    )
    data.update(changes)
    return data


def test_both_shapes_read_the_same() -> None:
    from_view, from_log = RequestView.from_json(sample_record(REQ)), RequestView.from_json(log_data())
    assert from_view.created_height == REQ.block_height and from_log.created_height is None
    assert from_view == RequestView.from_json({**log_data(), "created_height": REQ.block_height})
    assert from_log.awaiting_resolve() and from_log.not_pending_reason() is None


def test_indexer_and_reconciler_build_the_same_request() -> None:
    block = BlockInfo(REQ.block_height, REQ.block_hash, REQ.timestamp_ns)
    log = "EVENT_JSON:" + json.dumps(
        {"standard": "near-offshore", "version": "1.0.0", "event": "execution_requested", "data": [log_data()]}
    )
    (indexed,) = parse_event_log(log, LogSite(block, REQ.receipt_id, 0))
    redriven = request_from_view(RequestView.from_json(sample_record(REQ)), height=999, producer="reconcile")
    assert isinstance(indexed, ExecutionRequested)
    same = ("event_id", "occurred_at", "producer", "block_hash", "receipt_id")
    assert {k: v for k, v in vars(indexed).items() if k not in same} == {
        k: v for k, v in vars(redriven).items() if k not in same
    }
    assert (redriven.block_hash, redriven.receipt_id) == ("", "")  # not in the contract's record
    assert (indexed.block_hash, indexed.receipt_id) == (REQ.block_hash, REQ.receipt_id)


def test_payment_is_normalised_the_same_way_for_both() -> None:
    assert RequestView.from_json(log_data(payment="0001000")).payment == "1000"
    assert RequestView.from_json(sample_record(REQ, payment="0001000")).payment == "1000"


@pytest.mark.parametrize(
    "changes",
    [
        {"input_data": 5},
        {"payment": "-5"},
        {"payment": 1.5},
        {"resource_limits": {"max_instructions": "many", "max_memory_mb": 1, "max_execution_seconds": 1}},
        {"code_source": None},
    ],
)
def test_malformed_records_are_refused_the_same_way_for_both(changes: dict[str, Any]) -> None:
    for data in (log_data(**changes), sample_record(REQ, **changes)):
        with pytest.raises(ValueError, match="malformed request record"):
            RequestView.from_json(data)


def test_a_log_without_a_block_height_cannot_become_an_event() -> None:
    with pytest.raises(ValueError, match="no block height"):
        RequestView.from_json(log_data()).to_requested(event_id="x", occurred_at=datetime.now(UTC), producer="t")


def test_a_finished_request_has_no_input_and_cannot_be_redriven() -> None:
    """The contract drops a request's input when it finishes; settle still reads the record."""
    view = RequestView.from_json(sample_record(REQ, status="completed", input_data=None, encrypted_secrets=None))
    assert view.not_pending_reason() == "already_resolved"
    with pytest.raises(ValueError, match="no input"):
        view.to_requested(event_id="x", occurred_at=datetime.now(UTC), producer="t")


def test_an_event_log_with_a_null_input_is_dead_lettered_by_the_indexer() -> None:
    """The contract always logs a string ("" for none); null was read as the text "None" before."""
    block = BlockInfo(REQ.block_height, REQ.block_hash, REQ.timestamp_ns)
    log = "EVENT_JSON:" + json.dumps(
        {
            "standard": "near-offshore",
            "version": "1.0.0",
            "event": "execution_requested",
            "data": [log_data(input_data=None)],
        }
    )
    (event,) = parse_event_log(log, LogSite(block, REQ.receipt_id, 0))
    assert isinstance(event, DeadLetter) and "no input" in event.error


@pytest.mark.parametrize(
    ("status", "resolved", "reason"),
    [
        ("pending", False, None),
        ("pending", True, "already_resolved"),
        ("Pending", False, None),
        ("completed", False, "already_resolved"),
        ("failed", False, "not_pending:failed"),
        ("cancelled", False, "cancelled"),
        ("timed_out", False, "timed_out"),
    ],
)
def test_not_pending_reason(status: str, resolved: bool, reason: str | None) -> None:
    view = RequestView.from_json(sample_record(REQ, status=status, resolved=resolved))
    assert view.not_pending_reason() == reason
    assert view.awaiting_resolve() is (reason is None)
