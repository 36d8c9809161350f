"""The key index of a keyed dataset: which source files put rows of which keys in which partitions.

One table of the distinct (keys, ``year``, ``month``, ``_source_file``) of every
processed row the analytics stage has taken, pii keys hashed as in
analytics-ready, under ``_meta/key_index/{dataset}/``. The analytics stage reads
it to find the partitions and the processed files holding rows of the keys it
must decide again, instead of scanning processed, and replaces it after each
run: the entries of the files it took are replaced by their new rows' entries
(and those of partitions an earlier run may have half-swapped, by their rows'),
the others are kept. So an entry is never missing for a row analytics-ready has
taken; an entry left over by a row that is gone only makes a later run read one
file more.

The table is written whole into a new generation folder (``gen-{run_id}/``),
then ``current.json`` is pointed at it and the older generations are removed:
a run killed at any point leaves the previous generation in use (its
partitions are still pending, so the next run recomputes them). Reading it
costs the same few requests however many files the lake holds.
"""

from __future__ import annotations

import json
import logging
import posixpath
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl_lib.errors import EtlError
from etl_lib.runner.context import RunContext
from etl_lib.spec.schema import analytics_schema
from etl_lib.transform.partition import partition_name

log = logging.getLogger("etl_lib.key_index")

POINTER = "current.json"


def key_index_columns(keys: list[str]) -> list[str]:
    """Columns of the index: the keys, the partition and the source file."""
    return [*keys, "year", "month", "_source_file"]


def index_schema(ctx: RunContext) -> T.StructType:
    """The index's columns, typed as in analytics-ready (pii keys as their hashes)."""
    schema = analytics_schema(ctx.spark, ctx.spec)
    return T.StructType([schema[c] for c in key_index_columns(ctx.spec.keys)])


@dataclass(frozen=True)
class KeyIndex:
    """The index as the run found it: its generation (None: there is none yet) and its rows."""

    ctx: RunContext
    generation: str | None
    entries: DataFrame | None

    @classmethod
    def load(cls, ctx: RunContext) -> KeyIndex:
        """The current generation, or an empty index when there is none yet."""
        root = ctx.key_index_prefix()
        pointer = f"{root}/{POINTER}"
        if not ctx.spec.keys or not ctx.storage.exists(pointer):
            return cls(ctx, None, None)
        with ctx.storage.open(pointer) as handle:
            generation = str(json.loads(handle.read().decode("utf-8"))["generation"])
        entries = ctx.spark.read.schema(index_schema(ctx)).parquet(ctx.storage.uri(f"{root}/{generation}"))
        return cls(ctx, generation, entries)

    def with_entries_of(self, rows: DataFrame | None) -> KeyIndex:
        """This index with the entries of ``rows`` (processed rows, pii hashed) added."""
        if rows is None:
            return self
        entries = rows.select(*key_index_columns(self.ctx.spec.keys))
        return KeyIndex(self.ctx, self.generation, entries if self.entries is None else self.entries.union(entries))

    def where_rows_of(self, keys: DataFrame) -> list[tuple[str, str]]:
        """(``year=YYYY/month=MM``, source file) of every partition and file holding a row of ``keys``."""
        if self.entries is None:
            return []
        holding = self.entries.join(keys, self.ctx.spec.keys, "left_semi")
        # Distinct names only: at most one row per partition and source file.
        found = holding.select(partition_name().alias("partition"), "_source_file").distinct().collect()
        return sorted((r["partition"], r["_source_file"]) for r in found)

    def replace(self, sources: tuple[str, ...], partitions: frozenset[str], rows: DataFrame | None) -> None:
        """Write the next generation: the entries of ``sources`` and of ``partitions`` from ``rows``
        (their processed rows, pii hashed), the others as they were; then point at it and drop
        the older generations."""
        ctx = self.ctx
        columns = key_index_columns(ctx.spec.keys)
        kept = None
        if self.entries is not None:
            replaced = F.col("_source_file").isin(list(sources)) if sources else F.lit(False)
            if partitions:
                replaced = replaced | partition_name().isin(sorted(partitions))
            kept = self.entries.filter(~replaced)
        fresh = None if rows is None else rows.select(*columns)
        table = ctx.spark.createDataFrame([], index_schema(ctx))
        for part in (kept, fresh):
            table = table.union(part) if part is not None else table
        root = ctx.key_index_prefix()
        generation = f"gen-{ctx.run_id}"
        uri = ctx.storage.uri(f"{root}/{generation}")
        # No distinct(): kept entries are distinct already, and a file's repeated key only repeats
        # an entry (harmless, and cheaper than a shuffle of every new row).
        table.coalesce(1).write.mode("overwrite").option("compression", "snappy").parquet(uri)
        ctx.storage.write_text(f"{root}/{POINTER}", json.dumps({"generation": generation}))
        self._drop_all_but(generation)

    def _drop_all_but(self, generation: str) -> None:
        """Remove older generations and files of earlier index layouts; a failure leaves garbage only."""
        root = self.ctx.key_index_prefix()
        keep = (f"{root}/{generation}/", f"{root}/{POINTER}")
        try:
            doomed = [o.key for o in self.ctx.storage.list(root + "/") if not o.key.startswith(keep)]
            self.ctx.storage.delete(doomed)
        except EtlError as exc:
            log.warning("could not remove old key index files under %s: %s", posixpath.join(root, ""), exc)
