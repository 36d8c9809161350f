"""The path Spark reads a delivered object by: exactly that object, whatever its name.

Spark and Hadoop read a path as a glob (``[ ] { } * ?``) and silently skip
files whose names start with ``_`` or ``.`` (their own markers); a local file
with ``:`` in its name breaks Hadoop's checksum path. Glob characters are
escaped; a name Spark would skip or break on is read through an alias (a hard
link locally, a server-side copy on S3) in the run's staging folder, so the
object is read as delivered and ``raw/`` is never changed.
"""

from __future__ import annotations

import posixpath
import re

from etl_lib.storage.base import Storage

_GLOB = re.compile(r"([\\{}\[\]*?])")


def needs_alias(key: str) -> bool:
    """True when Spark would skip or fail on the object's name itself."""
    name = posixpath.basename(key)
    return name.startswith(("_", ".")) or ":" in name or name.endswith("._COPYING_")


def escape_glob(path: str) -> str:
    """``path`` with Hadoop's glob characters escaped, so it names one file."""
    return _GLOB.sub(r"\\\1", path)


def spark_source_path(storage: Storage, key: str, alias_folder: str) -> str:
    """The path for Spark to read ``key`` by (an alias under ``alias_folder`` when needed)."""
    if not needs_alias(key):
        return escape_glob(storage.uri(key))
    suffix = ".csv.gz" if key.endswith(".gz") else ".csv"
    alias = f"{alias_folder}/source{suffix}"
    storage.copy(key, alias)
    return escape_glob(storage.uri(alias))
