"""``etl-lib models run``: build the models in dependency order, each only as far as its inputs
changed, then load its sinks; record every build in the ledger.

One models run at a time per lake (a lease in the ledger, waited for): two Glue jobs started by
two datasets' workflows build one after the other, and the second finds the first's work done.
A model whose build fails is recorded and announced; the models that read it are skipped; the
others go on. A model is recorded as built (``Ledger.save_build``) only once its table is
swapped in, and a sink as loaded only once its load committed: a run that dies anywhere leaves
a state the next run finishes from (``models.state``).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from etl_lib.catalog.table import TableDef, dataset_table
from etl_lib.errors import ConfigError, EtlError, SpecError
from etl_lib.ledger.base import ModelBuild, RunRecord, utcnow, wait_for_lease
from etl_lib.models.build import build_model, read_table
from etl_lib.models.check import analyse_all
from etl_lib.models.context import ModelsContext
from etl_lib.models.graph import build_order, downstream
from etl_lib.models.spec import ModelSpec
from etl_lib.models.state import ModelPlan, input_state, intent_key, plan_model, read_intent, table_prefix
from etl_lib.notify.base import RunReport
from etl_lib.runner.context import process_owner
from etl_lib.runner.errors import one_line, short_reason
from etl_lib.sinks.base import SinkSpec
from etl_lib.transform.partition import PARTITION_COLUMNS

log = logging.getLogger("etl_lib.models")

LEASE_DATASET, LEASE_NAME = "_models", "build"
STAGE = "model"


@dataclass(frozen=True)
class ModelOutcome:
    """What became of one model in a run."""

    model: str
    status: str
    """``built``, ``unchanged``, ``skipped`` or ``failed``."""
    reason: str = ""
    rows: int = 0
    partitions: tuple[str, ...] = ()
    sinks: tuple[tuple[str, int], ...] = ()
    """(sink, rows loaded) of each sink loaded."""
    duration_s: float = 0.0

    def as_json(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "model": self.model,
            "status": self.status,
            "reason": self.reason,
            "rows": self.rows,
            "partitions": list(self.partitions),
            "sinks": [{"sink": s, "rows": n} for s, n in self.sinks],
            "duration_s": round(self.duration_s, 3),
        }


@dataclass(frozen=True)
class ModelsSummary:
    """A models run's outcome per model."""

    run_id: str
    outcomes: tuple[ModelOutcome, ...] = field(default_factory=tuple)

    @property
    def status(self) -> str:
        """``succeeded``, or ``partial`` when a model failed."""
        return "partial" if any(o.status == "failed" for o in self.outcomes) else "succeeded"

    @property
    def exit_code(self) -> int:
        """0, or 3 when a model failed (the CLI's codes)."""
        return 3 if self.status == "partial" else 0

    def as_json(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"run_id": self.run_id, "status": self.status, "models": [o.as_json() for o in self.outcomes]}


def sink_id(ref: SinkSpec) -> str:
    """A sink's name in the ledger."""
    return f"{ref.type}:{ref.connection}:{ref.table}"


def chosen_models(ctx: ModelsContext, select: Sequence[str], changed: Sequence[str]) -> list[ModelSpec]:
    """The models to build, in build order: ``select`` (by name), or those downstream of the
    ``changed`` datasets, or all."""
    names = {m.model for m in ctx.models}
    unknown = [s for s in select if s not in names]
    if unknown:
        raise ConfigError(f"--select {', '.join(unknown)}: no such model; models: {', '.join(sorted(names))}")
    wanted = set(select) if select else downstream(ctx.models, changed) if changed else names
    return [m for m in build_order(ctx.models) if m.model in wanted]


def analysed_tables(spark: Any, models: Sequence[ModelSpec], specs: Sequence[Any]) -> dict[str, TableDef]:
    """The table of every dataset and model, the models' from their queries analysed over their
    inputs' schemas; ``SpecError`` with every problem of the models when one cannot be."""
    problems, schemas = analyse_all(spark, models, specs)
    lines = [p if not name else f"model {name}: {p}" for name, found in problems.items() for p in found]
    if lines:
        raise SpecError("models", lines[0], None, tuple(lines))
    tables = {s.dataset: dataset_table(spark, s) for s in specs}
    return tables | {m.model: model_table(m, schemas[m.model]) for m in models}


def run_models(ctx: ModelsContext, select: Sequence[str] = (), changed: Sequence[str] = ()) -> ModelsSummary:
    """Build the chosen models (see ``chosen_models``); a model's failure is recorded, not raised."""
    tables = analysed_tables(ctx.spark, ctx.models, ctx.specs)
    outcomes: list[ModelOutcome] = []
    failed: set[str] = set()
    chosen = chosen_models(ctx, select, changed)
    with _lease(ctx):
        for n, model in enumerate(chosen, 1):
            started = time.monotonic()
            if ctx.progress:
                print(f"[{n}/{len(chosen)}] model {model.model}", file=sys.stderr, flush=True)
            outcome = _one(ctx, model, tables, failed)
            outcome = ModelOutcome(**{**outcome.__dict__, "duration_s": time.monotonic() - started})
            if outcome.status == "failed":
                failed.add(model.model)
            if ctx.progress:
                print(f"[{n}/{len(chosen)}] model {model.model}: {_describe(outcome)}", file=sys.stderr, flush=True)
            outcomes.append(outcome)
    return ModelsSummary(ctx.run_id, tuple(outcomes))


def model_table(model: ModelSpec, schema: Any) -> TableDef:
    """The table of a model in analytics-ready and the catalog."""
    from pyspark.sql import types as T

    columns = T.StructType([f for f in schema.fields if not model.partition_by or f.name not in ("year", "month")])
    return TableDef(
        name=model.model,
        description=model.description or f"etl_lib model {model.model}",
        columns=columns,
        partitioned=bool(model.partition_by),
        years=model.partition_years,
        comments={c.name: c.description for c in model.columns if c.description},
        table_format=model.table_format,
        partition_source=model.partition_by,
    )


def _describe(outcome: ModelOutcome) -> str:
    took = f"{outcome.duration_s:.1f} s"
    sinks = "".join(f"; {n} rows into {s}" for s, n in outcome.sinks)
    if outcome.status == "built":
        return f"built in {took}: {outcome.rows} rows ({outcome.reason}){sinks}"
    if outcome.status == "failed":
        return f"failed in {took}: {outcome.reason}"
    return f"{outcome.status} ({outcome.reason}){sinks}"


def _one(ctx: ModelsContext, model: ModelSpec, tables: dict[str, TableDef], failed: set[str]) -> ModelOutcome:
    broken = [r for r in model.reads if r in failed]
    if broken:
        return ModelOutcome(model.model, "skipped", f"its input {', '.join(broken)} failed in this run")
    inputs = {name: input_state(ctx.spark, ctx.storage, tables[name]) for name in model.reads}
    empty = [name for name, state in inputs.items() if not state]
    last = ctx.ledger.last_build(model.model)
    if empty and last is None:
        return ModelOutcome(model.model, "skipped", f"waiting for its inputs: {', '.join(empty)} has no data yet")
    sinks = tuple(sink_id(s) for s in model.sinks) if ctx.sinks is not None else ()
    plan = plan_model(model, inputs, last, read_intent(ctx.storage, model.model), sinks)
    log.info("%s", plan.describe())
    run = RunRecord(run_id=ctx.run_id, dataset=model.model, stage=STAGE, owner=process_owner())
    ctx.ledger.save_run(run)
    try:
        rows = 0
        build = last
        if plan.action != "none":
            rows = build_model(ctx, model, plan, tables)
            build = ModelBuild(
                model.model, ctx.run_id, model.fingerprint, {k: dict(v) for k, v in plan.inputs.items()}, rows,
                loaded=dict(last.loaded) if last else {},
            )  # fmt: skip
            ctx.ledger.save_build(build)
            ctx.storage.delete([intent_key(model.model)])
            if ctx.catalog is not None:
                ctx.catalog.register_table(tables[model.model], table_prefix(model.model))
        assert build is not None
        loaded = _load_sinks(ctx, model, plan, tables[model.model], last, build)
    except Exception as exc:  # recorded and announced; the models that read it are skipped
        message = short_reason(str(exc)) if isinstance(exc, EtlError) else one_line(exc)
        _record(ctx, run.evolve(status="failed", error=message, finished_at=utcnow()))
        return ModelOutcome(model.model, "failed", message, partitions=plan.partitions)
    snapshot = None
    if tables[model.model].table_format == "iceberg" and plan.action != "none":
        from etl_lib.models.build_iceberg import model_tables

        snapshot = model_tables(ctx, ctx.spark).current_snapshot(model.model)
    _record(ctx, run.evolve(status="succeeded", rows_analytics=rows, finished_at=utcnow(), snapshot_id=snapshot))
    status = "built" if plan.action != "none" else "unchanged"
    return ModelOutcome(model.model, status, plan.reason, rows, plan.partitions, tuple(loaded))


def _load_sinks(
    ctx: ModelsContext, model: ModelSpec, plan: ModelPlan, table: TableDef, last: ModelBuild | None, build: ModelBuild
) -> list[tuple[str, int]]:
    """Load each sink with what it lacks: the rebuilt partitions when it had the last build,
    else the whole table; record each load once it committed."""
    if ctx.sinks is None or not model.sinks:
        return []
    done: list[tuple[str, int]] = []
    for ref in model.sinks:
        name = sink_id(ref)
        in_sync = last is not None and last.loaded.get(name) == last.run_id
        if build.loaded.get(name) == build.run_id:
            continue  # already has this build (a rerun after another sink failed)
        partial = plan.action == "partitions" and in_sync
        months = plan.partitions if partial else None
        session = ctx.spark.newSession()
        rows = read_table(session, ctx, table, months)
        sink = ctx.sinks(ctx.spark, ref)
        pairs = [tuple(p.replace("year=", "").replace("month=", "").split("/")) for p in months] if months else None
        columns = PARTITION_COLUMNS if model.partition_by else ()
        result = sink.load(rows, keys=model.keys, partition_columns=columns, partitions=pairs)
        build = ModelBuild(**{**build.__dict__, "loaded": {**build.loaded, name: build.run_id}})
        ctx.ledger.save_build(build)
        done.append((name, int(getattr(result, "rows", 0))))
    return done


def _record(ctx: ModelsContext, run: RunRecord) -> None:
    try:
        ctx.ledger.save_run(run)
    except EtlError as exc:
        log.error("could not record the build of %s: %s", run.dataset, exc)
    if run.status == "failed":
        try:
            ctx.notifier.notify(RunReport(run, []))
        except Exception as exc:  # a broken notifier must not hide the build's outcome
            log.error("could not notify about model %s: %s", run.dataset, one_line(exc))


@contextmanager
def _lease(ctx: ModelsContext) -> Iterator[None]:
    """One models run per lake at a time: wait while another live run holds the lease."""
    wait_for_lease(ctx.ledger, LEASE_DATASET, LEASE_NAME, ctx.run_id, ctx.lease_s)
    try:
        yield
    finally:
        try:
            ctx.ledger.release_lease(LEASE_DATASET, LEASE_NAME, ctx.run_id)
        except EtlError as exc:  # it expires; the run's outcome stands
            log.warning("could not release the models lease: %s", exc)
