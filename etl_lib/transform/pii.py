"""PII columns are hashed before they reach analytics-ready."""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def with_hashed_columns(columns: list[str]) -> Callable[[DataFrame], DataFrame]:
    """Replace each of ``columns`` by the hex sha256 of its string form (null stays null).

    The hash is unsalted so that the same email joins across datasets; treat
    it as pseudonymised, not anonymous.
    """

    def transform(df: DataFrame) -> DataFrame:
        present = [c for c in columns if c in df.columns]
        return df.withColumns({c: F.sha2(F.col(c).cast("string"), 256) for c in present})

    return transform
