#!/usr/bin/env python3
"""One benchmark case in its own process (its own JVM, master and heap): prints one JSON object.

    python bench/case.py '{"kind": "etl", "spec": ..., "lake": ..., "master": "local[2]", ...}'

Kinds:

- ``etl``: etl_lib on ``lake`` (raw files already delivered; earlier runs' state kept), the
  stages in ``stages`` through ``build_local_context`` + ``run_dataset``, as the CLI runs them.
- ``handwritten``: ``bench/handwritten.py`` on ``raw`` into ``out``.
- ``duckdb``: ``bench/duckdb_ref.py`` on ``raw`` into ``out``.

Every case reports its wall time per stage, its counts (rows in, valid, rejected, rows in
analytics-ready), the peak RSS of the JVM it started (sampled from /proc every 0.2 s) and
of the whole process tree. Timings are figures: nothing is asserted here.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from measure import JvmSampler, driver_peak_rss  # noqa: E402

SAMPLER = JvmSampler()  # started by main; etl() marks each stage so its peak is kept apart


def etl(config: dict[str, Any]) -> dict[str, Any]:
    """etl_lib's stages on a lake; counts from the run reports, analytics rows counted after."""
    from etl_lib.runner.build import build_local_context
    from etl_lib.runner.run import run_dataset

    started = time.perf_counter()
    ctx = build_local_context(config["spec"], config["lake"], master=config["master"])
    result: dict[str, Any] = {"startup_s": time.perf_counter() - started, "stages": {}}
    for stage in config.get("stages", ["raw-to-processed", "processed-to-analytics"]):
        SAMPLER.mark(stage)
        started = time.perf_counter()
        summary = run_dataset(ctx, stage=stage)
        run = summary.report.run
        result["stages"][stage] = time.perf_counter() - started
        if run.status != "succeeded":
            raise SystemExit(f"{stage}: {run.status}: {run.error}")
        if stage == "raw-to-processed":
            result.update(rows_in=run.rows_in, valid=run.rows_valid, rejected=run.rows_rejected, files=run.files)
    analytics = Path(config["lake"]) / "analytics-ready" / ctx.dataset
    if ctx.spec.table_format == "iceberg":
        from etl_lib.runner.iceberg import iceberg_tables

        result["analytics"] = iceberg_tables(ctx).read(ctx.dataset).count()
    else:
        result["analytics"] = ctx.spark.read.parquet(str(analytics)).count() if analytics.exists() else 0
    ctx.spark.stop()
    return result


def handwritten(config: dict[str, Any]) -> dict[str, Any]:
    """The hand-written PySpark job on the same Spark settings as etl_lib's local session."""
    import handwritten as job

    from etl_lib.spark import local_session

    started = time.perf_counter()
    spark = local_session(master=config["master"])
    result: dict[str, Any] = {"startup_s": time.perf_counter() - started}
    counts = job.run(
        spark,
        config["spec"],
        config["raw"],
        config["out"],
        multiline=config.get("multiline", True),
        minimal=config.get("minimal", False),
    )
    spark.stop()
    result["stages"] = {"raw-to-processed": counts.pop("stage1_s"), "processed-to-analytics": counts.pop("stage2_s")}
    return {**result, **counts}


def duckdb(config: dict[str, Any]) -> dict[str, Any]:
    """DuckDB, the single-machine reference."""
    import duckdb_ref

    counts = duckdb_ref.run(config["spec"], config["raw"], config["out"], threads=config.get("threads", 2))
    stages = {"raw-to-processed": counts.pop("stage1_s"), "processed-to-analytics": counts.pop("stage2_s")}
    return {"startup_s": 0.0, "stages": stages, **counts}


def requests(config: dict[str, Any]) -> dict[str, Any]:
    """The S3 and DynamoDB requests of one incremental run after 1, 10 and 100 earlier daily files,
    counted at the proxy in front of a moto server (the request-count test's lakes and run)."""
    import socket
    import subprocess
    import urllib.request

    from etl_lib.spark import local_session
    from tests.aws.fault_proxy import FaultProxy
    from tests.aws.test_request_counts import SPEC, incremental_requests, s3_lake

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    moto = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    proxy = FaultProxy(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        proxy.start()
        os.environ.update(
            AWS_ENDPOINT_URL=proxy.url,
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_DEFAULT_REGION="eu-west-1",
            AWS_REGION="eu-west-1",
        )
        work = Path(config["work"])
        work.mkdir(parents=True, exist_ok=True)
        spec = work / "tx.yaml"
        spec.write_text(SPEC)
        spark = local_session(master="local[2]")
        counts = {}
        for n in (1, 10, 100):
            lake = s3_lake(spark, work, spec, range(100 - n, 100), f"acme-r{n}-dev-datalake")
            counts[n] = dict(sorted(incremental_requests(spark, proxy, spec, *lake, last=99).items()))
        return {"counts": counts}
    finally:
        proxy.stop()
        moto.terminate()


def main(argv: list[str]) -> int:
    config = json.loads(argv[0])
    os.environ["ETL_LIB_DRIVER_MEMORY"] = config.get("driver_memory", "2g")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    sampler = SAMPLER
    sampler.start()
    try:
        kinds = {"etl": etl, "handwritten": handwritten, "duckdb": duckdb, "requests": requests}
        result = kinds[config["kind"]](config)
    finally:
        sampler.stop()
    result.update(
        stage_peak_rss={stage: peaks[0] for stage, peaks in sampler.phase_peaks.items()},
        jvm_peak_rss=sampler.peak_jvm,
        tree_peak_rss=sampler.peak_tree,
        python_peak_rss=driver_peak_rss(),
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
