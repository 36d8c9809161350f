"""Build a run: the spec, the Spark session and the edges chosen by URI, into one frozen ``RunContext``.

What the CLI, the Glue adapter, the demo and the benchmark call; they only parse
arguments. Spec errors come before Spark starts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from etl_lib.config import open_catalog, open_ledger, open_notifier, open_storage
from etl_lib.errors import ConfigError
from etl_lib.events import EventLog
from etl_lib.models.context import ModelsContext
from etl_lib.runner.context import DEFAULT_STALE_CLAIM_S, RunContext
from etl_lib.spec.load import load_spec
from etl_lib.spec.model import DatasetSpec
from etl_lib.storage.base import Storage
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
    skip_sinks: bool = False,
    connections: Any = None,
    metrics: str | None = None,
    structured_logs: bool = False,
) -> RunContext:
    """A ``RunContext`` over ``spark`` (a spec or its path), edges chosen by URI.

    ``local``: the session is a laptop's, so an ``s3://`` lake is reached through S3A at the
    current endpoint and credentials (``etl_lib.spark.configure_s3a``); on Glue, Glue's own S3
    support is left alone.
    """
    if isinstance(spec, str):
        spec = load_spec(spec)
    storage = lake_storage(spark, lake, local)
    return RunContext(
        spark=spark,
        spec=spec,
        storage=storage,
        ledger=open_ledger(ledger_uri, storage, customer),
        notifier=open_notifier(storage, alerts_topic_arn, customer, notify_on),
        catalog=open_catalog(spark, storage, catalog_database),
        progress=progress,
        stale_claim_after_s=DEFAULT_STALE_CLAIM_S if claim_timeout_s is None else claim_timeout_s,
        sinks=None if skip_sinks or not spec.sinks else sink_factory(connections),
        customer=customer,
        metrics=open_metrics(metrics),
        events=EventLog() if structured_logs else None,
    )


def open_metrics(kind: str | None) -> Any:
    """Where run metrics go besides the run report: ``cloudwatch`` (PutMetricData) or nowhere (None)."""
    if kind in (None, "", "none"):
        return None
    if kind != "cloudwatch":
        raise ConfigError(f"metrics {kind!r}: expected cloudwatch or none")
    from etl_lib.metrics.cloudwatch import CloudWatchMetrics

    return CloudWatchMetrics()


def lake_storage(spark: Any, lake: str, local: bool) -> Storage:
    """The lake's storage; on a laptop an ``s3://`` lake is reached through S3A at the current
    endpoint and credentials (on Glue, Glue's own S3 support is left alone)."""
    storage = open_storage(lake)
    if local and isinstance(storage, S3Storage):
        from etl_lib.spark import configure_s3a, open_s3a

        configure_s3a(spark)
        open_s3a(spark, storage.uri(""))
    return storage


def build_local_context(
    spec_path: str, lake: str, ledger_uri: str | None = None, master: str | None = None, **edges: Any
) -> RunContext:
    """A ``RunContext`` with a local Spark session; spec errors come before Spark starts."""
    from etl_lib.spark import local_session

    spec = load_spec(spec_path)
    return build_context(local_session(master=master), spec, lake, ledger_uri, **edges)


def spec_paths(paths: Sequence[str]) -> list[str]:
    """Spec files: each path as given, or every ``*.yaml`` in it when it is a folder or an
    ``s3://…/`` prefix (the Glue job gets the customer's specs folder)."""
    from etl_lib.models.load import model_paths

    found: list[str] = []
    for path in paths:
        is_folder = path.endswith("/") if path.startswith("s3://") else os.path.isdir(path)
        found += model_paths(path) if is_folder else [path]
    return found


def build_models_context(
    spark: Any,
    models_dir: str,
    specs: Sequence[str],
    lake: str,
    ledger_uri: str | None = None,
    *,
    customer: str | None = None,
    alerts_topic_arn: str | None = None,
    notify_on: str = "failures",
    catalog_database: str | None = None,
    skip_sinks: bool = False,
    connections: Any = None,
    progress: bool = False,
    local: bool = True,
) -> ModelsContext:
    """A ``ModelsContext``: the models of ``models_dir`` over the datasets of ``specs`` (files
    or folders), edges chosen by URI like ``build_context``'s. ``connections``: how a sink's
    connection name is resolved (default: environment variables, ``etl_lib.sinks.connections``);
    ``skip_sinks``: load none (they stay behind, and a later run loads them)."""
    from etl_lib.models.load import load_models

    loaded_specs = tuple(load_spec(p) for p in spec_paths(specs))
    models = tuple(load_models(models_dir))
    storage = lake_storage(spark, lake, local)
    return ModelsContext(
        spark=spark,
        storage=storage,
        ledger=open_ledger(ledger_uri, storage, customer),
        notifier=open_notifier(storage, alerts_topic_arn, customer, notify_on),
        specs=loaded_specs,
        models=models,
        catalog=open_catalog(spark, storage, catalog_database),
        sinks=None if skip_sinks else sink_factory(connections),
        progress=progress,
    )


def sink_factory(connections: Any = None) -> Any:
    """Makes the sink of a model's ``sinks:`` entry, its connection resolved by ``connections``
    (default: environment variables)."""

    def make(spark: Any, ref: Any) -> Any:
        from etl_lib.sinks import open_sink
        from etl_lib.sinks.connections import EnvConnections

        return open_sink(ref, spark, connections or EnvConnections())

    return make
