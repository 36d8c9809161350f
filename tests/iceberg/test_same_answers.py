"""The sample data and its re-delivery, through a Parquet and an Iceberg analytics-ready: the same rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl_lib.runner.run import run_dataset
from tests.conftest import make_context
from tests.iceberg.helpers import SAMPLES, deliver_sample, iceberg_rows, iceberg_spec, parquet_rows


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
