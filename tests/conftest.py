"""Session-wide real services: one Kafka-API broker and one PostgreSQL server for the whole run."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from offshore.stack import Endpoints, LocalStack
from streams import create_topics


@pytest.fixture(scope="session")
def stack() -> Iterator[Endpoints]:
    """A real broker and Postgres on free loopback ports, stopped (no orphans) at session end."""
    state = Path(tempfile.mkdtemp(prefix="offshore-test-", dir="/tmp"))
    state.chmod(0o755)  # the postgres user must reach its data dir when we run as root
    local = LocalStack(state)
    try:
        endpoints = local.up()
        create_topics(endpoints.kafka_bootstrap)
        yield endpoints
    finally:
        local.down()
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka_bootstrap(stack: Endpoints) -> str:
    return stack.kafka_bootstrap


@pytest.fixture(scope="session")
def postgres_dsn(stack: Endpoints) -> str:
    return stack.postgres_dsn
