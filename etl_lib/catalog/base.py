"""The catalog interface: make a dataset's analytics-ready folder a queryable table.

Local: Spark temporary views (what ``etl-lib query`` uses); AWS: the Glue Data
Catalog, which Athena reads.
"""

from __future__ import annotations

import abc

from etl_lib.spec.model import DatasetSpec


class Catalog(abc.ABC):
    """Tables over analytics-ready data, named after their dataset."""

    @abc.abstractmethod
    def register(self, spec: DatasetSpec, location: str) -> None:
        """Create or update the table of ``spec`` over ``location`` (year/month partitions)."""
