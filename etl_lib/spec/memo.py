"""Remember what a spec implies, by the spec's content.

A run applies the same spec to every file: its schemas and the Spark ``Column``
expressions of its transforms are the same each time, and building them costs
driver round trips to the JVM. ``SpecKey`` lets ``functools.lru_cache`` keep them
per spec. Specs are pydantic models holding lists, so they do not hash; the key
is the text of the spec's content, so a changed copy of a spec
(``model_copy(update=...)``, a spec loaded again after an edit, even a list
changed in place) is a new key and never meets a stale entry.
"""

from __future__ import annotations

from etl_lib.spec.model import DatasetSpec

SPEC_CACHE_SIZE = 16
"""Specs remembered per cached function: a process runs one or a few datasets."""


class SpecKey:
    """A spec that hashes and compares by its content.

    The content's ``repr``, not its JSON: an expectation's arguments may hold any value
    YAML gives (bytes, sets), which JSON cannot always write. ``1``, ``1.0`` and ``True``
    stay apart."""

    __slots__ = ("_text", "spec")

    def __init__(self, spec: DatasetSpec) -> None:
        self.spec = spec
        self._text = repr(spec.model_dump())

    def __hash__(self) -> int:
        return hash(self._text)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SpecKey) and other._text == self._text

    def __repr__(self) -> str:
        return f"SpecKey({self.spec.dataset!r})"
