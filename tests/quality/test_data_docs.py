"""Great Expectations' Data Docs of the stored validation results open offline and fetch nothing.

One run (the spec and files of ``test_validations``: a.csv processed with a failed ``warn``
expectation, b.csv failed on a ``fail`` one), rendered once; the pages are read back as HTML.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from etl_lib.errors import ConfigError, EtlError
from etl_lib.quality.data_docs import render_data_docs
from etl_lib.quality.docs_assets import CDN_FILES, PACKAGES, assets_dir
from etl_lib.runner.run import RunSummary, run_dataset
from etl_lib.storage.local import LocalStorage
from etl_lib.write.staging import file_id
from tests.conftest import deliver, make_context
from tests.quality.test_validations import A_CSV, B_CSV, SPEC

REPO = Path(__file__).resolve().parents[2]
NETWORK = re.compile(r"^\s*([a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]*?)['"]?\s*\)|@import\s+['"]([^'"]+)['"]""", re.IGNORECASE)
# How Great Expectations words each expectation of SPEC on its page.
WORDING = [
    "values must be greater than or equal to 0 and less than or equal to 2",
    "values must not be null, at least 50 % of the time",
    "values must be unique",
    "distinct values must belong to this set",
    "Must have greater than or equal to 1 rows",
]


class References(HTMLParser):
    """Every address a page refers to, by kind: ``resource`` (what a browser loads by itself)
    and ``link`` (an ``a``'s ``href``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.resource: list[str] = []
        self.link: list[str] = []
        self.text: list[str] = []
        self._style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name == "href" and tag == "a":
                self.link.append(value)
            elif name in ("src", "href", "data", "poster", "background"):
                self.resource.append(value)
            elif name == "srcset":
                self.resource += [part.split()[0] for part in value.split(",") if part.strip()]
            elif name == "style":
                self.resource += css_references(value)
        self._style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._style = False if tag == "style" else self._style

    def handle_data(self, data: str) -> None:
        if self._style:
            self.resource += css_references(data)
        else:
            self.text.append(data)


def css_references(css: str) -> list[str]:
    return [a or b for a, b in CSS_URL.findall(css)]


def read(page: Path) -> References:
    parser = References()
    parser.feed(page.read_text(encoding="utf-8"))
    parser.close()
    return parser


def words(page: Path) -> str:
    return re.sub(r"\s+", " ", " ".join(read(page).text))


@pytest.fixture(scope="module")
def site(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, RunSummary]:
    lake = tmp_path_factory.mktemp("data_docs") / "lake"
    deliver(lake, "tx", "a.csv", A_CSV)
    deliver(lake, "tx", "b.csv", B_CSV)
    summary = run_dataset(make_context(spark, SPEC, lake), stage="raw-to-processed")
    out = lake.parent / "site"
    pages = render_data_docs(LocalStorage(str(lake)), ["tx", "other"], out)
    return out, pages, summary


def test_one_page_per_file_with_its_expectations_and_an_index(site: tuple[Path, dict, RunSummary]) -> None:
    out, pages, summary = site
    run_id = summary.report.run.run_id

    assert pages == {
        ("tx", "raw/tx/a.csv"): f"validations/tx/{file_id('raw/tx/a.csv')}.html",
        ("tx", "raw/tx/b.csv"): f"validations/tx/{file_id('raw/tx/b.csv')}.html",
    }
    for (_, source_key), page in pages.items():
        text = words(out / page)
        assert source_key in text and run_id in text and "Status: Failed" in text
        for wording in WORDING:
            assert wording in text, (page, wording)
    assert "1 unexpected values found. 25% of 4 total rows." in words(out / pages[("tx", "raw/tx/a.csv")])
    index = (out / "index.html").read_text(encoding="utf-8")
    assert all(page in index for page in pages.values())
    assert "raw/tx/a.csv" in index and "raw/tx/b.csv" in index


def test_pages_refer_to_nothing_on_the_network_and_everything_they_load_is_there(
    site: tuple[Path, dict, RunSummary],
) -> None:
    out, pages, _ = site
    loaded: set[Path] = set()
    for page in [out / "index.html", *(out / p for p in pages.values())]:
        refs = read(page)
        assert refs.resource, page
        assert [r for r in refs.resource + refs.link if NETWORK.match(r)] == [], page
        for ref in refs.resource:
            if not ref.startswith(("#", "data:")):
                target = (page.parent / ref.split("?")[0]).resolve()
                assert target.is_file(), (page.name, ref)
                loaded.add(target)
        for ref in refs.link:
            if not ref.startswith("#"):
                assert (page.parent / ref).resolve().is_file(), (page.name, ref)
    # Fonts and images the styles load come along too.
    for css in [p for p in loaded if p.suffix == ".css"]:
        for ref in css_references(css.read_text(encoding="utf-8")):
            if not ref.startswith("data:"):
                assert not NETWORK.match(ref), (css.name, ref)
                assert (css.parent / ref.split("?")[0].split("#")[0]).resolve().is_file(), (css.name, ref)
    fonts = [p.name for p in loaded] + [p.name for p in (out / "static").rglob("*.woff2")]
    assert "fa-solid-900.woff2" in fonts and "jquery.min.js" in fonts


def test_rendering_contacts_no_one(
    site: tuple[Path, dict, RunSummary], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, _, _ = site
    tried: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        tried.append(args)
        raise OSError("no network in this test")

    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("GX_ANALYTICS_ENABLED", "true")
    lake = out.parent / "lake"

    pages = render_data_docs(LocalStorage(str(lake)), ["tx"], tmp_path / "site")

    assert tried == [] and len(pages) == 2
    assert os.environ["GX_ANALYTICS_ENABLED"] == "false"


def test_missing_assets_are_named_with_the_make_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETL_LIB_DATA_DOCS_ASSETS", str(tmp_path / "nothing"))

    with pytest.raises(
        ConfigError,
        match=r"lacks bootstrap-4\.3\.1/dist/css/bootstrap\.min\.css and \d+ more: run `make data-docs-assets`",
    ):
        render_data_docs(LocalStorage(str(tmp_path / "lake")), ["tx"], tmp_path / "site")
    assert not (tmp_path / "site").exists()


def test_a_vendored_file_that_is_not_the_cdns_is_refused(
    site: tuple[Path, dict, RunSummary], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, _, _ = site
    assets = tmp_path / "assets"
    shutil.copytree(assets_dir(), assets)
    (assets / "popper.js-1.12.9" / "dist" / "umd" / "popper.min.js").write_text("/* something else */")
    monkeypatch.setenv("ETL_LIB_DATA_DOCS_ASSETS", str(assets))

    # The templates name popper.js with its digest (integrity="sha384-..."): checked, then dropped.
    with pytest.raises(EtlError, match=r"popper\.min\.js is not the file https://cdnjs\.cloudflare\.com/\S+ names"):
        render_data_docs(LocalStorage(str(out.parent / "lake")), ["tx"], tmp_path / "site")


def test_every_address_great_expectations_templates_load_has_a_local_copy() -> None:
    import great_expectations

    templates = Path(great_expectations.__file__).parent / "render" / "view" / "templates"
    loaded = set()
    for template in templates.glob("*.j2"):
        text = template.read_text(encoding="utf-8")
        loaded |= set(re.findall(r"""<(?:script|link)\b[^>]*?(?:src|href)="(https?://[^"]+)\"""", text))

    assert loaded and loaded <= set(CDN_FILES), sorted(loaded - set(CDN_FILES))


def test_the_wheel_carries_the_vendored_files(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)]
    subprocess.run([*command, str(REPO)], check=True, capture_output=True)
    [wheel] = tmp_path.glob("etl_lib-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())

    root = "etl_lib/quality/data_docs_assets"
    for package in PACKAGES:
        for path in package.files:
            wanted = f"{root}/{package.slug}/{path}"
            assert any(n.startswith(wanted) for n in names) if path.endswith("/") else wanted in names, wanted
    assert not any("/." in n for n in names if n.startswith(root)), "the make stamp stays out of the wheel"
