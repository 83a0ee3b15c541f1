"""The materialised views on real Postgres, from a known set of events with hand-computed money."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from projector import (
    format_near,
    migrate,
    refresh_views,
    render_billing,
    view_checksums,
    write_events,
)
from projector.synthetic import charge, lifecycle
from schemas import ResourcesUsed
from schemas.events import Event, ExecutionRequested

D1 = datetime(2026, 11, 24, tzinfo=UTC)
D2 = D1 + timedelta(days=1)
E18 = 10**18


def known_events() -> list[Event]:
    """Pricing (synthetic.PRICING): base 1e21, 1e18 per started million instructions, 1e17 per ms,
    1e16 per compile ms, capped at the deposit. Completions land 2 s after `at`; cancellations 600 s."""
    return [
        # alice, day 1: success. 1e21 + 2 * 1e18 + 12 * 1e17 + 850 * 1e16 = 1_011_700 * 1e15
        *lifecycle("a1", payer="alice.near", at=D1 + timedelta(hours=12),
                   used=ResourcesUsed(instructions=1_234_567, time_ms=12, compile_time_ms=850)),
        # alice, settles 1 ms before midnight: failure, cache hit. 1e21 + 5 * 1e18 + 3 * 1e17
        *lifecycle("a2", payer="alice.near", at=D2 - timedelta(milliseconds=2001), outcome="failed",
                   payment=10**22, cache_hit=True,
                   used=ResourcesUsed(instructions=5_000_000, time_ms=3, compile_time_ms=850)),
        # alice, settles exactly at midnight (day 2): yield timed out, full refund
        *lifecycle("a3", payer="alice.near", at=D2 - timedelta(seconds=2), outcome="timed_out",
                   payment=2 * 10**22),
        # bob, day 1: the formula exceeds the deposit, so the charge is capped and nothing is refunded
        *lifecycle("b1", payer="bob.near", at=D1 + timedelta(hours=10), payment=5 * 10**22,
                   used=ResourcesUsed(instructions=99_999_999_999, time_ms=100, compile_time_ms=1000)),
        # bob, day 1: cancelled as stale (the cancellation event names no payer: it comes from the request)
        *lifecycle("b2", payer="bob.near", at=D1 + timedelta(hours=11), outcome="cancelled",
                   payment=2 * 10**22),
        # carol: one pending (not billed), one failed compilation settled on day 2 (compile time billed)
        *lifecycle("c1", payer="carol.near", at=D2 + timedelta(hours=7), outcome="pending"),
        *lifecycle("c2", payer="carol.near", at=D2 + timedelta(hours=8), outcome="compile_failed",
                   used=ResourcesUsed(instructions=0, time_ms=0, compile_time_ms=850)),
        # dave: pipeline-only outcomes, never settled on chain
        *lifecycle("d1", payer="dave.near", at=D2 + timedelta(hours=9), outcome="expired"),
        *lifecycle("d2", payer="dave.near", at=D2 + timedelta(hours=9), outcome="skipped"),
    ]  # fmt: skip


EXPECTED_BILLING = {
    ("alice.near", date(2026, 11, 24)): {
        "requests": 2, "succeeded": 1, "failed": 1, "timed_out": 0, "cancelled": 0,
        "instructions": 6_234_567, "time_ms": 15, "compile_time_ms": 850,
        "charged_yocto": 2_017_000 * 10**15, "refunded_yocto": 107_983_000 * 10**15,
    },
    ("alice.near", date(2026, 11, 25)): {
        "requests": 1, "succeeded": 0, "failed": 1, "timed_out": 1, "cancelled": 0,
        "instructions": 0, "time_ms": 0, "compile_time_ms": 0,
        "charged_yocto": 0, "refunded_yocto": 2 * 10**22,
    },
    ("bob.near", date(2026, 11, 24)): {
        "requests": 2, "succeeded": 1, "failed": 0, "timed_out": 0, "cancelled": 1,
        "instructions": 99_999_999_999, "time_ms": 100, "compile_time_ms": 1000,
        "charged_yocto": 5 * 10**22, "refunded_yocto": 2 * 10**22,
    },
    ("carol.near", date(2026, 11, 25)): {
        "requests": 1, "succeeded": 0, "failed": 1, "timed_out": 0, "cancelled": 0,
        "instructions": 0, "time_ms": 0, "compile_time_ms": 850,
        "charged_yocto": 1_008_500 * 10**15, "refunded_yocto": 98_991_500 * 10**15,
    },
}  # fmt: skip


def _rows(dsn: str, query: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        return conn.execute(query, params).fetchall()


@pytest.fixture(scope="module")
def loaded(module_database: str) -> str:
    """The known events, projected and refreshed; tests on it must leave the views as they found them."""
    write_events(module_database, known_events())
    refresh_views(module_database)
    return module_database


def test_the_contract_formula_matches_the_hand_computed_charges() -> None:
    assert charge(ResourcesUsed(instructions=1_234_567, time_ms=12, compile_time_ms=850), 10**23) == (
        1_011_700 * 10**15,
        98_988_300 * 10**15,
    )
    assert charge(ResourcesUsed(instructions=5_000_000, time_ms=3), 10**22) == (1_005_300 * 10**15, 8_994_700 * 10**15)
    assert charge(ResourcesUsed(instructions=5_000_001), 10**22)[0] == 10**21 + 6 * E18  # a started million counts
    assert charge(ResourcesUsed(instructions=99_999_999_999, time_ms=100, compile_time_ms=1000), 5 * 10**22) == (
        5 * 10**22,
        0,
    )


def test_billing_per_payer_per_day_is_exact(loaded: str) -> None:
    rows = _rows(loaded, "SELECT * FROM analytics.billing_daily ORDER BY payer, day")
    got = {(r.pop("payer"), r.pop("day")): r for r in rows}
    assert got == EXPECTED_BILLING
    for row in rows:  # numeric, never float: exact at 24 decimal places
        assert isinstance(row["charged_yocto"], Decimal) and isinstance(row["refunded_yocto"], Decimal)


def test_billing_equals_the_sum_of_the_chain_events(loaded: str) -> None:
    """Every yocto the chain moved is in the view once: charged + refunded = deposits of settled requests."""
    (total,) = _rows(loaded, "SELECT sum(charged_yocto) c, sum(refunded_yocto) r FROM analytics.billing_daily")
    settled = {"a1": 10**23, "a2": 10**22, "a3": 2 * 10**22, "b1": 5 * 10**22, "b2": 2 * 10**22, "c2": 10**23}
    assert total["c"] + total["r"] == sum(settled.values())


def test_request_status_has_stages_and_outcome(loaded: str) -> None:
    rows = {r["request_id"]: r for r in _rows(loaded, "SELECT * FROM analytics.request_status")}
    assert {rid: r["status"] for rid, r in rows.items()} == {
        "a1": "succeeded", "a2": "failed", "a3": "timed_out", "b1": "succeeded", "b2": "cancelled",
        "c1": "requested", "c2": "failed", "d1": "expired", "d2": "settlement_skipped",
    }  # fmt: skip
    a1 = rows["a1"]
    start = D1 + timedelta(hours=12)
    assert a1["requested_at"] == start
    assert a1["compiled_at"] == start + timedelta(milliseconds=40)
    assert a1["executed_at"] == start + timedelta(milliseconds=55)
    assert a1["resolution_submitted_at"] == start + timedelta(milliseconds=80)
    assert a1["completed_at"] == start + timedelta(seconds=2)
    assert a1["is_final"] and a1["compile_outcome"] == "built" and a1["execution_success"]
    assert (a1["charged_yocto"], a1["refunded_yocto"]) == (1_011_700 * 10**15, 98_988_300 * 10**15)
    assert a1["sender_id"] == "alice.near" and a1["payment_yocto"] == 10**23
    assert rows["a2"]["compile_outcome"] == "cache_hit"
    assert rows["c2"]["compile_outcome"] == "failed" and rows["c2"]["error_kind"] == "build_failed"
    assert rows["b2"]["refunded_yocto"] == 2 * 10**22 and rows["b2"]["cancelled_at"] is not None
    assert not rows["c1"]["is_final"] and rows["c1"]["compiled_at"] is None
    assert rows["d1"]["expired_stage"] == "settle" and rows["d2"]["skip_reason"] == "already_resolved"


def test_usage_per_code_source(loaded: str) -> None:
    rows = _rows(loaded, "SELECT * FROM analytics.usage_by_code_source ORDER BY wasm_sha256 DESC")
    built, unbuilt = rows
    assert built["repo"] == "https://github.com/near-offshore/echo.git" and len(built["wasm_sha256"]) == 64
    # a1 a2 a3 b1 d1 d2 compiled the same source; a2 was a cache hit
    assert (built["requests"], built["builds"], built["cache_hits"], built["executions"]) == (6, 5, 1, 6)
    assert (built["succeeded"], built["failed"]) == (2, 2)
    assert built["charged_yocto"] == (1_011_700 + 1_005_300) * 10**15 + 5 * 10**22
    # b2 (cancelled before compiling), c1 (pending) and c2 (compilation failed) have no wasm
    assert unbuilt["wasm_sha256"] == "" and (unbuilt["requests"], unbuilt["compile_failures"]) == (3, 1)


def test_stage_latency_percentiles_per_hour(loaded: str) -> None:
    rows = _rows(
        loaded,
        "SELECT stage, samples, p50_ms, p99_ms, max_ms FROM analytics.stage_latency_hourly WHERE hour = %s",
        D1 + timedelta(hours=12),  # only a1 ends stages in this hour
    )
    got = {r["stage"]: (r["samples"], r["p50_ms"], r["max_ms"]) for r in rows}
    assert got == {
        "compile": (1, 40, 40),
        "execute": (1, 15, 15),
        "settle": (1, 25, 25),
        "chain": (1, 1920, 1920),
        "end_to_end": (1, 2000, 2000),
    }


def test_latency_percentiles_over_many_requests(database: str) -> None:
    base = D1 + timedelta(hours=3)
    events: list[Event] = []
    for i in range(100):  # compile latency i+1 ms for request i
        req, compiled = lifecycle(f"p{i}", at=base, outcome="compile_failed")[:2]
        events += [req, dataclasses.replace(compiled, occurred_at=base + timedelta(milliseconds=i + 1))]
    write_events(database, events)
    refresh_views(database)
    (row,) = _rows(
        database,
        "SELECT samples, p50_ms, p90_ms, p99_ms, max_ms FROM analytics.stage_latency_hourly WHERE stage = 'compile'",
    )
    assert row == {"samples": 100, "p50_ms": Decimal("50.500"), "p90_ms": Decimal("90.100"),
                   "p99_ms": Decimal("99.010"), "max_ms": 100}  # fmt: skip


def test_audit_timeline_tells_the_story_in_order(loaded: str) -> None:
    rows = _rows(loaded, "SELECT * FROM analytics.audit_timeline WHERE request_id = 'a1' ORDER BY seq")
    assert [(r["seq"], r["event_type"]) for r in rows] == [
        (1, "ExecutionRequested"),
        (2, "WasmCompiled"),
        (3, "ExecutionFinished"),
        (4, "ResolutionSubmitted"),
        (5, "ExecutionCompleted"),
    ]
    assert rows[0]["summary"].startswith("requested by alice.near: https://github.com/near-offshore/echo.git")
    assert rows[-1]["summary"] == (
        "settled on chain: success; charged 1011700000000000000000 yocto, refunded 98988300000000000000000 yocto"
    )
    assert all("request" not in r["details"] for r in rows)  # the carried request copy is left out


def test_secrets_never_reach_postgres(database: str) -> None:
    events = lifecycle("s1", secrets="VEhFLUNJUEhFUlRFWFQ=")
    assert isinstance(events[0], ExecutionRequested) and events[0].encrypted_secrets
    write_events(database, events)
    refresh_views(database)
    with psycopg.connect(database) as conn:
        dump = conn.execute("SELECT string_agg(payload::text, '') FROM store.events").fetchone()
        assert dump is not None and "VEhFLUNJUEhFUlRFWFQ" not in dump[0] and "encrypted_secrets" not in dump[0]
        flagged = conn.execute(
            "SELECT bool_and(has_secrets) FROM store.events"
            " WHERE request_id = 's1' AND event_type IN ('ExecutionRequested', 'WasmCompiled')"
        ).fetchone()
        assert flagged == (True,)
        assert conn.execute("SELECT has_secrets FROM analytics.request_status").fetchone() == (True,)


def test_writing_the_same_events_again_is_a_no_op(loaded: str) -> None:
    before = view_checksums(loaded)
    assert write_events(loaded, known_events()) == 0
    assert write_events(loaded, reversed(known_events())) == 0
    refresh_views(loaded)
    assert view_checksums(loaded) == before


def test_views_do_not_depend_on_arrival_order(make_database: Callable[[], str], loaded: str) -> None:
    other = make_database()
    migrate(other)
    write_events(other, reversed(known_events()))
    refresh_views(other)
    assert view_checksums(other) == view_checksums(loaded)


def test_store_events_is_append_only(loaded: str) -> None:
    with psycopg.connect(loaded) as conn:
        for statement in (
            "UPDATE store.events SET producer = 'x'",
            "DELETE FROM store.events",
            "TRUNCATE store.events",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(statement)
            conn.rollback()


def test_render_billing_is_a_readable_table(loaded: str) -> None:
    text = render_billing(loaded)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["day", "payer", "requests"]
    assert any(line.startswith("2026-11-24  alice.near") and "0.002017" in line for line in lines)
    assert lines[-1].startswith("total") and "0.0530255" in lines[-1]  # 2.017e21 + 5e22 + 1.0085e21 yocto


def test_render_billing_on_an_empty_database(database: str) -> None:
    assert render_billing(database) == "billing: no settled requests yet"


def test_format_near_is_exact() -> None:
    assert format_near(1_850_000_000_000_000_000_000) == "0.00185"
    assert format_near(10**24) == "1"
    assert format_near(1) == "0.000000000000000000000001"
    assert format_near(Decimal(123 * 10**24 + 5)) == "123.000000000000000000000005"


def test_views_and_checksums_do_not_depend_on_the_session_time_zone(loaded: str) -> None:
    far_east = make_conninfo(loaded, options="-c TimeZone=Pacific/Kiritimati")  # UTC+14
    assert view_checksums(far_east) == view_checksums(loaded)
    days = "SELECT payer, day FROM analytics.billing_daily ORDER BY 1, 2"
    assert _rows(far_east, days) == _rows(loaded, days)


def test_render_billing_can_refresh_first(database: str) -> None:
    write_events(database, lifecycle("r1", payer="zed.near"))
    assert render_billing(database) == "billing: no settled requests yet"  # views not refreshed yet
    assert "zed.near" in render_billing(database, refresh=True)
