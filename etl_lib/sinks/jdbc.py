"""A JDBC connection opened on Spark's JVM, and JDBC's errors sorted into ours.

Glue 5.1 has no Python PostgreSQL driver, but its JVM has the JDBC driver (and ``make`` puts
``org.postgresql:postgresql`` into the venv's Spark jars), so the sink's own statements go
through Py4J to the same driver Spark's writer uses.

Errors are sorted by SQLSTATE, the standard's code the driver attaches to every
``SQLException``: class 08 (connection), 40001/40P01 (serialization failure, deadlock),
53300 (too many connections), 57P01-03 (the server shut down, restarting, or not accepting
connections yet) are transient; every other one is terminal. Messages keep the first line
of the innermost ``SQLException`` (no statement text, no row values) and never the password.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Sequence
from typing import Any

from etl_lib.errors import EngineError, EtlError
from etl_lib.sinks.connections import Connection
from etl_lib.sinks.errors import SinkError, SinkUnavailable

TRANSIENT_STATES = frozenset({"40001", "40P01", "53300", "57P01", "57P02", "57P03"})
TRANSIENT_CLASSES = ("08",)
_TRANSIENT_TEXT = re.compile(
    r"Connection refused|Connection reset|SocketTimeoutException|ConnectException|EOFException|"
    r"An I/O error occurred|The connection attempt failed|This connection has been closed"
)
DRIVER = "org.postgresql.Driver"


_PY4J_LOGGERS = ("py4j", "py4j.clientserver", "py4j.java_gateway", "py4j.protocol")


@contextlib.contextmanager
def credentials_unlogged() -> Iterator[None]:
    """Py4J's own debug log spells out every command it sends to the JVM, a password among them:
    while credentials cross over, it logs from INFO up only."""
    loggers = [logging.getLogger(name) for name in _PY4J_LOGGERS]
    saved = [logger.level for logger in loggers]
    for logger in loggers:
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        for logger, level in zip(loggers, saved, strict=True):
            logger.setLevel(level)


def is_transient_state(state: str | None) -> bool:
    """Whether a SQLSTATE names a condition a later attempt may not meet."""
    return bool(state) and (state in TRANSIENT_STATES or str(state).startswith(TRANSIENT_CLASSES))


def _java_exception(exc: BaseException) -> Any:
    """The Java throwable behind a Py4J or PySpark exception, if any."""
    return getattr(exc, "java_exception", None) or getattr(exc, "_origin", None)


def _sql_exceptions(jexc: Any) -> Iterator[tuple[str | None, str]]:
    """(SQLSTATE, first message line) of every ``SQLException`` in a Java cause chain, outermost first."""
    from py4j.java_gateway import is_instance_of
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    pending = [jexc]
    for _ in range(20):  # a cause chain is short; the bound only guards against a cycle
        if not pending:
            return
        current = pending.pop(0)
        if current is None:
            continue
        if is_instance_of(gateway, current, "java.sql.SQLException"):
            message = str(current.getMessage() or "")
            yield current.getSQLState(), next((ln.strip() for ln in message.splitlines() if ln.strip()), "")
            pending.append(current.getNextException())
        pending.append(current.getCause())


def translate_jdbc_error(exc: BaseException, where: str, connection: Connection) -> EtlError:
    """The ``EtlError`` for what a JDBC call (ours or Spark's writer) raised; one line, no password."""
    if isinstance(exc, EtlError):
        return exc
    from py4j.protocol import Py4JError, Py4JJavaError

    if isinstance(exc, ConnectionError) or (isinstance(exc, Py4JError) and not isinstance(exc, Py4JJavaError)):
        from etl_lib.spark_errors import translate_spark_error

        engine = translate_spark_error(exc, where)
        if isinstance(engine, EngineError):
            return EngineError(connection.redact(str(engine)))
    found: list[tuple[str | None, str]] = []
    jexc = _java_exception(exc)
    if jexc is not None:
        try:
            found = list(_sql_exceptions(jexc))
        except Py4JError:  # the JVM is gone: the text is all there is
            found = []
    if found:
        state, message = found[-1]
        state = state or next((s for s, _ in reversed(found) if s), None)
        line = f"{where}: {message}" + (f" (SQLSTATE {state})" if state else "")
        transient = is_transient_state(state)
    else:
        from etl_lib.runner.errors import one_line

        line = f"{where}: {one_line(exc)}"
        transient = bool(_TRANSIENT_TEXT.search(str(exc)))
    line = " ".join(connection.redact(line).split())[:400]
    return SinkUnavailable(line) if transient else SinkError(line)


class JdbcSession:
    """One JDBC connection on Spark's JVM: statements with text parameters, and transactions."""

    def __init__(self, spark: Any, connection: Connection, application: str) -> None:
        jvm = spark.sparkContext._jvm
        driver = jvm.org.postgresql.Driver
        if not callable(driver) or type(driver).__name__ == "JavaPackage":
            raise SinkError(
                "the PostgreSQL JDBC driver (org.postgresql.Driver) is not on Spark's classpath: "
                "run make (it puts org.postgresql:postgresql into the venv's Spark jars); Glue has its own"
            )
        settings = {
            **connection.properties(),
            "ApplicationName": application[:63],
            "connectTimeout": "10",
            "tcpKeepAlive": "true",
        }
        with credentials_unlogged():
            props = jvm.java.util.Properties()
            for key, value in settings.items():
                props.setProperty(key, value)
            conn = driver().connect(connection.url, props)
        if conn is None:
            raise SinkError(f"connection {connection.name}: the driver does not take URL {connection.url}")
        self._conn = conn

    def execute(self, sql: str, params: Sequence[str] = ()) -> int:
        """Run one statement; the rows it changed (0 for DDL)."""
        statement = self._conn.prepareStatement(sql)
        try:
            for i, value in enumerate(params, 1):
                statement.setString(i, value)
            return int(statement.executeUpdate())
        finally:
            statement.close()

    def query(self, sql: str, params: Sequence[str] = ()) -> list[tuple[str | None, ...]]:
        """The rows of one query, every value as text (None for NULL)."""
        statement = self._conn.prepareStatement(sql)
        try:
            for i, value in enumerate(params, 1):
                statement.setString(i, value)
            result = statement.executeQuery()
            width = result.getMetaData().getColumnCount()
            rows = []
            while result.next():
                rows.append(tuple(result.getString(i) for i in range(1, width + 1)))
            return rows
        finally:
            statement.close()

    def begin(self) -> None:
        """Start a transaction: statements from here on commit together or not at all."""
        self._conn.setAutoCommit(False)

    def commit(self) -> None:
        """Commit the transaction; back to one statement at a time."""
        self._conn.commit()
        self._conn.setAutoCommit(True)

    def rollback(self) -> None:
        """Undo the transaction (nothing happens when none is open)."""
        if not self._conn.getAutoCommit():
            self._conn.rollback()
            self._conn.setAutoCommit(True)

    def close(self) -> None:
        """Close the connection (its session locks go with it)."""
        self._conn.close()
