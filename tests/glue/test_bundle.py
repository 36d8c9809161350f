"""The offline Glue bundle, installed with --no-index on top of a stand-in for Glue 5.1's environment,
runs both job scripts (under spark-submit) on a spec with expectations against an S3 lake in moto.

The stand-in is a fresh venv holding exactly Glue 5.1's module list
(``requirements/glue-5.1-base-requirements.txt``), with Spark 3.5.6, py4j and awsglue on
its path the way Glue provides them (not pip-installed). Its wheels come from the
wheelhouse ``make`` fills (``ETL_LIB_WHEELHOUSE``), so the test never reaches an index.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import boto3
import pytest
from packaging.utils import canonicalize_name, parse_wheel_filename

from etl_lib.spark import configure_s3a
from tests.aws.test_dynamodb_ledger import create_table
from tests.aws.test_s3_lake import make_bucket, put

REPO = Path(__file__).resolve().parents[2]
GLUE_MODULES = REPO / "requirements" / "glue-5.1-base-requirements.txt"
SITE = Path(sys.prefix) / "lib" / "python3.11" / "site-packages"
# What Glue puts on the job's path itself: Spark's Python side, py4j and the awsglue library.
GLUE_PROVIDED = ("pyspark", "py4j", "awsglue")
EXPECTATION_THAT_WARNS = """
  - type: expect_column_values_to_be_between
    kwargs: {column: amount, min_value: 0, max_value: 10}
    on_failure: warn
"""


def glue_versions() -> dict[str, str]:
    pins = [line.split("==") for line in GLUE_MODULES.read_text().splitlines() if "==" in line]
    return {canonicalize_name(name): version for name, version in pins}


@pytest.fixture(scope="module")
def wheelhouse() -> Path:
    path = Path(os.environ.get("ETL_LIB_WHEELHOUSE") or REPO / ".venv" / "wheelhouse")
    assert any(path.glob("numpy-*.whl")), f"{path} has no wheels: run `make test`, which fills it"
    return path


def run(*command: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{command[:4]}: {result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def bundle(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist") / "glue"
    run(sys.executable, REPO / "deploy" / "glue_bundle.py", "--out", out, "--wheelhouse", wheelhouse, "--offline")
    return out


@pytest.fixture(scope="module")
def glue_env(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with Glue 5.1's modules, and Glue's Spark/awsglue on its path."""
    root = tmp_path_factory.mktemp("glue-5.1")
    env = root / "venv"
    run(sys.executable, "-m", "venv", env)
    python = env / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", "--no-index", "--find-links", wheelhouse, "-r", GLUE_MODULES)
    provided = root / "provided"
    provided.mkdir()
    for name in GLUE_PROVIDED:
        (provided / name).symlink_to(SITE / name)
    (env / "lib" / "python3.11" / "site-packages" / "glue-provided.pth").write_text(f"{provided}\n")
    return python


def installed(python: Path) -> dict[str, str]:
    listing = json.loads(run(python, "-m", "pip", "list", "--format", "json").stdout)
    return {canonicalize_name(d["name"]): d["version"] for d in listing}


def test_bundle_holds_what_glue_lacks_for_glue_platform(bundle: Path) -> None:
    [archive] = bundle.glob("etl_lib-*.gluewheels.zip")
    assert sorted(p.name for p in bundle.iterdir()) == sorted(
        [archive.name, "build_models.py", "processed_to_analytics.py", "raw_to_processed.py"]
    )
    with zipfile.ZipFile(archive) as zipped:
        names = zipped.namelist()
        pins = zipped.read("wheels/requirements.txt").decode().split()
    wheels = [n for n in names if n.endswith(".whl")]
    assert all(n.startswith("wheels/") for n in names)
    parsed = {parse_wheel_filename(Path(n).name)[0]: parse_wheel_filename(Path(n).name) for n in wheels}
    for needed in ("etl-lib", "pydantic", "pydantic-core", "pyyaml", "great-expectations"):
        assert needed in parsed, needed
    assert not set(parsed) & set(glue_versions()), "the bundle must not carry a module Glue ships"
    for name, version, _, tags in parsed.values():
        assert f"{name}=={version}" in pins
        assert all(t.interpreter in ("py3", "cp311") for t in tags), tags
        assert all(t.platform == "any" or ("manylinux" in t.platform and t.platform.endswith("x86_64")) for t in tags)
    assert len(pins) == len(wheels)


def test_bundle_installs_offline_on_glue_and_runs_both_jobs(
    spark, bundle: Path, glue_env: Path, aws: str, repo: Path, tmp_path: Path
) -> None:
    before = installed(glue_env)
    assert {k: v for k, v in before.items() if k in glue_versions()} == glue_versions()
    assert "pydantic" not in before and "great-expectations" not in before
    unpacked = tmp_path / "bundle"
    [archive] = bundle.glob("*.gluewheels.zip")
    zipfile.ZipFile(archive).extractall(unpacked)
    wheels = unpacked / "wheels"
    run(glue_env, "-m", "pip", "install", "-q", "--no-index", "--find-links", wheels, "-r", wheels / "requirements.txt")
    after = installed(glue_env)
    assert {k: after.get(k) for k in glue_versions()} == glue_versions(), "installing the bundle moved a Glue module"
    where = run(
        glue_env, "-c", "import etl_lib, great_expectations, pydantic, yaml; print(etl_lib.__file__)", cwd=tmp_path
    )
    assert where.stdout.startswith(str(glue_env.parent.parent))

    bucket = make_bucket()
    table = create_table("ledger")
    spec = (repo / "sample_csv" / "specs" / "transactions.yaml").read_text() + EXPECTATION_THAT_WARNS
    put(bucket, "specs/transactions.yaml", spec.encode())
    for name in ("transactions_2024_01.csv", "transactions_2024_02.csv"):
        put(bucket, f"raw/transactions/{name}", (repo / "sample_csv/deliveries/01/transactions" / name).read_bytes())
    args = ["--JOB_NAME", "etl", "--dataset_spec", f"s3://{bucket}/specs/transactions.yaml", "--lake", f"s3://{bucket}"]
    args += ["--ledger", f"dynamodb://{table}", "--customer_id", "c1"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK", "PYTHON", "SPARK_HOME", "VIRTUAL_ENV"))}
    env |= {"PYSPARK_PYTHON": str(glue_env), "PYSPARK_DRIVER_PYTHON": str(glue_env)}
    # Glue's Spark stand-in runs the scripts, as spark-submit runs them on a laptop.
    submit = [glue_env.parents[2] / "provided" / "pyspark" / "bin" / "spark-submit", "--master", "local[2]"]
    submit += ["--conf", "spark.ui.enabled=false", "--conf", "spark.sql.shuffle.partitions=2"]

    first = run(*submit, bundle / "raw_to_processed.py", *args, cwd=tmp_path, env=env)
    summary = last_json(first.stdout)
    assert (summary["status"], summary["files"], summary["rows_in"]) == ("succeeded", 2, 1009), summary
    # Great Expectations ran inside the Glue stand-in: the warning expectation reported on each file.
    assert all(any("expect_column_values_to_be_between" in w for w in f["warnings"]) for f in summary["file_results"])
    second = run(*submit, bundle / "processed_to_analytics.py", *args, cwd=tmp_path, env=env)
    written = last_json(second.stdout)["rows_analytics"]
    # Each job rewrote the lake's report, with the Data Docs the bundle's assets and GX render.
    reported = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="_meta/report/")["Contents"]]
    assert "_meta/report/index.html" in reported and "_meta/report/data-docs/index.html" in reported
    assert any(k.startswith("_meta/report/data-docs/validations/transactions/") for k in reported)
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="analytics-ready/")["Contents"]]
    assert keys and all(k.endswith(".snappy.parquet") for k in keys)
    configure_s3a(spark)
    ready = spark.read.parquet(f"s3://{bucket}/analytics-ready/transactions")
    assert ready.count() == ready.select("transaction_id").distinct().count() == written
    assert 0.9 * summary["rows_valid"] < written <= summary["rows_valid"]

    # The third job: a model over transactions, as the workflow starts it after the analytics job.
    put(bucket, "models/monthly.yaml", MONTHLY_MODEL.encode())
    models = [*args[:2], "--models", f"s3://{bucket}/models/", "--specs", f"s3://{bucket}/specs/", *args[4:]]
    models += ["--changed_dataset", "transactions"]
    third = run(*submit, bundle / "build_models.py", *models, cwd=tmp_path, env=env)
    built = last_json(third.stdout)
    assert [(m["model"], m["status"]) for m in built["models"]] == [("monthly_volume", "built")], built
    volume = spark.read.parquet(f"s3://{bucket}/analytics-ready/monthly_volume")
    assert volume.agg({"n": "sum"}).first()[0] == written


MONTHLY_MODEL = """
model: monthly_volume
reads: [transactions]
sql: SELECT currency, CAST(date_trunc('MONTH', transaction_ts) AS DATE) AS month_start, COUNT(*) AS n
  FROM transactions GROUP BY 1, 2
keys: [currency, month_start]
partition_by: month_start
partitions_from: [transactions]
"""


def last_json(stdout: str) -> dict:
    """The last JSON object a job printed (its log may follow it on stdout)."""
    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])
