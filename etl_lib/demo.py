"""``etl-lib demo``: deliver the sample bank's files in order, run, and query.

The sample deliveries live in ``sample_csv/deliveries/NN/{dataset}/`` of the
repository (or ``$ETL_LIB_SAMPLES``). Each delivery is copied into
``{lake}/raw/`` as a partner would upload it (a later delivery may re-send a
file under the same name with corrected content), then every dataset is run.
"""

from __future__ import annotations

import os
import shutil
import sys
import time

from etl_lib.errors import ConfigError

DEMO_MARKER = "_meta/DEMO_LAKE"

DEMO_QUERY = """
SELECT t.year, t.month, a.account_type, t.currency,
       count(*)             AS transactions,
       sum(t.signed_amount) AS net_amount
FROM transactions t
JOIN accounts a ON t.account_id = a.account_id
GROUP BY t.year, t.month, a.account_type, t.currency
ORDER BY t.year, t.month, a.account_type, t.currency
""".strip()


def samples_dir() -> str:
    """Where the sample data is: ``$ETL_LIB_SAMPLES``, ``./sample_csv`` or the repo's."""
    candidates = [
        os.environ.get("ETL_LIB_SAMPLES", ""),
        os.path.join(os.getcwd(), "sample_csv"),
        os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "sample_csv"),
    ]
    for path in candidates:
        if path and os.path.isdir(os.path.join(path, "deliveries")):
            return path
    raise ConfigError("sample data not found: run from the repository root or set ETL_LIB_SAMPLES")


def prepare_lake(lake: str) -> None:
    """Empty ``lake`` if it is an earlier demo lake; refuse to touch any other folder."""
    if os.path.exists(lake) and os.listdir(lake):
        if not os.path.exists(os.path.join(lake, DEMO_MARKER)):
            raise ConfigError(f"{lake} exists and is not a demo lake; choose another --lake")
        shutil.rmtree(lake)
    os.makedirs(os.path.join(lake, "_meta"), exist_ok=True)
    with open(os.path.join(lake, DEMO_MARKER), "w", encoding="utf-8") as handle:
        handle.write("created by etl-lib demo; safe to delete\n")


def deliver(samples: str, delivery: str, lake: str) -> list[str]:
    """Copy one delivery into ``{lake}/raw/``; return the keys delivered."""
    root = os.path.join(samples, "deliveries", delivery)
    delivered = []
    for dataset in sorted(os.listdir(root)):
        for name in sorted(os.listdir(os.path.join(root, dataset))):
            target = os.path.join(lake, "raw", dataset, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(os.path.join(root, dataset, name), target)
            now = time.time()
            os.utime(target, (now, now))  # delivery order = modification order
            delivered.append(f"raw/{dataset}/{name}")
            time.sleep(0.01)
    return delivered


MODEL_QUERY = (
    "SELECT client_id, currency, total_deposits, total_withdrawals, active_months\n"
    "FROM client_deposit_totals ORDER BY total_deposits DESC LIMIT 5"
)


def run_demo(lake: str, master: str | None = None) -> int:
    """Run the demo; return the worst exit code of its runs (0 or 3)."""
    from etl_lib.catalog.local import LocalCatalog
    from etl_lib.cli.output import file_table, table
    from etl_lib.runner.build import build_local_context
    from etl_lib.runner.run import run_dataset

    samples = samples_dir()
    prepare_lake(lake)
    specs = sorted(
        os.path.join(samples, "specs", f) for f in os.listdir(os.path.join(samples, "specs")) if f.endswith(".yaml")
    )
    worst = 0
    for delivery in sorted(os.listdir(os.path.join(samples, "deliveries"))):
        delivered = deliver(samples, delivery, lake)
        print(f"\n=== delivery {delivery}: {len(delivered)} file(s) into {lake}/raw/", flush=True)
        for spec_path in specs:
            ctx = build_local_context(spec_path, lake, master=master)
            summary = run_dataset(ctx)
            worst = max(worst, summary.exit_code)
            run = summary.report.run
            print(
                f"\n{run.dataset}: {run.status}; {run.files} file(s), {run.rows_in} in, {run.rows_valid} valid, "
                f"{run.rows_rejected} rejected, {run.rows_analytics} rows rewritten in analytics-ready"
            )
            if summary.report.files:
                print(file_table(summary))
    ctx = build_local_context(specs[0], lake, master=master)
    catalog = LocalCatalog(ctx.spark, ctx.storage)
    from etl_lib.spec.load import load_spec

    for spec_path in specs:
        spec = load_spec(spec_path)
        catalog.register(spec, f"analytics-ready/{spec.dataset}")
    print("\n=== monthly totals per account type (Athena-style SQL over analytics-ready):")
    print(DEMO_QUERY)
    result = ctx.spark.sql(DEMO_QUERY)
    print(table(result.columns, [list(r) for r in result.limit(100).collect()]))  # display, bounded
    from etl_lib.models.run import analysed_tables, run_models
    from etl_lib.runner.build import build_models_context

    print("\n=== gold models (sample_csv/models/), built in dependency order over analytics-ready:", flush=True)
    models = build_models_context(ctx.spark, os.path.join(samples, "models"), specs, lake, skip_sinks=True)
    built = run_models(models)
    worst = max(worst, built.exit_code)
    for outcome in built.outcomes:
        print(f"{outcome.model}: {outcome.status}, {outcome.rows} rows ({outcome.reason})")
    tables = analysed_tables(models.spark, models.models, models.specs)
    for model in models.models:
        catalog.register_table(tables[model.model], f"analytics-ready/{model.model}")
    print(f"\n{MODEL_QUERY}")
    shown = ctx.spark.sql(MODEL_QUERY)
    print(table(shown.columns, [list(r) for r in shown.limit(10).collect()]))  # display, bounded

    from etl_lib.report.publish import write_report

    page = write_report(ctx.storage, ctx.ledger, [load_spec(p) for p in specs])
    print(f"\n=== the lake's HTML report (open it in a browser): {page}")
    print(f'\nTry: etl-lib query --lake {lake} --spec sample_csv/specs/transactions.yaml "SELECT ..."')
    print(f"     etl-lib runs --lake {lake}")
    sys.stdout.flush()
    return worst
