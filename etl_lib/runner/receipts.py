"""Receipts for the partner: for every delivered file, what we took, what we did not, and why.

Under ``receipts/{dataset}/`` (a prefix a partner's IAM principal can be granted alone),
named by the file's id (``write.staging.file_id``):

- ``{id}.json``: the file, its checksum, rows read, valid and rejected, its status (and the
  reason when it failed whole), the spec version, and the rejected rows by rule;
- ``{id}.rejected.csv`` and ``{id}.rejected.json`` (JSON Lines), for a file with rejected
  rows: each row's physical line in the delivered file (the header is line 1), the record
  as delivered, and every rule it failed in a partner's words
  (``amount: 'n/a' is not a valid decimal(18,2)``).

The summary is written with the file's other outputs, before its outcome is recorded, so
it is replaced with them (a re-delivery or a reprocess updates it). The rows need the
delivered file's line layout: one Spark job per run, for every file the run left with
rejected rows, reads their raw text and their rejected output (``transform.receipt``),
writes the rows, completes the summaries and clears the files' ``receipt_owed``. A run that
dies first leaves the flag set, and the next run writes them: the ledger, not a listing,
says which receipts are owed.
"""

from __future__ import annotations

import codecs
import json
import logging
import posixpath
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl_lib.errors import ClaimConflict, EtlError
from etl_lib.ledger.base import FileRecord
from etl_lib.read.csv import ascii_compatible
from etl_lib.read.source import spark_source_path
from etl_lib.runner.context import RunContext
from etl_lib.transform.receipt import (
    FILE,
    MULTILINE,
    ORDER,
    PART,
    LineLayout,
    anchors,
    line_stats,
    partner_problems,
    rejected_lines,
    special_lines,
    with_line_numbers,
)
from etl_lib.write.staging import file_id, staged_files

log = logging.getLogger("etl_lib.receipts")

_SCHEME = "^[A-Za-z][A-Za-z0-9+.-]*:/*"
"""A URI's scheme and the slashes after it."""
_TEXT_ENCODINGS = {"utf-8", "ascii"}
"""Encodings whose raw text Spark's text reader decodes as delivered (others: values shown)."""
_REJECTED = T.StructType(
    [
        T.StructField("_source_file", T.StringType()),
        T.StructField("_source_row", T.LongType()),
        T.StructField("_reasons", T.ArrayType(T.StringType())),
        T.StructField("_raw", T.MapType(T.StringType(), T.StringType())),
        T.StructField("_corrupt_record", T.StringType()),
    ]
)


def receipt_prefix(dataset: str) -> str:
    """Where a dataset's receipts are."""
    return f"receipts/{dataset}"


def receipt_keys(dataset: str, source_key: str) -> dict[str, str]:
    """The keys of a file's receipt: ``summary``, ``csv`` and ``json`` (the rejected rows)."""
    base = f"{receipt_prefix(dataset)}/{file_id(source_key)}"
    return {"summary": f"{base}.json", "csv": f"{base}.rejected.csv", "json": f"{base}.rejected.json"}


def summary(record: FileRecord, reasons: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A file's receipt summary (``reasons``: rows per rule, once the rows are written)."""
    keys = receipt_keys(record.dataset, record.source_key)
    delivered = datetime.fromtimestamp(record.delivered_at, UTC).isoformat() if record.delivered_at else None
    rows = record.status != "failed" and record.rows_rejected > 0
    return {
        "file": record.source_key,
        "dataset": record.dataset,
        "checksum": record.checksum,
        "size": record.size,
        "delivered_at": delivered,
        "status": "failed" if record.status == "failed" else "processed",
        "error": record.error if record.status == "failed" else None,
        "rows_read": record.rows_in,
        "rows_valid": record.rows_valid,
        "rows_rejected": record.rows_rejected,
        "spec_fingerprint": record.spec_fingerprint,
        "run_id": record.run_id,
        "rejected_rows": {"csv": keys["csv"], "json": keys["json"]} if rows else None,
        "reasons": reasons if rows else [],
        "complete": not rows or reasons is not None,
    }


def write_summary(ctx: RunContext, record: FileRecord) -> None:
    """Replace a file's receipt with its summary (the rows of an earlier version go): called
    with the file's other outputs, before its outcome is recorded."""
    keys = receipt_keys(ctx.dataset, record.source_key)
    ctx.storage.delete([keys["csv"], keys["json"]])
    ctx.storage.write_text(keys["summary"], json.dumps(summary(record), indent=2))


def owed(records: list[FileRecord]) -> list[FileRecord]:
    """The files whose receipt rows are still to be written."""
    return [r for r in records if r.receipt_owed and r.status in ("processed", "published")]


def write_receipt_rows(ctx: RunContext, records: list[FileRecord]) -> None:
    """Write the rejected rows of ``records``' receipts in one Spark job, complete their
    summaries and clear ``receipt_owed``. A failure leaves the flag set for the next run."""
    if not records:
        return
    stage = ctx.staging_prefix("receipts")
    kept: list[DataFrame] = []
    try:
        # One writer per file (a file's rows in one partition), kept for the second format
        # and the counts: the rejected rows of this run, small next to its data.
        rows = _receipt_rows(ctx, records, stage, kept).repartition("_id").persist(StorageLevel.MEMORY_AND_DISK)
        kept.append(rows)
        in_order = ("_id", "line", "record")  # the writer's own order by _id, then the file's
        try:
            rows.sortWithinPartitions(*in_order).write.mode("overwrite").partitionBy("_id").json(
                ctx.storage.uri(f"{stage}/json")
            )
            problems = F.array_join("problems", "; ").alias("problems")
            (
                rows.select("line", "record", problems, "delivered", "_id")
                .sortWithinPartitions(*in_order)
                .write.mode("overwrite")
                .partitionBy("_id")
                .option("header", True)
                .option("escape", '"')
                .csv(ctx.storage.uri(f"{stage}/csv"))
            )
            reasons = _reasons_by_file(rows)
        finally:
            for frame in kept:
                frame.unpersist()
        staged = {kind: staged_files(ctx.storage, f"{stage}/{kind}", f".{kind}") for kind in ("json", "csv")}
        for record in records:
            _publish_rows(ctx, record, staged, reasons.get(file_id(record.source_key), []))
    finally:
        try:
            ctx.storage.delete_prefix(stage)
        except EtlError as exc:  # garbage a later run removes
            log.warning("could not clean %s: %s", stage, exc)


def _receipt_rows(ctx: RunContext, records: list[FileRecord], stage: str, kept: list[DataFrame]) -> DataFrame:
    """The receipt rows of ``records`` (``_id``: the file's id); frames it persists go to ``kept``."""
    spec = ctx.spec
    source = spec.source
    as_text = codecs.lookup(source.encoding).name in _TEXT_ENCODINGS
    outputs = [ctx.storage.uri(o) for r in records for o in r.outputs if o.startswith(f"{ctx.rejected_prefix()}/")]
    numbers = F.create_map(*[x for n, r in enumerate(records) for x in (F.lit(r.source_key), F.lit(n))])
    rejected = ctx.spark.read.schema(_REJECTED).json(outputs)
    rejected = rejected.withColumn(FILE, F.element_at(numbers, F.col("_source_file")).cast("long"))
    values = F.array_join(F.map_values(F.col("_raw")), source.delimiter)
    if ascii_compatible(source.encoding):
        lines = _raw_lines(ctx, records, stage)
        stats = line_stats(lines, source.quote).persist(StorageLevel.MEMORY_AND_DISK)  # narrow, a few rows
        kept.append(stats)
        layout = LineLayout.of(stats)
        found = anchors(special_lines(stats, layout), layout, source.header) if layout.specials else None
        rows = sum(r.rows_rejected for r in records)
        found_lines = rejected_lines(rejected, with_line_numbers(lines, layout), found, source.header, rows)
    else:  # UTF-16 and the like: Spark's text reader cannot split the lines; no line numbers
        found_lines = rejected.withColumn("_line", F.lit(None).cast("long")).withColumn("_raw_line", F.lit(None))
    delivered = F.coalesce(F.col("_corrupt_record"), F.col("_raw_line") if as_text else values, values)
    ids = F.create_map(*[x for n, r in enumerate(records) for x in (F.lit(n), F.lit(file_id(r.source_key)))])
    return found_lines.select(
        F.element_at(ids, F.col(FILE)).alias("_id"),
        F.col("_line").alias("line"),
        F.col("_source_row").alias("record"),
        partner_problems(spec, F.col("_raw")).alias("problems"),
        F.col("_reasons").alias("rules"),
        delivered.alias("delivered"),
    )


def _raw_lines(ctx: RunContext, records: list[FileRecord], stage: str) -> DataFrame:
    """The delivered files' lines, in one read: ``_file`` (the file's index in ``records``),
    ``_part`` (the read partition), ``_order`` (increasing in file order), ``value``,
    ``_multiline`` (read whole by ingest, not in splits)."""
    paths = {spark_source_path(ctx.storage, r.source_key, f"{stage}/aliases/{n}"): n for n, r in enumerate(records)}
    text = ctx.spark.read.text(list(paths))
    # Spark names each file as it resolved it (the form of _metadata.file_path); match by the
    # lake key (or alias) it ends with, the longest first.
    tails = sorted(((_relative(ctx, p.replace("\\", "")), n) for p, n in paths.items()), key=lambda t: -len(t[0]))
    names: dict[str, int] = {}
    whole: dict[str, bool] = {}
    for resolved in text.inputFiles():
        plain = unquote(resolved)
        number = next((n for tail, n in tails if plain.endswith(tail)), None)
        if number is None:
            raise EtlError(f"receipts: Spark read {resolved}, which is none of the files asked for")
        for form in _path_forms(resolved):
            names[form] = number
            whole[form] = not records[number].read_in_splits
    path = F.col("_metadata.file_path")
    unknown = F.raise_error(
        F.concat(F.lit("receipts: Spark named a file in a form none of the files asked for has: "), path)
    )
    return text.select(
        F.coalesce(F.element_at(_literal_map(names), path).cast("long"), unknown.cast("long")).alias(FILE),
        F.spark_partition_id().cast("long").alias(PART),
        F.monotonically_increasing_id().alias(ORDER),
        "value",
        F.element_at(_literal_map(whole), path).alias(MULTILINE),
    )


def _path_forms(uri: str) -> list[str]:
    """The forms Spark gives one file's path in: ``file:/x`` in one place, ``file:///x`` in
    another (a map lookup per line, cheaper than normalising every line's path)."""
    scheme = re.match(_SCHEME, uri)
    if scheme is None:
        return [uri]
    name, bare = scheme.group(0).rstrip("/"), uri[scheme.end() :]
    return list(dict.fromkeys([uri, f"{name}/{bare}", f"{name}//{bare}", f"{name}///{bare}"]))


def _literal_map(values: dict[str, Any]) -> Column:
    return F.create_map(*[F.lit(x) for item in values.items() for x in item])


def _relative(ctx: RunContext, uri: str) -> str:
    """The lake key a storage URI names, as a path suffix (with its leading slash)."""
    root = ctx.storage.uri("").rstrip("/")
    return "/" + uri[len(root) :].lstrip("/") if uri.startswith(root) else uri


def _reasons_by_file(rows: DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Rows per rule and file (a row counts under every rule it failed): a few rows per file."""
    counted = rows.select("_id", F.explode("rules").alias("rule")).groupBy("_id", "rule").count()
    found: dict[str, list[dict[str, Any]]] = {}
    for row in counted.orderBy("_id", F.desc("count"), "rule").collect():  # files x rules: small
        found.setdefault(row["_id"], []).append({"rule": row["rule"], "rows": row["count"]})
    return found


def _publish_rows(
    ctx: RunContext, record: FileRecord, staged: dict[str, dict[str, list[str]]], reasons: list[dict[str, Any]]
) -> None:
    """Move one file's staged rows to its receipt, complete its summary, clear its flag."""
    keys = receipt_keys(ctx.dataset, record.source_key)
    fid = file_id(record.source_key)
    for kind in ("json", "csv"):
        found = staged[kind].get(f"_id={fid}", [])
        if len(found) != 1:
            raise EtlError(f"{record.source_key}: expected one staged receipt {kind} file, found {len(found)}")
        ctx.storage.move(found[0], keys[kind])
    ctx.storage.write_text(keys["summary"], json.dumps(summary(record, reasons), indent=2))
    try:
        ctx.ledger.save_file(record.evolve(receipt_owed=False), expected=record)
    except ClaimConflict as exc:  # the file was taken meanwhile: its new outcome owes its own receipt
        log.warning("receipt of %s: %s", posixpath.basename(record.source_key), exc)
