"""Glue job: build the customer's gold models over analytics-ready, then load their sinks.

Arguments: --JOB_NAME --models FOLDER --specs FOLDER --lake [--ledger URI] [--changed_dataset NAME]
[--select a,b] [--connection_prefix P] [AWS edges as the other jobs] [--report true|false]
Started by each dataset's workflow once its analytics job succeeded (--changed_dataset).
Locally: spark-submit --master 'local[2]' glue_jobs/build_models.py \
    --JOB_NAME local --models sample_csv/models --specs sample_csv/specs --lake ./lake
"""

import sys

from etl_lib.glue.adapter import run_models_job

sys.exit(run_models_job(sys.argv))
