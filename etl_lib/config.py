"""Build the edges (storage, ledger, notifier, catalog) from URIs and options."""

from __future__ import annotations

import os

from etl_lib.errors import ConfigError
from etl_lib.ledger.base import Ledger
from etl_lib.storage.base import Storage


def open_storage(lake: str) -> Storage:
    """The lake at ``lake``: a local folder (``s3://`` comes with the AWS adapters)."""
    if lake.startswith("s3://") or lake.startswith("s3a://"):
        raise ConfigError(f"lake {lake}: S3 lakes need the AWS storage adapter, which is not available yet")
    from etl_lib.storage.local import LocalStorage

    return LocalStorage(lake)


def default_ledger_uri(storage: Storage) -> str:
    """``sqlite:///{lake}/_meta/ledger.sqlite`` for local lakes."""
    return "sqlite:///" + os.path.join(storage.root, "_meta", "ledger.sqlite")


def open_ledger(uri: str | None, storage: Storage) -> Ledger:
    """A ledger from a URI: ``sqlite:///path`` or a plain path to a SQLite file."""
    uri = uri or default_ledger_uri(storage)
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///") - 1 :] if uri.startswith("sqlite:////") else uri[len("sqlite:///") :]
        path = path if os.path.isabs(path) else os.path.abspath(path)
    elif "://" in uri:
        raise ConfigError(f"unknown ledger URI {uri!r}; use sqlite:///PATH (or a path)")
    else:
        path = os.path.abspath(uri)
    from etl_lib.ledger.sqlite import SqliteLedger

    return SqliteLedger(path)
