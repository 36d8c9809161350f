"""A dataset spec YAML as plain Python data, for the benchmark's reference jobs.

``bench/handwritten.py`` (PySpark) and ``bench/duckdb_ref.py`` (DuckDB) read the same
spec as etl_lib, but without importing etl_lib: PyYAML and plain dicts only, no
validation of the spec (run ``etl-lib validate-spec`` for that). This module is the
part both need: defaults filled in, names normalised, and the reason texts, so the
two references name failed rules the way etl_lib does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# Formats tried, in order, when a date/timestamp column names none (as etl_lib).
DEFAULT_FORMATS = {
    "date": ["yyyy-MM-dd"],
    "timestamp": ["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd HH:mm:ss.SSS"],
}
# What the clean rules call whitespace: Java's \s plus the non-breaking space. The same
# text is a valid regex class for Java (Spark) and RE2 (DuckDB).
WS = r"[\t\n\x0B\f\r \x{A0}]"
TRUE_VALUES = ("true", "t", "yes", "y", "1")
FALSE_VALUES = ("false", "f", "no", "n", "0")
CORRUPT_REASON = "row: wrong number of fields"


def load_spec(path: str | Path) -> dict[str, Any]:
    """Read a spec YAML into a dict: ``source`` (delimiter, quote, encoding, header,
    null_values), ``columns`` (see ``_column``), ``derived``, ``keys``, ``latest_by``,
    ``partition_by`` and ``pii`` (names of pii columns)."""
    with open(path, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    keys = list(raw.get("keys") or [])
    partition_by = raw.get("partition_by")
    source: dict[str, Any] = {"delimiter": ",", "quote": '"', "encoding": "utf-8", "header": True, "null_values": []}
    source.update(raw.get("source") or {})
    source["delimiter"] = source["delimiter"].replace("\\t", "\t")
    must_exist = {*keys, partition_by}
    columns = [_column(c, c["name"] in must_exist) for c in raw["columns"]]
    derived = [{"name": d["name"], "expr": d["expr"], "type": _type(d.get("type"))} for d in raw.get("derived") or []]
    return {
        "dataset": raw["dataset"],
        "source": source,
        "columns": columns,
        "derived": derived,
        "keys": keys,
        "latest_by": raw.get("latest_by"),
        "partition_by": partition_by,
        "pii": [c["name"] for c in columns if c["pii"]],
    }


def _type(text: str | None) -> str | None:
    """``Decimal(18, 2)`` -> ``decimal(18,2)``: the spelling Spark and DuckDB both take."""
    return None if text is None else "".join(str(text).lower().split())


def _column(col: dict[str, Any], must_exist: bool) -> dict[str, Any]:
    """One column: name, type, clean, required, must_exist (required, a key or the partition
    column), formats (a list; defaults for date/timestamp), allowed, min, max, pattern, pii."""
    ctype = _type(col.get("type", "string"))
    formats = col.get("format") or DEFAULT_FORMATS.get(ctype or "", [])
    return {
        "name": col["name"],
        "type": ctype,
        "clean": list(col.get("clean") or []),
        "required": bool(col.get("required", False)),
        "must_exist": must_exist or bool(col.get("required", False)),
        "formats": [formats] if isinstance(formats, str) else list(formats),
        "allowed": col.get("allowed"),
        "min": col.get("min"),
        "max": col.get("max"),
        "pattern": col.get("pattern"),
        "pii": bool(col.get("pii", False)),
    }


def reason(col: dict[str, Any], rule: str) -> str:
    """The reason text of a failed ``rule`` (missing, type, allowed, min, max, pattern), as etl_lib words it."""
    name = col["name"]
    if rule == "missing":
        if col["required"]:
            return f"{name}: required value is missing"
        return f"{name}: value is missing (it is a key or the partition column)"
    if rule == "type":
        hint = f" (formats: {', '.join(col['formats'])})" if col["type"] in ("date", "timestamp") else ""
        return f"{name}: not a valid {col['type']}{hint}"
    if rule == "allowed":
        return f"{name}: not one of [{', '.join(str(v) for v in col['allowed'])}]"
    if rule in ("min", "max"):
        return f"{name}: {'below' if rule == 'min' else 'above'} {rule} {col[rule]}"
    return f"{name}: does not match pattern {col['pattern']}"
