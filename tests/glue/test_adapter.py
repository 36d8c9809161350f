"""Glue-style arguments: required, optional, and what is missing."""

from __future__ import annotations

import pytest

from etl_lib.errors import ConfigError
from etl_lib.glue.adapter import resolve_args


def test_required_and_optional_arguments() -> None:
    argv = ["job.py", "--JOB_NAME", "j", "--dataset_spec", "s3://a/s.yaml", "--lake", "s3://b"]
    argv += ["--ledger", "dynamodb://t", "--customer_id", "acme", "--notify_on", "all", "--claim_timeout_minutes", "90"]
    args = resolve_args(argv)
    assert (args["JOB_NAME"], args["lake"], args["ledger"], args["customer_id"]) == (
        "j",
        "s3://b",
        "dynamodb://t",
        "acme",
    )
    assert args["notify_on"] == "all" and args["alerts_topic_arn"] is None and args["source_keys"] is None
    assert args["claim_timeout_minutes"] == "90"


def test_missing_required_argument() -> None:
    with pytest.raises(ConfigError, match=r"missing job argument\(s\): --lake"):
        resolve_args(["job.py", "--JOB_NAME", "j", "--dataset_spec", "s.yaml"])
