"""The HTML report: what it collects equals the ledger and the rejected rows; it opens in a real
browser (Debian's Chromium through Playwright) with no console error and no request leaving the
machine; its links lead to the receipts and the Data Docs."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from etl_lib.cli.main import main
from etl_lib.config import open_ledger, open_storage
from etl_lib.report.collect import collect
from etl_lib.report.publish import REPORT_PREFIX, write_report
from etl_lib.runner.rejects import rejects
from etl_lib.spec.load import load_spec

TX_SPEC = """
dataset: tx
description: Card payments of a test partner.
columns:
  - {name: tx_id, required: true}
  - {name: ts, type: timestamp, required: true}
  - {name: amount, type: int, required: true}
partition_by: ts
expectations:
  - {type: expect_column_values_to_be_between, kwargs: {column: amount, max_value: 100}, on_failure: warn}
  - {type: expect_column_values_to_not_be_null, kwargs: {column: tx_id}}
"""
FIRST = "tx_id,ts,amount\nA,2024-01-05 10:00:00,5\nB,2024-01-06 10:00:00,500\nC,2024-01-07 10:00:00,n/a\nD,nope,1\n"
SECOND = "tx_id,ts,amount\nE,2024-02-01 10:00:00,7\nF,2024-02-02 10:00:00,8\n"
SAMPLE_SPECS = ["clients", "accounts", "transactions"]


def deliver(lake: Path, name: str, content: bytes | str) -> None:
    path = lake / "raw" / "tx" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    time.sleep(0.01)


@pytest.fixture(scope="module")
def report_lake(demo_lake: Path, tmp_path_factory: pytest.TempPathFactory, repo: Path) -> tuple[Path, list[str]]:
    """The demo's lake, plus a dataset with expectations: a run with a failed file and a run after it."""
    lake = tmp_path_factory.mktemp("report") / "lake"
    shutil.copytree(demo_lake, lake)
    spec = lake.parent / "tx.yaml"
    spec.write_text(TX_SPEC)
    deliver(lake, "first.csv", FIRST)
    deliver(lake, "broken.csv.gz", b"not gzip")
    assert main(["run", "--spec", str(spec), "--lake", str(lake)]) == 3
    deliver(lake, "second.csv", SECOND)
    assert main(["run", "--spec", str(spec), "--lake", str(lake)]) == 0
    specs = [str(repo / "sample_csv" / "specs" / f"{n}.yaml") for n in SAMPLE_SPECS] + [str(spec)]
    return lake, specs


def test_what_the_report_shows_equals_the_ledger_and_the_rejected_rows(report_lake) -> None:
    lake, spec_paths = report_lake
    storage = open_storage(str(lake))
    ledger = open_ledger(None, storage)
    report = collect(storage, ledger, [load_spec(p) for p in spec_paths])
    assert [d.name for d in report.datasets] == [*SAMPLE_SPECS, "tx"]
    for dataset in report.datasets:
        runs = ledger.runs(dataset=dataset.name, limit=30)
        assert [v.run.run_id for v in dataset.runs] == [r.run_id for r in runs]
        for view in dataset.runs:
            last = {}
            for state in ledger.history(view.run.run_id):
                if state.status != "claimed":
                    last[state.source_key] = (state.status, state.rows_in, state.rows_rejected)
            assert {f.source_key: (f.status, f.rows_in, f.rows_rejected) for f in view.files} == last
        # Rows per rule from the receipts equal the rejected outputs streamed row by row.
        streamed: dict[str, int] = {}
        for found in rejects(storage, ledger, dataset.name):
            for reason in found.reasons.values():
                if not reason.reason.startswith("file failed: "):
                    streamed[reason.reason] = streamed.get(reason.reason, 0) + reason.rows
        assert {r.rule: r.rows for r in dataset.rules} == streamed
        assert all(0 < len(r.examples) <= 3 for r in dataset.rules)
    tx = report.datasets[-1]
    assert [v.run.status for v in tx.runs] == ["succeeded", "partial"]
    assert [d.source_key for d in tx.failed_files] == ["raw/tx/broken.csv.gz"]
    assert [(d.source_key, d.rows_in, d.rows_rejected) for d in tx.deliveries] == [
        ("raw/tx/first.csv", 4, 2),
        ("raw/tx/broken.csv.gz", 0, 0),
        ("raw/tx/second.csv", 2, 0),
    ]
    between = next(e for e in tx.expectations if e.expectation == "expect_column_values_to_be_between")
    assert (between.passed, between.failed, between.on_failure) == (1, 1, "warn")
    assert between.latest_success  # second.csv met it
    assert all(f.duration_s and f.duration_s > 0 for v in tx.runs for f in v.files)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is missing: `make test` installs it (apt-get install chromium)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


def artifacts(repo: Path) -> Path:
    folder = Path(os.environ.get("ETL_LIB_ARTIFACTS") or repo / "build" / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Page:
    """A page opened in Chromium, with every console message and request it made."""

    def __init__(self, browser, url: str) -> None:
        self.page = browser.new_page(viewport={"width": 1300, "height": 900})
        self.console: list[tuple[str, str]] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.console.append((m.type, m.text)))
        self.page.on("pageerror", lambda e: self.console.append(("pageerror", str(e))))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(url)
        self.page.wait_for_load_state("load")

    def assert_clean(self) -> None:
        assert [m for m in self.console if m[0] in ("error", "warning", "pageerror")] == []
        assert [u for u in self.requests if not u.startswith(("file://", "data:"))] == []


def test_the_report_in_a_browser(report_lake, browser, tmp_path: Path, repo: Path) -> None:
    lake, specs = report_lake
    out = tmp_path / "report"
    assert main(["report", "--lake", str(lake), "--spec", *specs, "--out", str(out)]) == 0
    opened = Page(browser, (out / "index.html").as_uri())
    page = opened.page
    page.screenshot(path=str(artifacts(repo) / "report.png"), full_page=True)
    opened.assert_clean()

    assert page.locator("section.dataset h2").all_inner_texts() == [*SAMPLE_SPECS, "tx"]
    overview = page.locator("main > table tbody tr")
    assert overview.count() == 4
    cells = overview.nth(3).locator("td").all_inner_texts()
    assert (cells[0], cells[2], cells[3], cells[5]) == ("tx", "3", "1", "33.3%")  # 2 of 6 rows rejected
    tx = page.locator("#ds-tx")
    runs = tx.locator("h3:text('Runs') + p + svg + table > tbody > tr")
    assert runs.count() == 2
    assert runs.nth(1).locator("td").nth(2).inner_text() == "partial"
    assert tx.locator("h3:text('Runs') + p + svg rect").count() == 2
    # The partial run's files, opened: the failed file with its reason and every file's duration.
    runs.nth(1).locator("summary").click()
    files = runs.nth(1).locator("details tbody tr")
    texts = {row.locator("td").first.inner_text(): row.locator("td").all_inner_texts() for row in files.all()}
    assert set(texts) == {"raw/tx/first.csv", "raw/tx/broken.csv.gz"}
    assert texts["raw/tx/broken.csv.gz"][1] == "failed" and "cannot read" in texts["raw/tx/broken.csv.gz"][6]
    assert texts["raw/tx/first.csv"][1:5] == ["published", "4", "2", "2"]
    assert "warning: expect_column_values_to_be_between" in texts["raw/tx/first.csv"][6]
    assert all(re.fullmatch(r"\d+\.\d s", row[5]) for row in texts.values())
    # Rejected rows by rule: one bar per rule, a table row per rule with examples and receipt links.
    rules = tx.locator("h3:text('Rejected rows by reason') ~ table").first.locator("tbody tr")
    assert rules.count() == 2
    assert tx.locator("h3:text('Rejected rows by reason') ~ svg").first.locator("rect").count() == 2
    examples = " ".join(rules.all_text_contents())
    assert "line 4 of raw/tx/first.csv" in examples and "line 5 of raw/tx/first.csv" in examples
    # Trends: one column per delivery in each chart.
    assert tx.locator("h3:text('Trends') ~ svg").nth(0).locator("rect").count() == 3
    assert tx.locator("h3:text('Trends') ~ svg").nth(1).locator("rect").count() == 3
    # Expectations, and every link leads to a file that exists.
    expectations = tx.locator("h3:text('Expectations') + p + table tbody tr")
    assert expectations.count() == 2
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    local = [h for h in hrefs if h.startswith("file://")]
    assert len(local) > 10
    for href in local:
        assert Path(unquote(urlparse(href).path)).exists(), href
    receipts = [h for h in local if "/receipts/tx/" in h]
    assert receipts and all(h.endswith(".json") or h.endswith(".csv") for h in receipts)

    # The Data Docs page of the file whose warn expectation failed.
    target = next(h for h in hrefs if "/data-docs/" in h and "first.csv" in unquote(h))
    opened_docs = Page(browser, target)
    opened_docs.page.screenshot(path=str(artifacts(repo) / "data-docs.png"), full_page=True)
    opened_docs.assert_clean()
    text = opened_docs.page.inner_text("body")
    assert "Data asset: raw/tx/first.csv" in text and "Failed" in text
    assert "values must be less than or equal to" in text and "1 unexpected values found" in text
    assert "values must never be null" in text
    opened.page.close()
    opened_docs.page.close()


def test_the_report_in_the_lake_links_relative_and_drops_stale_pages(report_lake, tmp_path: Path) -> None:
    lake, _ = report_lake
    copy = tmp_path / "lake"
    shutil.copytree(lake, copy)
    stale = copy / REPORT_PREFIX / "data-docs" / "gone.html"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("old")
    storage = open_storage(str(copy))
    where = write_report(storage, open_ledger(None, storage))
    page = Path(where)
    assert page == copy / REPORT_PREFIX / "index.html"
    assert not stale.exists()
    links = re.findall(r'href="(\.\./\.\./receipts/[^"]+)"', page.read_text())
    assert links and all((page.parent / unquote(link)).resolve().is_file() for link in links)
    assert (copy / REPORT_PREFIX / "data-docs" / "index.html").is_file()


def test_report_on_a_lake_without_a_ledger_fails_clearly(tmp_path: Path, capsys) -> None:
    (tmp_path / "lake").mkdir()
    assert main(["report", "--lake", str(tmp_path / "lake"), "--out", str(tmp_path / "r")]) == 2
    assert "no ledger at" in capsys.readouterr().err
    assert not (tmp_path / "r").exists() and not (tmp_path / "lake" / "_meta").exists()


def test_the_glue_jobs_rewrite_the_report_unless_told_not_to(spark, tmp_path: Path, monkeypatch) -> None:
    from etl_lib.glue.adapter import run_glue_job

    monkeypatch.setattr("etl_lib.spark.local_session", lambda **_: spark)
    lake = tmp_path / "lake"
    deliver(lake, "first.csv", FIRST)
    spec = tmp_path / "tx.yaml"
    spec.write_text(TX_SPEC)
    argv = ["job.py", "--JOB_NAME", "j", "--dataset_spec", str(spec), "--lake", str(lake)]
    assert run_glue_job([*argv, "--report", "maybe"], stage="raw-to-processed") == 2
    assert run_glue_job([*argv, "--report", "false"], stage="raw-to-processed") == 0
    assert not (lake / REPORT_PREFIX).exists()
    assert run_glue_job(argv, stage="processed-to-analytics") == 0
    page = (lake / REPORT_PREFIX / "index.html").read_text()
    assert "raw/tx/first.csv" in page and "processed-to-analytics" in page and "raw-to-processed" in page
