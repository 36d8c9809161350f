"""SNS alerts and the Glue Data Catalog table, over HTTP against moto."""

from __future__ import annotations

import json

import boto3
import pytest

from etl_lib.catalog.glue import GlueCatalog
from etl_lib.ledger.base import FileRecord, RunRecord
from etl_lib.notify.base import RunReport
from etl_lib.notify.sns import SnsNotifier
from etl_lib.spec.load import load_spec


@pytest.fixture
def topic_and_queue(aws: str) -> tuple[str, str]:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="etl-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue_url


def received(queue_url: str) -> list[dict]:
    messages = boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def report(status: str, error: str | None = None) -> RunReport:
    run = RunRecord(
        run_id="r1", dataset="transactions", stage="all", status=status, files=2, files_failed=1 if error else 0
    )
    files = [FileRecord("transactions", "raw/transactions/a.csv", "c", 1, "processed", "r1", rows_in=5, rows_valid=5)]
    if error:
        files.append(FileRecord("transactions", "raw/transactions/b.csv", "c", 1, "failed", "r1", error=error))
    return RunReport(run, files)


def test_failure_names_customer_dataset_run_file_and_reason(topic_and_queue: tuple[str, str]) -> None:
    topic, queue = topic_and_queue
    reason = "raw/transactions/b.csv: missing required column(s) 'amount' (header 'Amount'); the file has: id"
    SnsNotifier(topic, "acme").notify(report("partial", reason))
    [envelope] = received(queue)
    assert envelope["Subject"] == "[etl_lib] acme/transactions: partial (1 of 2 files failed)"
    body = json.loads(envelope["Message"])
    assert (body["customer"], body["dataset"], body["run_id"], body["status"]) == (
        "acme",
        "transactions",
        "r1",
        "partial",
    )
    assert body["failed_files"] == [{"file": "raw/transactions/b.csv", "reason": reason}]
    assert envelope["MessageAttributes"]["status"]["Value"] == "partial"


def test_a_warning_is_never_silent(topic_and_queue: tuple[str, str]) -> None:
    topic, queue = topic_and_queue
    warned = report("succeeded")
    text = "expect_column_values_to_be_between(amount): 2 of 5 values outside [0, 100]"
    files = [warned.files[0].evolve(warnings=(text,))]
    SnsNotifier(topic, "acme", notify_on="failures").notify(RunReport(warned.run.evolve(warning_count=1), files))
    [envelope] = received(queue)
    assert envelope["Subject"] == "[etl_lib] acme/transactions: succeeded (1 warning)"
    body = json.loads(envelope["Message"])
    assert body["warnings"] == [{"file": "raw/transactions/a.csv", "warning": text}] and body["failed_files"] == []


def test_success_is_quiet_unless_all_is_asked(topic_and_queue: tuple[str, str]) -> None:
    topic, queue = topic_and_queue
    SnsNotifier(topic, "acme", notify_on="failures").notify(report("succeeded"))
    assert received(queue) == []
    SnsNotifier(topic, "acme", notify_on="all").notify(report("succeeded"))
    [envelope] = received(queue)
    assert json.loads(envelope["Message"])["rows_in"] == 0 and "succeeded" in envelope["Subject"]


def test_glue_table_from_the_spec_with_projection(spark, aws: str, repo) -> None:
    glue = boto3.client("glue")
    glue.create_database(DatabaseInput={"Name": "acme_dev"})
    spec = load_spec(repo / "sample_csv" / "specs" / "transactions.yaml")
    catalog = GlueCatalog(spark, "acme_dev", lambda key: f"s3://acme-c1-dev-datalake/{key}")
    catalog.register(spec, "analytics-ready/transactions")
    table = glue.get_table(DatabaseName="acme_dev", Name="transactions")["Table"]
    columns = {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}
    assert columns["amount"] == "decimal(18,2)" and columns["transaction_ts"] == "timestamp"
    assert columns["signed_amount"] == "decimal(18,2)" and columns["_ingested_at"] == "timestamp"
    assert [k["Name"] for k in table["PartitionKeys"]] == ["year", "month"]
    assert table["StorageDescriptor"]["Location"] == "s3://acme-c1-dev-datalake/analytics-ready/transactions/"
    assert "ParquetHiveSerDe" in table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
    assert table["Parameters"]["projection.enabled"] == "true"
    assert table["Parameters"]["projection.year.range"] == "2000,2099"  # the default partition_years
    assert table["Parameters"]["storage.location.template"].endswith("transactions/year=${year}/month=${month}/")
    # Registering again updates in place (no error, same table), with the spec's years.
    catalog.register(spec.model_copy(update={"partition_years": (2015, 2040)}), "analytics-ready/transactions")
    again = glue.get_table(DatabaseName="acme_dev", Name="transactions")["Table"]
    assert again["Parameters"]["projection.year.range"] == "2015,2040"
    assert len(glue.get_tables(DatabaseName="acme_dev")["TableList"]) == 1


def test_glue_tables_of_models_partitioned_or_not(spark, aws: str, repo) -> None:
    from etl_lib.models.load import load_models
    from etl_lib.models.run import analysed_tables

    glue = boto3.client("glue")
    glue.create_database(DatabaseInput={"Name": "acme_dev"})
    specs = [load_spec(repo / "sample_csv" / "specs" / f"{n}.yaml") for n in ("clients", "accounts", "transactions")]
    tables = analysed_tables(spark, load_models(str(repo / "sample_csv" / "models")), specs)
    catalog = GlueCatalog(spark, "acme_dev", lambda key: f"s3://acme-c1-dev-datalake/{key}")
    for name in ("client_monthly_deposits", "client_deposit_totals"):
        catalog.register_table(tables[name], f"analytics-ready/{name}")
    monthly = glue.get_table(DatabaseName="acme_dev", Name="client_monthly_deposits")["Table"]
    assert [k["Name"] for k in monthly["PartitionKeys"]] == ["year", "month"]
    assert monthly["Parameters"]["projection.enabled"] == "true"
    columns = {c["Name"]: c for c in monthly["StorageDescriptor"]["Columns"]}
    assert columns["month_start"]["Type"] == "date" and columns["deposits"]["Type"] == "decimal(28,2)"
    assert columns["deposits"]["Comment"] == "Sum of the month's deposits."
    totals = glue.get_table(DatabaseName="acme_dev", Name="client_deposit_totals")["Table"]
    assert totals.get("PartitionKeys", []) == [] and "projection.enabled" not in totals["Parameters"]
    assert totals["StorageDescriptor"]["Location"] == "s3://acme-c1-dev-datalake/analytics-ready/client_deposit_totals/"
    assert totals["Description"].startswith("Each client's deposits and withdrawals")
