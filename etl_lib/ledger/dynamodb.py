"""The AWS ledger: one DynamoDB table (``--ledger dynamodb://TABLE``).

Items (``pk`` / ``sk``), all keyed by customer so IAM can confine a job to its
own customer's items (``dynamodb:LeadingKeys`` = ``{customer}#*``):

- file:    ``{customer}#{dataset}``      / ``file#{source_key}``
- run:     ``{customer}#runs``           / ``{started_at}#{run_id}#{dataset}#{stage}``
- history: ``{customer}#run#{run_id}``   / ``{updated_at}#{source_key}`` (a run's files)
- file history: ``{customer}#{dataset}`` / ``history#{source_key}#{updated_at}`` (a file's states)
- run end: ``{customer}#run#{run_id}``   / ``#run`` (its status, for claim takeover)
- lease:   ``{customer}#{dataset}``      / ``lease#{name}`` (holder, expires_at)

Claiming is a conditional write: the claim only lands if the item is still
exactly as read (optimistic concurrency), so two concurrent runs never both
claim a file. A claim is taken over when its run has recorded its end (a run
that failed, e.g. before Glue retries it), or when it is older than
``stale_after_s`` (the Glue job timeout: the run surely died).

botocore retries throttling, 5xx and broken connections with backoff; what
still fails is raised as ``LedgerUnavailable`` (transient) or ``LedgerError``
(terminal: no such table, access denied, a bad item), naming the table.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from etl_lib.aws.clients import resource
from etl_lib.aws.errors import error_code, translate
from etl_lib.errors import ClaimConflict, LeaseHeld, LedgerError, LedgerUnavailable
from etl_lib.ledger.base import (
    MANUAL_RUN,
    UNCHECKED,
    FileRecord,
    FileStatus,
    Ledger,
    ModelBuild,
    RunRecord,
    check_expected,
    check_lease,
    claimed_record,
)

_RUN_MARK = "#run"  # sorts before the history items' timestamps
_BUILD = "build"  # the one item of a model's last build
_TUPLES = {"outputs", "partitions", "dirty_partitions", "warnings"}
_TIMES = {"updated_at", "started_at", "finished_at"}
_FLOATS = {"delivered_at", "duration_s"}


def _item(obj: FileRecord | RunRecord) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in asdict(obj).items():
        if key in _TUPLES:
            out[key] = list(value)
        elif isinstance(value, datetime):
            out[key] = value.isoformat()
        elif isinstance(value, float):
            out[key] = Decimal(repr(value))  # DynamoDB takes numbers as Decimal
        elif value is not None:
            out[key] = value
    return out


def _record(item: dict[str, Any], cls: type[Any]) -> Any:
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in item:
            continue
        value = item[f.name]
        if f.name in _TUPLES:
            value = tuple(value)
        elif f.name in _TIMES:
            value = datetime.fromisoformat(value)
        elif f.name in _FLOATS:
            value = float(value)
        elif hasattr(value, "as_integer_ratio") and not isinstance(value, bool | int):
            value = int(value)  # DynamoDB numbers come back as Decimal
        values[f.name] = value
    return cls(**values)


class DynamoLedger(Ledger):
    """The ledger in DynamoDB, scoped to one customer."""

    def __init__(self, table: str, customer: str, dynamodb: Any | None = None) -> None:
        if not customer or "#" in customer:
            raise LedgerError(f"dynamodb ledger needs a customer id without '#', got {customer!r}")
        self.table_name = table
        self.customer = customer
        self.table = (dynamodb or resource("dynamodb")).Table(table)

    def _pk(self, dataset: str) -> str:
        return f"{self.customer}#{dataset}"

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise
            raise translate(
                exc, f"dynamodb ledger {self.table_name}: {what} failed", LedgerUnavailable, LedgerError
            ) from None

    def get_file(self, dataset: str, source_key: str) -> FileRecord | None:
        """The current record of a source file, or None if never seen."""
        response = self._call(
            "get_item",
            self.table.get_item,
            Key={"pk": self._pk(dataset), "sk": f"file#{source_key}"},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return None if item is None else _record(item, FileRecord)

    def claim_file(
        self, record: FileRecord, stale_after_s: float, planned: FileRecord | None = UNCHECKED
    ) -> FileRecord | None:
        """Conditional write: lands only if nobody changed the item since we read it (and planned it)."""
        current = self.get_file(record.dataset, record.source_key)
        claimed = claimed_record(current, record, stale_after_s, self.run_is_live, planned)
        self._put_if_unchanged("claim", claimed, current, "claimed concurrently by another run")
        return current

    def _put_if_unchanged(self, what: str, record: FileRecord, seen: FileRecord | None, conflict: str) -> None:
        """Put the file item only if it is still ``seen`` (absent when None); else ``ClaimConflict``."""
        item = {"pk": self._pk(record.dataset), "sk": f"file#{record.source_key}", **_item(record)}
        values = None if seen is None else {":seen": seen.updated_at.isoformat()}
        if not self._put_if(what, item, "updated_at = :seen", values):
            raise ClaimConflict(f"{record.source_key}: {conflict}")

    def _put_if(self, what: str, item: dict[str, Any], condition: str, values: dict[str, Any] | None) -> bool:
        """Put ``item`` if ``condition`` holds over the stored one (``values`` None: only if there is none).

        Returns False when the condition failed (another writer came first)."""
        if values is None:
            condition, values = "attribute_not_exists(pk)", {}
        try:
            self._call(
                what,
                self.table.put_item,
                Item=item,
                ConditionExpression=condition,
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def run_status(self, run_id: str) -> str | None:
        """The status a run last recorded (its marker beside its history); None: no such run."""
        response = self._call(
            "get_item", self.table.get_item, Key={"pk": f"{self.customer}#run#{run_id}", "sk": _RUN_MARK}
        )
        item = response.get("Item")
        return None if item is None else str(item.get("status"))

    def run_is_live(self, run_id: str) -> bool:
        """False once the claiming run recorded its end (a failed run frees its claims at once)."""
        if run_id.startswith(MANUAL_RUN):
            return False  # an operator's change
        status = self.run_status(run_id)
        return status is None or status == "running"

    def save_new_file(self, record: FileRecord) -> None:
        """Store a file's first record (``ClaimConflict`` when it has one), then its history items."""
        self._put_if_unchanged("save_file", record, None, "recorded meanwhile by a run; try again")
        self._save_history(record)

    def _save_history(self, record: FileRecord) -> None:
        """The state in the run's history and in the file's (audit only; after the state itself)."""
        item = _item(record)
        by_run = {
            "pk": f"{self.customer}#run#{record.run_id}",
            "sk": f"{record.updated_at.isoformat()}#{record.source_key}",
        }
        by_file = {"pk": self._pk(record.dataset), "sk": f"history#{record.source_key}#{record.updated_at.isoformat()}"}
        for key in (by_run, by_file):
            self._call("save_file", self.table.put_item, Item={**key, **item})

    def file_history(self, dataset: str, source_key: str) -> list[FileRecord]:
        """Every state of one file, oldest first."""
        items = self._query(self._pk(dataset), begins_with=f"history#{source_key}#")
        return [r for r in (_record(i, FileRecord) for i in items) if r.source_key == source_key]

    def save_file(self, record: FileRecord, expected: FileRecord | None = None) -> None:
        """Store the file's new state (if still ``expected``), then its history items (audit only; second)."""
        item = _item(record)
        if expected is None:
            current = {"pk": self._pk(record.dataset), "sk": f"file#{record.source_key}", **item}
            self._call("save_file", self.table.put_item, Item=current)
        else:
            try:
                self._put_if_unchanged("save_file", record, expected, "the ledger record changed under this run")
            except ClaimConflict:
                check_expected(self.get_file(record.dataset, record.source_key), expected, record.source_key)
                raise
        self._save_history(record)

    def acquire_lease(self, dataset: str, name: str, holder: str, ttl_s: float) -> None:
        """Conditional write over the lease item as read (see ``Ledger.acquire_lease``)."""
        key = {"pk": self._pk(dataset), "sk": f"lease#{name}"}
        item = self._call("get_item", self.table.get_item, Key=key, ConsistentRead=True).get("Item")
        current = None if item is None else (str(item["holder"]), float(item["expires_at"]))
        check_lease(dataset, name, holder, current, self.run_is_live)
        new = {**key, "holder": holder, "expires_at": Decimal(str(round(time.time() + ttl_s, 3)))}
        seen = None if item is None else {":h": item["holder"], ":e": item["expires_at"]}
        if not self._put_if("lease", new, "holder = :h AND expires_at = :e", seen):
            raise LeaseHeld(f"{dataset}: the {name} lease was taken concurrently by another run")

    def release_lease(self, dataset: str, name: str, holder: str) -> None:
        """Delete the lease item if ``holder`` still has it."""
        try:
            self._call(
                "lease",
                self.table.delete_item,
                Key={"pk": self._pk(dataset), "sk": f"lease#{name}"},
                ConditionExpression="holder = :h",
                ExpressionAttributeValues={":h": holder},
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    def files(
        self,
        dataset: str | None = None,
        status: FileStatus | None = None,
        run_id: str | None = None,
    ) -> list[FileRecord]:
        """Current file records of one dataset (the dataset is required on DynamoDB)."""
        if dataset is None:
            raise LedgerError("dynamodb ledger: files() needs a dataset")
        records = [_record(i, FileRecord) for i in self._query(self._pk(dataset), begins_with="file#")]
        return [
            r
            for r in sorted(records, key=lambda r: (r.updated_at, r.source_key))
            if (status is None or r.status == status) and (run_id is None or r.run_id == run_id)
        ]

    def history(self, run_id: str) -> list[FileRecord]:
        """Every file state recorded by one run, in order."""
        items = self._query(f"{self.customer}#run#{run_id}")
        return [_record(i, FileRecord) for i in items if i["sk"] != _RUN_MARK]

    def save_run(self, run: RunRecord) -> None:
        """Insert or update a run (its sort key is fixed by start time and id)."""
        sk = f"{run.started_at.isoformat()}#{run.run_id}#{run.dataset}#{run.stage}"
        self._call("save_run", self.table.put_item, Item={"pk": f"{self.customer}#runs", "sk": sk, **_item(run)})
        # The run's status beside its history, where claim_file can look it up by run id.
        marker = {"pk": f"{self.customer}#run#{run.run_id}", "sk": _RUN_MARK, "status": run.status}
        self._call("save_run", self.table.put_item, Item=marker)

    def runs(self, dataset: str | None = None, limit: int = 20) -> list[RunRecord]:
        """The latest runs of this customer, newest first."""
        found: list[RunRecord] = []
        for item in self._query(f"{self.customer}#runs", newest_first=True):
            run = _record(item, RunRecord)
            if dataset is None or run.dataset == dataset:
                found.append(run)
                if len(found) >= limit:
                    break
        return found

    def last_build(self, model: str) -> ModelBuild | None:
        """The last successful build of ``model`` (one item per model)."""
        response = self._call("get_item", self.table.get_item, Key={"pk": self._model_pk(model), "sk": _BUILD})
        item = response.get("Item")
        if item is None:
            return None
        return ModelBuild(
            model=model,
            run_id=str(item["run_id"]),
            definition=str(item["definition"]),
            inputs=json.loads(str(item["inputs"])),
            rows=int(item.get("rows", 0)),
            built_at=datetime.fromisoformat(str(item["built_at"])),
            loaded=json.loads(str(item.get("loaded") or "{}")),
        )

    def save_build(self, build: ModelBuild) -> None:
        """Put the model's last build (its inputs as one JSON string: a few KB per model)."""
        item = {
            "pk": self._model_pk(build.model),
            "sk": _BUILD,
            "run_id": build.run_id,
            "definition": build.definition,
            "inputs": json.dumps(build.inputs, sort_keys=True),
            "rows": build.rows,
            "built_at": build.built_at.isoformat(),
            "loaded": json.dumps(build.loaded, sort_keys=True),
        }
        self._call("save_build", self.table.put_item, Item=item)

    def _model_pk(self, model: str) -> str:
        return f"{self.customer}#model#{model}"

    def _query(self, pk: str, begins_with: str | None = None, newest_first: bool = False) -> list[dict[str, Any]]:
        from boto3.dynamodb.conditions import Key

        condition = Key("pk").eq(pk)
        if begins_with:
            condition = condition & Key("sk").begins_with(begins_with)
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"KeyConditionExpression": condition, "ScanIndexForward": not newest_first}
        while True:
            page = self._call("query", self.table.query, ConsistentRead=True, **kwargs)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
