"""One session-wide local SparkSession and small helpers shared by the tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """``local[2]``, two shuffle partitions, UI off, and the pipeline's session settings."""
    from etl_lib.spark import configure_session

    session = (
        SparkSession.builder.master("local[2]")
        .appName("etl_lib-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.adaptive.enabled", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    configure_session(session)
    yield session
    session.stop()


@pytest.fixture
def repo() -> Path:
    """The repository root."""
    return REPO


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    """An empty lake folder."""
    root = tmp_path / "lake"
    root.mkdir()
    return root


def deliver(lake: Path, dataset: str, name: str, content: bytes | str) -> Path:
    """Drop a file into ``raw/{dataset}/`` as a partner would."""
    target = lake / "raw" / dataset / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return target


def make_context(spark: SparkSession, spec_text: str, lake: Path, **kwargs):  # type: ignore[no-untyped-def]
    """A RunContext over a local lake for a spec given as YAML text."""
    import yaml

    from etl_lib.config import open_ledger, open_storage
    from etl_lib.notify.local import LocalNotifier
    from etl_lib.runner.context import RunContext
    from etl_lib.spec.load import parse_spec

    spec = parse_spec(yaml.safe_load(spec_text), "test.yaml")
    storage = open_storage(str(lake))
    ledger = kwargs.pop("ledger", None) or open_ledger(None, storage)
    return RunContext(spark=spark, spec=spec, storage=storage, ledger=ledger, notifier=LocalNotifier(storage), **kwargs)
