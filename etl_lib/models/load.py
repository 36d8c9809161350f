"""Load gold models from YAML files, with every problem of a file a line each."""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from etl_lib.errors import ConfigError, SpecError
from etl_lib.models.spec import ModelColumn, ModelSpec
from etl_lib.sinks.base import SinkSpec
from etl_lib.spec.load import _problems, _read_s3_text, _read_text

_SECTIONS: dict[tuple[str, ...], Any] = {(): ModelSpec, ("columns",): ModelColumn, ("sinks",): SinkSpec}


def is_model_document(raw: Any) -> bool:
    """True for a model's YAML (it names a ``model``), as opposed to a dataset spec."""
    return isinstance(raw, dict) and "model" in raw and "dataset" not in raw


def read_yaml(path: str) -> Any:
    """The YAML document at ``path`` (a file or an ``s3://`` object); ``SpecError`` when unreadable."""
    try:
        return yaml.safe_load(_read_s3_text(path) if path.startswith("s3://") else _read_text(path))
    except FileNotFoundError:
        raise SpecError(path, "file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise SpecError(path, f"{where}invalid YAML: {getattr(exc, 'problem', None) or exc}") from None


def load_model(path: str | Path) -> ModelSpec:
    """Read and validate the model at ``path``."""
    return parse_model(read_yaml(str(path)), str(path))


def parse_model(raw: Any, path: str = "<model>") -> ModelSpec:
    """Validate a parsed YAML document as a model; ``SpecError`` with every problem found."""
    if not isinstance(raw, dict):
        raise SpecError(path, "a model must be a YAML mapping with at least 'model', 'reads' and 'sql'")
    name = raw.get("model") if isinstance(raw.get("model"), str) else None
    try:
        return ModelSpec.model_validate(raw)
    except ValidationError as exc:
        problems = tuple(_problems(exc, raw, _SECTIONS))
        raise SpecError(path, problems[0], name, problems, kind="model") from None


def model_paths(folder: str) -> list[str]:
    """The ``*.yaml``/``*.yml`` files directly in ``folder`` (a local folder or an ``s3://`` prefix), by name."""
    if folder.startswith("s3://"):
        from etl_lib.storage.s3 import S3Storage

        storage = S3Storage(folder)
        keys = [o.key for o in storage.list("") if "/" not in o.key]
        return [storage.uri(k) for k in sorted(keys) if k.endswith((".yaml", ".yml"))]
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"--models {folder}: no such folder")
    return [str(p) for p in sorted(root.iterdir()) if p.suffix in (".yaml", ".yml") and p.is_file()]


def load_models(folder: str) -> list[ModelSpec]:
    """Every model in ``folder``; the first file with problems raises its ``SpecError``; two
    files naming the same model are an error."""
    models: list[ModelSpec] = []
    seen: dict[str, str] = {}
    for path in model_paths(folder):
        model = load_model(path)
        if model.model in seen:
            raise SpecError(path, f"model {model.model!r} is also defined in {posixpath.basename(seen[model.model])}")
        seen[model.model] = path
        models.append(model)
    return models
