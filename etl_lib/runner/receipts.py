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

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl_lib.errors import ClaimConflict, EtlError
from etl_lib.ledger.base import FileRecord
from etl_lib.read.csv import ascii_compatible
from etl_lib.read.source import spark_source_path
from etl_lib.runner.context import RunContext
from etl_lib.transform.receipt import FILE, MULTILINE, ORDER, numbered_lines, partner_problems, rejected_lines
from etl_lib.write.staging import file_id, staged_files

log = logging.getLogger("etl_lib.receipts")

_SCHEME = "^[A-Za-z][A-Za-z0-9+.-]*:/*"
"""A URI's scheme and the slashes after it: Spark writes a file's path as file:/x in one place, file:///x in another."""
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
    try:
        rows = _receipt_rows(ctx, records, stage)
        (
            rows.repartition("_id")
            .sortWithinPartitions("_id", "line", "record")  # the writer's own order by _id, then the file's
            .write.mode("overwrite")
            .partitionBy("_id")
            .json(ctx.storage.uri(f"{stage}/json"))
        )
        written = ctx.spark.read.schema(_ROWS).json(ctx.storage.uri(f"{stage}/json"))
        csv_rows = written.select(
            "line", "record", F.array_join("problems", "; ").alias("problems"), "delivered", "_id"
        ).sortWithinPartitions("_id", "line", "record")
        (
            csv_rows.write.mode("overwrite")
            .partitionBy("_id")
            .option("header", True)
            .option("escape", '"')
            .csv(ctx.storage.uri(f"{stage}/csv"))
        )
        reasons = _reasons_by_file(written)
        staged = {kind: staged_files(ctx.storage, f"{stage}/{kind}", f".{kind}") for kind in ("json", "csv")}
        for record in records:
            _publish_rows(ctx, record, staged, reasons.get(file_id(record.source_key), []))
    finally:
        try:
            ctx.storage.delete_prefix(stage)
        except EtlError as exc:  # garbage a later run removes
            log.warning("could not clean %s: %s", stage, exc)


_ROWS = T.StructType(
    [
        T.StructField("line", T.LongType()),
        T.StructField("record", T.LongType()),
        T.StructField("problems", T.ArrayType(T.StringType())),
        T.StructField("rules", T.ArrayType(T.StringType())),
        T.StructField("delivered", T.StringType()),
        T.StructField("_id", T.StringType()),
    ]
)


def _receipt_rows(ctx: RunContext, records: list[FileRecord], stage: str) -> DataFrame:
    spec = ctx.spec
    source = spec.source
    as_text = codecs.lookup(source.encoding).name in _TEXT_ENCODINGS
    outputs = [ctx.storage.uri(o) for r in records for o in r.outputs if o.startswith(f"{ctx.rejected_prefix()}/")]
    rejected = ctx.spark.read.schema(_REJECTED).json(outputs).withColumnRenamed("_source_file", FILE)
    values = F.array_join(F.map_values(F.col("_raw")), source.delimiter)
    if ascii_compatible(source.encoding):
        lines = _raw_lines(ctx, records, stage)
        numbered = numbered_lines(lines, source.quote, source.header)
        found = rejected_lines(numbered, lines, rejected, sum(r.rows_rejected for r in records))
    else:  # UTF-16 and the like: Spark's text reader cannot split the lines; no line numbers
        found = rejected.withColumn("_line", F.lit(None).cast("long")).withColumn("_raw_line", F.lit(None))
    delivered = F.coalesce(F.col("_corrupt_record"), F.col("_raw_line") if as_text else values, values)
    ids = F.create_map(*[x for r in records for x in (F.lit(r.source_key), F.lit(file_id(r.source_key)))])
    return found.select(
        F.col(FILE),
        F.element_at(ids, F.col(FILE)).alias("_id"),
        F.col("_line").alias("line"),
        F.col("_source_row").alias("record"),
        partner_problems(spec, F.col("_raw")).alias("problems"),
        F.col("_reasons").alias("rules"),
        delivered.alias("delivered"),
    )


def _raw_lines(ctx: RunContext, records: list[FileRecord], stage: str) -> DataFrame:
    """The delivered files' lines, in one read: ``_file`` (the source key), ``_order`` (file
    order), ``value``, ``_multiline`` (read whole by ingest, not in splits)."""
    paths = {spark_source_path(ctx.storage, r.source_key, f"{stage}/aliases/{n}"): r for n, r in enumerate(records)}
    text = ctx.spark.read.text(list(paths))
    # Spark names each file as it resolved it (the form of _metadata.file_path); match by the
    # lake key (or alias) it ends with, the longest first.
    tails = sorted(((_relative(ctx, p.replace("\\", "")), r) for p, r in paths.items()), key=lambda t: -len(t[0]))
    names: list[Column] = []
    whole: list[Column] = []
    for resolved in text.inputFiles():
        plain = unquote(resolved)
        record = next((r for tail, r in tails if plain.endswith(tail)), None)
        if record is None:
            raise EtlError(f"receipts: Spark read {resolved}, which is none of the files asked for")
        bare = re.sub(_SCHEME, "", resolved)  # file:/x and file:///x alike
        names += [F.lit(bare), F.lit(record.source_key)]
        whole += [F.lit(bare), F.lit(not record.read_in_splits)]
    path = F.regexp_replace(F.col("_metadata.file_path"), _SCHEME, "")
    return text.select(
        F.element_at(F.create_map(*names), path).alias(FILE),
        F.monotonically_increasing_id().alias(ORDER),
        "value",
        F.element_at(F.create_map(*whole), path).alias(MULTILINE),
    )


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
