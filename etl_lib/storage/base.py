"""The lake's storage interface: list, read a few bytes, copy, move, delete.

Spark reads and writes the data itself; this interface does the small metadata
work around it (finding raw files, checksums, publishing staged files). Local:
a folder (``LocalStorage``, which can be told to fail); AWS: S3 through boto3.
Both translate their backend's errors into ``StorageUnavailable`` (transient)
or ``StorageError`` (terminal) at this boundary.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO


@dataclass(frozen=True)
class ObjectInfo:
    """One object (file) in the lake, by key relative to the lake root."""

    key: str
    size: int
    modified: float
    """Seconds since the epoch."""
    etag: str | None = None
    """The object's checksum when its listing carries one (S3's ETag, as ``Storage.checksum``
    gives it); None when it must be computed."""


class Storage(abc.ABC):
    """A lake root: keys are ``/``-separated paths relative to it."""

    root: str

    @abc.abstractmethod
    def uri(self, key: str) -> str:
        """The path Spark uses for ``key`` (a local path or an ``s3://`` URI)."""

    @abc.abstractmethod
    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object below ``prefix`` (recursive), sorted by key; hidden names (``_x``, ``.x``) included."""

    @abc.abstractmethod
    def open(self, key: str) -> BinaryIO:
        """Open an object for reading bytes."""

    @abc.abstractmethod
    def checksum(self, key: str) -> str:
        """A content checksum: equal content gives an equal checksum."""

    @abc.abstractmethod
    def copy(self, src: str, dst: str) -> None:
        """Copy one object within the lake; ``dst`` is replaced if present."""

    @abc.abstractmethod
    def move(self, src: str, dst: str) -> None:
        """Move one object; ``dst`` is replaced if present."""

    @abc.abstractmethod
    def delete(self, keys: Iterable[str]) -> None:
        """Delete objects; missing ones are ignored."""

    @abc.abstractmethod
    def delete_prefix(self, prefix: str) -> None:
        """Delete everything below ``prefix``."""

    @abc.abstractmethod
    def write_text(self, key: str, text: str) -> None:
        """Write a small text object (reports, markers)."""

    @abc.abstractmethod
    def write_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Write a small object as is; ``content_type`` is what a browser is told it is (S3)."""

    def exists(self, prefix: str) -> bool:
        """True when at least one object lies below ``prefix``."""
        return bool(self.list(prefix))


def unusable_key_reason(key: str) -> str | None:
    """Why ``key`` cannot be used as a lake key (``..`` or ``.`` segments, empty segments,
    a leading ``/``, control characters), or None when it can."""
    if key.startswith("/"):
        return "the key starts with '/'"
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        return "the key contains a control character"
    parts = key.split("/")
    if any(p in (".", "..") for p in parts):
        return "the key has a '.' or '..' segment"
    if any(p == "" for p in parts[:-1]):
        return "the key has an empty segment ('//')"
    return None
