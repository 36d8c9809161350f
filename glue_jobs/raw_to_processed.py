"""Glue job: raw CSV -> processed JSON Lines (and rejected rows) for one dataset.

Arguments: --JOB_NAME --dataset_spec --lake [--source_keys a,b] [--ledger URI]
Locally: spark-submit --master 'local[2]' glue_jobs/raw_to_processed.py \
    --JOB_NAME local --dataset_spec sample_csv/specs/transactions.yaml --lake ./lake
"""

import sys

from etl_lib.glue.adapter import run_glue_job

sys.exit(run_glue_job(sys.argv, stage="raw-to-processed"))
