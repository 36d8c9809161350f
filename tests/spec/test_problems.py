"""A spec's problems, every one a line: misspelt keys with the nearest valid one, rules
across fields, expectation arguments, regular expressions as Java reads them; and the JSON
Schema editors use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from etl_lib.cli.main import main
from etl_lib.errors import SpecError
from etl_lib.quality.expectations import expectation_problems
from etl_lib.spec.json_schema import spec_json_schema, spec_json_schema_text
from etl_lib.spec.load import parse_spec
from etl_lib.spec.schema import needs_spark, spec_problems

BASE = {"dataset": "tx", "columns": [{"name": "id", "required": True}, {"name": "amount", "type": "decimal(18,2)"}]}


def problems_of(raw: dict) -> tuple[str, ...]:
    with pytest.raises(SpecError) as raised:
        parse_spec(raw, "tx.yaml")
    return raised.value.problems


def test_a_misspelt_key_is_named_with_the_nearest_valid_one() -> None:
    assert problems_of({"dataset": "tx", "colums": [{"name": "id"}]}) == (
        "colums: unknown key; did you mean 'columns'?",  # not also "columns: required field is missing"
    )
    raw = {**BASE, "source": {"delimter": ";"}, "keys": ["id"]}
    assert problems_of(raw) == ("source.delimter: unknown key; did you mean 'delimiter'?",)
    assert problems_of({**BASE, "zzz": 1})[0].startswith("zzz: unknown key; allowed: dataset, description")


def test_every_problem_is_listed_and_the_error_says_how_many_more() -> None:
    raw = {
        "dataset": "tx",
        "columns": [
            {"name": "id", "requried": True},
            {"name": "amount", "type": "decmal(18,2)"},
            {"name": "Bad"},
        ],
        "source": {"quote": "''"},
    }
    with pytest.raises(SpecError) as raised:
        parse_spec(raw, "tx.yaml")
    problems = raised.value.problems
    assert problems[0] == "columns[0] (id).requried: unknown key; did you mean 'required'?"
    assert any(p.startswith("columns[1] (amount).type: unknown type 'decmal(18,2)'") for p in problems)
    assert any(p.startswith("columns[2] (Bad).name: column name 'Bad' must be lower-case") for p in problems)
    assert any(p.startswith("source.quote: must be exactly one character") for p in problems)
    assert len(problems) == 4
    assert str(raised.value).endswith("(and 3 more: etl-lib validate-spec lists them)")
    assert "\n" not in str(raised.value)


def test_rules_across_fields_are_all_reported() -> None:
    raw = {**BASE, "keys": ["idd"], "latest_by": "amout", "partition_by": "amount"}
    assert problems_of(raw) == (
        "keys: unknown column 'idd' (did you mean 'id'?); known columns: id, amount",
        "latest_by: unknown column 'amout' (did you mean 'amount'?); known columns: id, amount",
        "partition_by: column 'amount' is decimal(18,2), it must be a date or timestamp column; candidates: none",
    )


def test_expectation_names_and_arguments_are_checked_without_spark() -> None:
    raw = {
        **BASE,
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
            {"type": "expect_column_values_to_be_between", "kwargs": {"column": "amount", "min_vlue": 0}},
            {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "currency", "value_set": ["EUR"]}},
            {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "id"}},
        ],
    }
    spec = parse_spec(raw)
    assert not needs_spark(spec)
    problems = expectation_problems(spec)
    assert len(problems) == 3
    assert problems[0].startswith(
        "expectations[1] expect_column_values_to_be_between: unknown argument(s) ['min_vlue']"
    )
    assert problems[1].startswith("expectations[2] expect_column_values_to_be_in_set: unknown column 'currency'")
    assert problems[2].startswith("expectations[3] expect_column_values_to_be_in_set: missing argument(s)")
    with pytest.raises(SpecError, match="unknown expectation 'expect_magic'"):
        parse_spec({**BASE, "expectations": [{"type": "expect_magic"}]})


def test_regular_expressions_are_checked_by_javas_engine(spark) -> None:
    raw = {
        **BASE,
        "columns": [
            {"name": "id", "pattern": r"(?P<digits>\d+)"},  # Python's syntax: Java refuses it
            {"name": "code", "pattern": r"\p{Lu}{2}\d++"},  # Java's: Python's re refuses \p
        ],
        "expectations": [{"type": "expect_column_values_to_match_regex", "kwargs": {"column": "id", "regex": "[a-"}}],
    }
    spec = parse_spec(raw)
    assert needs_spark(spec)
    problems = spec_problems(spark, spec)
    assert len(problems) == 2, problems
    assert problems[0].startswith(r"columns[0] (id).pattern: bad regular expression '(?P<digits>\\d+)' (Java's syntax")
    assert problems[1].startswith("expectations[0] expect_column_values_to_match_regex.regex: bad regular expression")


def test_derived_expressions_are_all_checked(spark) -> None:
    raw = {**BASE, "derived": [{"name": "a", "expr": "amount * "}, {"name": "b", "expr": "nope + 1"}]}
    problems = spec_problems(spark, parse_spec(raw))
    assert [p.split(":")[0] for p in problems] == ["derived[0] (a).expr", "derived[1] (b).expr"]


def test_validate_spec_prints_every_problem_and_needs_no_jvm_without_expressions(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    import etl_lib.spark

    def no_jvm(*args: object, **kwargs: object) -> None:
        raise AssertionError("validate-spec started Spark for a spec with nothing for Spark to check")

    monkeypatch.setattr(etl_lib.spark, "local_session", no_jvm)
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(yaml.safe_dump(BASE))
    bad.write_text(yaml.safe_dump({**BASE, "keys": ["idd"], "latest_by": "x"}))
    assert main(["validate-spec", str(good), str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{good}: ok")
    lines = captured.err.strip().splitlines()
    assert lines == [
        f"etl-lib: {bad} (dataset 'tx'): keys: unknown column 'idd' (did you mean 'id'?); known columns: id, amount",
        f"etl-lib: {bad} (dataset 'tx'): latest_by: unknown column 'x'; known columns: id, amount",
    ]
    assert main(["validate-spec", str(bad), "--json"]) == 2
    found = json.loads(capsys.readouterr().out)
    assert (found["valid"], len(found["problems"])) == (False, 2)


def test_the_published_json_schema_is_current_and_checks_specs(repo: Path) -> None:
    import jsonschema

    published = repo / "docs" / "dataset-spec.schema.json"
    assert published.read_text() == spec_json_schema_text(), "run: make spec-schema"
    schema = spec_json_schema()
    for path in sorted((repo / "sample_csv" / "specs").glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    with pytest.raises(jsonschema.ValidationError, match="'colums' was unexpected"):
        jsonschema.validate({"dataset": "tx", "colums": []}, schema)
    clean = schema["$defs"]["ColumnSpec"]["properties"]["clean"]
    assert "trim" in clean["items"]["enum"]
