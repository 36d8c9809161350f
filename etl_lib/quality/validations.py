"""A file's expectation results, kept in the lake as a Great Expectations validation result.

For every file whose spec has expectations, the run keeps one
``ExpectationSuiteValidationResult`` (Great Expectations' own class, as its
``to_json_dict()``) holding one ``ExpectationValidationResult`` per spec
expectation, in spec order: Great Expectations' own result for those it ran, and
one built from the counts for those counted while the file was written, with the
same result fields (``in_pass``). Its suite is the dataset; it succeeds when every
expectation did (a failed ``warn`` one makes it fail too).

One object per source file, the latest result of that file, at
``_meta/validations/{dataset}/{file_id}.json`` (``write.staging.file_id``): written
with the file's other outputs before the ledger records its outcome, so a
re-delivery, a reprocess or a rerun after a crash replaces it; a file that fails before
its checks ran (unreadable, a column missing) has none, and a spec without expectations
neither writes nor deletes anything (nor imports Great Expectations). The suite's ``meta``
says which file, dataset, run (``run_id.run_name``) and spec version
(``spec_fingerprint``); each result's ``meta`` its ``on_failure``, the observed text
and the spec's arguments as written.

The results hold Great Expectations' BASIC fields: counts and percentages, and an
aggregate's observed value (a row count, a mean); never sample values (the checks ask
for none).

``load_validations`` reads them back as small records for the run report, without
importing Great Expectations; ``load_validation_results`` as Great Expectations
objects (``data_docs`` renders those).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from etl_lib.errors import EtlError
from etl_lib.quality.expectations import INDEX_KEY, Outcome, describe, severity
from etl_lib.storage.base import Storage
from etl_lib.write.staging import file_id

if TYPE_CHECKING:
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
        ExpectationValidationResult,
    )

__all__ = [
    "ExpectationOutcome",
    "FileValidation",
    "delete_validation",
    "load_validation_results",
    "load_validations",
    "suite_result",
    "validation_key",
    "validations_prefix",
    "write_validation",
]


def validations_prefix(dataset: str) -> str:
    """Where a dataset's validation results are (one object per source file)."""
    return f"_meta/validations/{dataset}/"


def validation_key(dataset: str, source_key: str) -> str:
    """The key of the latest validation result of ``source_key``."""
    return f"{validations_prefix(dataset)}{file_id(source_key)}.json"


# --- Building and storing -----------------------------------------------------------------


def suite_result(
    outcomes: Sequence[Outcome],
    *,
    dataset: str,
    source_key: str,
    run_id: str,
    spec_fingerprint: str,
    evaluated_at: datetime | None = None,
) -> ExpectationSuiteValidationResult:
    """The Great Expectations validation result of one file: ``outcomes`` in spec order.

    Imports Great Expectations (seconds, once per process).
    """
    os.environ["GX_ANALYTICS_ENABLED"] = "false"  # never any usage statistics
    from great_expectations import __version__ as gx_version
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult

    when = (evaluated_at or datetime.now(UTC)).astimezone(UTC)
    results = [_result(outcome) for outcome in outcomes]
    passed = sum(1 for outcome in outcomes if outcome.check.success)
    return ExpectationSuiteValidationResult(
        success=passed == len(outcomes),
        results=results,
        suite_name=dataset,
        statistics={
            "evaluated_expectations": len(outcomes),
            "successful_expectations": passed,
            "unsuccessful_expectations": len(outcomes) - passed,
            "success_percent": 100 * passed / len(outcomes) if outcomes else None,
        },
        meta={
            "great_expectations_version": gx_version,
            # Great Expectations' run identifier: Data Docs shows run_name as the run.
            "run_id": {"run_name": run_id, "run_time": when.isoformat()},
            "validation_time": when.strftime("%Y%m%dT%H%M%S.%fZ"),
            "batch_spec": {"data_asset_name": source_key},
            "dataset": dataset,
            "source_key": source_key,
            "file_id": file_id(source_key),
            "spec_fingerprint": spec_fingerprint,
        },
    )


def _result(outcome: Outcome) -> ExpectationValidationResult:
    """Great Expectations' own result, or one built from the counts, with our meta."""
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    check = outcome.check
    meta = {
        "on_failure": check.on_failure,
        "observed": check.observed,
        "spec_kwargs": dict(check.kwargs),
        "counted_in_write": outcome.raw is None,
    }
    if outcome.raw is not None:
        raw: ExpectationValidationResult = outcome.raw
        if raw.expectation_config is not None:  # our tag, a position among the checks it ran: not the spec's
            raw.expectation_config.meta.pop(INDEX_KEY, None)
        raw.meta = {**(raw.meta or {}), **meta}
        return raw
    config = ExpectationConfiguration(
        type=check.expectation, kwargs=dict(check.kwargs), severity=severity(check.on_failure)
    )
    return ExpectationValidationResult(
        success=check.success, expectation_config=config, result=dict(outcome.result), meta=meta
    )


def write_validation(storage: Storage, result: ExpectationSuiteValidationResult) -> str:
    """Store ``result`` (from ``suite_result``) as JSON at its file's key, replacing the
    earlier one; return the key."""
    meta: dict[str, Any] = dict(result.meta)
    key = validation_key(meta["dataset"], meta["source_key"])
    storage.write_text(key, json.dumps(result.to_json_dict(), indent=2, sort_keys=True))
    return key


def delete_validation(storage: Storage, dataset: str, source_key: str) -> None:
    """Remove a file's validation result: its latest outcome came before any check ran."""
    storage.delete([validation_key(dataset, source_key)])


# --- Reading back ---------------------------------------------------------------------


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation of a stored validation result."""

    type: str
    """The expectation type, e.g. ``expect_column_values_to_not_be_null``."""
    kwargs: dict[str, Any] = field(hash=False)
    """Its arguments as the spec wrote them."""
    success: bool
    on_failure: str
    """``fail`` (the file failed whole when it did not succeed) or ``warn``."""
    observed: str
    """Counts and bounds for people, never a data value (the run's warning text)."""
    unexpected_count: int | None
    """Values that did not meet it, for a check of rows; None for a table or a column aggregate."""


@dataclass(frozen=True)
class FileValidation:
    """The latest validation result of one source file, as the run report shows it."""

    dataset: str
    file: str
    """The source file's key (``raw/{dataset}/...``)."""
    key: str
    """Where the validation result is stored in the lake."""
    run_id: str
    spec_fingerprint: str
    success: bool
    """True when every expectation succeeded (a failed ``warn`` one makes it False)."""
    evaluated_at: datetime
    expectations: tuple[ExpectationOutcome, ...]


def _stored(storage: Storage, dataset: str) -> list[tuple[str, dict[str, Any]]]:
    """Every stored validation result of ``dataset`` as (key, JSON), by key."""
    found = []
    for obj in storage.list(validations_prefix(dataset)):
        if not obj.key.endswith(".json"):  # e.g. a local write's temporary file
            continue
        with storage.open(obj.key) as handle:
            text = handle.read().decode("utf-8")
        try:
            document = json.loads(text)
        except ValueError:
            raise EtlError(
                f"{obj.key}: not a validation result (invalid JSON); delete it, a rerun of the file writes it again"
            ) from None
        found.append((obj.key, document))
    return found


def load_validations(storage: Storage, dataset: str) -> list[FileValidation]:
    """The latest validation result of each of ``dataset``'s files, by file key (reads only
    the dataset's prefix; no Great Expectations import)."""
    found = [_file_validation(key, document) for key, document in _stored(storage, dataset)]
    return sorted(found, key=lambda v: v.file)


def _file_validation(key: str, document: dict[str, Any]) -> FileValidation:
    meta = document.get("meta") or {}
    run = meta.get("run_id") or {}
    outcomes = []
    for entry in document.get("results") or []:
        config = entry.get("expectation_config") or {}
        mine = entry.get("meta") or {}
        result = entry.get("result") or {}
        success = bool(entry.get("success"))
        kwargs = mine.get("spec_kwargs")
        if kwargs is None:
            kwargs = {k: v for k, v in (config.get("kwargs") or {}).items() if k != "batch_id"}
        unexpected = result.get("unexpected_count")
        outcomes.append(
            ExpectationOutcome(
                type=config.get("type", ""),
                kwargs=kwargs,
                success=success,
                on_failure=mine.get("on_failure", "fail"),
                observed=mine.get("observed") or describe(config.get("type", ""), kwargs, result, success),
                unexpected_count=unexpected if isinstance(unexpected, int) else None,
            )
        )
    return FileValidation(
        dataset=meta.get("dataset") or document.get("suite_name", ""),
        file=meta.get("source_key", ""),
        key=key,
        run_id=run.get("run_name", ""),
        spec_fingerprint=meta.get("spec_fingerprint", ""),
        success=bool(document.get("success")),
        evaluated_at=datetime.fromisoformat(run["run_time"]) if run.get("run_time") else datetime.fromtimestamp(0, UTC),
        expectations=tuple(outcomes),
    )


def load_validation_results(storage: Storage, dataset: str) -> list[ExpectationSuiteValidationResult]:
    """The stored validation results of ``dataset`` as Great Expectations objects, by key."""
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    from great_expectations.core.expectation_validation_result import expectationSuiteValidationResultSchema

    return [expectationSuiteValidationResultSchema.load(document) for _, document in _stored(storage, dataset)]
