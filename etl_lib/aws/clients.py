"""One place that makes boto3 clients, so retries and the endpoint rules are uniform."""

from __future__ import annotations

from typing import Any


def client(service: str, region: str | None = None) -> Any:
    """A boto3 client with standard retries; endpoints come from the AWS_ENDPOINT_URL* variables."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        service, region_name=region, config=Config(retries={"mode": "standard", "max_attempts": 5})
    )


def resource(service: str, region: str | None = None) -> Any:
    """A boto3 resource (DynamoDB tables), same rules as ``client``."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().resource(
        service, region_name=region, config=Config(retries={"mode": "standard", "max_attempts": 5})
    )


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` -> ``("bucket", "some/key")``; ``s3a://`` is accepted too."""
    for scheme in ("s3://", "s3a://"):
        if uri.startswith(scheme):
            bucket, _, key = uri[len(scheme) :].partition("/")
            if not bucket:
                break
            return bucket, key
    raise ValueError(f"not an S3 URI: {uri!r} (expected s3://bucket/key)")
