"""A lake in one S3 bucket (optionally under a prefix), through boto3.

The storage is bound to its bucket: keys are relative to the lake root and may
not climb out of it, so a job configured for one customer's bucket never reads
or writes another (tenant isolation). Spark reads and writes the same keys as
``s3://bucket/key`` (Glue 5.1's S3 connector).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from typing import Any, BinaryIO, cast

from etl_lib.aws.clients import client, split_s3_uri
from etl_lib.errors import StorageError
from etl_lib.storage.base import ObjectInfo, Storage

_DELETE_BATCH = 1000


class S3Storage(Storage):
    """A lake rooted at ``s3://bucket[/prefix]``."""

    def __init__(self, root: str, s3: Any | None = None) -> None:
        self.bucket, prefix = split_s3_uri(root)
        self.prefix = prefix.strip("/")
        self.root = f"s3://{self.bucket}" + (f"/{self.prefix}" if self.prefix else "")
        self.s3 = s3 or client("s3")

    def _key(self, key: str) -> str:
        parts = key.split("/")
        if key.startswith("/") or ".." in parts:
            raise StorageError(f"key {key!r} escapes the lake root {self.root}")
        return posixpath.join(self.prefix, key) if self.prefix else key

    def _relative(self, full: str) -> str:
        return full[len(self.prefix) + 1 :] if self.prefix else full

    def uri(self, key: str) -> str:
        """``s3://bucket/prefix/key``."""
        return f"s3://{self.bucket}/{self._key(key)}"

    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object below ``prefix``; Spark markers (``_``/``.`` names) skipped."""
        found = []
        try:
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._key(prefix))
            for page in pages:
                for obj in page.get("Contents", []):
                    name = posixpath.basename(obj["Key"])
                    if not name or name.startswith((".", "_")) or obj["Key"].endswith("/"):
                        continue
                    found.append(
                        ObjectInfo(self._relative(obj["Key"]), int(obj["Size"]), obj["LastModified"].timestamp())
                    )
        except Exception as exc:
            raise StorageError(f"cannot list {self.uri(prefix)}: {exc}") from None
        return sorted(found, key=lambda o: o.key)

    def open(self, key: str) -> BinaryIO:
        """A streaming body: only what is read is downloaded."""
        try:
            return cast(BinaryIO, self.s3.get_object(Bucket=self.bucket, Key=self._key(key))["Body"])
        except Exception as exc:
            raise StorageError(f"cannot read {self.uri(key)}: {exc}") from None

    def checksum(self, key: str) -> str:
        """The object's ETag: changes whenever the object is written again with other content."""
        head = self.s3.head_object(Bucket=self.bucket, Key=self._key(key))
        return "s3etag:" + head["ETag"].strip('"')

    def move(self, src: str, dst: str) -> None:
        """Copy then delete (S3 has no rename); managed copy handles objects over 5 GB."""
        self.s3.copy({"Bucket": self.bucket, "Key": self._key(src)}, self.bucket, self._key(dst))
        self.s3.delete_object(Bucket=self.bucket, Key=self._key(src))

    def delete(self, keys: Iterable[str]) -> None:
        """Delete in batches of 1,000; missing keys are ignored."""
        batch = [{"Key": self._key(k)} for k in keys]
        for start in range(0, len(batch), _DELETE_BATCH):
            response = self.s3.delete_objects(
                Bucket=self.bucket, Delete={"Objects": batch[start : start + _DELETE_BATCH], "Quiet": True}
            )
            if response.get("Errors"):
                first = response["Errors"][0]
                raise StorageError(f"cannot delete s3://{self.bucket}/{first['Key']}: {first['Message']}")

    def delete_prefix(self, prefix: str) -> None:
        """Delete every object below ``prefix`` (markers included)."""
        keys = []
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._key(prefix))
        for page in pages:
            keys += [self._relative(o["Key"]) for o in page.get("Contents", [])]
        self.delete(keys)

    def write_text(self, key: str, text: str) -> None:
        """Put a small UTF-8 object (bucket default encryption applies)."""
        self.s3.put_object(Bucket=self.bucket, Key=self._key(key), Body=text.encode("utf-8"))
