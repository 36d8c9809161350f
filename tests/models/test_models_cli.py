"""`etl-lib models run`, `models ddl`, `query --models` and the Glue job script's adapter."""

from __future__ import annotations

import json
from pathlib import Path

from etl_lib.cli.main import main
from tests.conftest import deliver
from tests.models.test_models import ACCOUNTS, ACCOUNTS_1, JAN_FEB, MARCH, MONTHLY, TOTALS, TX, ingest


def folders(tmp_path: Path) -> tuple[Path, Path]:
    specs, models = tmp_path / "specs", tmp_path / "models"
    specs.mkdir()
    models.mkdir()
    (specs / "tx.yaml").write_text(TX)
    (specs / "accounts.yaml").write_text(ACCOUNTS)
    (models / "monthly.yaml").write_text(MONTHLY)
    (models / "totals.yaml").write_text(TOTALS)
    return specs, models


def test_models_run_then_query_and_ddl(spark, lake: Path, tmp_path: Path, capsys) -> None:
    specs, models = folders(tmp_path)
    deliver(lake, "tx", "janfeb.csv", JAN_FEB)
    deliver(lake, "accounts", "a.csv", ACCOUNTS_1)
    ingest(spark, lake)
    args = ["models", "run", "--models", str(models), "--spec", str(specs), "--lake", str(lake)]
    capsys.readouterr()
    assert main([*args, "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert [(m["model"], m["status"], m["rows"]) for m in first["models"]] == [
        ("monthly", "built", 3),
        ("totals", "built", 2),
    ]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert captured.out.strip().splitlines()[-1].endswith(": succeeded — 0 built, 0 failed, 2 model(s)")
    assert "[2/2] model totals: unchanged" in captured.err
    assert main([*args, "--select", "nope"]) == 2
    assert "--select nope: no such model; models: monthly, totals" in capsys.readouterr().err
    sql = "SELECT client_id, total, months FROM totals ORDER BY client_id"
    query = ["query", "--lake", str(lake), "--spec", str(specs / "tx.yaml"), "--spec", str(specs / "accounts.yaml")]
    assert main([*query, "--models", str(models), "--json", sql]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows == [
        {"client_id": "C1", "total": "17.50", "months": 2},
        {"client_id": "C2", "total": "5.00", "months": 1},
    ]
    ddl = ["models", "ddl", "--models", str(models), "--spec", str(specs), "--location-root", "s3://b/analytics-ready"]
    assert main(ddl) == 0
    text = capsys.readouterr().out
    assert "CREATE EXTERNAL TABLE IF NOT EXISTS `default`.`monthly`" in text
    assert "PARTITIONED BY (`year` string, `month` string)" in text.split("`totals`")[0]
    assert "LOCATION 's3://b/analytics-ready/totals/'" in text and "`months` bigint" in text


def test_validate_spec_checks_models_with_the_specs_given(spark, tmp_path: Path, capsys) -> None:
    specs, models = folders(tmp_path)
    (models / "broken.yaml").write_text(TOTALS.replace("model: totals", "model: broken").replace("total)", "totl)"))
    paths = [str(specs / "tx.yaml"), str(specs / "accounts.yaml"), *sorted(str(p) for p in models.iterdir())]
    capsys.readouterr()
    assert main(["validate-spec", *paths]) == 2
    captured = capsys.readouterr()
    assert f"{models / 'monthly.yaml'}: ok — model 'monthly'" in captured.out
    assert f"etl-lib: {models / 'broken.yaml'} (model 'broken'): sql: [UNRESOLVED_COLUMN" in captured.err


def test_the_glue_models_job_builds_downstream_of_a_changed_dataset(
    spark, lake: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    from etl_lib.glue.adapter import run_models_job

    monkeypatch.setattr("etl_lib.spark.local_session", lambda **_: spark)
    specs, models = folders(tmp_path)
    deliver(lake, "tx", "janfeb.csv", JAN_FEB)
    deliver(lake, "accounts", "a.csv", ACCOUNTS_1)
    ingest(spark, lake)
    argv = ["job.py", "--JOB_NAME", "j", "--models", str(models), "--specs", str(specs), "--lake", str(lake)]
    capsys.readouterr()
    assert run_models_job([*argv, "--changed_dataset", "accounts"]) == 0
    built = json.loads([line for line in capsys.readouterr().out.splitlines() if line.startswith("{")][-1])
    assert [(m["model"], m["status"]) for m in built["models"]] == [("monthly", "built"), ("totals", "built")]
    assert (lake / "_meta" / "report" / "index.html").is_file()
    deliver(lake, "tx", "march.csv", MARCH)
    ingest(spark, lake)
    assert run_models_job([*argv, "--select", "monthly"]) == 0
    built = json.loads([line for line in capsys.readouterr().out.splitlines() if line.startswith("{")][-1])
    assert [(m["model"], m["status"], m["partitions"]) for m in built["models"]] == [
        ("monthly", "built", ["year=2024/month=03"])
    ]
    assert run_models_job(argv[:5]) == 2  # --specs and --lake missing
