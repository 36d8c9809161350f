"""The README's examples stay true: its spec example loads, its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from etl_lib.cli.main import build_parser
from etl_lib.spec.load import parse_spec
from etl_lib.spec.schema import check_spec


def readme(repo: Path) -> str:
    return (repo / "README.md").read_text()


def test_readme_spec_example_is_a_valid_spec(spark, repo: Path) -> None:
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", readme(repo), re.S) if b.startswith("dataset:"))
    raw = yaml.safe_load(block)
    # The example shows every feature; add the columns its expressions and keys refer to.
    raw["columns"] += [
        {"name": "transaction_id", "required": True},
        {"name": "type"},
        {"name": "updated_at", "type": "timestamp"},
    ]
    spec = parse_spec(raw, "README.md")
    check_spec(spark, spec, "README.md")
    assert spec.source.extra_columns == "rescue" and spec.expectations[0].on_failure == "warn"


def test_readme_names_only_real_commands(repo: Path) -> None:
    commands = set(re.findall(r"`etl-lib ([a-z][a-z-]*)", readme(repo)))  # not options: `etl-lib --version`
    known = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert commands and commands <= known, commands - known
    assert "make demo" in readme(repo) and "make test" in readme(repo)
