"""Gold models end to end on a small lake: built in order, rebuilt only as far as their inputs
changed, equal to the same SQL run from scratch, and a build cut short is finished by a rerun."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from etl_lib.catalog.local import LocalCatalog
from etl_lib.config import open_ledger, open_notifier
from etl_lib.errors import SpecError
from etl_lib.faults import Fault, Faults
from etl_lib.models.check import model_problems
from etl_lib.models.context import ModelsContext
from etl_lib.models.load import parse_model
from etl_lib.models.run import run_models
from etl_lib.runner.build import build_context
from etl_lib.runner.run import run_dataset
from etl_lib.spec.load import parse_spec
from etl_lib.storage.local import LocalStorage
from tests.conftest import deliver

TX = """
dataset: tx
columns:
  - {name: tx_id, required: true}
  - {name: account_id, required: true}
  - {name: ts, type: timestamp, required: true}
  - {name: amount, type: "decimal(10,2)", required: true}
keys: [tx_id]
latest_by: ts
partition_by: ts
"""
ACCOUNTS = """
dataset: accounts
columns:
  - {name: account_id, required: true}
  - {name: client_id, required: true}
keys: [account_id]
"""
MONTHLY = """
model: monthly
reads: [tx, accounts]
sql: |
  SELECT a.client_id, CAST(date_trunc('MONTH', t.ts) AS DATE) AS month_start,
         SUM(t.amount) AS total, COUNT(*) AS n
  FROM tx t JOIN accounts a ON a.account_id = t.account_id
  GROUP BY 1, 2
keys: [client_id, month_start]
partition_by: month_start
partitions_from: [tx]
columns:
  - {name: client_id, checks: [not_null]}
"""
TOTALS = """
model: totals
reads: [monthly]
sql: SELECT client_id, SUM(total) AS total, COUNT(*) AS months FROM monthly GROUP BY client_id
keys: [client_id]
"""
JAN_FEB = (
    "tx_id,account_id,ts,amount\n"
    "1,A1,2024-01-05 10:00:00,10.00\n2,A2,2024-01-06 10:00:00,5.00\n3,A1,2024-02-01 09:00:00,7.50\n"
)
MARCH = "tx_id,account_id,ts,amount\n4,A2,2024-03-03 10:00:00,1.25\n5,A1,2024-03-04 10:00:00,2.00\n"
ACCOUNTS_1 = "account_id,client_id\nA1,C1\nA2,C2\n"
ACCOUNTS_2 = "account_id,client_id\nA1,C1\nA2,C1\n"  # A2 moves to C1: every month changes


def specs():
    return tuple(
        parse_spec(yaml.safe_load(text), f"{name}.yaml") for name, text in (("tx", TX), ("accounts", ACCOUNTS))
    )


def models(*texts: str):
    return tuple(parse_model(yaml.safe_load(text), "m.yaml") for text in texts)


def ingest(spark, lake: Path) -> None:
    for spec in specs():
        assert run_dataset(build_context(spark, spec, str(lake))).status == "succeeded"


def context(spark, lake: Path, chosen=None, faults: Faults | None = None) -> ModelsContext:
    storage = LocalStorage(str(lake), faults=faults)
    return ModelsContext(
        spark,
        storage,
        open_ledger(None, storage),
        open_notifier(storage, None, None, "failures"),
        specs(),
        chosen or models(MONTHLY, TOTALS),
        LocalCatalog(spark, storage),
    )


def table(spark, lake: Path, name: str) -> list[tuple]:
    path = lake / "analytics-ready" / name
    frame = spark.read.option("basePath", str(path)).parquet(str(path))
    return sorted(tuple(r) for r in frame.drop("year", "month").collect())


def from_scratch(spark, lake: Path, sql: str, views: dict[str, str]) -> list[tuple]:
    """The same SQL over the inputs read directly: what the model must equal."""
    session = spark.newSession()
    for view, name in views.items():
        path = lake / "analytics-ready" / name
        session.read.option("basePath", str(path)).parquet(str(path)).createOrReplaceTempView(view)
    return sorted(tuple(r) for r in session.sql(sql).collect())


def files_with_times(lake: Path, name: str) -> dict[str, float]:
    root = lake / "analytics-ready" / name
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*.parquet")}


@pytest.fixture
def built(spark, lake: Path) -> Path:
    deliver(lake, "tx", "janfeb.csv", JAN_FEB)
    deliver(lake, "accounts", "a.csv", ACCOUNTS_1)
    ingest(spark, lake)
    summary = run_models(context(spark, lake))
    assert [(o.model, o.status, o.reason) for o in summary.outcomes] == [
        ("monthly", "built", "never built"),
        ("totals", "built", "never built"),
    ]
    return lake


def test_models_equal_their_sql_from_scratch_and_a_rerun_changes_nothing(spark, built: Path) -> None:
    monthly_sql = yaml.safe_load(MONTHLY)["sql"]
    assert table(spark, built, "monthly") == from_scratch(
        spark, built, monthly_sql, {"tx": "tx", "accounts": "accounts"}
    )
    assert sorted(p.split("/part")[0] for p in files_with_times(built, "monthly")) == [
        "year=2024/month=01",
        "year=2024/month=02",
    ]
    assert table(spark, built, "totals") == from_scratch(
        spark, built, yaml.safe_load(TOTALS)["sql"], {"monthly": "monthly"}
    )
    before = {name: files_with_times(built, name) for name in ("monthly", "totals")}
    summary = run_models(context(spark, built))
    assert [o.status for o in summary.outcomes] == ["unchanged", "unchanged"]
    assert {name: files_with_times(built, name) for name in ("monthly", "totals")} == before
    # The catalog sees the models as tables.
    assert spark.sql("SELECT SUM(n) FROM monthly").first()[0] == 3


def test_a_new_month_rebuilds_that_month_only_and_an_account_change_rebuilds_all(spark, built: Path) -> None:
    monthly_sql = yaml.safe_load(MONTHLY)["sql"]
    before = files_with_times(built, "monthly")
    deliver(built, "tx", "march.csv", MARCH)
    ingest(spark, built)
    summary = run_models(context(spark, built))
    monthly, totals = summary.outcomes
    assert (monthly.status, monthly.partitions) == ("built", ("year=2024/month=03",))
    assert (totals.status, totals.partitions, totals.reason) == ("built", (), "monthly changed")
    after = files_with_times(built, "monthly")
    assert {k: v for k, v in after.items() if "month=03" not in k} == before  # January and February untouched
    expected = from_scratch(spark, built, monthly_sql, {"tx": "tx", "accounts": "accounts"})
    assert table(spark, built, "monthly") == expected and len(expected) == 5

    deliver(built, "accounts", "a.csv", ACCOUNTS_2)
    time.sleep(0.01)
    ingest(spark, built)
    monthly, _ = run_models(context(spark, built)).outcomes
    assert (monthly.status, monthly.partitions, monthly.reason) == ("built", (), "accounts changed")
    assert table(spark, built, "monthly") == from_scratch(
        spark, built, monthly_sql, {"tx": "tx", "accounts": "accounts"}
    )
    assert {r[0] for r in table(spark, built, "monthly")} == {"C1"}


def test_a_changed_definition_rebuilds_the_whole_table(spark, built: Path) -> None:
    changed = MONTHLY.replace("COUNT(*) AS n", "COUNT(*) AS n, MAX(t.amount) AS biggest")
    monthly, totals = run_models(context(spark, built, models(changed, TOTALS))).outcomes
    assert (monthly.status, monthly.reason) == ("built", "its definition changed")
    # monthly's months are new files, so totals, which reads it whole, is rebuilt after it.
    assert (totals.status, totals.reason) == ("built", "monthly changed")
    assert "biggest" in spark.table("monthly").columns


def test_a_build_cut_short_mid_swap_is_finished_by_the_next_run(spark, built: Path) -> None:
    deliver(built, "tx", "march.csv", MARCH)
    deliver(built, "tx", "jan_fix.csv", "tx_id,account_id,ts,amount\n2,A2,2024-01-06 10:00:00,50.00\n")
    ingest(spark, built)
    faults = Faults(Fault("storage.move", match="analytics-ready/monthly/year=2024/month=03", times=1))
    monthly, totals = run_models(context(spark, built, faults=faults)).outcomes
    assert monthly.status == "failed" and "injected" in monthly.reason
    assert (totals.status, totals.reason) == ("skipped", "its input monthly failed in this run")
    assert (built / "_meta/models/monthly/pending.json").exists()
    # January was swapped, March's folder was emptied: the table is half-built until the rerun.
    monthly, totals = run_models(context(spark, built)).outcomes
    assert (monthly.status, monthly.partitions) == ("built", ("year=2024/month=01", "year=2024/month=03"))
    assert totals.status == "built"
    assert not (built / "_meta/models/monthly/pending.json").exists()
    monthly_sql = yaml.safe_load(MONTHLY)["sql"]
    assert table(spark, built, "monthly") == from_scratch(
        spark, built, monthly_sql, {"tx": "tx", "accounts": "accounts"}
    )
    assert table(spark, built, "totals") == from_scratch(
        spark, built, yaml.safe_load(TOTALS)["sql"], {"monthly": "monthly"}
    )


def test_a_failed_check_publishes_nothing_and_skips_what_reads_the_model(spark, built: Path) -> None:
    strict = MONTHLY.replace("checks: [not_null]", "checks: [not_null, {accepted_values: [C1]}]")
    before = files_with_times(built, "monthly")
    monthly, totals = run_models(context(spark, built, models(strict, TOTALS))).outcomes
    assert monthly.status == "failed"
    assert "checks failed, nothing published: client_id: accepted_values [C1] fails for 1 row(s)" in monthly.reason
    assert totals.status == "skipped"
    assert files_with_times(built, "monthly") == before
    reports = list((built / "_meta" / "reports").glob("monthly-model-*.json"))
    assert len(reports) == 1  # the failure was announced


def test_months_that_do_not_come_from_the_same_months_are_refused(spark, built: Path) -> None:
    shifted = MONTHLY.replace(
        "CAST(date_trunc('MONTH', t.ts) AS DATE) AS month_start", "DATE'2024-01-01' AS month_start"
    ).replace("GROUP BY 1, 2", "GROUP BY 1")
    first = run_models(context(spark, built, models(shifted, TOTALS))).outcomes[0]
    assert first.status == "built"  # whole: its definition changed
    deliver(built, "tx", "march.csv", MARCH)
    ingest(spark, built)
    first = run_models(context(spark, built, models(shifted, TOTALS))).outcomes[0]
    assert first.status == "failed" and "do not come only from the same months of tx" in first.reason


def test_problems_of_models_are_each_reported(spark) -> None:
    bad = [
        models(MONTHLY)[0].model_copy(update={"reads": ["tx", "acounts"]}),
        *models(TOTALS.replace("FROM monthly", "FROM monthly m JOIN nowhere n ON m.client_id = n.x")),
    ]
    problems = model_problems(spark, bad, specs())
    assert problems[""] == [
        "model monthly: reads: unknown table 'acounts' (did you mean 'accounts'?); known: accounts, monthly, totals, tx"
        " (give its spec with --spec, or its model in --models)"
    ]
    cyclic = models(MONTHLY.replace("reads: [tx, accounts]", "reads: [tx, accounts, totals]"), TOTALS)
    assert model_problems(spark, cyclic, specs())[""] == [
        "models read each other in a cycle: monthly -> totals -> monthly"
    ]
    sql_errors = models(
        TOTALS.replace("SUM(total) AS total", "SUM(totl) AS total"),
        MONTHLY.replace("partition_by: month_start", "partition_by: client_id").replace("partitions_from: [tx]", ""),
    )
    found = model_problems(spark, sql_errors, specs())
    assert found["totals"][0].startswith("sql: [UNRESOLVED_COLUMN.WITH_SUGGESTION]") and "totl" in found["totals"][0]
    assert found["monthly"] == ["partition_by: 'client_id' is string; a date or timestamp is needed"]
    named = models(MONTHLY, TOTALS.replace("SUM(total) AS total", "SUM(total)"))
    assert "need a name like [a-z][a-z0-9_]*: add AS name" in model_problems(spark, named, specs())["totals"][0]


def test_a_statement_that_is_not_a_query_is_refused_before_spark_runs_it(spark) -> None:
    spark.createDataFrame([(1,)], "a int").createOrReplaceTempView("keep_me")
    dropping = models(MONTHLY, TOTALS.replace(
        "SELECT client_id, SUM(total) AS total, COUNT(*) AS months FROM monthly GROUP BY client_id",
        "DROP VIEW keep_me",
    ))  # fmt: skip
    found = model_problems(spark, dropping, specs())
    assert len(found["totals"]) == 1 and found["totals"][0].startswith("sql: one SELECT query is expected, not a ")
    assert spark.table("keep_me").count() == 1


def test_spec_errors_of_a_model_are_every_one_with_the_nearest_key() -> None:
    with pytest.raises(SpecError) as caught:
        parse_model(yaml.safe_load(MONTHLY.replace("sql:", "sqll:")), "monthly.yaml")
    assert caught.value.problems == ("sqll: unknown key; did you mean 'sql'?",)
    raw = yaml.safe_load(MONTHLY.replace("partitions_from: [tx]", "partitions_from: [txx]"))
    raw["sinks"] = [{"type": "postgres", "table": "gold.m", "mode": "upsert", "connection": "w"}]
    raw.pop("keys")
    with pytest.raises(SpecError) as caught:
        parse_model(raw, "monthly.yaml")
    assert caught.value.problems == (
        "partitions_from: 'txx' is not in reads (did you mean 'tx'?)",
        "sinks: mode upsert needs keys (the conflict target); give keys or use mode replace",
    )
    assert str(caught.value).startswith("monthly.yaml (model 'monthly'): partitions_from: 'txx'")
