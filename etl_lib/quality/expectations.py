"""Batch-level data-quality checks: the spec's ``expectations`` run with Great Expectations.

Each ``ExpectationSpec`` names a Great Expectations expectation in snake_case
(``expect_column_values_to_not_be_null``) and its arguments. ``run_expectations``
turns them into ``gx.expectations`` objects, checks their arguments and column
names against the DataFrame's schema before any Spark job runs, validates them
all in one suite on Spark and returns one ``CheckResult`` per spec, in spec order
(``evaluate_expectations``: each with Great Expectations' own result, which
``validations`` keeps in the lake).
Metrics are Spark aggregations: no rows come back to the driver (a distinct-values
check brings back that column's distinct values, nothing more).

The ``observed`` text of a result holds counts and the spec's own bounds, never
a value from the data: it ends up in logs, the run ledger and notifications.

Great Expectations is imported on first use (it takes seconds), and its
ephemeral, in-memory context is built once per process. In a run, the expectations
with plain arguments never come here: ``in_pass.py`` counts them while each file is
written; this module runs the rest.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from etl_lib.errors import ConfigError, EtlError

if TYPE_CHECKING:
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult
    from great_expectations.expectations.expectation import Expectation
    from great_expectations.expectations.metadata_types import FailureSeverity
    from pyspark.sql import DataFrame

    from etl_lib.spec.model import DatasetSpec, ExpectationSpec

__all__ = [
    "CheckResult",
    "ExpectationError",
    "Outcome",
    "check_available",
    "columns_needed",
    "describe",
    "evaluate_expectations",
    "failed_checks",
    "run_expectations",
    "severity",
]

# Validation options: counts only. partial_unexpected_count=0 stops Great Expectations
# from fetching sample unexpected values, which would be data (and a driver round trip).
_RESULT_FORMAT: dict[str, Any] = {"result_format": "BASIC", "partial_unexpected_count": 0}

# Fields every expectation has that belong to Great Expectations' bookkeeping, not to a spec.
_INTERNAL_FIELDS = frozenset(
    {"id", "meta", "notes", "result_format", "description", "catch_exceptions", "rendered_content"}
    | {"severity", "windows", "batch_id"}
)
_COLUMN_ARGUMENTS = ("column", "column_A", "column_B")
_COLUMN_LIST_ARGUMENTS = ("column_list",)
INDEX_KEY = "etl_lib_index"
"""The expectation's meta key ``evaluate_expectations`` tags each with its position by."""
_INSTALL_HINT = (
    "the spec has expectations but great_expectations is not installed: locally install the local extra "
    "(pip install 'etl_lib[local]'); on Glue install the offline bundle from `make glue-bundle`, "
    "which carries it (--additional-python-modules s3://.../etl_lib-VERSION.gluewheels.zip)"
)


class ExpectationError(EtlError, ValueError):
    """An expectation cannot be run as written (unknown argument, unknown column, wrong column type).

    A spec problem, not a data problem: terminal, and the same for every file of the dataset.
    """


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one expectation on one batch."""

    expectation: str
    """The expectation type, e.g. ``expect_column_values_to_not_be_null``."""
    kwargs: dict[str, Any] = field(hash=False)
    """Its arguments, as written in the spec."""
    success: bool
    """True when the batch met the expectation."""
    on_failure: str
    """``fail`` (the file fails whole) or ``warn`` (recorded only)."""
    observed: str
    """Short text for people: counts and the spec's bounds, never a data value."""


@dataclass(frozen=True)
class Outcome:
    """One expectation's ``CheckResult`` with the result it was judged from, as Great
    Expectations gives it: what ``quality.validations`` keeps as a validation result."""

    check: CheckResult
    result: dict[str, Any] = field(hash=False)
    """Great Expectations' ``result`` fields (BASIC format: counts, or an observed count or mean)."""
    raw: Any = field(default=None, hash=False, compare=False)
    """Great Expectations' own ``ExpectationValidationResult`` when it ran the expectation;
    None for one counted while the file was written (``in_pass``)."""


def failed_checks(results: Sequence[CheckResult]) -> list[CheckResult]:
    """The results that should fail the file: unsuccessful and ``on_failure: fail``."""
    return [result for result in results if not result.success and result.on_failure == "fail"]


def columns_needed(expectations: Sequence[ExpectationSpec]) -> list[str] | None:
    """The columns the expectations read, or None when one looks at the table's columns as a
    whole (``expect_table_columns_*``, ``expect_table_column_count_*``) and needs every column."""
    names: list[str] = []
    for spec in expectations:
        if spec.type.startswith(("expect_table_column", "expect_table_columns")):
            return None
        names += [n for n in _named_columns(spec.kwargs) if n not in names]
    return names


def run_expectations(df: DataFrame, expectations: Sequence[ExpectationSpec]) -> list[CheckResult]:
    """Validate ``df`` against ``expectations``; one ``CheckResult`` per spec, in spec order.

    Raises ``ExpectationError`` (a ``ValueError``) with a one-line message naming the
    expectation when one cannot run: an unknown or missing argument, a column the
    DataFrame lacks, a column of the wrong type. An empty list returns ``[]`` without
    importing Great Expectations.

    ``df`` is cached for the duration of the checks (each check is one or more Spark
    jobs) and released afterwards, unless the caller had already cached it.
    """
    return [outcome.check for outcome in evaluate_expectations(df, expectations)]


def evaluate_expectations(df: DataFrame, expectations: Sequence[ExpectationSpec]) -> list[Outcome]:
    """``run_expectations``, each ``CheckResult`` with Great Expectations' own result
    (``Outcome.raw``, an ``ExpectationValidationResult``); same errors, same order."""
    if not expectations:
        return []
    _wait_for_warm_up()
    gxe = _import_expectations()
    columns = list(df.columns)
    built = [_build(gxe, index, spec, columns) for index, spec in enumerate(expectations)]

    import great_expectations as gx

    suite = gx.ExpectationSuite(name="etl_lib_batch_checks", expectations=built)
    cache_here = not df.is_cached
    if cache_here:
        df.persist()
    try:
        # One validation at a time: Great Expectations keeps the batch under a fixed id on
        # shared engine state, so two threads would validate each other's DataFrames.
        with _validate_lock:
            batch = _batch_definition().get_batch(batch_parameters={"dataframe": df})
            outcome = batch.validate(suite, result_format=_RESULT_FORMAT)
    finally:
        if cache_here:
            df.unpersist()

    by_index = {_index_of(r): r for r in outcome.results}
    return [_to_outcome(index, spec, by_index[index]) for index, spec in enumerate(expectations)]


def expectation_problems(spec: DatasetSpec) -> list[str]:
    """Every expectation of ``spec`` that cannot run as written, a line each: not a Great
    Expectations expectation, an unknown or missing argument, a column the spec does not
    have, an argument of the wrong kind. Imports Great Expectations (no Spark)."""
    if not spec.expectations:
        return []
    from etl_lib.spec.model import METADATA_COLUMNS

    gxe = _import_expectations()
    columns = [*spec.column_names, *METADATA_COLUMNS, "_source_row"]
    problems: list[str] = []
    for index, check in enumerate(spec.expectations):
        try:
            _build(gxe, index, check, columns)
        except ExpectationError as exc:
            problems.append(str(exc))
    return problems


# --- Great Expectations plumbing ---------------------------------------------------------

_context_lock = threading.Lock()
_validate_lock = threading.Lock()
_cached_batch_definition: BatchDefinition[Any] | None = None
_warm_up: threading.Thread | None = None


def _import_expectations() -> Any:
    """``great_expectations.expectations``, or a one-line error saying how to install it."""
    # No analytics: honoured by Great Expectations versions that still send any.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    try:
        import great_expectations.expectations as gxe
    except ImportError as exc:
        if exc.name is not None and exc.name.split(".")[0] == "great_expectations":
            raise ConfigError(_INSTALL_HINT) from None
        raise
    return gxe


def check_available() -> None:
    """Raise ``ConfigError`` (before any file is read) when Great Expectations is not installed,
    and start importing it and building its context in the background (seconds of work the
    first check would otherwise wait for, done while Spark reads the first files)."""
    global _warm_up
    if importlib.util.find_spec("great_expectations") is None:
        raise ConfigError(_INSTALL_HINT)
    with _context_lock:
        if _warm_up is None:
            _warm_up = threading.Thread(target=_warm, name="etl-gx-warm-up", daemon=True)
            _warm_up.start()


def _warm() -> None:
    """Import Great Expectations and build its context; a failure here is met again, and
    reported, by the first check that needs it."""
    with suppress(Exception):
        _import_expectations()
        _batch_definition()


def _wait_for_warm_up() -> None:
    if _warm_up is not None:
        _warm_up.join()


def _batch_definition() -> BatchDefinition[Any]:
    """A whole-DataFrame batch definition on an ephemeral context, built once per process."""
    global _cached_batch_definition
    with _context_lock:
        if _cached_batch_definition is None:
            import great_expectations as gx
            from great_expectations.data_context.types.base import (
                DataContextConfig,
                InMemoryStoreBackendDefaults,
                ProgressBarsConfig,
            )

            config = DataContextConfig(
                store_backend_defaults=InMemoryStoreBackendDefaults(),
                analytics_enabled=False,
                progress_bars=ProgressBarsConfig(globally=False),
            )
            context = gx.get_context(mode="ephemeral", project_config=config)
            # persist=False: Great Expectations would cache every batch and never release it;
            # run_expectations caches and releases the DataFrame itself.
            source = context.data_sources.add_spark("etl_lib", persist=False)
            asset = source.add_dataframe_asset("batch")
            _cached_batch_definition = asset.add_batch_definition_whole_dataframe("whole_dataframe")
        return _cached_batch_definition


def severity(on_failure: str) -> FailureSeverity:
    """Great Expectations' severity for an ``on_failure``: ``critical`` fails the file, ``warning`` does not."""
    from great_expectations.expectations.metadata_types import FailureSeverity

    return FailureSeverity.CRITICAL if on_failure == "fail" else FailureSeverity.WARNING


def _expectation_class(gxe: Any, name: str) -> type[Expectation]:
    """``expect_column_values_to_not_be_null`` -> ``gxe.ExpectColumnValuesToNotBeNull``."""
    from great_expectations.expectations.expectation import Expectation

    class_name = "".join(part.capitalize() for part in name.split("_"))
    cls = getattr(gxe, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Expectation)):
        raise ExpectationError(f"{name}: not a Great Expectations expectation")
    return cls


def _build(gxe: Any, index: int, spec: ExpectationSpec, columns: list[str]) -> Expectation:
    """The Great Expectations object for ``spec``, its arguments and columns checked."""
    cls = _expectation_class(gxe, spec.type)
    where = f"expectations[{index}] {spec.type}"
    allowed = [name for name in cls.__fields__ if name not in _INTERNAL_FIELDS]
    unknown = sorted(set(spec.kwargs) - set(allowed))
    if unknown:
        raise ExpectationError(f"{where}: unknown argument(s) {unknown}; allowed: {', '.join(allowed)}")
    missing = [name for name in allowed if cls.__fields__[name].required and name not in spec.kwargs]
    if missing:
        raise ExpectationError(f"{where}: missing argument(s) {missing}")
    for name in _named_columns(spec.kwargs):
        if name not in columns:
            raise ExpectationError(f"{where}: unknown column {name!r}; columns: {', '.join(columns)}")

    from pydantic.v1 import ValidationError

    try:
        return cls(**spec.kwargs, meta={INDEX_KEY: index}, severity=severity(spec.on_failure))
    except ValidationError as exc:
        raise ExpectationError(f"{where}: {_one_line(exc)}") from None


def _named_columns(kwargs: Mapping[str, Any]) -> list[str]:
    """The column names an expectation's arguments refer to."""
    names = [kwargs[key] for key in _COLUMN_ARGUMENTS if isinstance(kwargs.get(key), str)]
    for key in _COLUMN_LIST_ARGUMENTS:
        if isinstance(kwargs.get(key), list):
            names.extend(name for name in kwargs[key] if isinstance(name, str))
    return names


def _one_line(exc: Any) -> str:
    """A pydantic (v1) validation error as one line: the first problem of each field."""
    seen: dict[str, str] = {}
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        seen.setdefault(where, error["msg"])
    fields = {k: v for k, v in seen.items() if k != "__root__"} or seen
    return "; ".join(f"{msg}" if where == "__root__" else f"{where}: {msg}" for where, msg in fields.items())


# --- Results ----------------------------------------------------------------------------


def _index_of(result: ExpectationValidationResult) -> int:
    """The position in the spec list that ``run_expectations`` tagged the expectation with."""
    config = result.expectation_config
    if config is None or config.meta is None or INDEX_KEY not in config.meta:
        raise RuntimeError("Great Expectations returned a result without the expectation it belongs to")
    return int(config.meta[INDEX_KEY])


def _to_outcome(index: int, spec: ExpectationSpec, result: ExpectationValidationResult) -> Outcome:
    """The ``Outcome`` of ``spec``; an expectation that raised is an ``ExpectationError``."""
    problem = _raised(result.exception_info or {})
    if problem is not None:
        raise ExpectationError(f"expectations[{index}] {spec.type}: {problem}")
    success = bool(result.success)
    fields = dict(result.result or {})
    check = CheckResult(
        expectation=spec.type,
        kwargs=dict(spec.kwargs),
        success=success,
        on_failure=spec.on_failure,
        observed=describe(spec.type, spec.kwargs, fields, success),
    )
    return Outcome(check, fields, result)


def _raised(info: Mapping[str, Any]) -> str | None:
    """The first line of the error an expectation raised, if any.

    ``exception_info`` is either one ``{raised_exception, exception_message}`` record or,
    when a metric failed, a mapping of metric ids to such records.
    """
    records = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, Mapping)]
    for record in records:
        if record.get("raised_exception"):
            message = str(record.get("exception_message") or "Great Expectations raised an error")
            return message.strip().splitlines()[0]
    return None


def describe(expectation: str, kwargs: Mapping[str, Any], result: Mapping[str, Any], success: bool) -> str:
    """Counts and bounds for people, built only from counts and the spec's arguments.

    ``observed_value`` is shown only when it is a count (a row count); a mean or a list
    of distinct values is data, so it is summarised as within/outside the bounds instead.
    """
    unexpected = result.get("unexpected_count")
    if isinstance(unexpected, int) and isinstance(result.get("element_count"), int):
        missing = result.get("missing_count") or 0
        checked = result["element_count"] - missing
        text = f"{_plural(unexpected, 'unexpected value')} of {checked} ({_percent(unexpected, checked)})"
        if missing:
            text += f"; {_plural(missing, 'null')} not checked"
        if "mostly" in kwargs:
            text += f"; up to {_percent(1 - float(kwargs['mostly']), 1)} allowed"
        return text
    if isinstance(unexpected, int):
        return f"{_plural(unexpected, 'distinct value')} outside the allowed set"
    observed = result.get("observed_value")
    subject = _subject(expectation)
    verdict = "within" if success else "outside"
    bounds = _bounds(kwargs)
    if "_count_" in expectation and isinstance(observed, int) and not isinstance(observed, bool):
        return f"{subject} {observed}" + (f", expected {bounds}" if bounds and not success else "")
    if bounds:
        return f"{subject} {verdict} the expected range ({bounds})"
    return "passed" if success else "failed"


def _subject(expectation: str) -> str:
    """``expect_column_mean_to_be_between`` -> ``column mean``."""
    return expectation.removeprefix("expect_").split("_to_")[0].replace("_", " ")


def _bounds(kwargs: Mapping[str, Any]) -> str:
    """The spec's min_value/max_value as words ('' when neither is set)."""
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None and high is not None:
        return f"{low} to {high}"
    if low is not None:
        return f"at least {low}"
    if high is not None:
        return f"at most {high}"
    return ""


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _percent(part: float, whole: float) -> str:
    if not whole:
        return "0%"
    value = 100 * part / whole
    if 0 < value < 0.01:
        return "<0.01%"
    return f"{value:.3g}%"
