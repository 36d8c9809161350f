"""sinks: a spec's rows loaded into a database after each build (PostgreSQL; Aurora on AWS).

``base`` holds the ``sinks:`` section's model, its checks and the ``Sink`` interface;
``connections`` turns a connection's name into an address and credentials (environment
variables locally, a Glue connection on AWS); ``postgres`` is the PostgreSQL sink over JDBC.
See docs/sinks.md.
"""

from __future__ import annotations

from typing import Any

from etl_lib.faults import Faults
from etl_lib.sinks.base import LoadResult, Sink, SinkSpec, parse_sinks, sink_problems
from etl_lib.sinks.connections import (
    Connection,
    ConnectionResolver,
    EnvConnections,
    FetchedConnections,
    StaticConnections,
)
from etl_lib.sinks.errors import SinkError, SinkUnavailable

__all__ = [
    "Connection",
    "ConnectionResolver",
    "EnvConnections",
    "FetchedConnections",
    "LoadResult",
    "Sink",
    "SinkError",
    "SinkSpec",
    "SinkUnavailable",
    "StaticConnections",
    "open_sink",
    "parse_sinks",
    "sink_problems",
]


def open_sink(spec: SinkSpec, spark: Any, connections: ConnectionResolver, faults: Faults | None = None) -> Sink:
    """The sink a spec's entry describes, its connection resolved (``SinkError`` when it cannot be)."""
    from etl_lib.sinks.postgres import PostgresSink

    return PostgresSink(spec, spark, connections.resolve(spec.connection), faults=faults)
