"""``etl-lib init --sample``: a spec drafted from a sample file is a valid spec that takes
its own sample without rejecting a row (bar rows no spec can take: the wrong number of
fields), on the sample deliveries and on public CSVs that installed packages ship."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import pytest
import yaml

from etl_lib.cli.main import main
from etl_lib.runner.run import run_dataset
from etl_lib.spec.draft import draft_spec
from etl_lib.spec.load import parse_spec
from tests.conftest import deliver, make_context


def package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None, package
    return Path(spec.origin).parent.joinpath(*parts)


PLOTLY = ("plotly", "package_data", "datasets")
PUBLIC = [
    package_file("matplotlib", "mpl-data", "sample_data", "msft.csv"),
    *[package_file(*PLOTLY, f"{name}.csv.gz") for name in ("gapminder", "tips", "iris", "stocks", "election")],
]


def columns(text: str) -> dict[str, dict]:
    return {c["name"]: c for c in yaml.safe_load(text)["columns"]}


def test_types_names_and_dialect_from_the_values(tmp_path: Path) -> None:
    sample = tmp_path / "Kunden 2024-05.csv"
    rows = [
        "Kunden-Nr;Name;Betrag;Aktiv;Geboren;Gebucht um;Code;Year;Zähler;Kunden-Nr",
        "1;Müller;12,50;ja;01.02.1980;2024-05-01 10:00:00;007;2024;5000000000;1",
        "2;Özil;3;nein;31.12.1999;2024-05-02 11:30:00;012;2024;1;2",
        "3;Schmidt;NULL;ja;15.06.1975;2024-05-03 09:00:00;123;2023;7;3",
    ]
    sample.write_bytes(("\n".join(rows) + "\n").encode("cp1252"))
    draft = draft_spec(sample)
    assert (draft.dataset, draft.encoding, draft.delimiter, draft.header) == ("kunden", "cp1252", ";", True)
    found = columns(draft.yaml())
    assert list(found) == [
        "kunden_nr", "name", "betrag", "aktiv", "geboren", "gebucht_um", "code", "year_value", "z_hler", "kunden_nr_2",
    ]  # fmt: skip
    assert found["kunden_nr"] == {"name": "kunden_nr", "type": "int", "source": "Kunden-Nr", "required": True}
    assert "type" not in found["betrag"]  # a decimal comma is not a number to Spark
    assert found["geboren"]["type"] == "date" and found["geboren"]["format"] == "dd.MM.yyyy"
    assert found["gebucht_um"]["format"] == "yyyy-MM-dd HH:mm:ss"
    assert "type" not in found["code"]  # leading zeros: a code, not a number
    assert found["z_hler"]["type"] == "bigint"
    assert found["aktiv"].get("type") is None  # ja/nein are not the booleans etl_lib reads
    assert draft.partition_by == "gebucht_um"
    parse_spec(yaml.safe_load(draft.yaml()))


def test_decimals_doubles_booleans_null_tokens_and_mixed_date_formats(tmp_path: Path) -> None:
    sample = tmp_path / "tx.csv"
    sample.write_text(
        "id,amount,rate,flag,when,note\n"
        "a,12.50,0.123456789012,yes,2024-01-05,x\n"
        "b,-3,1e-3,No,05/01/2024,\n"
        "c,N/A,2,TRUE,2024-02-29,y\n"
    )
    draft = draft_spec(sample, "payments")
    found = columns(draft.yaml())
    assert found["amount"]["type"] == "decimal(8,2)" and "required" not in found["amount"]
    assert draft.null_values == ("N/A",)
    assert found["rate"]["type"] == "double"
    assert found["flag"]["type"] == "boolean"
    assert found["when"]["format"] == ["yyyy-MM-dd", "dd/MM/yyyy"]
    assert "required" not in found["note"] and found["id"]["required"] is True
    assert draft.dataset == "payments"


def test_a_file_without_a_header(tmp_path: Path) -> None:
    sample = tmp_path / "plain.csv"
    sample.write_text("1|2024-01-01|x\n2|2024-01-02|y\n")
    draft = draft_spec(sample)
    assert (draft.header, draft.delimiter) == (False, "|")
    assert [c.name for c in draft.columns] == ["column_1", "column_2", "column_3"]
    assert yaml.safe_load(draft.yaml())["source"] == {"delimiter": "|", "header": False}


def test_init_cli_writes_a_valid_spec_and_refuses_to_overwrite(tmp_path: Path, repo: Path, capsys) -> None:
    sample = repo / "sample_csv" / "deliveries" / "01" / "accounts" / "accounts.csv"
    out = tmp_path / "accounts.yaml"
    assert main(["init", "--sample", str(sample), "--out", str(out)]) == 0
    assert "accounts.yaml: dataset 'accounts'" in capsys.readouterr().err
    assert main(["validate-spec", str(out)]) == 0
    assert main(["init", "--sample", str(sample), "--out", str(out)]) == 2
    assert "exists; --force replaces it" in capsys.readouterr().err
    assert main(["init", "--sample", str(tmp_path / "nope.csv")]) == 2


SAMPLES = sorted((Path(__file__).resolve().parents[2] / "sample_csv" / "deliveries").glob("*/*/*.csv*")) + PUBLIC


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_a_draft_takes_its_own_sample(spark, tmp_path: Path, sample: Path) -> None:
    draft = draft_spec(sample)
    spec_text = draft.yaml()
    parse_spec(yaml.safe_load(spec_text))
    lake = tmp_path / "lake"
    data = sample.read_bytes()
    name = sample.name
    if name.endswith(".gz") and len(data) > 3_000_000:  # keep the run small: the head is the sample
        data = gzip.compress(gzip.decompress(data)[:3_000_000])
    (lake / "raw" / draft.dataset).mkdir(parents=True)
    (lake / "raw" / draft.dataset / name).write_bytes(data)
    summary = run_dataset(make_context(spark, spec_text, lake), stage="raw-to-processed")
    [result] = summary.report.files
    assert result.status == "processed", result
    assert (result.rows_in, result.rows_rejected) == (draft.rows, draft.ragged), sample.name
    if draft.partition_by:
        assert summary.status == "succeeded"


def test_deliver_helper_is_not_needed_here() -> None:
    assert deliver  # the lake above is built by hand: a sample's name and bytes as shipped
