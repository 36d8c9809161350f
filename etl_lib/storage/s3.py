"""A lake in one S3 bucket (optionally under a prefix), through boto3.

The storage is bound to its bucket: keys are relative to the lake root and may
not climb out of it, so a job configured for one customer's bucket never reads
or writes another (tenant isolation). Spark reads and writes the same keys as
``s3://bucket/key`` (Glue's S3 support; S3A on a laptop, see ``etl_lib.spark``).

botocore retries throttling, 5xx and broken connections with backoff; what
still fails is raised here as ``StorageUnavailable`` (transient) or
``StorageError`` (terminal: access denied, no such bucket or key), naming the
object.
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import Iterable
from typing import Any, BinaryIO, cast

from etl_lib.aws.clients import client, split_s3_uri
from etl_lib.aws.errors import translate, translated
from etl_lib.errors import StorageError, StorageUnavailable
from etl_lib.storage.base import ObjectInfo, Storage, unusable_key_reason

_DELETE_BATCH = 1000


class S3Storage(Storage):
    """A lake rooted at ``s3://bucket[/prefix]``."""

    def __init__(self, root: str, s3: Any | None = None) -> None:
        self.bucket, prefix = split_s3_uri(root)
        self.prefix = prefix.strip("/")
        self.root = f"s3://{self.bucket}" + (f"/{self.prefix}" if self.prefix else "")
        self.s3 = s3 or client("s3")

    def _key(self, key: str) -> str:
        reason = unusable_key_reason(key) if key else None
        if reason:
            raise StorageError(f"key {key!r} cannot be used in the lake {self.root}: {reason}")
        return posixpath.join(self.prefix, key) if self.prefix else key

    def _relative(self, full: str) -> str:
        return full[len(self.prefix) + 1 :] if self.prefix else full

    def _errors(self, action: str, key: str) -> Any:
        return translated(f"cannot {action} {self.uri(key)}", StorageUnavailable, StorageError)

    def uri(self, key: str) -> str:
        """``s3://bucket/prefix/key``."""
        return f"s3://{self.bucket}/{self._key(key)}"

    def _objects(self, prefix: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        with self._errors("list", prefix):
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._key(prefix))
            for page in pages:
                found += page.get("Contents", [])
        return found

    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object below ``prefix``, hidden names included; folder markers (``x/``) left out."""
        found = [
            ObjectInfo(self._relative(o["Key"]), int(o["Size"]), o["LastModified"].timestamp(), _etag(o["ETag"]))
            for o in self._objects(prefix)
            if not o["Key"].endswith("/")
        ]
        return sorted(found, key=lambda o: o.key)

    def open(self, key: str) -> BinaryIO:
        """A streaming body (only what is read is downloaded); read errors are translated too."""
        with self._errors("read", key):
            body = self.s3.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        return cast(BinaryIO, _TranslatingReader(body, f"cannot read {self.uri(key)}"))

    def checksum(self, key: str) -> str:
        """The object's ETag: changes whenever the object is written again with other content."""
        with self._errors("read the checksum of", key):
            head = self.s3.head_object(Bucket=self.bucket, Key=self._key(key))
        return _etag(head["ETag"])

    def copy(self, src: str, dst: str) -> None:
        """Server-side copy; the managed copy handles objects over 5 GB."""
        with self._errors("copy to", dst):
            self.s3.copy({"Bucket": self.bucket, "Key": self._key(src)}, self.bucket, self._key(dst))

    def move(self, src: str, dst: str) -> None:
        """Copy then delete (S3 has no rename)."""
        self.copy(src, dst)
        with self._errors("delete", src):
            self.s3.delete_object(Bucket=self.bucket, Key=self._key(src))

    def delete(self, keys: Iterable[str]) -> None:
        """Delete in batches of 1,000; missing keys are ignored."""
        batch = [{"Key": self._key(k)} for k in keys]
        for start in range(0, len(batch), _DELETE_BATCH):
            chunk = batch[start : start + _DELETE_BATCH]
            with self._errors("delete", self._relative(chunk[0]["Key"])):
                response = self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": chunk, "Quiet": True})
            if response.get("Errors"):
                first = response["Errors"][0]
                transient = first.get("Code") in ("SlowDown", "InternalError", "ServiceUnavailable")
                cls = StorageUnavailable if transient else StorageError
                raise cls(f"cannot delete s3://{self.bucket}/{first['Key']}: {first.get('Code')}: {first['Message']}")

    def delete_prefix(self, prefix: str) -> None:
        """Delete every object below ``prefix`` (markers included)."""
        self.delete(self._relative(o["Key"]) for o in self._objects(prefix))

    def write_text(self, key: str, text: str) -> None:
        """Put a small UTF-8 object (bucket default encryption applies)."""
        with self._errors("write", key):
            self.s3.put_object(Bucket=self.bucket, Key=self._key(key), Body=text.encode("utf-8"))

    def write_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Put a small object, with its content type when given (bucket default encryption applies)."""
        extra = {"ContentType": content_type} if content_type else {}
        with self._errors("write", key):
            self.s3.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **extra)


class _TranslatingReader(io.RawIOBase):
    """A read-only stream over a botocore body whose errors come out as ours."""

    def __init__(self, body: Any, what: str) -> None:
        self.body = body
        self.what = what

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self.body.read(len(buffer))
        except Exception as exc:
            raise translate(exc, self.what, StorageUnavailable, StorageError) from None
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.body.close()
        super().close()


def _etag(value: str) -> str:
    """Our checksum form of an S3 ETag (the same from a listing and from a HEAD)."""
    return "s3etag:" + value.strip('"')
