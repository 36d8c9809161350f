"""The sinks' errors: terminal and transient apart, like every other edge's (``etl_lib.errors``).

A database that cannot be reached, a lost connection, a serialization failure or a deadlock
is ``SinkUnavailable`` (transient: the next run loads again, and a load is idempotent); a
refusal (bad password, no such schema, a type the table cannot take, rows with the same key
twice) is ``SinkError``. Messages are one line and never carry a password.
"""

from __future__ import annotations

from etl_lib.errors import EtlError, TransientError


class SinkError(EtlError):
    """A sink refused a load, or its spec cannot work: named table, what is wrong, what to do."""


class SinkUnavailable(SinkError, TransientError):
    """The sink's database could not be reached or gave up on the load (connection, deadlock, restart)."""
