"""A model's column checks (and the uniqueness of its keys) as one aggregation over its table."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl_lib.models.spec import AcceptedValues, ModelSpec


@dataclass(frozen=True)
class CheckFailure:
    """A check the built table breaks, and in how many rows."""

    column: str
    check: str
    rows: int

    def __str__(self) -> str:
        return f"{self.column}: {self.check} fails for {self.rows} row(s)"


def _named(model: ModelSpec) -> list[tuple[str, str, Column]]:
    """(column, check, count of the rows breaking it) of every check."""
    found: list[tuple[str, str, Column]] = []
    if model.keys:
        keys = [F.col(k) for k in model.keys]
        found.append(
            (
                ",".join(model.keys),
                "keys unique",
                F.count(F.lit(1)) - F.count_distinct(F.struct(*keys)),
            )
        )
        for key in model.keys:
            found.append((key, "key not null", F.count_if(F.col(key).isNull())))
    for column, check in model.checks_of():
        col = F.col(column)
        if check == "not_null":
            found.append((column, "not_null", F.count_if(col.isNull())))
        elif check == "unique":
            found.append((column, "unique", F.count(col) - F.count_distinct(col)))
        elif isinstance(check, AcceptedValues):
            shown = ", ".join(map(str, check.accepted_values))
            broken = col.isNotNull() & ~col.isin(*check.accepted_values)
            found.append((column, f"accepted_values [{shown}]", F.count_if(broken)))
    return found


def check_failures(model: ModelSpec, table: DataFrame) -> list[CheckFailure]:
    """Every check ``table`` breaks (one Spark job; none when the model declares no check or key)."""
    named = _named(model)
    if not named:
        return []
    row = table.agg(*[count.alias(f"c{n}") for n, (_, _, count) in enumerate(named)]).first()
    assert row is not None
    return [
        CheckFailure(column, check, int(row[f"c{n}"] or 0))
        for n, (column, check, _) in enumerate(named)
        if int(row[f"c{n}"] or 0) > 0
    ]
