"""Glue job: processed -> analytics-ready Parquet, rewriting only touched partitions.

Arguments: --JOB_NAME --dataset_spec --lake [--ledger URI]
Locally: spark-submit --master 'local[2]' glue_jobs/processed_to_analytics.py \
    --JOB_NAME local --dataset_spec sample_csv/specs/transactions.yaml --lake ./lake
"""

import sys

from etl_lib.glue.adapter import run_glue_job

sys.exit(run_glue_job(sys.argv, stage="processed-to-analytics"))
