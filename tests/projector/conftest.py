"""Databases and topics of our own: other engineers share the session's Postgres and broker."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from projector import migrate
from streams import ALL_TOPICS, Topic, create_topics


class _Databases:
    """Creates uniquely named databases from the superuser DSN and drops them all at the end."""

    def __init__(self, superuser_dsn: str) -> None:
        self._dsn = superuser_dsn
        self._names: list[str] = []

    def make(self) -> str:
        name = f"proj_{uuid.uuid4().hex[:12]}"
        with self._admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        self._names.append(name)
        return make_conninfo(self._dsn, dbname=name)

    def drop_all(self) -> None:
        with self._admin() as admin:
            for name in self._names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(make_conninfo(self._dsn, dbname="postgres"), autocommit=True)


@pytest.fixture
def make_database(postgres_dsn: str) -> Iterator[Callable[[], str]]:
    """Each call creates an empty database of this test's own and returns its DSN."""
    databases = _Databases(postgres_dsn)
    yield databases.make
    databases.drop_all()


@pytest.fixture
def new_database(make_database: Callable[[], str]) -> str:
    return make_database()


@pytest.fixture
def database(new_database: str) -> str:
    """A migrated database of this test's own."""
    migrate(new_database)
    return new_database


@pytest.fixture(scope="module")
def module_database(postgres_dsn: str) -> Iterator[str]:
    """A migrated database shared by one module's read-mostly tests."""
    databases = _Databases(postgres_dsn)
    dsn = databases.make()
    migrate(dsn)
    yield dsn
    databases.drop_all()


@pytest.fixture
def topics(kafka_bootstrap: str) -> list[str]:
    """A private copy of every platform topic (same partitions), in ALL_TOPICS order."""
    tag = uuid.uuid4().hex[:8]
    mine = [Topic(f"test.{tag}.{t.name}", t.events, partitions=t.partitions) for t in ALL_TOPICS]
    create_topics(kafka_bootstrap, mine)
    return [t.name for t in mine]
