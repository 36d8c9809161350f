"""One session-wide local SparkSession and small helpers shared by the tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from tests.aws.fault_proxy import FaultProxy
from tests.postgres import PostgresServer, postgres_server

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """``local[2]``, two shuffle partitions, UI off, and the pipeline's session settings."""
    from etl_lib.spark import configure_session, local_conf

    builder = SparkSession.builder
    for key, value in local_conf().items():  # the local file system users' sessions get
        builder = builder.config(key, value)
    session = (
        builder.master("local[2]")
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


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root."""
    return REPO


@pytest.fixture(scope="session")
def demo_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``etl-lib demo``'s lake, made once per session: copy it before changing it."""
    from etl_lib.cli.main import main

    lake = tmp_path_factory.mktemp("demo") / "lake"
    assert main(["demo", "--lake", str(lake)]) == 0
    return lake


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


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server on a free loopback port (its own URL; clients go through ``fault_proxy``)."""
    import subprocess
    import time
    import urllib.request

    port = _free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.2)
    try:
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="session")
def fault_proxy(moto_server: str) -> Iterator[FaultProxy]:
    """The fault-injecting proxy in front of moto (passes everything until told otherwise)."""
    proxy = FaultProxy(moto_server).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(scope="session")
def moto_endpoint(fault_proxy: FaultProxy) -> Iterator[str]:
    """boto3 and Spark's S3A pointed at moto (through the proxy) by AWS_ENDPOINT_URL.

    The AWS adapters are exercised over HTTP, as they talk to AWS, not through patched calls.
    """
    saved = {k: os.environ.get(k) for k in _AWS_ENV}
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": fault_proxy.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_REGION": "eu-west-1",
            # Persistent faults give up after 3 attempts (botocore and S3A alike), not 5 or 20.
            "AWS_MAX_ATTEMPTS": "3",
        }
    )
    try:
        yield fault_proxy.url
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_AWS_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_MAX_ATTEMPTS",
)


@pytest.fixture
def aws(moto_endpoint: str, moto_server: str, fault_proxy: FaultProxy) -> Iterator[str]:
    """A clean moto account for one test (every resource reset, every fault off, before and after)."""
    import urllib.request

    def reset() -> None:
        fault_proxy.clear()
        urllib.request.urlopen(urllib.request.Request(moto_server + "/moto-api/reset", method="POST")).close()

    reset()
    yield moto_endpoint
    reset()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:  # PostgreSQL for the sink tests: one throwaway server per session
    """A PostgreSQL server on a free loopback port under a temporary folder, stopped and deleted after the
    session (and stopped by the kernel if the session is killed): ``url``, ``user``, ``password``, ``host``,
    ``port``, ``database``; ``sql(...)`` runs SQL through psql in a session of its own."""
    with postgres_server() as server:
        yield server
