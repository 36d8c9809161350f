"""Build the edges (storage, ledger, notifier, catalog) from URIs and options.

Local by default; AWS when asked: ``--lake s3://bucket``, ``--ledger
dynamodb://TABLE``, an SNS topic ARN, a Glue database name.
"""

from __future__ import annotations

import os
from typing import Any

from etl_lib.catalog.base import Catalog
from etl_lib.errors import ConfigError
from etl_lib.ledger.base import Ledger
from etl_lib.notify.base import Notifier
from etl_lib.storage.base import Storage

DEFAULT_CUSTOMER = "default"


def open_storage(lake: str) -> Storage:
    """The lake at ``lake``: ``s3://bucket[/prefix]`` or a local folder."""
    if lake.startswith(("s3://", "s3a://")):
        from etl_lib.storage.s3 import S3Storage

        try:
            return S3Storage(lake)
        except ValueError as exc:
            raise ConfigError(f"--lake {lake}: {exc}") from None
    if "://" in lake:
        raise ConfigError(f"--lake {lake}: expected a folder or s3://bucket[/prefix]")
    from etl_lib.storage.local import LocalStorage

    return LocalStorage(lake)


def default_ledger_uri(storage: Storage) -> str:
    """``sqlite:///{lake}/_meta/ledger.sqlite`` for local lakes (S3 lakes need ``--ledger``)."""
    if storage.root.startswith("s3://"):
        raise ConfigError(f"lake {storage.root}: an S3 lake needs --ledger dynamodb://TABLE")
    return "sqlite:///" + os.path.join(storage.root, "_meta", "ledger.sqlite")


def open_ledger(
    uri: str | None, storage: Storage, customer: str | None = None, create: bool = True, must_exist: bool = False
) -> Ledger:
    """A ledger from a URI: ``dynamodb://TABLE``, ``sqlite:///path`` or a plain path.

    ``create=False`` (read-only commands): a SQLite ledger that does not exist yet is not
    created; an empty one in memory stands in (every file is new to it). ``must_exist``
    (commands that read what runs recorded): a SQLite ledger that does not exist is a
    ``ConfigError`` naming where it was looked for."""
    uri = uri or default_ledger_uri(storage)
    if uri.startswith("dynamodb://"):
        from etl_lib.ledger.dynamodb import DynamoLedger

        table = uri[len("dynamodb://") :].strip("/")
        if not table:
            raise ConfigError(f"ledger URI {uri!r}: expected dynamodb://TABLE")
        return DynamoLedger(table, customer or DEFAULT_CUSTOMER)
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///") - 1 :] if uri.startswith("sqlite:////") else uri[len("sqlite:///") :]
        path = path if os.path.isabs(path) else os.path.abspath(path)
    elif "://" in uri:
        raise ConfigError(f"unknown ledger URI {uri!r}; use dynamodb://TABLE or sqlite:///PATH (or a path)")
    else:
        path = os.path.abspath(uri)
    from etl_lib.ledger.sqlite import SqliteLedger

    if must_exist and not os.path.exists(path):
        raise ConfigError(f"no ledger at {path}: no run has used this lake yet (is --lake right?)")
    return SqliteLedger(path if create or os.path.exists(path) else ":memory:")


def open_notifier(
    storage: Storage,
    alerts_topic_arn: str | None = None,
    customer: str | None = None,
    notify_on: str = "failures",
) -> Notifier:
    """The run report in ``_meta/reports/`` always; plus SNS when a topic is given."""
    from etl_lib.notify.local import LocalNotifier

    local = LocalNotifier(storage)
    if not alerts_topic_arn:
        return local
    if not alerts_topic_arn.startswith("arn:"):
        raise ConfigError(f"alerts topic {alerts_topic_arn!r}: expected an SNS topic ARN (arn:aws:sns:...)")
    from etl_lib.notify.sns import FanOutNotifier, SnsNotifier

    return FanOutNotifier(local, SnsNotifier(alerts_topic_arn, customer or DEFAULT_CUSTOMER, notify_on))  # type: ignore[arg-type]


def open_catalog(spark: Any, storage: Storage, database: str | None = None) -> Catalog:
    """Local Spark views, or the Glue Data Catalog database ``database``."""
    if database:
        from etl_lib.catalog.glue import GlueCatalog

        return GlueCatalog(spark, database, storage.uri)
    from etl_lib.catalog.local import LocalCatalog

    return LocalCatalog(spark, storage)
