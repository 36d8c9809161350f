"""Load a YAML dataset spec into a ``DatasetSpec``, with one-line errors.

Every problem is reported as ``<file> (dataset 'x'): <field>: <what is wrong>;
<what is allowed>`` before any data is read: the first in the error's message, all of them
(up to ``MAX_PROBLEMS``) in ``SpecError.problems``, which ``etl-lib validate-spec`` prints.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from etl_lib.errors import SpecError
from etl_lib.spec.model import DatasetSpec


def load_spec(path: str | Path) -> DatasetSpec:
    """Read and validate the spec at ``path``; raise ``SpecError`` with a one-line message."""
    path = str(path)
    try:
        raw = yaml.safe_load(_read_s3_text(path) if path.startswith("s3://") else _read_text(path))
    except FileNotFoundError:
        raise SpecError(path, "spec file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(path, f"{where}invalid YAML: {problem}") from None
    return parse_spec(raw, path)


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _read_s3_text(uri: str) -> str:
    """A spec stored in S3 (Glue jobs get ``--dataset_spec s3://…``)."""
    from etl_lib.aws.clients import client, split_s3_uri

    bucket, key = split_s3_uri(uri)
    s3 = client("s3")
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        raise FileNotFoundError(uri) from None
    except Exception as exc:
        raise SpecError(uri, f"cannot read the spec: {exc}") from None
    return bytes(body).decode("utf-8")


MAX_PROBLEMS = 12
"""Problems reported at most, per spec."""


def parse_spec(raw: Any, path: str = "<spec>") -> DatasetSpec:
    """Validate an already-parsed YAML document; ``SpecError`` with every problem found."""
    if not isinstance(raw, dict):
        raise SpecError(path, "a spec must be a YAML mapping with at least 'dataset' and 'columns'")
    dataset = raw.get("dataset") if isinstance(raw.get("dataset"), str) else None
    try:
        return DatasetSpec.model_validate(raw)
    except ValidationError as exc:
        problems = tuple(_problems(exc, raw))
        raise SpecError(path, problems[0], dataset, problems) from None


def _problems(
    exc: ValidationError, raw: dict[str, Any], sections: dict[tuple[str, ...], Any] | None = None
) -> list[str]:
    """Every pydantic error as ``field: message`` (naming columns by name), unknown keys first
    with the nearest valid one; a required key missing because it is misspelt is said once.
    ``sections``: the model of each section by path (default: a dataset spec's)."""
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    found: list[str] = []
    suggested: set[tuple[Any, ...]] = set()
    for error in errors:
        loc = tuple(error["loc"])
        field = _field_path(loc, raw)
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc, sections)
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
            if close:
                suggested.add((*loc[:-1], close[0]))
                message = f"unknown key; did you mean {close[0]!r}?"
            else:
                message = f"unknown key; allowed: {', '.join(allowed)}"
        elif error["type"] == "missing":
            if loc in suggested:
                continue
            message = "required field is missing"
        elif error["type"] == "literal_error":
            message = f"got {error.get('input')!r}; {message.lower()}"
        for line in message.split("\n"):  # a model's own checks: several, each naming its field
            problem = f"{field}: {line}" if field else line
            if problem not in found:
                found.append(problem)
    return found[:MAX_PROBLEMS]


def _field_path(loc: tuple[Any, ...], raw: dict[str, Any]) -> str:
    """``columns[2] (amount).type`` from pydantic's location, walking the YAML document.

    Location items past a scalar value are pydantic's union tags (``str``,
    ``list[str]``...), not fields, and are left out.
    """
    parts: list[str] = []
    node: Any = raw
    for item in loc:
        if isinstance(item, int) and isinstance(node, list) and parts:
            element = node[item] if item < len(node) else None
            name = element.get("name") if isinstance(element, dict) else None
            parts[-1] = f"{parts[-1]}[{item}]" + (f" ({name})" if name else "")
            node = element
        elif isinstance(node, dict):
            parts.append(str(item))
            node = node.get(item)
    return ".".join(parts)


def _allowed_keys(loc: tuple[Any, ...], sections: dict[tuple[str, ...], Any] | None = None) -> list[str]:
    from etl_lib.spec import model

    section = [p for p in loc[:-1] if isinstance(p, str)]
    sections = sections or {
        (): model.DatasetSpec,
        ("source",): model.SourceSpec,
        ("columns",): model.ColumnSpec,
        ("derived",): model.DerivedSpec,
        ("expectations",): model.ExpectationSpec,
        ("sinks",): model.SinkSpec,
    }
    cls: Any = sections.get(tuple(section), sections[()])
    return list(cls.model_fields)
