"""A spec's fingerprint: which version of a spec produced a file's rows.

The fingerprint is a short sha256 of the *normalised* spec: the validated model with its
defaults filled in, as JSON with sorted keys, descriptions (and ``NOT_ROWS``) left out. So comments, key order,
quoting, a default written out or a reworded description do not change it; anything that
can change a row (a column, a type, a format, a rule, a key, an expectation) does. The
ledger records it for every file, and ``etl-lib reprocess --changed-spec`` finds the files
an older version processed by it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from etl_lib.spec.model import DatasetSpec

LENGTH = 16
"""Hex digits kept: 64 bits, plenty to tell a dataset's spec versions apart."""


def _without_descriptions(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_descriptions(v) for k, v in value.items() if k != "description"}
    if isinstance(value, list):
        return [_without_descriptions(v) for v in value]
    return value


NOT_ROWS = (
    "receipts",
    "partition_years",
    "sinks",
    "expected_every",
    "max_rejected_share",
    "table_format",
    "snapshot_retention_days",
)
"""Top-level settings that change no row (only what is written beside the rows)."""


def spec_fingerprint(spec: DatasetSpec) -> str:
    """The fingerprint of ``spec`` (``LENGTH`` hex digits)."""
    normal = _without_descriptions(spec.model_dump(mode="json", exclude=set(NOT_ROWS)))
    text = json.dumps(normal, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:LENGTH]
