"""Write a DataFrame to a staging folder, then publish its files under stable names.

Spark names its output files ``part-…-<uuid>``; we rename each to
``{file_id}-{n}.{ext}`` inside its final partition folder. The prefix ties every
output file to the source file it came from, so the outputs of an earlier
version, or of a run killed half-way, can always be found and replaced.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections import defaultdict
from collections.abc import Iterable

from etl_lib.storage.base import Storage


def file_id(source_key: str) -> str:
    """A stable, readable id of a source file: its name plus a short hash of its key.

    It never starts with ``_`` or ``.``: Spark skips such files when it reads a folder,
    so an output named that way would be lost to every later read.
    """
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", posixpath.basename(source_key)).lstrip("_.") or "file"
    return f"{stem}-{hashlib.sha1(source_key.encode()).hexdigest()[:10]}"


def staged_files(storage: Storage, staging: str, ext: str) -> dict[str, list[str]]:
    """Staged data files grouped by partition folder (``''`` for unpartitioned output)."""
    grouped: dict[str, list[str]] = defaultdict(list)
    staging = staging.rstrip("/")
    for obj in storage.list(staging + "/"):
        name = posixpath.basename(obj.key)
        if not name.startswith("part-") or not name.endswith(ext) or obj.size == 0:
            continue  # Spark writes an empty part file for an empty output: nothing to publish
        partition = posixpath.relpath(posixpath.dirname(obj.key), staging)
        grouped["" if partition == "." else partition].append(obj.key)
    return grouped


def publish(storage: Storage, staged: dict[str, list[str]], target: str, prefix: str, ext: str) -> list[str]:
    """Move staged files to ``target/{partition}/{prefix}-{n:05d}{ext}``; return the new keys."""
    published = []
    for partition, keys in sorted(staged.items()):
        folder = posixpath.join(target, partition) if partition else target
        for n, key in enumerate(sorted(keys)):
            final = f"{folder}/{prefix}-{n:05d}{ext}"
            storage.move(key, final)
            published.append(final)
    return published


def delete_with_prefix(storage: Storage, folders: Iterable[str], prefix: str) -> None:
    """Delete every file named ``{prefix}-…`` directly in ``folders`` (found by that name:
    one listing of just those files per folder, whatever else the folder holds)."""
    for folder in sorted(set(folders)):
        folder = folder.rstrip("/")
        doomed = [o.key for o in storage.list(f"{folder}/{prefix}-") if posixpath.dirname(o.key) == folder]
        storage.delete(doomed)
