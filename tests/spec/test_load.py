"""Spec validation: every mistake is one line naming the file, the field and what is allowed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from etl_lib.errors import SpecError
from etl_lib.spec.load import load_spec, parse_spec
from etl_lib.spec.schema import check_spec

BASE = {
    "dataset": "orders",
    "columns": [
        {"name": "order_id", "required": True},
        {"name": "ordered_at", "type": "timestamp"},
        {"name": "amount", "type": "decimal(10,2)"},
    ],
}


def spec_with(**changes: object) -> dict:
    raw = {**BASE, "columns": [dict(c) for c in BASE["columns"]]}
    raw.update(changes)
    return raw


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_sample_specs_load(repo: Path) -> None:
    names = sorted(load_spec(p).dataset for p in (repo / "sample_csv" / "specs").glob("*.yaml"))
    assert names == ["accounts", "clients", "transactions"]


def test_unknown_top_level_key_names_file_and_the_nearest_or_allowed_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "dataset: a\ncolumns: [{name: x}]\npartition: x\n")
    with pytest.raises(
        SpecError, match=r"spec\.yaml \(dataset 'a'\): partition: unknown key; did you mean 'partition_by'"
    ):
        load_spec(path)
    path = write(tmp_path, "dataset: a\ncolumns: [{name: x}]\nzzz: x\n")
    with pytest.raises(SpecError, match=r"spec\.yaml \(dataset 'a'\): zzz: unknown key; allowed: dataset, "):
        load_spec(path)


def test_unknown_column_key_is_named_with_the_column(tmp_path: Path) -> None:
    path = write(tmp_path, "dataset: a\ncolumns:\n  - name: x\n    requried: true\n")
    with pytest.raises(SpecError, match=r"columns\[0\] \(x\)\.requried: unknown key; did you mean 'required'"):
        load_spec(path)


def test_unknown_type_lists_allowed_types() -> None:
    raw = spec_with(columns=[{"name": "x", "type": "varchar"}])
    with pytest.raises(SpecError, match=r"columns\[0\] \(x\)\.type: unknown type 'varchar'; allowed: string, int"):
        parse_spec(raw, "s.yaml")


@pytest.mark.parametrize("bad", ["decimal(40,2)", "decimal(5,6)", "decimal(0,0)"])
def test_bad_decimal(bad: str) -> None:
    with pytest.raises(SpecError, match=r"type: bad decimal"):
        parse_spec(spec_with(columns=[{"name": "x", "type": bad}]))


def test_decimal_with_spaces_is_canonicalised() -> None:
    spec = parse_spec(spec_with(columns=[{"name": "x", "type": "DECIMAL(18, 2)"}]))
    assert spec.columns[0].type == "decimal(18,2)"


def test_keys_must_name_known_columns() -> None:
    with pytest.raises(SpecError, match=r"keys: unknown column 'id'; known columns: order_id, ordered_at, amount"):
        parse_spec(spec_with(keys=["id"]))


def test_partition_by_must_be_temporal() -> None:
    with pytest.raises(
        SpecError, match=r"partition_by: column 'amount' is decimal\(10,2\).*candidates: \['ordered_at'\]"
    ):
        parse_spec(spec_with(partition_by="amount"))


def test_duplicate_names_are_refused() -> None:
    raw = spec_with(derived=[{"name": "amount", "expr": "1"}])
    with pytest.raises(SpecError, match=r"duplicate column name\(s\) \['amount'\]"):
        parse_spec(raw)


def test_column_names_must_be_snake_case() -> None:
    with pytest.raises(SpecError, match=r"columns\[0\].*must be lower-case snake_case"):
        parse_spec(spec_with(columns=[{"name": "Order ID"}]))


def test_unknown_clean_rule_lists_the_builtins() -> None:
    with pytest.raises(SpecError, match=r"unknown clean rule\(s\) \['strip'\]; allowed: trim, ltrim"):
        parse_spec(spec_with(columns=[{"name": "x", "clean": ["strip"]}]))


def test_extra_columns_policy_is_checked() -> None:
    with pytest.raises(SpecError, match=r"source\.extra_columns: got 'keep'"):
        parse_spec(spec_with(source={"extra_columns": "keep"}))


def test_format_only_on_temporal_columns() -> None:
    with pytest.raises(SpecError, match=r"'format' applies to date/timestamp columns"):
        parse_spec(spec_with(columns=[{"name": "x", "type": "int", "format": "yyyy"}]))


def test_bad_regex_pattern_is_caught_by_the_spark_checks(spark) -> None:
    spec = parse_spec(spec_with(columns=[{"name": "x", "pattern": "[a-"}]))  # Java's engine judges it
    with pytest.raises(SpecError, match=r"columns\[0\] \(x\)\.pattern: bad regular expression '\[a-' \(Java's"):
        check_spec(spark, spec)


def test_invalid_yaml_reports_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "dataset: a\ncolumns:\n  - name: x\n   type: int\n")
    with pytest.raises(SpecError, match=r"spec\.yaml: line \d+: invalid YAML"):
        load_spec(path)


def test_missing_file() -> None:
    with pytest.raises(SpecError, match=r"nope\.yaml: spec file not found"):
        load_spec("nope.yaml")


def test_messages_are_one_line() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(spec_with(keys=["nope"], partition_by="amount"))
    assert "\n" not in str(info.value)


def test_unparseable_derived_expression_is_caught_before_data(spark) -> None:
    spec = parse_spec(spec_with(derived=[{"name": "bad", "expr": "amount +* 2"}]), "s.yaml")
    with pytest.raises(SpecError, match=r"s\.yaml \(dataset 'orders'\): derived\[0\] \(bad\)\.expr: "):
        check_spec(spark, spec, "s.yaml")


def test_derived_expression_with_unknown_column(spark) -> None:
    spec = parse_spec(spec_with(derived=[{"name": "bad", "expr": "price * 2"}]), "s.yaml")
    with pytest.raises(SpecError, match=r"derived\[0\] \(bad\)\.expr: .*price"):
        check_spec(spark, spec, "s.yaml")


def test_good_derived_expression_passes(spark) -> None:
    spec = parse_spec(spec_with(derived=[{"name": "cents", "expr": "amount * 100", "type": "bigint"}]))
    check_spec(spark, spec)


def test_partition_years_are_checked_and_default_to_2000_2099() -> None:
    from etl_lib.runner.ingest import years_outside

    base = {"dataset": "tx", "columns": [{"name": "id"}]}
    assert parse_spec(base).partition_years == (2000, 2099)
    assert parse_spec({**base, "partition_years": [1990, 2030]}).partition_years == (1990, 2030)
    for bad in ([2030, 1990], [99, 2030], [2000]):
        with pytest.raises(SpecError, match="partition_years"):
            parse_spec({**base, "partition_years": bad})
    spec = parse_spec({**base, "partition_years": [2000, 2030]})
    warned = years_outside(spec, ["year=1999/month=12", "year=2024/month=01", "year=2031/month=01"])
    assert [w.split(" are ")[0] for w in warned] == ["rows in year=1999", "rows in year=2031"]
    assert "Athena does not see them" in warned[0]
