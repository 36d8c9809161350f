"""A session-wide local Spark for the quality tests.

Same name and settings as the suite-wide fixture planned for ``tests/conftest.py``;
delete this file once that one exists.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """A small local Spark session: two cores, two shuffle partitions, no UI."""
    session = (
        SparkSession.builder.master("local[2]")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    yield session
    session.stop()
