"""A sink's connection by name: a JDBC URL, a user and a password.

Specs name a connection (``connection: analytics``); where its address and credentials come
from depends on where the job runs, behind one interface, ``ConnectionResolver``:

- locally, ``EnvConnections``: ``ETL_LIB_PG_{NAME}_URL`` (``NAME`` upper-cased, anything but
  letters and digits as ``_``), a ``postgresql://user:password@host:5432/database`` or a
  ``jdbc:postgresql://host:5432/database`` URL; the user and password come from the URL, else
  from ``ETL_LIB_PG_{NAME}_USER``/``_PASSWORD``, else from ``PGUSER``/``PGPASSWORD``. Without
  that variable, libpq's ``PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE`` (for every name).
- on AWS, a Glue connection of that name (its password in Secrets Manager): the Glue adapter
  gives ``FetchedConnections`` its ``glueContext.extract_jdbc_conf`` (``awsglue`` is imported
  in ``etl_lib/glue/`` only), or builds ``Connection.from_mapping`` itself.

A ``Connection`` never shows its password: not in ``repr``, not in errors (``redact``).
"""

from __future__ import annotations

import os
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from etl_lib.errors import EtlError
from etl_lib.sinks.errors import SinkError

_SCHEMES = ("jdbc:postgresql://", "postgresql://", "postgres://")
EXAMPLE_URL = "postgresql://user:password@host:5432/database"


@dataclass(frozen=True)
class Connection:
    """Where a PostgreSQL database is and who logs in; the password is never shown."""

    name: str
    url: str
    """``jdbc:postgresql://host:port/database[?options]``, without credentials."""
    user: str
    password: str = field(repr=False)

    @classmethod
    def from_url(cls, name: str, url: str, user: str | None = None, password: str | None = None) -> Connection:
        """A connection from a libpq (``postgresql://``) or JDBC URL; credentials in the URL (its
        user info or ``user``/``password`` options) win over ``user``/``password``."""
        if not url.startswith(_SCHEMES):
            raise SinkError(
                f"connection {name}: the URL must start with postgresql:// or jdbc:postgresql:// "
                f"(e.g. {EXAMPLE_URL}); got one starting {url.split('://', 1)[0][:20]!r}"
            )
        rest = url.split("://", 1)[1]
        address, _, query = rest.partition("?")
        netloc, slash, database = address.partition("/")
        credentials, at, hosts = netloc.rpartition("@")
        url_user = url_password = None
        if at:
            raw_user, colon, raw_password = credentials.partition(":")
            url_user = unquote(raw_user) or None
            url_password = unquote(raw_password) if colon else None
        options = []
        for key, value in parse_qsl(query, keep_blank_values=True):
            if key == "user":
                url_user = value
            elif key == "password":
                url_password = value
            else:
                options.append((key, value))
        if not hosts:
            raise SinkError(f"connection {name}: the URL names no host (e.g. {EXAMPLE_URL})")
        chosen_user = url_user or user
        if not chosen_user:
            raise SinkError(f"connection {name}: no user: give it in the URL (e.g. {EXAMPLE_URL})")
        jdbc = f"jdbc:postgresql://{hosts}/{database if slash else ''}"
        if options:
            jdbc += "?" + urlencode(options)
        return cls(name, jdbc, chosen_user, url_password if url_password is not None else password or "")

    @classmethod
    def from_mapping(cls, name: str, conf: Mapping[str, Any], database: str | None = None) -> Connection:
        """A connection from a mapping with ``url`` (or ``fullUrl``), ``user`` and ``password``: what
        Glue's ``extract_jdbc_conf(name)`` returns. Its ``url`` may lack the database (Glue's does;
        ``fullUrl`` has it): ``database`` then names it."""
        url = str(conf.get("fullUrl") or conf.get("url") or "")
        if not url:
            raise SinkError(f"connection {name}: no url in its definition (keys: {', '.join(sorted(conf))})")
        if database and not _names_database(url):
            base, _, query = url.partition("?")
            url = f"{base.rstrip('/')}/{quote(database)}" + (f"?{query}" if query else "")
        return cls.from_url(name, url, conf.get("user") or conf.get("username"), conf.get("password"))

    @property
    def database(self) -> str:
        """The database the URL names (empty: the user's own)."""
        return self.url.split("://", 1)[1].partition("?")[0].partition("/")[2]

    def properties(self) -> dict[str, str]:
        """The JDBC properties that log in."""
        return {"user": self.user, "password": self.password}

    def redact(self, text: str) -> str:
        """``text`` without the password (as is and URL-encoded)."""
        for secret in {self.password, quote(self.password, safe="")}:
            if len(secret) >= 3:
                text = text.replace(secret, "***")
        return text

    def __str__(self) -> str:
        return f"{self.name} ({self.url} as {self.user})"


def _names_database(url: str) -> bool:
    return bool(url.split("://", 1)[-1].partition("?")[0].partition("/")[2])


class ConnectionResolver(ABC):
    """Turns a connection's name into a ``Connection``."""

    @abstractmethod
    def resolve(self, name: str) -> Connection:
        """The connection called ``name``; ``SinkError`` naming what to set when there is none."""


def env_prefix(name: str) -> str:
    """``ETL_LIB_PG_{NAME}_``: the variables' prefix of connection ``name``."""
    return "ETL_LIB_PG_" + re.sub(r"[^A-Z0-9]", "_", name.upper()) + "_"


class EnvConnections(ConnectionResolver):
    """Connections from environment variables (see the module's docstring): the laptop's resolver."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def resolve(self, name: str) -> Connection:
        env = self.environ
        prefix = env_prefix(name)
        url = env.get(prefix + "URL")
        if url:
            user = env.get(prefix + "USER") or env.get("PGUSER")
            password = env.get(prefix + "PASSWORD", env.get("PGPASSWORD"))
            return Connection.from_url(name, url, user, password)
        host = env.get("PGHOST")
        if host:
            if host.startswith("/"):
                raise SinkError(
                    f"connection {name}: PGHOST={host} is a socket folder; JDBC needs a host name "
                    f"(e.g. PGHOST=127.0.0.1) or set {prefix}URL"
                )
            user = env.get("PGUSER")
            if not user:
                raise SinkError(f"connection {name}: PGHOST is set but PGUSER is not: set PGUSER (and PGPASSWORD)")
            database = env.get("PGDATABASE") or user
            url = f"jdbc:postgresql://{host}:{env.get('PGPORT') or '5432'}/{database}"
            return Connection(name, url, user, env.get("PGPASSWORD", ""))
        raise SinkError(
            f"connection {name} is not configured: set {prefix}URL (e.g. {EXAMPLE_URL}), "
            "or PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE"
        )


class StaticConnections(ConnectionResolver):
    """Connections given up front, by name (tests, or a caller that resolved them itself)."""

    def __init__(self, connections: Mapping[str, Connection]) -> None:
        self.connections = dict(connections)

    def resolve(self, name: str) -> Connection:
        try:
            return self.connections[name]
        except KeyError:
            known = ", ".join(sorted(self.connections)) or "none"
            raise SinkError(f"connection {name} is not configured; known: {known}") from None


class FetchedConnections(ConnectionResolver):
    """Connections from a function that returns a definition by name (``Connection.from_mapping``'s
    keys), each fetched once: on Glue, ``FetchedConnections(glue_context.extract_jdbc_conf)``.

    ``databases`` names the database of connections whose URL lacks one.
    """

    def __init__(self, fetch: Callable[[str], Mapping[str, Any]], databases: Mapping[str, str] | None = None) -> None:
        self.fetch = fetch
        self.databases = dict(databases or {})
        self._cache: dict[str, Connection] = {}
        self._lock = threading.Lock()

    def resolve(self, name: str) -> Connection:
        with self._lock:
            if name not in self._cache:
                try:
                    conf = self.fetch(name)
                except EtlError:
                    raise
                except Exception as exc:
                    line = next((ln for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
                    raise SinkError(f"connection {name}: cannot read its definition ({line.strip()[:200]})") from None
                self._cache[name] = Connection.from_mapping(name, conf, self.databases.get(name))
            return self._cache[name]
