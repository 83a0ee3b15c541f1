"""Roles on the real server: analysts read the views and nothing else; the writer appends and refreshes."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from projector import DatabaseError, Position, refresh_views, to_row, view_checksums, write_events
from projector._postgres import write_batch
from projector.synthetic import lifecycle

Logins = dict[str, str]


@pytest.fixture(scope="module")
def logins(module_database: str) -> Iterator[Logins]:
    """A login role in each group role (cluster-wide names made unique); their DSNs by group."""
    made: list[str] = []
    out: Logins = {}
    database = module_database
    with psycopg.connect(database, autocommit=True) as conn:
        for group in ("offshore_analyst", "offshore_writer"):
            name = f"{group.split('_')[1]}_{uuid.uuid4().hex[:8]}"
            conn.execute(f'CREATE ROLE "{name}" LOGIN IN ROLE {group}')
            made.append(name)
            out[group] = make_conninfo(database, user=name)
    write_events(database, lifecycle("x1") + lifecycle("x2", outcome="cancelled"))
    refresh_views(database)
    yield out
    with psycopg.connect(make_conninfo(database, dbname="postgres"), autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')


def _refused(dsn: str, statement: str) -> psycopg.Error:
    with psycopg.connect(dsn) as conn, pytest.raises(psycopg.Error) as info:
        conn.execute(statement)
    return info.value


def test_analyst_reads_every_view(logins: Logins) -> None:
    with psycopg.connect(logins["offshore_analyst"]) as conn:
        for view in (
            "request_status",
            "billing_daily",
            "usage_by_code_source",
            "stage_latency_hourly",
            "audit_timeline",
        ):
            row = conn.execute(f"SELECT count(*) FROM analytics.{view}").fetchone()
            assert row is not None and row[0] > 0, view
    assert conninfo_to_dict(logins["offshore_analyst"])["user"] != "postgres"


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM store.events",
        "SELECT * FROM store.projector_offsets",
        "SELECT * FROM store.schema_migrations",
        "INSERT INTO store.events (event_id) VALUES ('x')",
        "SELECT store.refresh_views()",
        "REFRESH MATERIALIZED VIEW analytics.billing_daily",
        "DELETE FROM analytics.billing_daily",
        "CREATE TABLE analytics.mine (id int)",
        "CREATE TABLE public.mine (id int)",
        "CREATE TEMP TABLE mine (id int)",
        "DROP MATERIALIZED VIEW analytics.billing_daily",
    ],
)
def test_analyst_is_refused_raw_tables_and_writes(logins: Logins, statement: str) -> None:
    error = _refused(logins["offshore_analyst"], statement)
    # permission denied / must be owner; a materialised view also refuses DML outright
    assert isinstance(error, psycopg.errors.InsufficientPrivilege | psycopg.errors.WrongObjectType), error


def test_writer_appends_moves_offsets_and_refreshes(logins: Logins, module_database: str) -> None:
    writer = logins["offshore_writer"]
    before = view_checksums(module_database)
    assert write_events(writer, lifecycle("w1")) == 5
    with psycopg.connect(writer) as conn:
        rows = [(to_row(e), Position("t", 0, i)) for i, e in enumerate(lifecycle("w2"))]
        assert write_batch(conn, rows, group_id="g").written == len(rows)
        assert conn.execute("SELECT next_offset FROM store.projector_offsets").fetchone() == (len(rows),)
    refresh_views(writer)
    assert view_checksums(writer) != before


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE store.events SET producer = 'x'",
        "DELETE FROM store.events",
        "TRUNCATE store.events",
        "DROP TABLE store.events",
        "DROP MATERIALIZED VIEW analytics.billing_daily",
        "REFRESH MATERIALIZED VIEW analytics.billing_daily",  # only through store.refresh_views()
        "DELETE FROM store.schema_migrations",
    ],
)
def test_writer_cannot_rewrite_history(logins: Logins, statement: str) -> None:
    assert isinstance(_refused(logins["offshore_writer"], statement), psycopg.errors.InsufficientPrivilege)


def test_permission_errors_are_translated(logins: Logins) -> None:
    with pytest.raises(DatabaseError, match="permission denied"):
        refresh_views(logins["offshore_analyst"])


def _readme_queries() -> list[str]:
    readme = (Path(__file__).parents[2] / "projector" / "README.md").read_text()
    section = readme.split("## Example analyst queries", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, flags=re.DOTALL)


def test_the_documented_analyst_queries_run_as_an_analyst(logins: Logins) -> None:
    queries = _readme_queries()
    assert len(queries) >= 5
    with psycopg.connect(logins["offshore_analyst"]) as conn:
        for query in queries:
            conn.execute(query).fetchall()
