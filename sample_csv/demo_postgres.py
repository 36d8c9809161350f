"""`make demo-postgres`: the demo's gold models loaded into a local PostgreSQL, then queried back.

Starts a throwaway server (tests/postgres.py: a free loopback port, a temporary folder, stopped
and deleted at the end), points the models' `warehouse` connection at it, runs
`etl-lib models run` over the demo's lake (nothing is rebuilt: every sink is behind, so each is
loaded whole), and prints what PostgreSQL holds.
"""

from __future__ import annotations

import argparse
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from etl_lib.cli.output import table  # noqa: E402
from etl_lib.models.run import run_models  # noqa: E402
from etl_lib.runner.build import build_models_context  # noqa: E402
from etl_lib.sinks.connections import Connection, StaticConnections  # noqa: E402
from etl_lib.spark import local_session  # noqa: E402
from tests.postgres import postgres_server  # noqa: E402

QUERY = (
    "SELECT client_id, currency, total_deposits, total_withdrawals, active_months "
    "FROM gold.client_deposit_totals ORDER BY total_deposits DESC LIMIT 5"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", default="./lake", help="the demo's lake (make demo)")
    args = parser.parse_args()
    if not os.path.isdir(os.path.join(args.lake, "analytics-ready")):
        print(f"demo-postgres: {args.lake} has no analytics-ready tables: run make demo first", file=sys.stderr)
        return 2
    samples = os.path.join(REPO, "sample_csv")
    with postgres_server() as server:
        print(f"PostgreSQL on {server.host}:{server.port}, database {server.database} (stopped at the end)")
        warehouse = StaticConnections({"warehouse": Connection.from_url("warehouse", server.url)})
        ctx = build_models_context(
            local_session(master="local[2]"),
            os.path.join(samples, "models"),
            [os.path.join(samples, "specs")],
            args.lake,
            connections=warehouse,
            progress=True,
        )
        summary = run_models(ctx)
        for outcome in summary.outcomes:
            loaded = ", ".join(f"{rows} rows into {sink.split(':')[-1]}" for sink, rows in outcome.sinks) or "none"
            print(f"{outcome.model}: {outcome.status}; loaded: {loaded}")
        for name in ("client_accounts", "client_monthly_deposits", "client_deposit_totals"):
            [(count,)] = server.sql(f"SELECT count(*) FROM gold.{name}")
            print(f"gold.{name}: {count} rows")
        print(f"\n{QUERY}")
        rows = server.sql(QUERY)
        print(table(["client_id", "currency", "total_deposits", "total_withdrawals", "active_months"], rows))
        return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
