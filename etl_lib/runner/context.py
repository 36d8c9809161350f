"""Everything a run needs, assembled once at the edge and passed down."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import SparkSession

from etl_lib.catalog.base import Catalog
from etl_lib.ledger.base import Ledger
from etl_lib.notify.base import Notifier
from etl_lib.spec.fingerprint import spec_fingerprint
from etl_lib.spec.model import DatasetSpec
from etl_lib.storage.base import Storage


def new_run_id() -> str:
    """A sortable, unique run id: ``20261123T182200Z-3fa2b1``."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def process_owner() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


DEFAULT_STALE_CLAIM_S = 2 * 3600.0


@dataclass(frozen=True)
class RunContext:
    """One run over one dataset: its session, spec and edges (built by ``runner.build``)."""

    spark: SparkSession
    spec: DatasetSpec
    storage: Storage
    ledger: Ledger
    notifier: Notifier
    catalog: Catalog | None = None
    run_id: str = field(default_factory=new_run_id)
    stale_claim_after_s: float = DEFAULT_STALE_CLAIM_S
    """A claim older than this is taken over (its run is presumed dead)."""
    progress: bool = False
    parallel_files: int = 0
    """Files processed at once; 0: as many as Spark has cores (at most 8)."""
    sinks: Callable[[SparkSession, Any], Any] | None = None
    """Makes the sink of a ``sinks:`` entry (``runner.build.sink_factory``); None: sinks are not
    loaded by this run (what they lack stays owed, ``runner.sinks``)."""
    customer: str | None = None
    """The customer the run is for (metrics' and structured logs' dimension)."""
    metrics: Any = None
    """Where run metrics are published besides the run report (``metrics.cloudwatch``); None: the report only."""
    events: Any = None
    """Structured log lines, one per file and stage (``etl_lib.events``); None: none."""
    iceberg: Any = None
    """The lake's Iceberg tables (``iceberg.tables.IcebergTables``) for ``table_format: iceberg``;
    None: opened when needed (``runner.iceberg.iceberg_tables``)."""
    print_plan: bool = False
    """Print the run's plan on stdout before acting on it (the Glue jobs do: their log shows it
    whatever level Glue set for logging)."""

    @property
    def dataset(self) -> str:
        """The dataset's name."""
        return self.spec.dataset

    @property
    def spec_fingerprint(self) -> str:
        """The fingerprint of the spec this run applies (recorded with every file)."""
        return spec_fingerprint(self.spec)

    def raw_prefix(self) -> str:
        """Where the dataset's files are delivered."""
        return f"raw/{self.dataset}/"

    def processed_prefix(self) -> str:
        """Processed JSON Lines of the dataset."""
        return f"processed/{self.dataset}"

    def analytics_prefix(self) -> str:
        """Analytics-ready Parquet of the dataset."""
        return f"analytics-ready/{self.dataset}"

    def rejected_prefix(self) -> str:
        """Rejected rows of the dataset."""
        return f"rejected/{self.dataset}"

    def key_index_prefix(self) -> str:
        """Which keys each processed file holds, by partition (metadata, never read as data)."""
        return f"_meta/key_index/{self.dataset}"

    def staging_prefix(self, *parts: str) -> str:
        """A private staging folder of this run (never read as data)."""
        return "/".join(["_meta", "staging", self.dataset, self.run_id, *parts])
