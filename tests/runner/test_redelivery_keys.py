"""Re-delivery of a keyed dataset: the next best row wins again, and only affected partitions change."""

from __future__ import annotations

import hashlib
from pathlib import Path

from etl_lib.runner.run import run_dataset
from tests.conftest import deliver, make_context

SPEC = """
dataset: acct
columns:
  - {name: id, required: true}
  - {name: opened, type: date, required: true}
  - {name: status}
  - {name: updated, type: date}
keys: [id]
latest_by: updated
partition_by: opened
"""


def winners(spark, lake: Path) -> dict[str, tuple[str, str]]:
    rows = spark.read.parquet(str(lake / "analytics-ready" / "acct")).collect()
    return {r["id"]: (r["status"], f"{r['year']}-{int(r['month']):02d}") for r in rows}


def digest(path: Path) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(path.glob("*.parquet")))).hexdigest()


def test_redelivery_dropping_a_winner_lets_the_older_row_win(spark, lake: Path) -> None:

    def ctx():  # type: ignore[no-untyped-def]
        return make_context(spark, SPEC, lake)

    deliver(lake, "acct", "feb.csv", "id,opened,status,updated\nk,2024-02-01,FROM_FEB,2024-02-10\n")
    deliver(lake, "acct", "apr.csv", "id,opened,status,updated\nz,2024-04-01,OTHER,2024-04-01\n")
    run_dataset(ctx())
    jan = "id,opened,status,updated\nk,2024-01-15,FROM_JAN,2024-03-01\nj,2024-01-20,J,2024-01-20\n"
    deliver(lake, "acct", "jan.csv", jan)
    run_dataset(ctx())
    assert winners(spark, lake) == {"k": ("FROM_JAN", "2024-01"), "j": ("J", "2024-01"), "z": ("OTHER", "2024-04")}
    april = lake / "analytics-ready/acct/year=2024/month=04"
    before = digest(april)

    # jan.csv comes again without k: k's February row must win again.
    deliver(lake, "acct", "jan.csv", "id,opened,status,updated\nj,2024-01-20,J2,2024-01-21\n")
    summary = run_dataset(ctx())
    assert summary.status == "succeeded"
    assert winners(spark, lake) == {"k": ("FROM_FEB", "2024-02"), "j": ("J2", "2024-01"), "z": ("OTHER", "2024-04")}
    assert digest(april) == before  # incremental: April was not rewritten
    assert summary.report.run.rows_analytics == 2  # January and February only
