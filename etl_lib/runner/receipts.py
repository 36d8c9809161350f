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
    ANCHOR,
    FILE,
    LINE,
    MULTILINE,
    ORDER,
    PART,
    RECORD,
    LineLayout,
    anchors,
    line_stats,
    literal_map,
    partner_problems,
    records_counted,
    special_lines,
    whole_records,
    with_line_numbers,
    with_spans,
    with_text,
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
    if not ctx.spec.receipts:  # off: an earlier receipt would describe outputs that are gone
        ctx.storage.delete(list(keys.values()))
        return
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
        rows = _receipt_rows(ctx, records, stage, kept).persist(StorageLevel.MEMORY_AND_DISK)  # for the counts
        kept.append(rows)
        # Both formats in one write, as text: one file per receipt and format (a file's rows
        # are in one partition), the CSV header first.
        texts = rows.select("_id", "line", "record", F.explode(_texts()).alias("_t")).where(
            F.col("_t.text").isNotNull()
        )
        (
            texts.select("_id", "_t.format", "line", "record", "_t.text")
            .sortWithinPartitions("_id", "format", F.col("record") > 0, "line", "record")
            .select("_id", "format", "text")
            .write.mode("overwrite")
            .partitionBy("_id", "format")
            .text(ctx.storage.uri(stage))
        )
        reasons, written = _reasons_by_file(rows)
        staged = staged_files(ctx.storage, stage, ".txt")
        for record in records:
            fid = file_id(record.source_key)
            if written.get(fid, 0) != record.rows_rejected:  # the ledger's count, from the same run
                log.error(
                    "receipt of %s: %d rows for %d rejected; left owed",
                    record.source_key,
                    written.get(fid, 0),
                    record.rows_rejected,
                )
                continue
            _publish_rows(ctx, record, staged, reasons.get(fid, []))
    finally:
        for frame in kept:
            frame.unpersist()
        try:
            ctx.storage.delete_prefix(stage)
        except EtlError as exc:  # garbage a later run removes
            log.warning("could not clean %s: %s", stage, exc)


CSV_COLUMNS = ("line", "record", "problems", "delivered")
"""The columns of a receipt's CSV (its JSON has ``rules`` too: the rules as the spec says them)."""


def _texts() -> Column:
    """A receipt row as its JSON line and its CSV line (record 0: the CSV header alone)."""
    header = F.col("record") == 0
    json_line = F.to_json(F.struct("line", "record", "problems", "rules", "delivered"))
    csv_line = F.to_csv(
        F.struct("line", "record", F.array_join("problems", "; ").alias("problems"), "delivered"),
        {"escape": '"', "quote": '"'},
    )
    return F.array(
        F.struct(F.lit("json").alias("format"), F.when(~header, json_line).alias("text")),
        F.struct(
            F.lit("csv").alias("format"), F.when(header, F.lit(",".join(CSV_COLUMNS))).otherwise(csv_line).alias("text")
        ),
    )


def _receipt_rows(ctx: RunContext, records: list[FileRecord], stage: str, kept: list[DataFrame]) -> DataFrame:
    """The receipt rows of ``records``, partitioned by ``_id`` (the file's id), and a row with
    record 0 per file (for the CSV header); frames it persists go to ``kept``."""
    spec = ctx.spec
    source = spec.source
    outputs = [ctx.storage.uri(o) for r in records for o in r.outputs if o.startswith(f"{ctx.rejected_prefix()}/")]
    numbers = literal_map({r.source_key: n for n, r in enumerate(records)})
    ids = literal_map({n: file_id(r.source_key) for n, r in enumerate(records)})
    rejected = ctx.spark.read.schema(_REJECTED).json(outputs)
    file = F.element_at(numbers, F.col("_source_file")).cast("long")
    rows = rejected.select(
        F.element_at(ids, file).alias("_id"),
        file.alias(FILE),
        F.col("_source_row").alias(RECORD),
        partner_problems(spec, F.col("_raw")).alias("problems"),
        F.col("_reasons").alias("rules"),
        F.col("_corrupt_record"),
        F.array_join(F.map_values(F.col("_raw")), source.delimiter).alias("_values"),
    )
    if ascii_compatible(source.encoding):
        lines = _raw_lines(ctx, records, stage)
        stats = line_stats(lines, source.quote)
        layout = LineLayout.of(stats)  # one pass over the text
        found: DataFrame | None = None
        counted = {f: n - (1 if source.header else 0) for f, n in layout.lines.items()}
        if layout.special_lines is not None and layout.specials:  # the usual: a few special lines
            rows_found = layout.anchors(source.header)
            found = ctx.spark.createDataFrame(rows_found, ANCHOR)
            counted = dict.fromkeys(layout.files, 0)
            for number, _, end, _, _ in rows_found:
                counted[number] = max(counted[number], end)
        elif layout.specials:  # too many for the driver: Spark works the anchors out (a second pass)
            found = anchors(special_lines(stats, layout), layout, source.header).persist(StorageLevel.MEMORY_AND_DISK)
            kept.append(found)
            counted = {row[FILE]: row["_records"] for row in records_counted(found).collect()}  # a row per file
        known = [n for n, r in enumerate(records) if counted.get(n) == r.rows_in]
        for n, record in enumerate(records):
            if n not in known:
                log.warning(
                    "receipt of %s: its lines hold %s records, Spark's reader found %d (a quote inside an unquoted "
                    "value?); its rows are given without line numbers",
                    record.source_key,
                    counted.get(n),
                    record.rows_in,
                )
        spanned = with_spans(rows, found, source.header, known)
        per_line = with_text(spanned, with_line_numbers(lines, layout), sum(r.rows_rejected for r in records))
    else:  # UTF-16 and the like: Spark's text reader cannot split the lines; no line numbers
        per_line = rows.withColumn(LINE, F.lit(None).cast("long")).withColumn("value", F.lit(None).cast("string"))
    headers = ctx.spark.createDataFrame(
        [(file_id(r.source_key), n, 0) for n, r in enumerate(records)], f"_id string, {FILE} long, {RECORD} long"
    )
    carried = ["problems", "rules", "_corrupt_record", "_values"]
    all_rows = per_line.unionByName(headers, allowMissingColumns=True)
    grouped = whole_records(all_rows.repartition("_id"), ["_id", FILE, RECORD], carried)
    as_text = codecs.lookup(source.encoding).name in _TEXT_ENCODINGS
    values = F.col("_values")
    delivered = F.coalesce(F.col("_corrupt_record"), F.col("_raw_line") if as_text else values, values)
    return grouped.select(
        F.col("_id"),
        F.col(LINE).alias("line"),
        F.col(RECORD).alias("record"),
        F.col("problems"),
        F.col("rules"),
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
        F.coalesce(F.element_at(literal_map(names), path).cast("long"), unknown.cast("long")).alias(FILE),
        F.spark_partition_id().cast("long").alias(PART),
        F.monotonically_increasing_id().alias(ORDER),
        "value",
        F.element_at(literal_map(whole), path).alias(MULTILINE),
    )


def _path_forms(uri: str) -> list[str]:
    """The forms Spark gives one file's path in: ``file:/x`` in one place, ``file:///x`` in
    another (a map lookup per line, cheaper than normalising every line's path)."""
    scheme = re.match(_SCHEME, uri)
    if scheme is None:
        return [uri]
    name, bare = scheme.group(0).rstrip("/"), uri[scheme.end() :]
    return list(dict.fromkeys([uri, f"{name}/{bare}", f"{name}//{bare}", f"{name}///{bare}"]))


def _relative(ctx: RunContext, uri: str) -> str:
    """The lake key a storage URI names, as a path suffix (with its leading slash)."""
    root = ctx.storage.uri("").rstrip("/")
    return "/" + uri[len(root) :].lstrip("/") if uri.startswith(root) else uri


def _reasons_by_file(rows: DataFrame) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
    """Rows per rule and file (a row counts under every rule it failed), and rows per file,
    in one aggregation (a null rule per row counts the rows): a few rows per file."""
    rules = F.explode(F.concat(F.array(F.lit(None).cast("string")), F.col("rules"))).alias("rule")
    counted = rows.where(F.col("record") > 0).select("_id", rules).groupBy("_id", "rule").count()
    found: dict[str, list[dict[str, Any]]] = {}
    written: dict[str, int] = {}
    for row in counted.orderBy("_id", F.desc("count"), "rule").collect():  # files x rules: small
        if row["rule"] is None:
            written[row["_id"]] = row["count"]
        else:
            found.setdefault(row["_id"], []).append({"rule": row["rule"], "rows": row["count"]})
    return found, written


def _publish_rows(
    ctx: RunContext, record: FileRecord, staged: dict[str, list[str]], reasons: list[dict[str, Any]]
) -> None:
    """Move one file's staged rows to its receipt, complete its summary, clear its flag."""
    keys = receipt_keys(ctx.dataset, record.source_key)
    fid = file_id(record.source_key)
    for kind in ("json", "csv"):
        found = staged.get(f"_id={fid}/format={kind}", [])
        if len(found) != 1:
            raise EtlError(f"{record.source_key}: expected one staged receipt {kind} file, found {len(found)}")
        ctx.storage.move(found[0], keys[kind])
    ctx.storage.write_text(keys["summary"], json.dumps(summary(record, reasons), indent=2))
    try:
        ctx.ledger.save_file(record.evolve(receipt_owed=False), expected=record)
    except ClaimConflict as exc:  # the file was taken meanwhile: its new outcome owes its own receipt
        log.warning("receipt of %s: %s", posixpath.basename(record.source_key), exc)
