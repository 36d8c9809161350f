"""The README's examples stay true: its spec example is valid as printed, its two commands are there."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from etl_lib.errors import SpecError
from etl_lib.spec.load import parse_spec
from etl_lib.spec.schema import check_spec
from tests.test_docs import spec_examples


def readme(repo: Path) -> str:
    return (repo / "README.md").read_text(encoding="utf-8")


def test_readme_spec_example_is_a_valid_spec(spark, repo: Path) -> None:
    raw = yaml.safe_load(spec_examples(readme(repo))[0])
    spec = parse_spec(raw, "README.md")
    check_spec(spark, spec, "README.md")
    # It shows the features it is there to show.
    assert spec.keys and spec.latest_by and spec.partition_by and spec.derived
    assert spec.expectations[0].on_failure == "warn"


def test_readme_spec_example_would_fail_without_its_key_column(repo: Path) -> None:
    raw = yaml.safe_load(spec_examples(readme(repo))[0])
    raw["columns"] = [c for c in raw["columns"] if c["name"] != "transaction_id"]
    with pytest.raises(SpecError, match="keys: unknown column"):
        parse_spec(raw, "README.md")


def test_readme_keeps_the_two_commands(repo: Path) -> None:
    assert "make demo" in readme(repo) and "make test" in readme(repo)
