"""Everything that speaks SQL: migrations, batch writes with their offsets, view refresh and reads.

psycopg errors are translated here (`_translate`) and nowhere else. Connection strings never appear
in messages: they may carry a password.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from projector.core import COLUMNS, EventRow, Position, next_offsets
from projector.errors import DatabaseError, MigrationError, NotMigratedError

VIEWS: tuple[str, ...] = (
    "request_status",
    "billing_daily",
    "usage_by_code_source",
    "stage_latency_hourly",
    "audit_timeline",
)
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_MIGRATE_LOCK = 0x0FF5_40E1  # advisory lock id: one migrator per database at a time


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True)
class Rejected:
    """A message that is not a decodable event: recorded by position, its bytes only by hash."""

    position: Position
    error_type: str
    error: str
    payload_size: int
    payload_sha256: str


@dataclass(frozen=True)
class BatchResult:
    received: int
    written: int  # new events; received - written - rejected were duplicates
    rejected: int

    @property
    def duplicates(self) -> int:
        return self.received - self.written - self.rejected


@contextlib.contextmanager
def _translate(what: str) -> Iterator[None]:
    try:
        yield
    except psycopg.errors.InsufficientPrivilege as exc:
        raise DatabaseError(f"{what}: permission denied ({_first_line(exc)})") from exc
    except psycopg.Error as exc:
        raise DatabaseError(f"{what}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def connect(dsn: str, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    with _translate("cannot connect to Postgres"):
        return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=10)


# ---- migrations ----


def load_migrations(directory: Path | None = None) -> list[Migration]:
    """The versioned SQL files, in order. Names are `NNNN_snake_name.sql`; versions must be unique."""
    if directory is None:
        files = [(f.name, f.read_text()) for f in resources.files("projector.migrations").iterdir()]
    else:
        files = [(p.name, p.read_text()) for p in directory.iterdir()]
    out: list[Migration] = []
    for name, text in sorted(files):
        if not name.endswith(".sql"):
            continue
        match = _MIGRATION_NAME.match(name)
        if match is None:
            raise MigrationError(f"migration file {name!r} is not named NNNN_snake_name.sql")
        out.append(Migration(match.group(1), name, text))
    versions = [m.version for m in out]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {sorted(versions)}")
    return out


def migrate(dsn: str, *, directory: Path | None = None) -> list[str]:
    """Applies the missing migrations, each in its own transaction with its record; returns their names.

    Idempotent, and safe to run concurrently (an advisory lock serialises migrators). Refuses to run
    when an applied file was edited since: the database would silently differ from the files.
    """
    migrations = load_migrations(directory)
    applied_now: list[str] = []
    with connect(dsn, autocommit=True) as conn, _translate("migration failed"):
        conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATE_LOCK,))
        try:
            conn.execute("CREATE SCHEMA IF NOT EXISTS store")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS store.schema_migrations ("
                " version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            recorded = {
                row[0]: (row[1], row[2])
                for row in conn.execute("SELECT version, name, checksum FROM store.schema_migrations")
            }
            for migration in migrations:
                known = recorded.get(migration.version)
                if known is not None:
                    if known[1] != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.name} was edited after it was applied "
                            f"(as {known[0]}); add a new migration instead"
                        )
                    continue
                try:
                    with conn.transaction():
                        conn.execute(migration.sql.encode())
                        conn.execute(
                            "INSERT INTO store.schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                            (migration.version, migration.name, migration.checksum),
                        )
                except psycopg.Error as exc:
                    raise MigrationError(f"migration {migration.name} failed: {_first_line(exc)}") from exc
                applied_now.append(migration.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATE_LOCK,))
    return applied_now


def pending_migrations(conn: psycopg.Connection[Any], directory: Path | None = None) -> list[str]:
    with _translate("cannot read the migration state"):
        exists = conn.execute("SELECT to_regclass('store.schema_migrations') IS NOT NULL").fetchone()
        applied: set[str] = set()
        if exists and exists[0]:
            applied = {row[0] for row in conn.execute("SELECT version FROM store.schema_migrations")}
        conn.rollback()
    return [m.name for m in load_migrations(directory) if m.version not in applied]


def require_migrated(conn: psycopg.Connection[Any]) -> None:
    pending = pending_migrations(conn)
    if pending:
        database = conn.info.dbname
        raise NotMigratedError(
            f"database {database!r} is not migrated (pending: {', '.join(pending)}); run `offshore db migrate`"
        )


# ---- writes ----


def write_batch(
    conn: psycopg.Connection[Any],
    rows: Sequence[tuple[EventRow, Position]],
    *,
    group_id: str | None,
    rejected: Sequence[Rejected] = (),
    optimistic: bool = False,
) -> BatchResult:
    """Appends the events (duplicates ignored), records rejects and moves the group's offsets: one transaction.

    `optimistic` first tries a plain COPY into the table, twice as fast when every event is new (the
    normal case); a duplicate rolls that attempt back to a savepoint and the batch goes through a
    staging table with ON CONFLICT DO NOTHING instead (the replay case).
    Offsets only move forward (GREATEST), so a late batch from a member that just lost the partition
    cannot rewind the new owner.
    """
    unique: dict[str, tuple[EventRow, Position]] = {}
    for row, pos in rows:
        unique.setdefault(row.event_id, (row, pos))  # the first copy in Kafka order wins
    positions = [pos for _, pos in rows] + [r.position for r in rejected]
    with _translate("cannot write the batch"), conn.transaction():
        written = 0
        if unique and optimistic:
            written = _copy_all_new(conn, unique.values())
        if unique and not written:
            written = _copy_skipping_duplicates(conn, unique.values())
        if rejected:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO store.rejected_messages (topic, kafka_partition, kafka_offset, error_type,"
                    " error, payload_size, payload_sha256) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT DO NOTHING",
                    [
                        (
                            r.position.topic,
                            r.position.partition,
                            r.position.offset,
                            r.error_type,
                            r.error,
                            r.payload_size,
                            r.payload_sha256,
                        )
                        for r in rejected
                    ],
                )
        if group_id is not None and positions:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO store.projector_offsets (consumer_group, topic, kafka_partition, next_offset)"
                    " VALUES (%s, %s, %s, %s) ON CONFLICT (consumer_group, topic, kafka_partition) DO UPDATE"
                    " SET next_offset = GREATEST(store.projector_offsets.next_offset, EXCLUDED.next_offset),"
                    " updated_at = now()",
                    [(group_id, t, p, o) for (t, p), o in sorted(next_offsets(positions).items())],
                )
    return BatchResult(received=len(rows) + len(rejected), written=written, rejected=len(rejected))


_COLUMN_LIST = sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)


def _copy_all_new(conn: psycopg.Connection[Any], rows: Iterable[tuple[EventRow, Position]]) -> int:
    """COPY straight into the table; 0 (and nothing written) when any event is already stored."""
    count = 0
    try:
        query = sql.SQL("COPY store.events ({}) FROM STDIN").format(_COLUMN_LIST)
        # the transaction is a savepoint: a duplicate undoes only this attempt
        with conn.transaction(), conn.cursor() as cur, cur.copy(query) as copy:
            for row, pos in rows:
                copy.write_row(row.copy_record(pos))
                count += 1
    except psycopg.errors.UniqueViolation:
        return 0
    return count


def _copy_skipping_duplicates(conn: psycopg.Connection[Any], rows: Iterable[tuple[EventRow, Position]]) -> int:
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS _incoming (LIKE store.events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    with conn.cursor() as cur:
        with cur.copy(sql.SQL("COPY _incoming ({}) FROM STDIN").format(_COLUMN_LIST)) as copy:
            for row, pos in rows:
                copy.write_row(row.copy_record(pos))
        cur.execute(
            sql.SQL(
                "INSERT INTO store.events ({cols}) SELECT {cols} FROM _incoming ON CONFLICT (event_id) DO NOTHING"
            ).format(cols=_COLUMN_LIST)
        )
        return max(cur.rowcount, 0)


def stored_offsets(conn: psycopg.Connection[Any], group_id: str, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    with _translate("cannot read projector offsets"):
        result = conn.execute(
            "SELECT topic, kafka_partition, next_offset FROM store.projector_offsets"
            " WHERE consumer_group = %s AND topic = ANY(%s)",
            (group_id, list(topics)),
        ).fetchall()
        conn.rollback()
    return {(t, p): o for t, p, o in result}


# ---- views ----


def refresh_views(dsn: str) -> None:
    """Refreshes every view concurrently (readers are never blocked), in one consistent transaction."""
    with connect(dsn) as conn, _translate("cannot refresh the views"):
        require_migrated(conn)
        conn.execute("SELECT store.refresh_views()")
        conn.commit()


def view_checksums(dsn: str) -> dict[str, str]:
    """md5 of each view's rows in a canonical order: equal checksums mean equal views."""
    out: dict[str, str] = {}
    with connect(dsn) as conn, _translate("cannot read the views"):
        # row text must not depend on the session: pin what changes how values print
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("SET DateStyle = 'ISO, YMD'")
        conn.execute("SET IntervalStyle = 'postgres'")
        conn.execute("SET extra_float_digits = 1")
        for view in VIEWS:
            query = sql.SQL(
                "SELECT md5(coalesce(string_agg(v::text, E'\\n' ORDER BY v::text), '')) FROM analytics.{} v"
            ).format(sql.Identifier(view))
            row = conn.execute(query).fetchone()
            out[view] = str(row[0]) if row else ""
    return out


def billing_rows(dsn: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """The newest days first, payers alphabetical within a day."""
    with connect(dsn) as conn, _translate("cannot read the billing view"), conn.cursor() as cur:
        cur.execute(
            "SELECT day, payer, requests, succeeded, failed, timed_out, cancelled, instructions, time_ms,"
            " compile_time_ms, charged_yocto, refunded_yocto"
            " FROM analytics.billing_daily ORDER BY day DESC, payer LIMIT %s",
            (limit,),
        )
        names = [d.name for d in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
