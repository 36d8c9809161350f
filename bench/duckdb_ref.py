#!/usr/bin/env python3
"""The same two stages as ``bench/handwritten.py``, with DuckDB: a single-machine reference.

Stage 1 reads the raw CSV with explicit all-VARCHAR columns (records with the wrong
number of fields go to DuckDB's reject table, ``store_rejects``), cleans, types,
validates and derives in SQL, adds year/month, keeps the rows in one temporary table
(one CSV parse), and writes valid rows as JSON Lines partitioned by year/month to
``OUT/processed/`` and rejected ones (reasons + raw values or the raw line) to
``OUT/rejected/``. Stage 2 reads processed back, keeps the latest row per key
(``QUALIFY row_number() ... = 1``), hashes pii columns (sha256) and writes snappy
Parquet partitioned by year/month to ``OUT/analytics/``. The spec YAML is read as plain
dicts (``bench/spec_rules.py``); etl_lib is not imported.

    python bench/duckdb_ref.py --spec sample_csv/specs/transactions.yaml \\
        --raw /tmp/bench/raw/transactions --out /tmp/duck [--threads 2]

Prints ``{"rows_in", "valid", "rejected", "analytics", "stage1_s", "stage2_s"}`` as JSON.

Where DuckDB differs from Spark, the SQL is made to behave like etl_lib: RE2 has no
lookahead, so ``remove_thousands_separator`` walks the characters; ``TRY_CAST`` rounds
``'1.5'`` to an INTEGER and takes ``'1_000'``, so numbers must look like numbers first;
``strptime`` takes ``2024-1-5`` for ``%Y-%m-%d``, so each format also has a strict regex
(Spark patterns are translated for yyyy MM dd HH mm ss SSS SSSSSS and quoted literals
only). DuckDB 1.x cannot ``COPY ... (FORMAT JSON, PARTITION_BY ...)``, so processed is
written the way DuckDB writes JSON itself: ``to_json`` of each row through the CSV writer.
The spec's derived expressions are Spark SQL and are used as they are: fine for plain
CASE/arithmetic (the transactions spec), not for Spark-only functions. Not the same as
Spark: DuckDB's reader takes a record with one extra *empty* last field (``1,2,3,`` for
three columns) as a good record, even with ``strict_mode`` (Spark: wrong number of
fields); ``_source_row`` counts the records DuckDB parsed, not lines.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from spec_rules import CORRUPT_REASON, FALSE_VALUES, TRUE_VALUES, WS, load_spec, reason

SEPARATORS = r"[,_ \x{A0}]"
MACROS = f"""
CREATE TEMP MACRO is_blank(s) AS s IS NULL OR regexp_replace(s, '{WS}', '', 'g') = '';
CREATE TEMP MACRO c_trim(s) AS regexp_replace(s, '^{WS}+|{WS}+$', '', 'g');
CREATE TEMP MACRO c_ltrim(s) AS regexp_replace(s, '^{WS}+', '');
CREATE TEMP MACRO c_rtrim(s) AS regexp_replace(s, '{WS}+$', '');
CREATE TEMP MACRO c_collapse_spaces(s) AS regexp_replace(s, '{WS}+', ' ', 'g');
CREATE TEMP MACRO c_upper(s) AS upper(s);
CREATE TEMP MACRO c_lower(s) AS lower(s);
CREATE TEMP MACRO c_title(s) AS
    array_to_string(list_transform(string_split(lower(s), ' '), lambda w: upper(w[1]) || w[2:]), ' ');
CREATE TEMP MACRO c_null_if_empty(s) AS CASE WHEN trim(s) = '' THEN NULL ELSE s END;
CREATE TEMP MACRO c_digits_only(s) AS regexp_replace(s, '[^0-9]', '', 'g');
CREATE TEMP MACRO c_decimal_comma(s) AS replace(replace(s, '.', ''), ',', '.');
-- drop a separator followed by exactly three digits (Spark: [,_ ](?=\\d{{3}}(\\D|$)))
CREATE TEMP MACRO c_remove_thousands_separator(s) AS CASE
    WHEN regexp_matches(s, '{SEPARATORS}[0-9]{{3}}') THEN array_to_string(list_transform(range(1, length(s) + 1),
        lambda i: CASE WHEN regexp_full_match(s[i], '{SEPARATORS}')
                        AND regexp_full_match(s[i + 1:i + 4], '[0-9]{{3}}([^0-9])?') THEN '' ELSE s[i] END), '')
    ELSE s END;
"""
NUMBER = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
SQL_TYPES = {"string": "VARCHAR", "int": "INTEGER", "bigint": "BIGINT", "double": "DOUBLE"}
# Spark datetime pattern letters -> (strptime directive, regex of the text it takes)
DATETIME = {
    "yyyy": ("%Y", "[0-9]{4}"),
    "MM": ("%m", "[0-9]{2}"),
    "dd": ("%d", "[0-9]{2}"),
    "HH": ("%H", "[0-9]{2}"),
    "mm": ("%M", "[0-9]{2}"),
    "ss": ("%S", "[0-9]{2}"),
    "SSS": ("%g", "[0-9]{3}"),
    "SSSSSS": ("%f", "[0-9]{6}"),
}


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: Any) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_type(ctype: str) -> str:
    """The DuckDB type of a spec type."""
    return SQL_TYPES.get(ctype, ctype.upper())


def strptime_format(fmt: str) -> tuple[str, str]:
    """A Spark datetime pattern as a DuckDB ``strptime`` format and a strict RE2 regex of the text."""
    out, regex, i = "", "", 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "'":  # quoted literal
            end = fmt.index("'", i + 1)
            text, i = fmt[i + 1 : end] or "'", end + 1
        elif ch.isalpha():
            j = i
            while j < len(fmt) and fmt[j] == ch:
                j += 1
            if fmt[i:j] not in DATETIME:
                raise ValueError(f"format {fmt!r}: {fmt[i:j]!r} is not translated to DuckDB here")
            out, regex, i = out + DATETIME[fmt[i:j]][0], regex + DATETIME[fmt[i:j]][1], j
            continue
        else:
            text, i = ch, i + 1
        out += text.replace("%", "%%")
        regex += "".join("\\" + c if c in r".^$*+?()[]{}|\/" else c for c in text)
    return out, regex


def typed(col: dict[str, Any]) -> str:
    """SQL for the typed value of a column from its cleaned string; NULL when it does not parse."""
    name, ctype = q(col["name"]), col["type"]
    if ctype == "string":
        return name
    value = f"trim({name})"
    if ctype == "boolean":
        true, false = ", ".join(map(lit, TRUE_VALUES)), ", ".join(map(lit, FALSE_VALUES))
        parsed = f"CASE WHEN lower({value}) IN ({true}) THEN true WHEN lower({value}) IN ({false}) THEN false END"
    elif ctype in ("date", "timestamp"):
        tries = []
        for fmt in col["formats"]:
            pattern, regex = strptime_format(fmt)
            tries.append(
                f"CASE WHEN regexp_full_match({value}, {lit(regex)}) THEN try_strptime({value}, {lit(pattern)}) END"
            )
        parsed = f"CAST(coalesce({', '.join(tries)}) AS {sql_type(ctype)})"
    else:
        number = "[+-]?[0-9]+" if ctype in ("int", "bigint") else NUMBER
        if ctype == "double":
            number = f"(?i){NUMBER}|[+-]?(nan|inf|infinity)"
        parsed = f"CASE WHEN regexp_full_match({value}, {lit(number)}) THEN TRY_CAST({value} AS {sql_type(ctype)}) END"
        if ctype.startswith("decimal"):
            scale = int(ctype.split(",")[1].rstrip(")"))
            too_precise = lit(rf"\.[0-9]{{{scale}}}[0-9]*[1-9][0-9]*$")
            parsed = f"CASE WHEN NOT regexp_matches({value}, {too_precise}) THEN {parsed} END"
    return f"CASE WHEN NOT is_blank({name}) THEN {parsed} END"


def reasons(col: dict[str, Any]) -> list[str]:
    """SQL for one reason (or NULL) per rule of the column."""
    name, ctype, value = q(col["name"]), col["type"], typed(col)
    out = []
    if col["must_exist"]:
        out.append(f"CASE WHEN is_blank({name}) THEN {lit(reason(col, 'missing'))} END")
    if ctype != "string":
        out.append(f"CASE WHEN NOT is_blank({name}) AND ({value}) IS NULL THEN {lit(reason(col, 'type'))} END")
    if col["allowed"] is not None:
        allowed = ", ".join(f"CAST({lit(v)} AS {sql_type(ctype)})" for v in col["allowed"])
        out.append(f"CASE WHEN ({value}) NOT IN ({allowed}) THEN {lit(reason(col, 'allowed'))} END")
    for rule, op in (("min", "<"), ("max", ">")):
        if col[rule] is not None:
            bound = f"CAST({lit(col[rule])} AS {sql_type(ctype)})"
            out.append(f"CASE WHEN ({value}) {op} {bound} THEN {lit(reason(col, rule))} END")
    if col["pattern"] is not None:
        match = f"regexp_full_match({name}, {lit('^(?:' + col['pattern'] + ')$')})"
        out.append(f"CASE WHEN NOT is_blank({name}) AND NOT {match} THEN {lit(reason(col, 'pattern'))} END")
    return out


def stage1_sql(spec: dict[str, Any], raw_path: str) -> str:
    """``CREATE TEMP TABLE records AS ...``: every parsed record, typed, derived, ``_reasons``, year/month."""
    src, cols = spec["source"], spec["columns"]
    names = [c["name"] for c in cols]
    columns = "{" + ", ".join(f"{lit(n)}: 'VARCHAR'" for n in names) + "}"
    nulls = f", nullstr=[{', '.join(map(lit, ['', *src['null_values']]))}]" if src["null_values"] else ""
    read = (
        f"read_csv({lit(raw_path)}, columns={columns}, header={str(src['header']).lower()}, "
        f"delim={lit(src['delimiter'])}, quote={lit(src['quote'])}, escape={lit(src['quote'])}, "
        f"encoding={lit(src['encoding'])}, auto_detect=false, strict_mode=true, null_padding=false, "
        f"store_rejects=true, filename='_source_file'{nulls})"
    )
    cleaned = ", ".join(_clean(q(c["name"]), c["clean"]) + f" AS {q(c['name'])}" for c in cols)
    raw = "struct_pack(" + ", ".join(f"{q(n)} := {q(n)}" for n in names) + ")"
    checks = ", ".join(r for c in cols for r in reasons(c))
    ctes = [
        # row_number() OVER () streams in scan order (insertion order is preserved): the record's position
        f"src AS (SELECT *, row_number() OVER () AS _source_row FROM {read})",
        f"cleaned AS (SELECT {cleaned}, {raw} AS _raw, _source_file, _source_row FROM src)",
        f"checked AS (SELECT {', '.join(typed(c) + ' AS ' + q(c['name']) for c in cols)}, "
        f"list_filter([{checks}], lambda r: r IS NOT NULL) AS _reasons, _raw, "
        f"NULL::VARCHAR AS _corrupt_record, _source_file, _source_row FROM cleaned)",
    ]
    previous = "checked"
    for i, d in enumerate(spec["derived"]):  # Spark SQL text, used as DuckDB SQL
        value = f"CAST(({d['expr']}) AS {sql_type(d['type'])})" if d["type"] else f"({d['expr']})"
        select = f"*, {value} AS {q(d['name'])}"
        if d["name"] in (*spec["keys"], spec["partition_by"]):  # a derived key or partition column must not be null
            why = lit(f"{d['name']}: derived value is null (it is a key or the partition column)")
            select = f"* EXCLUDE (_reasons), {value} AS {q(d['name'])}, "
            select += f"list_concat(_reasons, CASE WHEN {value} IS NULL THEN [{why}] ELSE [] END) AS _reasons"
        ctes.append(f"d{i} AS (SELECT {select} FROM {previous})")
        previous = f"d{i}"
    part = q(spec["partition_by"]) if spec["partition_by"] else "current_timestamp"
    return (
        f"CREATE TEMP TABLE records AS WITH {', '.join(ctes)} "
        f"SELECT *, strftime({part}, '%Y') AS year, strftime({part}, '%m') AS month FROM {previous}"
    )


def _clean(value: str, rules: list[str]) -> str:
    """The SQL of ``value`` after the clean rules (the ``c_*`` macros), in order."""
    for rule in rules:
        value = f"c_{rule}({value})"
    return value


REJECTS_SQL = f"""
INSERT INTO records BY NAME
SELECT s.file_path AS _source_file, e.line AS _source_row, e.csv_line AS _corrupt_record,
       [CASE WHEN e.error_type IN ('MISSING COLUMNS', 'TOO MANY COLUMNS') THEN {lit(CORRUPT_REASON)}
             ELSE 'row: ' || lower(e.error_type) END] AS _reasons
FROM (SELECT DISTINCT ON (scan_id, file_id, line) * FROM reject_errors) e JOIN reject_scans s USING (scan_id, file_id)
"""


def _written(con: duckdb.DuckDBPyConnection, copy: str) -> int:
    """Run a ``COPY ... TO`` and return the rows it wrote."""
    row = con.execute(copy).fetchone()
    assert row is not None
    return int(row[0])


def run(spec_path: str, raw_path: str, out_dir: str, threads: int = 2) -> dict[str, Any]:
    """Run both stages into ``out_dir`` (processed/, rejected/, analytics/, overwritten); return
    ``{rows_in, valid, rejected, analytics, stage1_s, stage2_s}``."""
    spec = load_spec(spec_path)
    out = out_dir.rstrip("/")
    if os.path.isdir(raw_path):
        raw_path = os.path.join(raw_path, "*.csv*")
    con = duckdb.connect()
    con.execute(f"SET threads = {int(threads)}")
    con.execute(MACROS)
    os.makedirs(f"{out}/rejected", exist_ok=True)
    processed_cols = [*[c["name"] for c in spec["columns"]], *[d["name"] for d in spec["derived"]]]
    processed_cols += ["_source_file", "_source_row"]
    row_json = "to_json(struct_pack(" + ", ".join(f"{q(n)} := {q(n)}" for n in processed_cols) + "))"

    started = time.perf_counter()
    con.execute(stage1_sql(spec, raw_path))
    con.execute(REJECTS_SQL)
    # JSON Lines by year/month: one to_json text column through the CSV writer, never quoted
    valid = _written(
        con,
        f"COPY (SELECT {row_json} AS j, year, month FROM records WHERE len(_reasons) = 0) TO {lit(out + '/processed')} "
        "(FORMAT CSV, HEADER false, QUOTE '', ESCAPE '', PARTITION_BY (year, month), FILE_EXTENSION 'json', OVERWRITE)",
    )
    rejected = _written(
        con,
        "COPY (SELECT _source_file, _source_row, _reasons, _raw, _corrupt_record FROM records WHERE len(_reasons) > 0) "
        f"TO {lit(out + '/rejected/rejected.json')} (FORMAT JSON)",
    )
    types = dict(
        con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'records'").fetchall()
    )
    con.execute("DROP TABLE records")
    stage1_s = time.perf_counter() - started

    started = time.perf_counter()
    columns = "{" + ", ".join(f"{lit(n)}: {lit(types[n])}" for n in processed_cols) + "}"
    select = f"SELECT * REPLACE ({', '.join(f'sha256(CAST({q(c)} AS VARCHAR)) AS {q(c)}' for c in spec['pii'])})"
    query = (
        f"{select if spec['pii'] else 'SELECT *'} FROM read_json({lit(out + '/processed/**/*.json')}, "
        f"format='newline_delimited', columns={columns}, hive_partitioning=true, "
        "hive_types={'year': 'VARCHAR', 'month': 'VARCHAR'})"
    )
    if spec["keys"]:
        order = [f"{q(spec['latest_by'])} DESC NULLS LAST"] if spec["latest_by"] else []
        order += ["_source_file DESC", "_source_row DESC"]
        window = f"PARTITION BY {', '.join(map(q, spec['keys']))} ORDER BY {', '.join(order)}"
        query += f" QUALIFY row_number() OVER ({window}) = 1"
    analytics = _written(
        con,
        f"COPY ({query}) TO {lit(out + '/analytics')} "
        "(FORMAT PARQUET, COMPRESSION SNAPPY, PARTITION_BY (year, month), OVERWRITE)",
    )
    stage2_s = time.perf_counter() - started
    con.close()
    return {
        "rows_in": valid + rejected,
        "valid": valid,
        "rejected": rejected,
        "analytics": analytics,
        "stage1_s": round(stage1_s, 2),
        "stage2_s": round(stage2_s, 2),
    }


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, run both stages and print the counts and timings as JSON."""
    parser = argparse.ArgumentParser(prog="bench/duckdb_ref.py", description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="dataset spec YAML")
    parser.add_argument("--raw", required=True, help="raw CSV file, folder (its *.csv*) or glob")
    parser.add_argument("--out", required=True, help="output folder: processed/, rejected/, analytics/")
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (default 2)")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.spec, args.raw, args.out, args.threads)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
