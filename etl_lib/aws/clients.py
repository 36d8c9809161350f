"""One place that makes boto3 clients, so retries and the endpoint rules are uniform."""

from __future__ import annotations

import os
from typing import Any


def retry_config() -> Any:
    """botocore's standard retries (exponential backoff with jitter on throttling, 5xx, timeouts
    and resets): 5 attempts, or ``AWS_MAX_ATTEMPTS`` / ``AWS_RETRY_MODE`` when set."""
    from botocore.config import Config

    mode = os.environ.get("AWS_RETRY_MODE", "standard")
    attempts = int(os.environ.get("AWS_MAX_ATTEMPTS", "5"))
    return Config(retries={"mode": mode, "max_attempts": attempts})


def client(service: str, region: str | None = None) -> Any:
    """A boto3 client with ``retry_config``; endpoints come from the AWS_ENDPOINT_URL* variables."""
    import boto3

    return boto3.session.Session().client(service, region_name=region, config=retry_config())


def resource(service: str, region: str | None = None) -> Any:
    """A boto3 resource (DynamoDB tables), same rules as ``client``."""
    import boto3

    return boto3.session.Session().resource(service, region_name=region, config=retry_config())


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` -> ``("bucket", "some/key")``; ``s3a://`` is accepted too."""
    for scheme in ("s3://", "s3a://"):
        if uri.startswith(scheme):
            bucket, _, key = uri[len(scheme) :].partition("/")
            if not bucket:
                break
            return bucket, key
    raise ValueError(f"not an S3 URI: {uri!r} (expected s3://bucket/key)")
