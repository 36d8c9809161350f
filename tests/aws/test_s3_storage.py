"""S3 storage over HTTP against moto: the metadata work around Spark, and tenant isolation."""

from __future__ import annotations

import boto3
import pytest

from etl_lib.aws.clients import split_s3_uri
from etl_lib.errors import StorageError
from etl_lib.storage.s3 import S3Storage


@pytest.fixture
def bucket(aws: str) -> str:
    s3 = boto3.client("s3")
    for name in ("acme-c1-dev-datalake", "other-c2-dev-datalake"):
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket="other-c2-dev-datalake", Key="raw/tx/secret.csv", Body=b"x")
    return "acme-c1-dev-datalake"


def test_list_read_checksum_move_delete(bucket: str) -> None:
    storage = S3Storage(f"s3://{bucket}")
    storage.write_text("raw/tx/a.csv", "id\n1\n")
    storage.write_text("raw/tx/sub/b.csv.gz", "zz")
    storage.write_text("raw/tx/_hidden.csv", "")
    boto3.client("s3").put_object(Bucket=bucket, Key="raw/tx/folder/", Body=b"")
    # Hidden names are delivered files too; folder markers are not objects of the lake.
    assert [o.key for o in storage.list("raw/tx/")] == ["raw/tx/_hidden.csv", "raw/tx/a.csv", "raw/tx/sub/b.csv.gz"]
    assert storage.list("raw/tx/")[1].size == 5
    assert storage.open("raw/tx/a.csv").read() == b"id\n1\n"
    first = storage.checksum("raw/tx/a.csv")
    storage.write_text("raw/tx/a.csv", "id\n2\n")
    assert storage.checksum("raw/tx/a.csv") != first
    storage.move("raw/tx/a.csv", "processed/tx/a.json")
    assert [o.key for o in storage.list("processed/")] == ["processed/tx/a.json"]
    assert not storage.exists("raw/tx/a.csv")
    storage.delete(["processed/tx/a.json", "processed/tx/missing.json"])
    storage.delete_prefix("raw/")
    assert storage.list("") == []
    assert storage.uri("processed/tx/x.json") == f"s3://{bucket}/processed/tx/x.json"


def test_prefix_root_and_isolation(bucket: str) -> None:
    storage = S3Storage(f"s3://{bucket}/lake")
    storage.write_text("raw/tx/a.csv", "x")
    assert boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"][0]["Key"] == "lake/raw/tx/a.csv"
    assert [o.key for o in storage.list("raw/")] == ["raw/tx/a.csv"]
    # A lake is bound to its bucket: keys cannot climb out of it.
    with pytest.raises(StorageError, match=r"cannot be used in the lake .*'\.\.' segment"):
        storage.list("../other-c2-dev-datalake/raw/")
    with pytest.raises(StorageError, match=r"cannot be used in the lake .*starts with '/'"):
        storage.open("/raw/tx/secret.csv")


def test_missing_object_is_a_storage_error(bucket: str) -> None:
    with pytest.raises(StorageError, match=rf"cannot read s3://{bucket}/raw/none.csv: NoSuchKey") as caught:
        S3Storage(f"s3://{bucket}").open("raw/none.csv")
    assert not caught.value.retryable


def test_split_s3_uri() -> None:
    assert split_s3_uri("s3://b/k/x.csv") == ("b", "k/x.csv")
    assert split_s3_uri("s3a://b") == ("b", "")
    with pytest.raises(ValueError, match="not an S3 URI"):
        split_s3_uri("/tmp/x")


def test_spec_is_read_from_s3(bucket: str, repo) -> None:
    from etl_lib.errors import SpecError
    from etl_lib.spec.load import load_spec

    body = (repo / "sample_csv" / "specs" / "accounts.yaml").read_bytes()
    boto3.client("s3").put_object(Bucket=bucket, Key="releases/v1/specs/acme/accounts.yaml", Body=body)
    assert load_spec(f"s3://{bucket}/releases/v1/specs/acme/accounts.yaml").dataset == "accounts"
    with pytest.raises(SpecError, match=rf"s3://{bucket}/releases/v1/specs/acme/none.yaml: spec file not found"):
        load_spec(f"s3://{bucket}/releases/v1/specs/acme/none.yaml")
