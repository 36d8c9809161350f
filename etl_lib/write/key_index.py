"""The key index of a keyed dataset: which source files put rows of which keys in which partitions.

Rows of (keys, ``year``, ``month``, ``_source_file``) for every processed row the
analytics stage has taken, pii keys hashed as in analytics-ready, as Parquet
under ``_meta/key_index/{dataset}/``. The analytics stage reads it to find the
partitions holding the current rows of the keys it decides again, and the
processed files holding every row of a key it must decide from processed alone,
instead of scanning the lake.

The index only grows: each analytics run appends the entries of the rows it
took as one *part* (``delta-{run_id}/``), then points ``current.json`` at the
list of parts. An entry left by a row that is gone (a re-delivered file's
earlier version) or repeated (a rerun after a crash) only makes a later run
read one file more; an entry is never missing for a row analytics-ready has
taken, because the parts are appended after the rows are published and a run
that dies first leaves its files pending (the next run appends them again).
Every ``MAX_PARTS`` runs the parts are merged into one (``gen-{run_id}/``,
duplicates dropped), so a run reads a bounded number of folders; writing a part
costs in proportion to the new rows, merging in proportion to the index.

A part is written into its own folder before ``current.json`` names it, and
folders no longer named are removed afterwards: a run killed at any point
leaves the previous list in use.
"""

from __future__ import annotations

import json
import logging
import posixpath
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import types as T

from etl_lib.errors import EtlError
from etl_lib.runner.context import RunContext
from etl_lib.spec.schema import analytics_schema
from etl_lib.transform.partition import partition_name

log = logging.getLogger("etl_lib.key_index")

POINTER = "current.json"
MAX_PARTS = 16
"""Parts the index may have before a run merges them into one."""


def key_index_columns(keys: list[str]) -> list[str]:
    """Columns of the index: the keys, the partition and the source file."""
    return [*keys, "year", "month", "_source_file"]


def index_schema(ctx: RunContext) -> T.StructType:
    """The index's columns, typed as in analytics-ready (pii keys as their hashes)."""
    schema = analytics_schema(ctx.spark, ctx.spec)
    return T.StructType([schema[c] for c in key_index_columns(ctx.spec.keys)])


def read_pointer(ctx: RunContext) -> tuple[str, ...] | None:
    """The parts ``current.json`` names (None: there is no index yet). An index written as one
    ``generation`` (before parts existed) reads as that one part."""
    pointer = f"{ctx.key_index_prefix()}/{POINTER}"
    if not ctx.storage.exists(pointer):
        return None
    with ctx.storage.open(pointer) as handle:
        found = json.loads(handle.read().decode("utf-8"))
    return tuple(found["parts"]) if "parts" in found else (str(found["generation"]),)


@dataclass(frozen=True)
class KeyIndex:
    """The index as the run found it: its parts (None: none yet) and its entries (None: empty)."""

    ctx: RunContext
    parts: tuple[str, ...] | None
    entries: DataFrame | None
    unsaved: bool = False
    """True when ``entries`` hold rows no part has (an index built from processed): the next
    ``append`` writes them all."""

    @classmethod
    def load(cls, ctx: RunContext) -> KeyIndex:
        """The index ``current.json`` names, or an empty one when there is none yet."""
        parts = read_pointer(ctx) if ctx.spec.keys else None
        if not parts:
            return cls(ctx, parts, None)
        root = ctx.key_index_prefix()
        uris = [ctx.storage.uri(f"{root}/{part}") for part in parts]
        return cls(ctx, parts, ctx.spark.read.schema(index_schema(ctx)).parquet(*uris))

    def with_entries_of(self, rows: DataFrame | None) -> KeyIndex:
        """This index with the entries of ``rows`` (processed rows, pii hashed) added, unsaved."""
        if rows is None:
            return self
        entries = rows.select(*key_index_columns(self.ctx.spec.keys))
        merged = entries if self.entries is None else self.entries.unionByName(entries)
        return KeyIndex(self.ctx, self.parts, merged, unsaved=True)

    def where_rows_of(self, keys: DataFrame) -> list[tuple[str, str]]:
        """(``year=YYYY/month=MM``, source file) of every partition and file holding a row of ``keys``."""
        if self.entries is None:
            return []
        holding = self.entries.join(keys, self.ctx.spec.keys, "left_semi")
        # Distinct names only: at most one row per partition and source file.
        found = holding.select(partition_name().alias("partition"), "_source_file").distinct().collect()
        return sorted((r["partition"], r["_source_file"]) for r in found)

    def append(self, entries: DataFrame | None, files: int = 1) -> None:
        """Add ``entries`` (rows of the index's columns) as a new part, or merge every part and
        them into one when the index has ``MAX_PARTS`` parts (or unsaved entries); then point
        at the new list and drop the folders it no longer names. A new part is written as at most
        ``files`` files (so its size, not the lake's, sets how many requests reading it costs)."""
        ctx = self.ctx
        parts = list(self.parts or ())
        merge = self.unsaved or len(parts) >= MAX_PARTS
        if entries is None and not merge:
            return
        columns = key_index_columns(ctx.spec.keys)
        if merge:
            name = f"gen-{ctx.run_id}"
            table = ctx.spark.createDataFrame([], index_schema(ctx))
            for more in (self.entries, entries):
                table = table.unionByName(more.select(*columns)) if more is not None else table
            table = table.distinct()  # duplicates of reruns go; a merge is rare, its shuffle affordable
            parts = [name]
        else:
            assert entries is not None
            name = f"delta-{ctx.run_id}"
            table = entries.select(*columns).coalesce(max(1, files))
            parts.append(name)
        root = ctx.key_index_prefix()
        table.write.mode("overwrite").option("compression", "snappy").parquet(ctx.storage.uri(f"{root}/{name}"))
        ctx.storage.write_text(f"{root}/{POINTER}", json.dumps({"parts": parts}))
        self._drop_all_but(parts)

    def _drop_all_but(self, parts: list[str]) -> None:
        """Remove folders the pointer does not name (older parts, crashed runs' parts, earlier
        layouts); a failure leaves garbage only."""
        root = self.ctx.key_index_prefix()
        keep = (*[f"{root}/{part}/" for part in parts], f"{root}/{POINTER}")
        try:
            doomed = [o.key for o in self.ctx.storage.list(root + "/") if not o.key.startswith(keep)]
            self.ctx.storage.delete(doomed)
        except EtlError as exc:
            log.warning("could not remove old key index files under %s: %s", posixpath.join(root, ""), exc)
