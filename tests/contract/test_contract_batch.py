"""Batch settlement (`resolve_executions`) and the reconciler's view (`list_pending_before`) on the
devnet VM: each item resumes its own yield, an item that can no longer be resolved is skipped and
reported without aborting the batch, and the view returns only requests older than a height."""

from __future__ import annotations

import json
from typing import Any

from contract.testing import CLIENT, CONTRACT, OPERATOR, Offshore, events_of, transfers, used


def _item(rid: str, output: str = "o", **response: Any) -> dict[str, Any]:
    return {"request_id": rid, "response": {"success": True, "output": output, "resources_used": used(), **response}}


def _batch(offshore: Offshore, items: list[dict[str, Any]]) -> tuple[Any, Any]:
    out = offshore.call("resolve_executions", {"items": items}, predecessor=OPERATOR)
    assert out.error is None, out.error
    assert out.return_value is not None
    return out, json.loads(out.return_value)


def test_batch_resolves_each_item_and_each_callback_settles_it(offshore: Offshore) -> None:
    rids = [offshore.request() for _ in range(3)]
    big = "x" * 5000  # larger than a yield payload: parked in state as today
    out, result = _batch(offshore, [_item(rids[0], "a"), _item(rids[1], big), _item(rids[2], "c", success=False)])
    assert result == {"resolved": rids, "skipped": []}
    assert events_of(out) == []
    assert len(out.yield_resumes) == 3
    payloads = {r.data_id: r.payload for r in out.yield_resumes}
    for rid, value in zip(rids, (b'"a"', f'"{big}"'.encode(), b"null"), strict=True):
        req = offshore.view("get_request", {"request_id": rid})
        assert req["resolved"] is True and req["status"] == "pending"
        cb = offshore.callback(rid, payloads[bytes.fromhex(req["data_id"])])
        assert cb.error is None and cb.return_value == value
    statuses = [offshore.view("get_request", {"request_id": r})["status"] for r in rids]
    assert statuses == ["completed", "completed", "failed"]


def test_batch_skips_items_that_can_no_longer_be_resolved_and_reports_them(offshore: Offshore) -> None:
    done, resolved, expired, fresh = (offshore.request() for _ in range(4))
    offshore.settle(done, _item(done)["response"])
    offshore.resolve(resolved, _item(resolved)["response"])
    data_id = bytes.fromhex(offshore.view("get_request", {"request_id": expired})["data_id"])
    offshore.chain.pending.discard((CONTRACT, data_id))  # the node timed the yield out
    items = [
        _item(done),
        _item(resolved),
        _item(expired),
        _item("999"),
        {"request_id": fresh, "response": {"success": "yes"}},
        _item(fresh, "ok"),
        _item(fresh, "again"),  # the same request twice in one batch: the second is skipped
    ]
    out, result = _batch(offshore, items)
    assert result["resolved"] == [fresh]
    reasons = [(s["request_id"], s["reason"]) for s in result["skipped"]]
    assert reasons == [
        (done, "not_pending"),
        (resolved, "already_resolved"),
        (expired, "yield_expired"),
        ("999", "invalid"),
        (fresh, "invalid"),
        (fresh, "already_resolved"),
    ]
    messages = [s["message"] for s in result["skipped"]]
    assert "not pending (completed)" in messages[0] and "unknown request 999" in messages[3]
    assert "success must be a boolean" in messages[4]
    (event,) = events_of(out)
    assert event["event"] == "resolve_skipped"
    assert event["data"] == [{"skipped": [{"request_id": r, "reason": why} for r, why in reasons], "omitted": 0}]
    # only the fresh request was resumed, and nothing was parked for the expired one
    assert len(out.yield_resumes) == 1
    assert f"o:{fresh}".encode() in out.storage_writes  # response, commitment and output: one value
    assert not {f"o:{expired}".encode(), f"v:{expired}".encode()} & set(out.storage_writes)
    cb = offshore.callback(expired, None)
    assert cb.error is None and transfers(cb)[0][0] == CLIENT
    assert offshore.view("get_request", {"request_id": expired})["status"] == "timed_out"


def test_batch_is_operator_only_and_needs_a_list(offshore: Offshore) -> None:
    rid = offshore.request()
    assert "only the operator" in offshore.err("resolve_executions", {"items": [_item(rid)]}, predecessor=CLIENT)
    assert "items must be a list" in offshore.err("resolve_executions", {"items": {"a": 1}}, predecessor=OPERATOR)


def test_resolve_execution_still_panics_on_what_the_batch_skips(offshore: Offshore) -> None:
    rid = offshore.request()
    offshore.resolve(rid, _item(rid)["response"])
    assert "already resolved" in offshore.err("resolve_execution", _item(rid), predecessor=OPERATOR)


def test_pending_before_a_height_pages_over_the_old_requests_only(offshore: Offshore) -> None:
    old = [offshore.request() for _ in range(3)]
    offshore.height += 10
    young = [offshore.request() for _ in range(2)]
    settled = old[1]
    offshore.settle(settled, _item(settled)["response"])

    def ids(**args: Any) -> list[str]:
        return [str(r["request_id"]) for r in offshore.view("list_pending_before", args)]

    h = offshore.height
    assert ids(height=h) == [old[0], old[2]]
    assert ids(height=h + 1) == [old[0], old[2], *young]
    assert ids(height=h - 10) == []
    assert ids(height=h, limit=1) == [old[0]]
    assert ids(height=h, **{"from": str(int(old[0]) + 1)}) == [old[2]]
    page = offshore.view("list_pending_before", {"height": h})
    assert page[0]["input_data"] == "hi" and page[0]["status"] == "pending"  # get_request's shape
    assert "height must be" in offshore.err("list_pending_before", {"height": "1"}, view=True)


def test_resolve_takes_the_ticket_and_the_views_report_resolved_until_the_callback(offshore: Offshore) -> None:
    rid = offshore.request()
    ticket = f"y:{rid}".encode()
    assert ticket in offshore.chain.data  # written by request_execution
    record = offshore.chain.data[f"r:{rid}".encode()]
    out, result = _batch(offshore, [_item(rid)])
    assert result["resolved"] == [rid]
    assert out.storage_writes[ticket] is None and f"r:{rid}".encode() not in out.storage_writes  # record untouched
    assert offshore.chain.data[f"r:{rid}".encode()] == record
    for view in ("list_pending_requests", "list_pending_before"):
        args = {"height": offshore.height + 1} if view == "list_pending_before" else {}
        (listed,) = offshore.view(view, args)
        assert listed["request_id"] == int(rid) and listed["resolved"] is True
    (resume,) = out.yield_resumes
    assert offshore.callback(rid, resume.payload).error is None
    done = offshore.view("get_request", {"request_id": rid})
    assert done["status"] == "completed" and done["resolved"] is True
    assert not any(k.startswith(b"y:") or k.startswith(b"o:") for k in offshore.chain.data)


def test_a_request_without_a_ticket_resolves_from_its_record(offshore: Offshore) -> None:
    # requests created by the release before tickets: resolve builds the ticket from the record
    rid = offshore.request()
    del offshore.chain.data[f"y:{rid}".encode()]
    _, result = _batch(offshore, [_item(rid)])
    assert result["resolved"] == [rid]
    _, again = _batch(offshore, [_item(rid)])
    assert [s["reason"] for s in again["skipped"]] == ["already_resolved"]


def test_a_skipped_item_keeps_its_ticket_and_a_cancel_removes_it(offshore: Offshore) -> None:
    rid = offshore.request()
    ticket = f"y:{rid}".encode()
    _, result = _batch(offshore, [{"request_id": rid, "response": {"success": "yes"}}])
    assert [s["reason"] for s in result["skipped"]] == ["invalid"] and ticket in offshore.chain.data
    offshore.ok("emergency_cancel_execution", {"request_id": rid}, predecessor="owner.test")
    assert ticket not in offshore.chain.data
    _, late = _batch(offshore, [_item(rid)])
    assert [s["reason"] for s in late["skipped"]] == ["not_pending"]
