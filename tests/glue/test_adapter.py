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


def test_glue_is_told_by_its_environment() -> None:
    from etl_lib.glue.adapter import on_glue

    assert on_glue({"GLUE_VERSION": "5.1"}) and on_glue({"GLUE_COMMAND_CRITERIA": "glueetl"})
    assert not on_glue({}) and not on_glue({"GLUE_VERSION": ""})


def test_on_glue_logging_is_left_as_glue_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    from etl_lib.glue.adapter import run_glue_job

    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setenv("GLUE_VERSION", "5.1")
    assert run_glue_job(["job.py", "--JOB_NAME", "j"], stage="raw-to-processed") == 2
    assert root.handlers == []
    monkeypatch.delenv("GLUE_VERSION")
    assert run_glue_job(["job.py", "--JOB_NAME", "j"], stage="raw-to-processed") == 2
    assert root.handlers, "off Glue the job logs to stderr itself"
