"""A lake in a local folder."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Iterable
from typing import BinaryIO

from etl_lib.errors import StorageError
from etl_lib.storage.base import ObjectInfo, Storage

_IGNORED_PARTS = (".", "_")


class LocalStorage(Storage):
    """A lake rooted at a local directory."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    def _path(self, key: str) -> str:
        path = os.path.normpath(os.path.join(self.root, key))
        if path != self.root and not path.startswith(self.root + os.sep):
            raise StorageError(f"key {key!r} escapes the lake root {self.root}")
        return path

    def uri(self, key: str) -> str:
        """The absolute local path of ``key``."""
        return self._path(key)

    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every file below ``prefix``; hidden (``.``) and Spark marker files skipped."""
        base = self._path(prefix)
        if os.path.isfile(base):
            stat = os.stat(base)
            return [ObjectInfo(prefix, stat.st_size, stat.st_mtime)]
        found = []
        for folder, dirs, names in os.walk(base):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in names:
                if name.startswith(_IGNORED_PARTS) or name.endswith(".crc"):
                    continue
                path = os.path.join(folder, name)
                stat = os.stat(path)
                key = os.path.relpath(path, self.root).replace(os.sep, "/")
                found.append(ObjectInfo(key, stat.st_size, stat.st_mtime))
        return sorted(found, key=lambda o: o.key)

    def open(self, key: str) -> BinaryIO:
        """Open a file for reading."""
        return open(self._path(key), "rb")

    def checksum(self, key: str) -> str:
        """sha256 of the file's bytes, streamed."""
        digest = hashlib.sha256()
        with self.open(key) as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return "sha256:" + digest.hexdigest()

    def move(self, src: str, dst: str) -> None:
        """Rename within the lake (atomic on one filesystem)."""
        target = self._path(dst)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.replace(self._path(src), target)

    def delete(self, keys: Iterable[str]) -> None:
        """Remove files; missing ones are ignored."""
        for key in keys:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self._path(key))

    def delete_prefix(self, prefix: str) -> None:
        """Remove a folder tree."""
        shutil.rmtree(self._path(prefix), ignore_errors=True)

    def write_text(self, key: str, text: str) -> None:
        """Write a text file atomically (temp file + rename)."""
        path = self._path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
