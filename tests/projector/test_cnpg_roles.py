"""Migrations as CloudNativePG runs them: as the database owner CNPG creates, on a fresh server.

CNPG bootstraps a cluster with `initdb`, then creates the application owner as `CREATE ROLE <owner>
LOGIN` (no CREATEROLE, no superuser) and its database `OWNER <owner>`, runs `postInitSQL` as the
superuser in the `postgres` database, and later reconciles `managed.roles` (create or alter the role,
LOGIN, password, then GRANT each of `inRoles`). This module does exactly that with the statements
and roles read from deploy/k8s/base/postgres.yaml, then runs every migration as the owner (what the
migration Job does with Secret `offshore-pg-app`), and checks the projector and analyst logins.
A private server: the roles are cluster-wide, and the point is that nobody else created them first.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg import sql
from psycopg.conninfo import make_conninfo

from offshore.stack import LocalStack
from projector import MigrationError, migrate, refresh_views, view_checksums, write_events
from projector.synthetic import lifecycle

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "base" / "postgres.yaml"


def _cluster() -> dict[str, Any]:
    (cluster,) = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d and d["kind"] == "Cluster"]
    return cluster


@dataclass(frozen=True)
class Cnpg:
    superuser: str  # DSN of the server's superuser, database `postgres`
    owner: str  # DSN of the application owner, its database
    logins: dict[str, str]  # managed role name -> its DSN


def _bootstrap_owner(superuser: str, database: str, owner: str) -> None:
    with psycopg.connect(superuser, autocommit=True) as conn:
        # the local stack made a database of this name for itself, owned by the superuser
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(database)))
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(owner)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(owner)))


def _post_init(superuser: str, statements: list[str]) -> None:
    with psycopg.connect(superuser, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.encode())


def _managed_roles(superuser: str, roles: list[dict[str, Any]]) -> None:
    """What CNPG's role reconciler does for each `managed.roles` entry (password from its Secret)."""
    with psycopg.connect(superuser, autocommit=True) as conn:
        for role in roles:
            name = sql.Identifier(role["name"])
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role["name"],)).fetchone()
            login = sql.SQL("LOGIN" if role.get("login") else "NOLOGIN")
            password = sql.Literal(f"pw-{role['name']}")
            verb = sql.SQL("ALTER" if exists else "CREATE")
            conn.execute(sql.SQL("{} ROLE {} {} PASSWORD {}").format(verb, name, login, password))
            for group in role.get("inRoles", []):
                conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), name))


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """A fresh Postgres server of this module's own; the superuser DSN."""
    state = Path(tempfile.mkdtemp(prefix="offshore-cnpg-", dir="/tmp"))
    state.chmod(0o755)  # the postgres user must reach its data dir when we run as root
    stack = LocalStack(state)
    try:
        yield make_conninfo(stack.up().postgres_dsn, dbname="postgres")
    finally:
        stack.down()
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="module")
def cnpg(server: str) -> Cnpg:
    cluster = _cluster()["spec"]
    initdb = cluster["bootstrap"]["initdb"]
    database, owner = initdb["database"], initdb["owner"]
    _bootstrap_owner(server, database, owner)
    owner_dsn = make_conninfo(server, dbname=database, user=owner)
    # Without the bootstrap's roles the owner cannot migrate, and says why (nothing half-applied).
    with pytest.raises(MigrationError, match=r"0003_roles\.sql failed: roles .* are missing and offshore may not"):
        migrate(owner_dsn)
    _post_init(server, initdb["postInitSQL"])
    _post_init(server, initdb["postInitSQL"])  # idempotent: safe to re-run on a bootstrapped cluster
    assert "0003_roles.sql" in migrate(owner_dsn)
    _managed_roles(server, cluster["managed"]["roles"])
    logins = {
        role["name"]: make_conninfo(server, dbname=database, user=role["name"], password=f"pw-{role['name']}")
        for role in cluster["managed"]["roles"]
    }
    return Cnpg(server, owner_dsn, logins)


def test_the_owner_is_what_cnpg_creates(cnpg: Cnpg) -> None:
    with psycopg.connect(cnpg.owner) as conn:
        row = conn.execute("SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user")
        assert row.fetchone() == (False, False, False)
        applied = conn.execute("SELECT name FROM store.schema_migrations ORDER BY version").fetchall()
    migrations = sorted(p.name for p in (Path(migrate.__code__.co_filename).parent / "migrations").glob("*.sql"))
    assert [name for (name,) in applied] == migrations


def test_managed_roles_are_declared_for_the_projector_and_the_analyst(cnpg: Cnpg) -> None:
    assert {name: _groups(cnpg, name) for name in cnpg.logins} == {
        "projector": ["offshore_writer"],
        "analyst": ["offshore_analyst"],
    }


def _groups(cnpg: Cnpg, role: str) -> list[str]:
    with psycopg.connect(cnpg.superuser) as conn:
        rows = conn.execute(
            "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid"
            " JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s",
            (role,),
        ).fetchall()
    return [name for (name,) in rows]


def test_the_projector_appends_and_refreshes(cnpg: Cnpg) -> None:
    projector = cnpg.logins["projector"]
    before = view_checksums(cnpg.owner)
    events = lifecycle("c1") + lifecycle("c2", outcome="cancelled")
    assert write_events(projector, events) == len(events)
    refresh_views(projector)
    assert view_checksums(projector) != before
    with psycopg.connect(projector) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM store.events")


def test_the_analyst_reads_views_only_under_a_statement_timeout(cnpg: Cnpg) -> None:
    analyst = cnpg.logins["analyst"]
    write_events(cnpg.logins["projector"], lifecycle("c3"))
    refresh_views(cnpg.logins["projector"])
    with psycopg.connect(analyst) as conn:
        assert conn.execute("SHOW statement_timeout").fetchone() == ("30s",)
        row = conn.execute("SELECT count(*) FROM analytics.request_status").fetchone()
        assert row is not None and row[0] > 0
    with psycopg.connect(analyst) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT * FROM store.events")
    with psycopg.connect(analyst) as conn, pytest.raises(psycopg.errors.QueryCanceled):
        conn.execute("SET statement_timeout = '50ms'")  # the enforcement itself, without waiting 30 s
        conn.execute("SELECT pg_sleep(2)")
