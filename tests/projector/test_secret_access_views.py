"""The keystore's audit views on real Postgres: accesses per owner per day, and every denial."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from projector import refresh_views, view_checksums, write_events
from schemas import SecretsAccessed

D1 = datetime(2026, 11, 24, 23, 59, 59, tzinfo=UTC)
REPO, COMMIT = "https://github.com/acme/app.git", "a" * 40


def access(
    n: int, at: datetime, *, owner: str | None, sender: str | None, granted: bool, reason: str
) -> SecretsAccessed:
    return SecretsAccessed(
        event_id=f"secrets:{n}:x",
        request_id=str(n),
        occurred_at=at,
        producer="keystore",
        caller="unauthenticated" if reason.startswith("unauthenticated") else "token",
        granted=granted,
        reason=reason,
        owner_id=owner,
        sender_id=sender,
        repo=REPO if owner else None,
        commit=COMMIT if owner else None,
        key_id="k1" if owner else None,
        secret_names=["API_KEY"] if granted else [],
        observed_height=100 + n,
    )


EVENTS = [
    access(1, D1, owner="alice.near", sender="alice.near", granted=True, reason="granted"),
    access(2, D1, owner="alice.near", sender="bob.near", granted=False, reason="sender_not_allowed: bob.near may not"),
    access(3, D1 + timedelta(seconds=1), owner="alice.near", sender="alice.near", granted=True, reason="granted"),
    access(4, D1, owner="carol.near", sender="carol.near", granted=False, reason="policy_expired: at height 5"),
    access(5, D1, owner=None, sender=None, granted=False, reason="unauthenticated: wrong or missing bearer token"),
]


def _rows(dsn: str, query: str) -> list[dict[str, Any]]:
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        return conn.execute(query).fetchall()


def test_accesses_per_owner_per_day_and_every_denial(database: str) -> None:
    write_events(database, EVENTS)
    refresh_views(database)
    daily = _rows(database, "SELECT * FROM analytics.secret_access_daily ORDER BY owner_id, day")
    assert [(r["owner_id"], r["day"], r["decisions"], r["granted"], r["denied"], r["senders"]) for r in daily] == [
        ("", date(2026, 11, 24), 1, 0, 1, 0),  # a refused token: no envelope was read, so no owner
        ("alice.near", date(2026, 11, 24), 2, 1, 1, 2),
        ("alice.near", date(2026, 11, 25), 1, 1, 0, 1),  # one second past midnight UTC
        ("carol.near", date(2026, 11, 24), 1, 0, 1, 1),
    ]
    denials = _rows(database, "SELECT * FROM analytics.secret_denials ORDER BY request_id")
    assert [(r["request_id"], r["owner_id"], r["sender_id"], r["reason_code"]) for r in denials] == [
        ("2", "alice.near", "bob.near", "sender_not_allowed"),
        ("4", "carol.near", "carol.near", "policy_expired"),
        ("5", None, None, "unauthenticated"),
    ]
    assert denials[0]["caller"] == "token" and denials[2]["caller"] == "unauthenticated"
    before = view_checksums(database)
    assert write_events(database, list(reversed(EVENTS))) == 0  # replays change nothing
    refresh_views(database)
    assert view_checksums(database) == before
