"""The sample models as Iceberg tables over Iceberg datasets: the same rows as Parquet, built incrementally."""

from __future__ import annotations

from pathlib import Path

from etl_lib.config import open_storage
from etl_lib.iceberg.tables import open_iceberg
from etl_lib.models.run import run_models
from etl_lib.runner.build import build_models_context
from etl_lib.runner.run import run_dataset
from tests.conftest import make_context
from tests.iceberg.helpers import SAMPLES, deliver_sample, iceberg_rows, iceberg_spec, parquet_rows, rows_of

DATASETS = ("clients", "accounts", "transactions")
MODELS = ("client_accounts", "client_monthly_deposits", "client_deposit_totals")


def setup(tmp_path: Path, fmt: str) -> tuple[Path, Path, Path]:
    """A lake, a specs folder and a models folder in ``fmt`` (the sample ones, sinks left out)."""
    root = tmp_path / fmt
    specs, models = root / "specs", root / "models"
    specs.mkdir(parents=True)
    models.mkdir()
    for name in DATASETS:
        text = (SAMPLES / "specs" / f"{name}.yaml").read_text()
        (specs / f"{name}.yaml").write_text(iceberg_spec(text) if fmt == "iceberg" else text)
    for name in MODELS:
        text = (SAMPLES / "models" / f"{name}.yaml").read_text().split("\nsinks:")[0]
        (models / f"{name}.yaml").write_text(iceberg_spec(text) if fmt == "iceberg" else text)
    return root / "lake", specs, models


def run_all(spark, lake: Path, specs: Path, models: Path, datasets: tuple[str, ...]) -> dict[str, str]:
    for name in datasets:
        text = (specs / f"{name}.yaml").read_text()
        assert run_dataset(make_context(spark, text, lake)).status == "succeeded"
    ctx = build_models_context(spark, str(models), [str(specs)], str(lake), skip_sinks=True)
    summary = run_models(ctx)
    assert summary.status == "succeeded", [o.reason for o in summary.outcomes]
    return {o.model: f"{o.status}:{','.join(o.partitions)}:{o.reason}" for o in summary.outcomes}


def model_rows(spark, lake: Path, name: str, fmt: str) -> list[str]:
    if fmt == "parquet":
        folder = lake / "analytics-ready" / name
        if any(p.name.startswith("year=") for p in folder.iterdir()):
            return parquet_rows(spark, lake, name)
        return rows_of(spark.read.parquet(str(folder)))
    return iceberg_rows(spark, lake, name)


def test_models_give_the_same_rows_as_iceberg_tables(spark, tmp_path: Path) -> None:
    setups = {fmt: setup(tmp_path, fmt) for fmt in ("parquet", "iceberg")}
    outcomes = {}
    for delivery, datasets in (("01", DATASETS), ("02", ("transactions",))):
        for fmt, (lake, specs, models) in setups.items():
            for name in datasets:
                deliver_sample(lake, delivery, name)
            outcomes[fmt] = run_all(spark, lake, specs, models, datasets)
        assert outcomes["iceberg"] == outcomes["parquet"]  # the same plans: whole, then the changed months
        for name in MODELS:
            expected = model_rows(spark, setups["parquet"][0], name, "parquet")
            assert expected, name
            assert model_rows(spark, setups["iceberg"][0], name, "iceberg") == expected, name
    rebuilt = outcomes["iceberg"]["client_monthly_deposits"].split(":")[1].split(",")
    assert "year=2024/month=03" in rebuilt and "year=2024/month=01" not in rebuilt  # only the months delivered
    lake = setups["iceberg"][0]
    tables = open_iceberg(spark, open_storage(str(lake)).uri)
    assert len(tables.snapshots("client_monthly_deposits")) == 2  # one snapshot per build
    from etl_lib.config import open_ledger

    [last, *_] = open_ledger(None, open_storage(str(lake))).runs(dataset="client_monthly_deposits")
    assert last.snapshot_id == tables.current_snapshot("client_monthly_deposits")  # the ledger names it


def test_a_model_whose_checks_fail_publishes_nothing(spark, tmp_path: Path) -> None:
    lake, specs, models = setup(tmp_path, "iceberg")
    for name in DATASETS:
        deliver_sample(lake, "01", name)
    run_all(spark, lake, specs, models, DATASETS)
    before = iceberg_rows(spark, lake, "client_accounts")
    path = models / "client_accounts.yaml"
    text = path.read_text()
    assert "checks: [not_null]" in text
    path.write_text(text.replace("checks: [not_null]", "checks: [{accepted_values: [NONE]}]"))  # every row fails
    ctx = build_models_context(spark, str(models), [str(specs)], str(lake), skip_sinks=True)
    summary = run_models(ctx, select=["client_accounts"])
    failed = {o.model: o for o in summary.outcomes}["client_accounts"]
    assert failed.status == "failed" and "checks failed, nothing published" in failed.reason
    assert before and iceberg_rows(spark, lake, "client_accounts") == before
