"""What the HTML report shows, read from the ledger and the lake into plain immutable objects.

Read-only and without Spark. Per dataset: its latest runs with each run's files (the last
state the run recorded for each), its deliveries (the current record of every file, in
delivery order), its rejected rows by rule with a few examples, and its expectation results.
Rows per rule come from the files' receipt summaries, examples from the first lines of their
receipts; a file without a complete receipt (receipts off) has its rejected output streamed
once instead, as ``etl-lib rejects`` does.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from etl_lib.errors import EtlError
from etl_lib.ledger.base import FileRecord, Ledger, RunRecord
from etl_lib.quality.validations import ExpectationOutcome, FileValidation, load_validations
from etl_lib.runner.receipts import receipt_keys
from etl_lib.runner.rejects import file_rejects
from etl_lib.spec.model import DatasetSpec
from etl_lib.storage.base import Storage

log = logging.getLogger("etl_lib.report")

RUNS_PER_DATASET = 30
"""Runs shown per dataset, newest first (their files are read from the ledger's history)."""
DELIVERIES_PER_DATASET = 60
"""Deliveries in a dataset's trend charts, latest last."""
EXAMPLES_PER_RULE = 3
LINES_READ_PER_RECEIPT = 2000
"""A receipt's rows read for examples at most (they are in file order; counts come from its summary)."""
_RUNS_SCANNED = 2000
"""Runs looked at to find the datasets a ledger knows (newest first)."""


@dataclass(frozen=True)
class FileOutcome:
    """One file in one run: what the run recorded last for it."""

    source_key: str
    status: str
    rows_in: int
    rows_valid: int
    rows_rejected: int
    duration_s: float | None
    error: str | None
    warnings: tuple[str, ...]
    receipt_key: str | None
    """The file's receipt summary in the lake, when it has one."""


@dataclass(frozen=True)
class RunView:
    """A run of one dataset and stage, with its files."""

    run: RunRecord
    files: tuple[FileOutcome, ...]

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to finish (None while running)."""
        if self.run.finished_at is None:
            return None
        return (self.run.finished_at - self.run.started_at).total_seconds()


@dataclass(frozen=True)
class Delivery:
    """A delivered file as the ledger knows it now (one point of a dataset's trends)."""

    source_key: str
    delivered_at: datetime | None
    status: str
    rows_in: int
    rows_rejected: int

    @property
    def rejected_share(self) -> float:
        """Rejected rows over rows read (0 for an empty or failed file)."""
        return self.rows_rejected / self.rows_in if self.rows_in else 0.0


@dataclass(frozen=True)
class Example:
    """A rejected row shown as an example of a rule."""

    source_key: str
    line: int | None
    """Its line in the delivered file (header is line 1), when the receipt knows it."""
    problems: tuple[str, ...]
    delivered: str
    """The record as delivered (or its values by header)."""
    receipt_key: str | None
    """The receipt's CSV of rejected rows, where the row is in full."""


@dataclass(frozen=True)
class RuleCount:
    """A rule's rejected rows over a dataset's current files."""

    rule: str
    rows: int
    files: int
    examples: tuple[Example, ...]


@dataclass(frozen=True)
class ExpectationSummary:
    """One expectation of a dataset over its files' latest validation results."""

    expectation: str
    arguments: str
    on_failure: str
    passed: int
    failed: int
    latest_observed: str
    latest_file: str
    latest_success: bool


@dataclass(frozen=True)
class ValidationPage:
    """A file's latest validation result, for its link to the Data Docs page."""

    source_key: str
    run_id: str
    success: bool
    checks: int
    failed: int


@dataclass(frozen=True)
class DatasetReport:
    """Everything the report shows about one dataset."""

    name: str
    description: str
    runs: tuple[RunView, ...]
    deliveries: tuple[Delivery, ...]
    rules: tuple[RuleCount, ...]
    failed_files: tuple[Delivery, ...]
    expectations: tuple[ExpectationSummary, ...] = ()
    validations: tuple[ValidationPage, ...] = ()
    files_known: int = 0


@dataclass(frozen=True)
class LakeReport:
    """The report of a lake: its datasets, and when it was made."""

    lake: str
    generated_at: datetime
    datasets: tuple[DatasetReport, ...] = field(default_factory=tuple)


def ledger_datasets(ledger: Ledger) -> list[str]:
    """The datasets the ledger has runs of, by name."""
    return sorted({run.dataset for run in ledger.runs(None, limit=_RUNS_SCANNED)})


def collect(
    storage: Storage,
    ledger: Ledger,
    specs: Sequence[DatasetSpec] = (),
    *,
    runs_per_dataset: int = RUNS_PER_DATASET,
    validations: Callable[[Storage, str], Sequence[FileValidation]] = load_validations,
) -> LakeReport:
    """The report of every dataset of ``specs``, or of every dataset in the ledger when none
    is given. ``validations(storage, dataset)``: the files' stored validation results."""
    described = {s.dataset: s.description or "" for s in specs}
    names = list(described) or ledger_datasets(ledger)
    datasets = tuple(
        _dataset(storage, ledger, name, described.get(name, ""), runs_per_dataset, validations) for name in names
    )
    return LakeReport(storage.uri(""), datetime.now(UTC), datasets)


def _dataset(
    storage: Storage,
    ledger: Ledger,
    name: str,
    description: str,
    runs_per_dataset: int,
    validations: Callable[[Storage, str], Sequence[FileValidation]],
) -> DatasetReport:
    records = ledger.files(dataset=name)
    runs = tuple(_run(storage, ledger, run) for run in ledger.runs(name, limit=runs_per_dataset))
    ordered = sorted(records, key=lambda r: (r.delivered_at or 0.0, r.source_key))
    deliveries = tuple(_delivery(r) for r in ordered if r.status in ("processed", "published", "failed"))
    found = list(validations(storage, name))
    return DatasetReport(
        name=name,
        description=description,
        runs=runs,
        deliveries=deliveries[-DELIVERIES_PER_DATASET:],
        rules=rule_counts(storage, name, records),
        failed_files=tuple(d for d in deliveries if d.status == "failed"),
        expectations=expectation_outcomes(found),
        validations=tuple(_validation(v) for v in found),
        files_known=len(records),
    )


def _run(storage: Storage, ledger: Ledger, run: RunRecord) -> RunView:
    last: dict[str, FileRecord] = {}
    for state in ledger.history(run.run_id):
        if state.dataset == run.dataset and state.status != "claimed":
            last[state.source_key] = state  # history is oldest first: the last state wins
    return RunView(run, tuple(_outcome(storage, r) for r in last.values()))


def _outcome(storage: Storage, record: FileRecord) -> FileOutcome:
    summary = receipt_keys(record.dataset, record.source_key)["summary"]
    return FileOutcome(
        source_key=record.source_key,
        status=record.status,
        rows_in=record.rows_in,
        rows_valid=record.rows_valid,
        rows_rejected=record.rows_rejected,
        duration_s=record.duration_s,
        error=record.error,
        warnings=record.warnings,
        receipt_key=summary if storage.exists(summary) else None,
    )


def _delivery(record: FileRecord) -> Delivery:
    when = datetime.fromtimestamp(record.delivered_at, UTC) if record.delivered_at else None
    return Delivery(record.source_key, when, record.status, record.rows_in, record.rows_rejected)


def rule_counts(storage: Storage, dataset: str, records: Iterable[FileRecord]) -> tuple[RuleCount, ...]:
    """Rejected rows per rule over the files' current outcomes, most rows first, with examples."""
    rows: dict[str, int] = {}
    files: dict[str, int] = {}
    examples: dict[str, list[Example]] = {}
    for record in sorted(records, key=lambda r: r.delivered_at or 0.0, reverse=True):  # latest examples first
        if record.status == "failed" or not record.rows_rejected:
            continue
        for rule, count, found in _file_rules(storage, dataset, record, examples):
            rows[rule] = rows.get(rule, 0) + count
            files[rule] = files.get(rule, 0) + 1
            kept = examples.setdefault(rule, [])
            kept += found[: EXAMPLES_PER_RULE - len(kept)]
    ordered = sorted(rows, key=lambda rule: (-rows[rule], rule))
    return tuple(RuleCount(rule, rows[rule], files[rule], tuple(examples.get(rule, ()))) for rule in ordered)


def _file_rules(
    storage: Storage, dataset: str, record: FileRecord, have: dict[str, list[Example]]
) -> list[tuple[str, int, list[Example]]]:
    """(rule, rows, examples) of one file: from its receipt when complete, else its rejected output."""
    keys = receipt_keys(dataset, record.source_key)
    receipt = _read_json(storage, keys["summary"])
    if receipt and receipt.get("complete") and receipt.get("checksum") == record.checksum and receipt["reasons"]:
        wanted = {r["rule"] for r in receipt["reasons"] if len(have.get(r["rule"], ())) < EXAMPLES_PER_RULE}
        found = _receipt_examples(storage, record.source_key, keys["json"], keys["csv"], wanted) if wanted else {}
        return [(r["rule"], int(r["rows"]), found.get(r["rule"], [])) for r in receipt["reasons"]]
    summary = file_rejects(storage, record, dataset)
    return [
        (
            reason.reason,
            reason.rows,
            [
                Example(
                    record.source_key,
                    None,
                    (reason.reason,),
                    e.get("line") or json.dumps(e.get("values"), ensure_ascii=False),
                    None,
                )
                for e in reason.examples
            ],
        )
        for reason in summary.reasons.values()
    ]


def _receipt_examples(
    storage: Storage, source_key: str, rows_key: str, csv_key: str, wanted: set[str]
) -> dict[str, list[Example]]:
    """Up to ``EXAMPLES_PER_RULE`` rows per wanted rule from the head of a receipt's JSON Lines."""
    found: dict[str, list[Example]] = {}
    try:
        with storage.open(rows_key) as raw:
            for number, text in enumerate(io.TextIOWrapper(raw, encoding="utf-8")):
                if number >= LINES_READ_PER_RECEIPT or not wanted:
                    break
                if not text.strip():
                    continue
                row = json.loads(text)
                example = Example(
                    source_key, row.get("line"), tuple(row.get("problems") or ()), row.get("delivered") or "", csv_key
                )
                for rule in row.get("rules") or ():
                    if rule in wanted:
                        found.setdefault(rule, []).append(example)
                        if len(found[rule]) >= EXAMPLES_PER_RULE:
                            wanted.discard(rule)
    except EtlError as exc:  # a receipt being rewritten: counts still come from the summary
        log.warning("report: cannot read %s for examples: %s", rows_key, exc)
    return found


def _read_json(storage: Storage, key: str) -> dict[str, Any] | None:
    if not storage.exists(key):
        return None
    try:
        with storage.open(key) as raw:
            loaded = json.load(raw)
    except (EtlError, ValueError) as exc:
        log.warning("report: cannot read %s: %s", key, exc)
        return None
    return loaded if isinstance(loaded, dict) else None


def expectation_outcomes(validations: Sequence[FileValidation]) -> tuple[ExpectationSummary, ...]:
    """Each expectation's passes and failures over the files' latest validation results, and
    its latest observation; failing ones first."""
    by_key: dict[tuple[str, str], list[tuple[FileValidation, ExpectationOutcome]]] = {}
    for validation in sorted(validations, key=lambda v: v.evaluated_at):
        for result in validation.expectations:
            key = (result.type, json.dumps(result.kwargs, sort_keys=True, default=str))
            by_key.setdefault(key, []).append((validation, result))
    outcomes = []
    for (expectation, arguments), seen in by_key.items():
        latest_validation, latest = seen[-1]
        outcomes.append(
            ExpectationSummary(
                expectation=expectation,
                arguments=arguments,
                on_failure=latest.on_failure,
                passed=sum(1 for _, r in seen if r.success),
                failed=sum(1 for _, r in seen if not r.success),
                latest_observed=latest.observed,
                latest_file=latest_validation.file,
                latest_success=latest.success,
            )
        )
    return tuple(sorted(outcomes, key=lambda o: (o.latest_success, -o.failed, o.expectation)))


def _validation(validation: FileValidation) -> ValidationPage:
    results = validation.expectations
    return ValidationPage(
        validation.file,
        validation.run_id,
        bool(validation.success),
        len(results),
        sum(1 for r in results if not r.success),
    )
