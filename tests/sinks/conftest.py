"""The sink tests' helpers: a fresh schema per test on the session's PostgreSQL server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from etl_lib.sinks.connections import Connection
from tests.postgres import PostgresServer


@pytest.fixture(scope="session")
def pg_connection(postgres: PostgresServer) -> Connection:
    """The test server as a sink connection named ``test``, from its URL (as ETL_LIB_PG_TEST_URL would give it)."""
    return Connection.from_url("test", postgres.url)


@pytest.fixture
def schema(postgres: PostgresServer) -> Iterator[str]:
    """A schema of the test's own, dropped after it."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    postgres.sql(f"CREATE SCHEMA {name}")
    yield name
    postgres.sql(f"DROP SCHEMA {name} CASCADE")
