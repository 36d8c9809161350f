"""Decide what a model's build must do, from read-only state: its inputs' listings, its last
build in the ledger and an unfinished swap. The plan is a plain immutable object; ``build``
acts on it.

An input's state is a digest per partition (``year=YYYY/month=MM``, ``""`` for files at the
table's root) of its data files' names, sizes and checksums (or modification times): a
partition rewritten by a run, a compaction or a reprocess has a new digest, an untouched one
keeps it. A model is rebuilt:

- whole, when it was never built, its definition changed, an input not in ``partitions_from``
  changed, or an earlier whole build was cut short;
- by partition, when only inputs in ``partitions_from`` changed: the months whose digest
  differs (new, changed or gone), plus those an earlier build was cut short in;
- not at all otherwise (a sink that is behind is loaded whole, nothing is rebuilt).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from etl_lib.ledger.base import ModelBuild
from etl_lib.models.spec import ModelSpec
from etl_lib.read.analytics import table_prefix
from etl_lib.storage.base import Storage

WHOLE = "*"
"""An intent's mark for a whole-table swap."""

Action = Literal["whole", "partitions", "none"]


def intent_key(model: str) -> str:
    """What a build is swapping, written before the swap and removed once it is recorded."""
    return f"_meta/models/{model}/pending.json"


def table_state(storage: Storage, name: str) -> dict[str, str]:
    """The digest of each partition of a table (one listing of its folder); ``{}``: no data."""
    root = table_prefix(name)
    files: dict[str, list[str]] = {}
    for obj in storage.list(root + "/"):
        rel = obj.key[len(root) + 1 :]
        if not obj.key.endswith(".parquet") or obj.size == 0 or rel.startswith(("_", ".")):
            continue
        folder = posixpath.dirname(rel)
        if folder and not (folder.startswith("year=") and "/month=" in folder):
            continue  # staging or other folders: never data
        files.setdefault(folder, []).append(f"{posixpath.basename(rel)}:{obj.size}:{obj.etag or obj.modified}")
    return {part: hashlib.sha256("\n".join(sorted(found)).encode()).hexdigest()[:16] for part, found in files.items()}


def input_state(session: Any, storage: Storage, table: Any) -> dict[str, str]:
    """``table_state`` of a table, whichever its format: an Iceberg table's digests come from its
    current files (``IcebergTables.partition_digests``)."""
    if getattr(table, "table_format", "parquet") != "iceberg":
        return table_state(storage, table.name)
    from etl_lib.iceberg.tables import open_iceberg

    tables = open_iceberg(session, storage.uri)
    return tables.partition_digests(table.name) if tables.exists(table.name) else {}


@dataclass(frozen=True)
class ModelPlan:
    """What one build of a model does, and why."""

    model: str
    action: Action
    partitions: tuple[str, ...]
    """The partitions rebuilt (``partitions`` action)."""
    reason: str
    inputs: Mapping[str, Mapping[str, str]]
    """Each input's state as planned: what the build reads, recorded once it is done."""
    sinks_behind: tuple[str, ...] = ()
    """Sinks whose last full load is not the last build's: loaded whole."""

    def describe(self) -> str:
        """One line for people."""
        if self.action == "whole":
            what = "rebuild the whole table"
        elif self.action == "partitions":
            what = f"rebuild {len(self.partitions)} partition(s): {', '.join(self.partitions)}"
        else:
            what = "nothing to rebuild"
        behind = f"; load sink(s) {', '.join(self.sinks_behind)} whole" if self.sinks_behind else ""
        return f"{self.model}: {what} ({self.reason}){behind}"


def plan_model(
    model: ModelSpec,
    inputs: Mapping[str, Mapping[str, str]],
    last: ModelBuild | None,
    unfinished: tuple[str, ...] | None,
    sinks: tuple[str, ...] = (),
) -> ModelPlan:
    """The plan of one model's build (``unfinished``: the partitions an earlier build was
    swapping when it stopped, ``("*",)`` for the whole table; None when there is none)."""
    frozen = {name: dict(state) for name, state in inputs.items()}
    behind = tuple(s for s in sinks if last is None or last.loaded.get(s) != last.run_id)

    def plan(action: Action, reason: str, partitions: tuple[str, ...] = ()) -> ModelPlan:
        loaded_whole = behind if action != "whole" else ()
        return ModelPlan(model.model, action, partitions, reason, frozen, loaded_whole)

    if last is None:
        return plan("whole", "never built")
    if last.definition != model.fingerprint:
        return plan("whole", "its definition changed")
    if unfinished is not None and WHOLE in unfinished:
        return plan("whole", "an earlier build was cut short")
    changed = {name for name in frozen if frozen[name] != last.inputs.get(name, {})}
    changed |= {name for name in last.inputs if name not in frozen}
    outside = sorted(changed - set(model.partitions_from))
    if outside:
        return plan("whole", f"{', '.join(outside)} changed")
    months = set(unfinished or ())
    for name in changed:
        before, now = last.inputs.get(name, {}), frozen.get(name, {})
        months |= {p for p in set(before) | set(now) if before.get(p) != now.get(p)}
    if "" in months:  # files at an input's root: no month to map
        return plan("whole", "an input has files outside year=/month= folders")
    if months:
        why = f"{', '.join(sorted(changed))} changed" if changed else "an earlier build was cut short"
        return plan("partitions", why, tuple(sorted(months)))
    return plan("none", "its inputs are as its last build read them")


def read_intent(storage: Storage, model: str) -> tuple[str, ...] | None:
    """The partitions an unfinished build was swapping, or None."""
    key = intent_key(model)
    if not storage.exists(key):
        return None
    with storage.open(key) as raw:
        return tuple(json.load(raw))
