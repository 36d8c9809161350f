"""Connections by name: environment variables locally, a fetched definition (Glue's) on AWS."""

from __future__ import annotations

import pytest

from etl_lib.sinks import Connection, EnvConnections, FetchedConnections, SinkError, StaticConnections
from etl_lib.sinks.connections import env_prefix


def test_a_named_url_gives_the_jdbc_url_and_the_credentials_apart() -> None:
    env = {"ETL_LIB_PG_ANALYTICS_URL": "postgresql://bi:p%40ss%3Aword@db.example.com:5433/reporting?sslmode=require"}

    connection = EnvConnections(env).resolve("analytics")

    assert connection == Connection(
        "analytics", "jdbc:postgresql://db.example.com:5433/reporting?sslmode=require", "bi", "p@ss:word"
    )
    assert connection.database == "reporting"
    assert connection.properties() == {"user": "bi", "password": "p@ss:word"}


def test_a_jdbc_url_takes_its_credentials_from_its_options_or_the_variables() -> None:
    in_options = EnvConnections(
        {"ETL_LIB_PG_BI_URL": "jdbc:postgresql://h:5432/db?user=u&password=secret&ssl=true"}
    ).resolve("bi")
    assert (in_options.url, in_options.user, in_options.password) == (
        "jdbc:postgresql://h:5432/db?ssl=true",
        "u",
        "secret",
    )

    named = {
        "ETL_LIB_PG_BI_URL": "jdbc:postgresql://h:5432/db",
        "ETL_LIB_PG_BI_USER": "u",
        "ETL_LIB_PG_BI_PASSWORD": "s",
    }
    assert EnvConnections(named).resolve("bi") == Connection("bi", "jdbc:postgresql://h:5432/db", "u", "s")

    libpq = {"ETL_LIB_PG_BI_URL": "jdbc:postgresql://h:5432/db", "PGUSER": "pu", "PGPASSWORD": "ps"}
    assert EnvConnections(libpq).resolve("bi") == Connection("bi", "jdbc:postgresql://h:5432/db", "pu", "ps")


def test_without_a_named_url_the_libpq_variables_serve_every_name() -> None:
    env = {"PGHOST": "127.0.0.1", "PGPORT": "6543", "PGUSER": "etl", "PGPASSWORD": "pw", "PGDATABASE": "gold"}

    assert EnvConnections(env).resolve("any-name") == Connection(
        "any-name", "jdbc:postgresql://127.0.0.1:6543/gold", "etl", "pw"
    )
    assert EnvConnections({"PGHOST": "h", "PGUSER": "etl"}).resolve("x").url == "jdbc:postgresql://h:5432/etl"


def test_a_missing_connection_names_the_variables_to_set() -> None:
    with pytest.raises(SinkError) as error:
        EnvConnections({}).resolve("gold-db")
    assert str(error.value) == (
        "connection gold-db is not configured: set ETL_LIB_PG_GOLD_DB_URL "
        "(e.g. postgresql://user:password@host:5432/database), or PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE"
    )
    with pytest.raises(SinkError, match="PGHOST=/var/run/postgresql is a socket folder"):
        EnvConnections({"PGHOST": "/var/run/postgresql", "PGUSER": "u"}).resolve("x")
    with pytest.raises(
        SinkError, match=r"must start with postgresql:// or jdbc:postgresql://.*got one starting 'mysql'"
    ):
        EnvConnections({"ETL_LIB_PG_X_URL": "mysql://u:topsecret@h/db"}).resolve("x")
    assert env_prefix("gold.db-2") == "ETL_LIB_PG_GOLD_DB_2_"


def test_a_connection_never_shows_its_password() -> None:
    connection = Connection.from_url("bi", "postgresql://u:top%2Fsecret@h:5432/db")

    assert "top/secret" not in repr(connection) and "top/secret" not in str(connection)
    assert str(connection) == "bi (jdbc:postgresql://h:5432/db as u)"
    assert connection.redact("auth failed for top/secret (top%2Fsecret)") == "auth failed for *** (***)"


def test_glue_style_definitions_are_fetched_once_per_name() -> None:
    calls: list[str] = []

    def extract_jdbc_conf(name: str) -> dict[str, str]:  # what glueContext.extract_jdbc_conf returns
        calls.append(name)
        if name != "aurora":
            raise RuntimeError(f"EntityNotFoundException: connection {name} not found\nat ...")
        return {"url": "jdbc:postgresql://aurora.example.com:5432", "user": "etl", "password": "from-secrets-manager"}

    connections = FetchedConnections(extract_jdbc_conf, databases={"aurora": "gold"})

    aurora = connections.resolve("aurora")
    assert aurora == Connection(
        "aurora", "jdbc:postgresql://aurora.example.com:5432/gold", "etl", "from-secrets-manager"
    )
    assert connections.resolve("aurora") is aurora and calls == ["aurora"]
    with pytest.raises(SinkError, match=r"^connection other: cannot read its definition \(EntityNotFoundException: "):
        connections.resolve("other")
    full = Connection.from_mapping(
        "x", {"fullUrl": "jdbc:postgresql://h:5432/db", "url": "jdbc:postgresql://h:5432", "user": "u", "password": "p"}
    )
    assert full.url == "jdbc:postgresql://h:5432/db"


def test_static_connections_name_the_known_ones() -> None:
    connections = StaticConnections({"bi": Connection("bi", "jdbc:postgresql://h/db", "u", "p")})
    assert connections.resolve("bi").user == "u"
    with pytest.raises(SinkError, match="connection gold is not configured; known: bi"):
        connections.resolve("gold")
