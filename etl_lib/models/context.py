"""Everything a models run needs, assembled once at the edge (``runner.build``) and frozen."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession

from etl_lib.catalog.base import Catalog
from etl_lib.ledger.base import Ledger
from etl_lib.models.spec import ModelSpec
from etl_lib.notify.base import Notifier
from etl_lib.runner.context import DEFAULT_STALE_CLAIM_S, new_run_id
from etl_lib.sinks.base import SinkSpec
from etl_lib.spec.model import DatasetSpec
from etl_lib.storage.base import Storage

SinkFactory = Callable[[SparkSession, SinkSpec], Any]
"""A sink reference to the sink that loads it (``etl_lib.sinks``)."""


@dataclass(frozen=True)
class ModelsContext:
    """One run over a customer's models: the session, the specs and models, the edges."""

    spark: SparkSession
    storage: Storage
    ledger: Ledger
    notifier: Notifier
    specs: tuple[DatasetSpec, ...]
    models: tuple[ModelSpec, ...]
    catalog: Catalog | None = None
    sinks: SinkFactory | None = None
    """None: sinks are not loaded (``--skip-sinks``); they stay behind until a run loads them."""
    run_id: str = field(default_factory=new_run_id)
    lease_s: float = DEFAULT_STALE_CLAIM_S
    progress: bool = False

    def staging_prefix(self, model: str) -> str:
        """This run's private staging folder of a model (never read as data)."""
        return f"_meta/staging/_models/{self.run_id}/{model}"
