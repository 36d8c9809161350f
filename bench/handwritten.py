#!/usr/bin/env python3
"""A hand-written PySpark job: the baseline etl_lib is benchmarked against.

What a good data engineer writes by hand, no framework: read the raw CSV (all-string
schema, PERMISSIVE with ``_corrupt_record``), clean, type, validate, derive, add
year/month; valid rows as JSON Lines to ``OUT/processed/``, rejected ones (reasons + raw
values) to ``OUT/rejected/``; then keep the latest row per key of processed, hash pii
columns, snappy Parquet to ``OUT/analytics/``. Spark built-ins only (no Python UDFs);
the spec is read as plain dicts (``bench/spec_rules.py``), etl_lib is not imported. No
ledger, staging, retries or header matching: the columns must be the spec's, in order.

It writes the columns etl_lib writes, so both jobs write and read back the same bytes:
lineage (``_source_file``, ``_source_row``, ``_ingested_at``, ``_run_id``,
``_delivered_at``, ``_rescued_data``) and every field, nulls too. ``--minimal`` leaves
out what etl_lib adds beyond the transform (the last four lineage columns, null fields).

    python bench/handwritten.py --spec sample_csv/specs/transactions.yaml \\
        --raw /tmp/bench/raw/transactions --out /tmp/hw [--master local[2]] [--multiline] [--minimal]

Prints ``{"rows_in", "valid", "rejected", "analytics", "stage1_s", "stage2_s"}`` as JSON.
By default the CSV is read splittable (``multiLine`` false), so a quoted field holding
a line break is split into two malformed records; ``--multiline`` reads RFC 4180 quoted
line breaks as etl_lib does (one partition per file).
"""

from __future__ import annotations

import argparse
import json
import operator
import sys
import time
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Observation, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

sys.path.insert(0, str(Path(__file__).resolve().parent))
from spec_rules import CORRUPT_REASON, FALSE_VALUES, TRUE_VALUES, WS, load_spec, reason

CLEAN = {
    "trim": lambda c: F.regexp_replace(c, f"^{WS}+|{WS}+$", ""),
    "ltrim": lambda c: F.regexp_replace(c, f"^{WS}+", ""),
    "rtrim": lambda c: F.regexp_replace(c, f"{WS}+$", ""),
    "collapse_spaces": lambda c: F.regexp_replace(c, f"{WS}+", " "),
    "upper": F.upper,
    "lower": F.lower,
    "title": F.initcap,
    "null_if_empty": lambda c: F.when(F.trim(c) != "", c),
    "digits_only": lambda c: F.regexp_replace(c, "[^0-9]", ""),
    "remove_thousands_separator": lambda c: F.regexp_replace(c, r"[,_ \x{A0}](?=\d{3}(\D|$))", ""),
    "decimal_comma": lambda c: F.regexp_replace(F.regexp_replace(c, r"\.", ""), ",", "."),
}
# Settings the transform relies on (as etl_lib sets them): UTC, a date that does not match
# its pattern is null (not an upgrade error), every CSV field parsed so field counts are seen.
SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    "spark.sql.csv.parser.columnPruning.enabled": "false",
}


def _blank(c: Column) -> Column:
    return c.isNull() | (F.regexp_replace(c, WS, "") == "")


def _typed(col: dict[str, Any]) -> Column:
    """The typed value of a column from its cleaned string (a column of that name); null if it does not parse."""
    name, ctype = col["name"], col["type"]
    value = F.col(f"`{name}`")
    if ctype == "string":
        return value
    stripped = F.trim(value)
    if ctype == "boolean":
        lowered = F.lower(stripped)
        parsed = F.when(lowered.isin(*TRUE_VALUES), True).when(lowered.isin(*FALSE_VALUES), False)
    elif ctype in ("date", "timestamp"):
        parsed = F.coalesce(*[F.try_to_timestamp(stripped, F.lit(f)) for f in col["formats"]])
    else:  # ANSI try_cast: "1.5" is not an int; a decimal with more non-zero decimals than its scale is refused
        parsed = F.expr(f"try_cast(trim(`{name}`) AS {ctype})")
        if ctype.startswith("decimal"):
            scale = int(ctype.split(",")[1].rstrip(")"))
            parsed = F.when(~stripped.rlike(rf"\.\d{{{scale}}}\d*[1-9]\d*$"), parsed)
    return F.when(~_blank(value), parsed).cast(ctype)


def _reasons(col: dict[str, Any], typed: Column) -> list[Column]:
    """One reason (or null) per rule of the column."""
    value, ctype, out = F.col(f"`{col['name']}`"), col["type"], []
    if col["must_exist"]:
        out.append(F.when(_blank(value), reason(col, "missing")))
    if ctype != "string":
        out.append(F.when(~_blank(value) & typed.isNull(), reason(col, "type")))
    if col["allowed"] is not None:
        out.append(F.when(~typed.isin(*[F.lit(v).cast(ctype) for v in col["allowed"]]), reason(col, "allowed")))
    for rule, beyond in (("min", operator.lt), ("max", operator.gt)):
        if col[rule] is not None:
            out.append(F.when(beyond(typed, F.lit(col[rule]).cast(ctype)), reason(col, rule)))
    if col["pattern"] is not None:
        out.append(F.when(~_blank(value) & ~value.rlike(f"^(?:{col['pattern']})$"), reason(col, "pattern")))
    return out


def validated(spark: SparkSession, spec: dict[str, Any], raw_path: str, multiline: bool, minimal: bool) -> DataFrame:
    """Every CSV record: typed and derived columns, ``_reasons`` (empty when valid), raw values, lineage, year/month."""
    src, cols = spec["source"], spec["columns"]
    names = [c["name"] for c in cols]
    schema = T.StructType([T.StructField(n, T.StringType()) for n in [*names, "_corrupt_record"]])
    raw = (
        spark.read.schema(schema)
        .options(header=src["header"], sep=src["delimiter"], quote=src["quote"], escape=src["quote"])
        .options(encoding=src["encoding"], multiLine=multiline, mode="PERMISSIVE")
        .option("columnNameOfCorruptRecord", "_corrupt_record")
        .csv(raw_path)
    )
    nulls = src["null_values"]
    cleaned = raw.select(
        *[_clean(F.col(n), c["clean"], nulls).alias(n) for n, c in zip(names, cols, strict=True)],
        F.struct(*names).alias("_raw"),
        "_corrupt_record",
        F.input_file_name().alias("_source_file"),
        F.col("_metadata.file_modification_time").alias("_delivered_at"),
        F.monotonically_increasing_id().alias("_source_row"),  # increases with the position in a file
    )
    typed = {c["name"]: _typed(c) for c in cols}
    checks = [F.when(F.col("_corrupt_record").isNotNull(), CORRUPT_REASON)]
    checks += [r for c in cols for r in _reasons(c, typed[c["name"]])]
    rows = cleaned.select(
        *[t.alias(n) for n, t in typed.items()],
        F.array_compact(F.array(*checks)).alias("_reasons"),
        "_raw",
        "_corrupt_record",
        "_source_file",
        "_source_row",
        "_delivered_at",
    )
    for d in spec["derived"]:
        rows = rows.withColumn(d["name"], F.expr(d["expr"]).cast(d["type"]) if d["type"] else F.expr(d["expr"]))
        if d["name"] in (*spec["keys"], spec["partition_by"]):  # a derived key or partition column must not be null
            text = f"{d['name']}: derived value is null (it is a key or the partition column)"
            why = F.when(F.col(d["name"]).isNull(), F.array(F.lit(text))).otherwise(F.array().cast("array<string>"))
            rows = rows.withColumn("_reasons", F.concat("_reasons", why))
    if not minimal:  # etl_lib's lineage: when and by which run, when the file was delivered
        rows = rows.withColumns(
            {
                "_rescued_data": F.lit(None).cast("string"),
                "_ingested_at": F.current_timestamp(),
                "_run_id": F.lit(f"hw-{int(time.time())}"),
            }
        )
    part = F.col(spec["partition_by"]) if spec["partition_by"] else F.current_timestamp()
    return rows.withColumns({"year": F.date_format(part, "yyyy"), "month": F.date_format(part, "MM")})


def _clean(value: Column, rules: list[str], nulls: list[str]) -> Column:
    if nulls:
        value = F.when(~value.isin(*nulls), value)
    for rule in rules:
        value = CLEAN[rule](value)
    return value


def run(
    spark: SparkSession, spec_path: str, raw_path: str, out_dir: str, multiline: bool = False, minimal: bool = False
) -> dict[str, Any]:
    """Run both stages into ``out_dir`` (processed/, rejected/, analytics/, overwritten); return
    ``{rows_in, valid, rejected, analytics, stage1_s, stage2_s}``. Sets ``SESSION_CONF`` on ``spark``."""
    for key, value in SESSION_CONF.items():
        spark.conf.set(key, value)
    spec = load_spec(spec_path)
    out = out_dir.rstrip("/")
    processed_cols = [*[c["name"] for c in spec["columns"]], *[d["name"] for d in spec["derived"]]]
    lineage = [] if minimal else ["_rescued_data", "_ingested_at", "_run_id", "_delivered_at"]
    processed_cols += ["_source_file", "_source_row", *lineage, "year", "month"]
    nulls = {} if minimal else {"ignoreNullFields": "false"}  # etl_lib writes every field, nulls too

    started = time.perf_counter()
    rows = validated(spark, spec, raw_path, multiline, minimal).persist(StorageLevel.MEMORY_AND_DISK)  # one CSV parse
    is_valid = F.size("_reasons") == 0
    tally = Observation("stage1")
    observed = rows.observe(tally, F.count(F.lit(1)).alias("rows_in"), F.count(F.when(is_valid, 1)).alias("valid"))
    processed = observed.filter(is_valid).select(*processed_cols)
    processed.write.mode("overwrite").options(**nulls).partitionBy("year", "month").json(f"{out}/processed")
    rejected_cols = ["_source_file", "_source_row", *lineage[1:], "_reasons", "_raw", "_corrupt_record", *lineage[:1]]
    rejected = rows.filter(~is_valid).select(*rejected_cols)
    rejected.write.mode("overwrite").options(**nulls).json(f"{out}/rejected")
    stage1 = tally.get
    rows.unpersist()
    stage1_s = time.perf_counter() - started

    started = time.perf_counter()
    frame = spark.read.schema(processed.schema).json(f"{out}/processed")  # year/month from the folders, as strings
    if spec["keys"]:
        order = [F.col(spec["latest_by"]).desc_nulls_last()] if spec["latest_by"] else []
        order += [] if minimal else [F.col("_delivered_at").desc_nulls_last()]
        order += [F.col("_source_file").desc(), F.col("_source_row").desc()]
        rank = F.row_number().over(Window.partitionBy(*spec["keys"]).orderBy(*order))
        frame = frame.withColumn("_rank", rank).filter("_rank = 1").drop("_rank")
    if spec["pii"]:
        frame = frame.withColumns({c: F.sha2(F.col(c).cast("string"), 256) for c in spec["pii"]})
    written = Observation("stage2")
    frame = frame.observe(written, F.count(F.lit(1)).alias("analytics")).repartition("year", "month")
    frame.write.mode("overwrite").partitionBy("year", "month").parquet(f"{out}/analytics", compression="snappy")
    n_in, n_valid, n_analytics = stage1["rows_in"], stage1["valid"], written.get["analytics"]
    counts = {"rows_in": n_in, "valid": n_valid, "rejected": n_in - n_valid, "analytics": n_analytics}
    return {**counts, "stage1_s": round(stage1_s, 2), "stage2_s": round(time.perf_counter() - started, 2)}


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, start Spark, run both stages and print the counts and timings as JSON."""
    parser = argparse.ArgumentParser(prog="bench/handwritten.py", description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="dataset spec YAML")
    parser.add_argument("--raw", required=True, help="raw CSV file, folder or glob")
    parser.add_argument("--out", required=True, help="output folder: processed/, rejected/, analytics/")
    parser.add_argument("--master", default="local[2]", help="Spark master (default local[2])")
    parser.add_argument("--driver-memory", default="2g", help="spark.driver.memory (default 2g)")
    parser.add_argument("--multiline", action="store_true", help="read quoted line breaks (not splittable)")
    parser.add_argument("--minimal", action="store_true", help="leave out etl_lib's lineage columns and null fields")
    args = parser.parse_args(argv)
    spark = (
        SparkSession.builder.appName("handwritten")
        .master(args.master)
        .config("spark.driver.memory", args.driver_memory)
        .config("spark.sql.shuffle.partitions", "8")  # as etl_lib's local session
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        print(json.dumps(run(spark, args.spec, args.raw, args.out, args.multiline, args.minimal)))
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
