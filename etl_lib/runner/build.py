"""Build a run: the spec, the Spark session and the edges chosen by URI, into one frozen ``RunContext``.

What the CLI, the Glue adapter, the demo and the benchmark call; they only parse
arguments. Spec errors come before Spark starts.
"""

from __future__ import annotations

from typing import Any

from etl_lib.config import open_catalog, open_ledger, open_notifier, open_storage
from etl_lib.runner.context import DEFAULT_STALE_CLAIM_S, RunContext
from etl_lib.spec.load import load_spec
from etl_lib.spec.model import DatasetSpec
from etl_lib.storage.s3 import S3Storage


def build_context(
    spark: Any,
    spec: DatasetSpec | str,
    lake: str,
    ledger_uri: str | None = None,
    *,
    customer: str | None = None,
    alerts_topic_arn: str | None = None,
    notify_on: str = "failures",
    catalog_database: str | None = None,
    progress: bool = False,
    claim_timeout_s: float | None = None,
    local: bool = True,
) -> RunContext:
    """A ``RunContext`` over ``spark`` (a spec or its path), edges chosen by URI.

    ``local``: the session is a laptop's, so an ``s3://`` lake is reached through S3A at the
    current endpoint and credentials (``etl_lib.spark.configure_s3a``); on Glue, Glue's own S3
    support is left alone.
    """
    if isinstance(spec, str):
        spec = load_spec(spec)
    storage = open_storage(lake)
    if local and isinstance(storage, S3Storage):
        from etl_lib.spark import configure_s3a, open_s3a

        configure_s3a(spark)
        open_s3a(spark, storage.uri(""))
    return RunContext(
        spark=spark,
        spec=spec,
        storage=storage,
        ledger=open_ledger(ledger_uri, storage, customer),
        notifier=open_notifier(storage, alerts_topic_arn, customer, notify_on),
        catalog=open_catalog(spark, storage, catalog_database),
        progress=progress,
        stale_claim_after_s=DEFAULT_STALE_CLAIM_S if claim_timeout_s is None else claim_timeout_s,
    )


def build_local_context(
    spec_path: str, lake: str, ledger_uri: str | None = None, master: str | None = None, **edges: Any
) -> RunContext:
    """A ``RunContext`` with a local Spark session; spec errors come before Spark starts."""
    from etl_lib.spark import local_session

    spec = load_spec(spec_path)
    return build_context(local_session(master=master), spec, lake, ledger_uri, **edges)
