"""Glue job: processed -> analytics-ready Parquet, rewriting only touched partitions.

Arguments: --JOB_NAME --dataset_spec --lake [--ledger URI] [--compact true]
--compact true: after a successful run, rewrite analytics-ready partitions whose file count is
off into files near 128 MB (``etl_lib.runner.compact``; a partition already compacted is left as is).
Locally: spark-submit --master 'local[2]' glue_jobs/processed_to_analytics.py \
    --JOB_NAME local --dataset_spec sample_csv/specs/transactions.yaml --lake ./lake
"""

import sys

from etl_lib.glue.adapter import run_glue_job

sys.exit(run_glue_job(sys.argv, stage="processed-to-analytics"))
