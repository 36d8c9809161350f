"""The sample data and its re-delivery, through a Parquet and an Iceberg analytics-ready: the same rows."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from etl_lib.errors import TransientError
from etl_lib.faults import Fault, Faults
from etl_lib.iceberg.tables import open_iceberg
from etl_lib.runner.run import run_dataset
from tests.conftest import deliver, make_context
from tests.iceberg.helpers import SAMPLES, deliver_sample, iceberg_rows, iceberg_spec, parquet_rows
from tests.runner.test_faults import second_delivery
from tests.runner.test_pipeline import FEB, JAN, SPEC


@pytest.mark.parametrize("dataset", ["transactions", "accounts"])
def test_sample_deliveries_give_the_same_rows_in_both_formats(spark, tmp_path: Path, dataset: str) -> None:
    text = (SAMPLES / "specs" / f"{dataset}.yaml").read_text()
    lakes = {"parquet": tmp_path / "parquet", "iceberg": tmp_path / "iceberg"}
    specs = {"parquet": text, "iceberg": iceberg_spec(text)}
    snapshots = []
    for delivery in ("01", "02"):  # 02 re-delivers a file of 01 with changes, and brings new ones
        for fmt, lake in lakes.items():
            deliver_sample(lake, delivery, dataset)
            summary = run_dataset(make_context(spark, specs[fmt], lake))
            assert summary.status == "succeeded", summary.report.run.error
            if fmt == "iceberg":
                snapshots.append(summary.report.run.snapshot_id)
        expected = parquet_rows(spark, lakes["parquet"], dataset)
        assert expected  # the comparison is over rows
        assert iceberg_rows(spark, lakes["iceberg"], dataset) == expected
    assert None not in snapshots and len(set(snapshots)) == 2  # one new snapshot per run, recorded


@pytest.mark.parametrize("keyed", [True, False], ids=["keyed", "keyless"])
def test_a_redelivery_gives_the_same_rows_in_both_formats(spark, tmp_path: Path, keyed: bool) -> None:
    text = SPEC if keyed else SPEC.replace("keys: [tx_id]\n", "")
    lakes = {"parquet": tmp_path / "parquet", "iceberg": tmp_path / "iceberg"}
    specs = {"parquet": text, "iceberg": iceberg_spec(text)}
    for lake in lakes.values():
        deliver(lake, "tx", "jan.csv", JAN)
        deliver(lake, "tx", "feb.csv", FEB)
    for fmt, lake in lakes.items():
        assert run_dataset(make_context(spark, specs[fmt], lake)).status == "succeeded"
    for lake in lakes.values():
        second_delivery(lake)  # jan.csv again with other rows, and mar.csv
    for fmt, lake in lakes.items():
        assert run_dataset(make_context(spark, specs[fmt], lake)).status == "succeeded"
    expected = parquet_rows(spark, lakes["parquet"], "tx")
    assert len(expected) == 6
    assert iceberg_rows(spark, lakes["iceberg"], "tx") == expected


def test_a_parquet_dataset_switched_to_iceberg_keeps_its_rows(spark, lake: Path) -> None:
    deliver(lake, "tx", "jan.csv", JAN)
    deliver(lake, "tx", "feb.csv", FEB)
    assert run_dataset(make_context(spark, SPEC, lake)).status == "succeeded"
    before = parquet_rows(spark, lake, "tx")
    # The first attempt dies after creating the table, before its first commit is published.
    ctx = make_context(spark, iceberg_spec(SPEC), lake)
    faulty = replace(open_iceberg(spark, ctx.storage.uri), faults=Faults(Fault("iceberg.publish")))
    with pytest.raises(TransientError):
        run_dataset(replace(ctx, iceberg=faulty))
    assert parquet_rows(spark, lake, "tx") == before  # the Parquet files stay until the rows are in
    second = run_dataset(make_context(spark, iceberg_spec(SPEC), lake))  # no new file: the table is built
    assert second.status == "succeeded" and second.report.run.snapshot_id is not None
    assert iceberg_rows(spark, lake, "tx") == before
    assert not [p for p in (lake / "analytics-ready" / "tx").glob("year=*/**/*") if p.is_file()]  # Parquet gone
    second_delivery(lake)
    assert run_dataset(make_context(spark, iceberg_spec(SPEC), lake)).status == "succeeded"
    assert len(iceberg_rows(spark, lake, "tx")) == 6
