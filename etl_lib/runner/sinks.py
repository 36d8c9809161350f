"""A dataset's sinks: analytics-ready's rewritten partitions loaded into a database after each
analytics run.

What each sink still lacks is kept in the lake, ``_meta/sinks/{dataset}.json``: per sink, the
partitions owed (``*``: the whole table) and whether it was ever loaded whole. Partitions are
owed before analytics-ready is swapped (``owe``), and a sink's debt is cleared only once its
load committed (``load_owed``); so a run that dies between the two, or a sink that fails,
leaves the debt for the next run, which loads it even when no file is new. A sink never loaded
(new in the spec) is loaded whole.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from etl_lib.catalog.table import dataset_table
from etl_lib.read.analytics import read_rows
from etl_lib.runner.context import RunContext
from etl_lib.sinks.base import SinkSpec
from etl_lib.transform.partition import PARTITION_COLUMNS

log = logging.getLogger("etl_lib.sinks")

WHOLE = "*"


def sink_id(sink: SinkSpec) -> str:
    """A sink's name in the record of what it is owed."""
    return f"{sink.type}:{sink.connection}:{sink.table}"


def owed_key(dataset: str) -> str:
    """Where a dataset's sinks' debts are kept."""
    return f"_meta/sinks/{dataset}.json"


def _read(ctx: RunContext) -> dict[str, Any]:
    key = owed_key(ctx.dataset)
    if not ctx.storage.exists(key):
        return {"owed": {}, "loaded": []}
    with ctx.storage.open(key) as raw:
        return dict(json.load(raw))


def owe(ctx: RunContext, partitions: Iterable[str]) -> None:
    """Record that every sink lacks ``partitions`` (before they are swapped in analytics-ready)."""
    if not ctx.spec.sinks:
        return
    state = _read(ctx)
    months = set(partitions)
    for sink in ctx.spec.sinks:
        have = set(state["owed"].get(sink_id(sink), []))
        state["owed"][sink_id(sink)] = [WHOLE] if WHOLE in have else sorted(have | months)
    ctx.storage.write_text(owed_key(ctx.dataset), json.dumps(state, indent=1, sort_keys=True))


def load_owed(ctx: RunContext) -> list[tuple[str, int]]:
    """Load each sink with what it is owed (the whole table for one never loaded); return
    (sink, rows) of each load. A failing load raises after the ones before it are recorded."""
    if not ctx.spec.sinks or ctx.sinks is None:
        return []
    state = _read(ctx)
    done: list[tuple[str, int]] = []
    table = dataset_table(ctx.spark, ctx.spec)
    for sink in ctx.spec.sinks:
        name = sink_id(sink)
        owed = [WHOLE] if name not in state["loaded"] else state["owed"].get(name, [])
        if not owed:
            continue
        months = None if WHOLE in owed else tuple(owed)
        rows = read_rows(ctx.spark, ctx.storage, table, months)
        pairs = [tuple(p.replace("year=", "").replace("month=", "").split("/")) for p in months] if months else None
        result = ctx.sinks(ctx.spark, sink)
        loaded = result.load(rows, keys=ctx.spec.keys, partition_columns=PARTITION_COLUMNS, partitions=pairs)
        state["owed"][name] = []
        state["loaded"] = sorted(set(state["loaded"]) | {name})
        ctx.storage.write_text(owed_key(ctx.dataset), json.dumps(state, indent=1, sort_keys=True))
        log.info(
            "%s: %d rows into %s (%s)",
            ctx.dataset,
            loaded.rows,
            sink.table,
            "whole" if months is None else ", ".join(months),
        )
        done.append((name, int(loaded.rows)))
    return done
