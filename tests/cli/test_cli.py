"""The CLI end to end on the sample bank data, plus its error contract."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from etl_lib.cli.main import main
from etl_lib.config import open_ledger, open_storage

SPECS = ["clients", "accounts", "transactions"]


def test_demo_reconciles_every_sample_file(demo_lake: Path, repo: Path) -> None:
    expected = json.loads((repo / "sample_csv" / "expected_counts.json").read_text())
    assert "raw/transactions/transactions_2024_06.csv.gz" in (demo_lake / "_meta/report/index.html").read_text()
    storage = open_storage(str(demo_lake))
    ledger = open_ledger(None, storage)
    seen = {}
    for name in SPECS:
        for run in ledger.runs(dataset=name, limit=10):
            for record in ledger.history(run.run_id):
                if record.status in ("processed", "published"):
                    seen[(run.run_id, record.source_key)] = record
    by_file: dict[str, list] = {}
    for (_, key), record in seen.items():
        by_file.setdefault(key.split("/", 1)[1], []).append((record.rows_in, record.rows_rejected))
    for delivered, counts in expected.items():
        key = delivered.split("/", 1)[1]
        assert (counts["rows"], counts["rejected"]) in by_file[key], delivered
        for rows_in, rejected in by_file[key]:
            assert rows_in >= rejected


def test_demo_analytics_has_one_row_per_key(demo_lake: Path, repo: Path, capsys) -> None:
    specs = [arg for name in SPECS for arg in ("--spec", str(repo / "sample_csv" / "specs" / f"{name}.yaml"))]
    sql = (
        "SELECT (SELECT count(*) FROM clients) AS c, (SELECT count(DISTINCT client_id) FROM clients) AS cd, "
        "(SELECT count(*) FROM accounts) AS a, (SELECT count(*) FROM transactions) AS t, "
        "(SELECT count(DISTINCT transaction_id) FROM transactions) AS td"
    )
    capsys.readouterr()
    assert main(["query", "--lake", str(demo_lake), *specs, sql]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1].split()
    assert last == ["291", "291", "507", "3000", "3000"]


def test_run_json_is_one_object_and_rerun_adds_nothing(demo_lake: Path, repo: Path, tmp_path: Path, capsys) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(demo_lake / "raw" / "accounts", lake / "raw" / "accounts")
    spec = str(repo / "sample_csv" / "specs" / "accounts.yaml")
    capsys.readouterr()
    assert main(["run", "--spec", spec, "--lake", str(lake), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert {k: first[k] for k in ("files", "rows_in", "rows_valid", "rows_rejected", "status")} == {
        "files": 2,
        "rows_in": 532,
        "rows_valid": 524,
        "rows_rejected": 8,
        "status": "succeeded",
    }
    assert first["rows_analytics"] == 507 and first["run_id"]
    assert main(["run", "--spec", spec, "--lake", str(lake), "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert (second["files"], second["rows_in"], second["rows_analytics"]) == (0, 0, 0)
    assert main(["runs", "--lake", str(lake)]) == 0
    listing = capsys.readouterr().out
    assert first["run_id"] in listing and second["run_id"] in listing


def test_partial_run_exits_3(spark, tmp_path: Path, repo: Path, capsys) -> None:
    lake = tmp_path / "lake"
    (lake / "raw" / "accounts").mkdir(parents=True)
    (lake / "raw" / "accounts" / "broken.csv.gz").write_bytes(b"not gzip")
    spec = str(repo / "sample_csv" / "specs" / "accounts.yaml")
    assert main(["run", "--spec", spec, "--lake", str(lake), "--json"]) == 3
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "partial"
    assert out["file_results"][0]["error"].startswith("raw/accounts/broken.csv.gz: ")


def test_progress_gives_each_files_duration_and_the_last_line_counts_failures(
    spark, tmp_path: Path, repo: Path, demo_lake: Path, capsys
) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(demo_lake / "raw" / "accounts", lake / "raw" / "accounts")
    (lake / "raw" / "accounts" / "broken.csv.gz").write_bytes(b"not gzip")
    spec = str(repo / "sample_csv" / "specs" / "accounts.yaml")
    capsys.readouterr()
    assert main(["run", "--spec", spec, "--lake", str(lake)]) == 3
    captured = capsys.readouterr()
    done = [line for line in captured.err.splitlines() if re.match(r"\[\d/3\] raw/accounts/\S+: ", line)]
    assert len(done) == 3, captured.err
    assert any(re.search(r"broken\.csv\.gz: failed in \d+\.\d s: ", line) for line in done)
    assert sum(bool(re.search(r": processed in \d+\.\d s: \d+ rows, \d+ rejected", line)) for line in done) == 2
    last = captured.out.strip().splitlines()[-1]
    assert re.search(r": partial — 3 file\(s\), 1 failed, 532 rows in, 524 valid, 8 rejected, .*0 warning\(s\)$", last)
    assert main(["files", "--spec", spec, "--lake", str(lake), "--json"]) == 0
    durations = [f["duration_s"] for f in json.loads(capsys.readouterr().out)]
    assert len(durations) == 3 and all(d is not None and d > 0 for d in durations)


def test_a_warn_expectation_shows_in_the_run_table_summary_and_runs(spark, tmp_path: Path, capsys) -> None:
    lake = tmp_path / "lake"
    (lake / "raw" / "tx").mkdir(parents=True)
    (lake / "raw" / "tx" / "a.csv").write_text("id,amount\na,5\nb,500\n")
    spec = tmp_path / "tx.yaml"
    spec.write_text(
        "dataset: tx\ncolumns:\n  - {name: id}\n  - {name: amount, type: int}\nexpectations:\n"
        "  - {type: expect_column_values_to_be_between, kwargs: {column: amount, max_value: 100}, on_failure: warn}\n"
    )
    capsys.readouterr()
    assert main(["run", "--spec", str(spec), "--lake", str(lake)]) == 0
    out = capsys.readouterr().out
    assert "warning: raw/tx/a.csv: expect_column_values_to_be_between" in out
    assert out.strip().splitlines()[-1].endswith("1 warning(s)")
    assert main(["runs", "--lake", str(lake), "--json"]) == 0
    [run] = json.loads(capsys.readouterr().out)
    assert run["warning_count"] == 1
    assert main(["runs", "--lake", str(lake), "--run", run["run_id"]]) == 0
    assert "expect_column_values_to_be_between" in capsys.readouterr().out


def test_spec_error_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset: x\ncolumns: [{name: a, type: money}]\n")
    assert main(["validate-spec", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith(f"etl-lib: {bad} (dataset 'x'): columns[0] (a).type: unknown type 'money'")


def test_validate_spec_ok(spark, repo: Path, capsys) -> None:
    paths = [str(p) for p in sorted((repo / "sample_csv" / "specs").glob("*.yaml"))]
    assert main(["validate-spec", *paths]) == 0
    assert capsys.readouterr().out.count(": ok") == 3


def test_ddl_uses_partition_projection(spark, repo: Path, capsys) -> None:
    spec = str(repo / "sample_csv" / "specs" / "transactions.yaml")
    assert main(["ddl", "--spec", spec, "--location", "s3://b/analytics-ready/transactions", "--database", "nw"]) == 0
    ddl = capsys.readouterr().out
    assert "CREATE EXTERNAL TABLE IF NOT EXISTS `nw`.`transactions`" in ddl
    assert "`amount` decimal(18,2)" in ddl and "`transaction_ts` timestamp" in ddl
    assert "PARTITIONED BY (`year` string, `month` string)" in ddl
    assert "'storage.location.template'='s3://b/analytics-ready/transactions/year=${year}/month=${month}/'" in ddl
    assert "'projection.year.range'='2000,2099'" in ddl


def test_ddl_takes_the_specs_partition_years(spark, repo: Path, tmp_path: Path, capsys) -> None:
    spec = tmp_path / "tx.yaml"
    text = (repo / "sample_csv" / "specs" / "transactions.yaml").read_text()
    spec.write_text(text + "\npartition_years: [1990, 2035]\n")
    assert main(["ddl", "--spec", str(spec), "--location", "s3://b/analytics-ready/transactions"]) == 0
    assert "'projection.year.range'='1990,2035'" in capsys.readouterr().out


def test_missing_source_is_a_clear_error(spark, tmp_path: Path, repo: Path, capsys) -> None:
    spec = str(repo / "sample_csv" / "specs" / "accounts.yaml")
    assert main(["run", "--spec", spec, "--lake", str(tmp_path), "--source", "nope.csv"]) == 1
    assert "raw/accounts/nope.csv: no such file under raw/accounts/" in capsys.readouterr().err
