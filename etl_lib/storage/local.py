"""A lake in a local folder: the local twin of ``S3Storage``, with failure switches."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from etl_lib.errors import StorageError, StorageUnavailable
from etl_lib.faults import Faults
from etl_lib.storage.base import ObjectInfo, Storage, unusable_key_reason

# OS errors a later attempt may not meet (a busy or flaky disk, a network filesystem).
_TRANSIENT_ERRNOS = {errno.EAGAIN, errno.EBUSY, errno.EINTR, errno.EIO, errno.ETIMEDOUT, errno.ESTALE}


class LocalStorage(Storage):
    """A lake rooted at a local directory.

    ``faults`` (``etl_lib.faults``) makes chosen operations fail, to test the
    pipeline's error paths; ``OSError`` is translated at this boundary.
    """

    def __init__(self, root: str, faults: Faults | None = None) -> None:
        self.root = os.path.abspath(root)
        self.faults = faults or Faults()

    def _path(self, key: str) -> str:
        reason = unusable_key_reason(key) if key else None
        path = os.path.normpath(os.path.join(self.root, key))
        if not reason and not _within(path, self.root):
            reason = "it escapes the root"
        elif not reason and os.path.islink(path) and not _within(os.path.realpath(path), os.path.realpath(self.root)):
            reason = "it is a symbolic link to a file outside the lake"
        if reason:
            raise StorageError(f"key {key!r} cannot be used in the lake {self.root}: {reason}")
        return path

    @contextlib.contextmanager
    def _op(self, operation: str, key: str) -> Iterator[None]:
        self.faults.check(f"storage.{operation}", key, StorageUnavailable, StorageError)
        try:
            yield
        except OSError as exc:
            cls = StorageUnavailable if exc.errno in _TRANSIENT_ERRNOS else StorageError
            raise cls(f"cannot {operation} {self._path(key)}: {exc.strerror or exc}") from None

    def uri(self, key: str) -> str:
        """The absolute local path of ``key``."""
        return self._path(key)

    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every file whose key starts with ``prefix``, as S3 lists (``a/b`` finds ``a/b``,
        ``a/b/c`` and ``a/bc``), hidden names included (Spark's ``.crc`` checksums left out)."""
        base = self._path(prefix)
        found: list[ObjectInfo] = []
        with self._op("list", prefix):
            if not prefix or prefix.endswith("/"):
                roots = [base]
            else:
                folder, stem = os.path.split(base)
                names = os.listdir(folder) if os.path.isdir(folder) else []
                roots = [os.path.join(folder, n) for n in names if n.startswith(stem)]
            for root in roots:
                if os.path.isfile(root):
                    found.append(self._info(root))
                for folder, _dirs, names in os.walk(root):
                    found += [self._info(os.path.join(folder, n)) for n in names if not _is_crc(n)]
        return sorted(found, key=lambda o: o.key)

    def _info(self, path: str) -> ObjectInfo:
        stat = os.stat(path)
        return ObjectInfo(os.path.relpath(path, self.root).replace(os.sep, "/"), stat.st_size, stat.st_mtime)

    def open(self, key: str) -> BinaryIO:
        """Open a file for reading."""
        with self._op("open", key):
            return open(self._path(key), "rb")

    def checksum(self, key: str) -> str:
        """sha256 of the file's bytes, streamed."""
        digest = hashlib.sha256()
        with self._op("checksum", key), open(self._path(key), "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return "sha256:" + digest.hexdigest()

    def copy(self, src: str, dst: str) -> None:
        """A hard link when the filesystem allows it (no bytes copied), else a copy."""
        target = self._path(dst)
        with self._op("copy", dst):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                os.remove(target)
            try:
                os.link(self._path(src), target)
            except OSError:
                shutil.copyfile(self._path(src), target)

    def move(self, src: str, dst: str) -> None:
        """Rename within the lake (atomic on one filesystem)."""
        target = self._path(dst)
        with self._op("move", dst):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(self._path(src), target)

    def delete(self, keys: Iterable[str]) -> None:
        """Remove files; missing ones are ignored."""
        for key in keys:
            with self._op("delete", key), contextlib.suppress(FileNotFoundError):
                os.remove(self._path(key))

    def delete_prefix(self, prefix: str) -> None:
        """Remove a folder tree."""
        path = self._path(prefix)
        with self._op("delete_prefix", prefix):
            if os.path.isdir(path):
                shutil.rmtree(path)

    def write_text(self, key: str, text: str) -> None:
        """Write a text file atomically (temp file + rename)."""
        path = self._path(key)
        with self._op("write_text", key):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.tmp-{os.getpid()}"
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, path)

    def write_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Write a file atomically (temp file + rename); the content type is S3's business."""
        path = self._path(key)
        with self._op("write_bytes", key):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.tmp-{os.getpid()}"
            with open(tmp, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)


def _is_crc(name: str) -> bool:
    """Hadoop's local checksum files (``.x.crc``), never data."""
    return name.startswith(".") and name.endswith(".crc")


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root + os.sep)
