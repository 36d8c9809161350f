"""Great Expectations' Data Docs of the stored validation results, made to open offline.

``render_data_docs`` writes, below ``out_dir``::

    index.html                               Great Expectations' index: every file's result
    validations/{dataset}/{file_id}.html     its validation result page, one per source file
    static/images/                           its favicon and logo (from the installed package)
    static/vendor/{package}-{version}/       the scripts, styles and fonts (``docs_assets``)

Great Expectations renders every page itself (``ValidationResultsPageRenderer``,
``SiteIndexPageRenderer`` and their Jinja views), from the results ``quality.validations``
keeps; no data context, no Great Expectations project written anywhere, usage statistics
off. Its templates load about twenty files from CDNs and its logo from an S3 bucket; each
such reference is pointed at the local copy, links to its website are unwrapped to text,
and a reference with no local copy is dropped with a warning. The result is checked: a
page that would still fetch anything from the network is never written.
"""

from __future__ import annotations

import base64
import hashlib
import html
import logging
import os
import posixpath
import re
import shutil
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl_lib.errors import EtlError
from etl_lib.quality.docs_assets import CDN_FILES, MAKE_TARGET, PACKAGES, require_assets
from etl_lib.quality.validations import load_validation_results
from etl_lib.storage.base import Storage
from etl_lib.write.staging import file_id

if TYPE_CHECKING:
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult

__all__ = ["external_references", "render_data_docs"]

log = logging.getLogger("etl_lib.data_docs")

INDEX = "index.html"
_SITE_NAME = "etl_lib validation results"
# Great Expectations' logo bucket: the images it has in its package instead (it ships no dark logo).
_GX_WEB_ASSETS = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
_GX_IMAGES = {"logo-long.png": "logo-long.png", "full_logo_dark.png": "logo-long.png", "favicon.ico": "favicon.ico"}
_EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)
_NOT_A_PATH = ("#", "data:", "javascript:", "mailto:")

_ANCHOR = re.compile(r"<a\b(?P<attrs>[^>]*)>(?P<inner>.*?)</a\s*>", re.IGNORECASE | re.DOTALL)
_RESOURCE = re.compile(
    r"<(?P<tag>script|link|img|source|iframe|embed)\b(?P<attrs>[^>]*)>(?P<end>\s*</(?P=tag)\s*>)?", re.IGNORECASE
)
_ATTRIBUTE = re.compile(r"""(?P<name>[\w:-]+)\s*=\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)')""")
_CSS_URL = re.compile(r"""url\(\s*(?P<q>['"]?)(?P<url>[^'")]*?)(?P=q)\s*\)""", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"""@import\s+(?P<q>['"])(?P<url>[^'"]*)(?P=q)""", re.IGNORECASE)
# The newsletter footer of every page: marketing, with nothing of the results in it.
_FOOTER = re.compile(r"<footer\b.*?</footer\s*>", re.IGNORECASE | re.DOTALL)


def render_data_docs(storage: Storage, datasets: Sequence[str], out_dir: Path) -> dict[tuple[str, str], str]:
    """Write Great Expectations' Data Docs of ``datasets``' stored validation results below
    ``out_dir``: one page per source file and an index (``index.html``); pages that open
    offline and fetch nothing. Returns (dataset, source key) -> the file's page, relative
    to ``out_dir`` (``validations/{dataset}/{file_id}.html``).

    Raises ``ConfigError`` (one line, before anything is written) when the vendored scripts
    and styles are missing: ``make data-docs-assets`` provides them.
    """
    assets = require_assets()
    os.environ["GX_ANALYTICS_ENABLED"] = "false"  # never any usage statistics
    results = [(name, result) for name in dict.fromkeys(datasets) for result in load_validation_results(storage, name)]
    from great_expectations.render.renderer import SiteIndexPageRenderer, ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView

    out_dir.mkdir(parents=True, exist_ok=True)
    known = _copy_static(assets, out_dir)
    pages = {(dataset, _source_key(result)): _page(dataset, _source_key(result)) for dataset, result in results}
    known |= {INDEX, *pages.values()}

    renderer, view = ValidationResultsPageRenderer(), DefaultJinjaPageView()
    links = []
    for dataset, result in results:
        page = pages[(dataset, _source_key(result))]
        _write(out_dir / page, _offline_html(view.render(renderer.render(result)), page, known, out_dir))
        links.append(_index_link(dataset, result, page))
    index = SiteIndexPageRenderer.render({"site_name": _SITE_NAME, "validations_links": links})
    _write(out_dir / INDEX, _offline_html(DefaultJinjaIndexPageView().render(index), INDEX, known, out_dir))
    return pages


def _meta(result: ExpectationSuiteValidationResult) -> dict[str, Any]:
    """The result's meta as the plain dict ``quality.validations`` wrote."""
    return dict(result.meta)


def _source_key(result: ExpectationSuiteValidationResult) -> str:
    return str(_meta(result)["source_key"])


def _page(dataset: str, source_key: str) -> str:
    return f"validations/{dataset}/{file_id(source_key)}.html"


def _index_link(dataset: str, result: ExpectationSuiteValidationResult, page: str) -> dict[str, Any]:
    """One row of the index page's table, as Great Expectations' site builder makes it."""
    meta = _meta(result)
    run = meta.get("run_id") or {}
    return {
        "expectation_suite_name": dataset,
        "filepath": page,
        "run_id": None,
        "batch_identifier": meta.get("file_id"),
        "validation_success": result.success,
        "run_time": run.get("run_time"),
        "run_name": run.get("run_name"),
        "asset_name": _source_key(result),
        "batch_kwargs": None,
        "batch_spec": meta.get("batch_spec"),
        "expectation_suite_filepath": None,
    }


def _copy_static(assets: Path, out_dir: Path) -> set[str]:
    """Copy the vendored files and Great Expectations' images to ``out_dir/static/``; their
    paths relative to ``out_dir``."""
    import great_expectations

    copied: list[Path] = []
    for package in PACKAGES:
        for path in package.files:
            source = assets / package.slug / path
            target = out_dir / "static" / "vendor" / package.slug / path
            files = sorted(p for p in source.rglob("*") if p.is_file()) if path.endswith("/") else [source]
            for file in files:
                destination = target / file.relative_to(source) if path.endswith("/") else target
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, destination)
                copied.append(destination)
    images = Path(great_expectations.__file__).parent / "render" / "view" / "static" / "images"
    for name in sorted(set(_GX_IMAGES.values())):
        destination = out_dir / "static" / "images" / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(images / name, destination)
        copied.append(destination)
    return {p.relative_to(out_dir).as_posix() for p in copied}


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# --- Offline ----------------------------------------------------------------------------


def _offline_html(page_html: str, page: str, known: set[str], root: Path) -> str:
    """``page_html`` (at ``page``, relative to the site ``root``) with every network reference
    pointed at a local file of ``known`` (site-relative paths), links to other sites
    unwrapped, and what has no local copy dropped. Raises ``EtlError`` if a network
    reference is left (the page is never written)."""
    local = _Relinker(page, known, root)
    text = _FOOTER.sub("", page_html)
    text = _ANCHOR.sub(local.anchor, text)
    text = _RESOURCE.sub(local.resource, text)
    text = _CSS_URL.sub(local.css_url, text)
    left = external_references(text)
    if left:
        raise EtlError(f"{page}: Great Expectations' page still loads {', '.join(left)}; nothing local replaces it")
    return text


class _Relinker:
    """Rewrites the references of one page."""

    def __init__(self, page: str, known: set[str], root: Path) -> None:
        self.page = page
        self.known = known
        self.root = root

    def local(self, value: str) -> str | None:
        """The reference to use instead of ``value``: itself when it is local and right, the
        local copy of a network file, or None when there is nothing local to point at."""
        plain = html.unescape(value).strip()
        if not plain or plain.startswith(_NOT_A_PATH):
            return value
        path = plain.split("#")[0].split("?")[0]
        if _EXTERNAL.match(plain):
            if path in CDN_FILES:
                slug, file = CDN_FILES[path]
                return self._relative(f"static/vendor/{slug}/{file}")
            name = _GX_IMAGES.get(path.removeprefix(_GX_WEB_ASSETS)) if path.startswith(_GX_WEB_ASSETS) else None
            return self._relative(f"static/images/{name}") if name else None
        # Great Expectations' own relative paths assume its site's folder depth: re-anchor them.
        if posixpath.normpath(posixpath.join(posixpath.dirname(self.page), path)) in self.known:
            return value
        anchored = re.sub(r"^(?:\.{1,2}/)+", "", path)
        return self._relative(anchored) if anchored in self.known else None

    def _relative(self, target: str) -> str:
        return posixpath.relpath(target, posixpath.dirname(self.page) or ".")

    def anchor(self, match: re.Match[str]) -> str:
        attrs = match.group("attrs")
        href = _attribute(attrs, "href")
        if href is None:
            return match.group(0)
        target = self.local(href)
        if target is None:  # another site, or a page this site does not have: keep the text
            return match.group("inner")
        return f"<a{_set_attribute(attrs, 'href', target)}>{match.group('inner')}</a>"

    def resource(self, match: re.Match[str]) -> str:
        tag, attrs = match.group("tag"), match.group("attrs")
        name = "href" if tag.lower() == "link" else "src"
        value = _attribute(attrs, name)
        if value is None:
            return match.group(0)
        target = self.local(value)
        if target is None:
            log.warning("Data Docs: %s has no local copy; its <%s> tag is left out", value, tag)
            return ""
        if target == value:
            return match.group(0)
        integrity = _attribute(attrs, "integrity")
        if integrity:
            self._verify(value, target, integrity)
        # A local file: no subresource check and no CORS mode (which fails for file:// pages).
        attrs = _remove_attributes(_set_attribute(attrs, name, target), ("integrity", "crossorigin"))
        return f"<{tag}{attrs}>{match.group('end') or ''}"

    def css_url(self, match: re.Match[str]) -> str:
        target = self.local(match.group("url"))
        if target is None:
            log.warning("Data Docs: %s has no local copy; left out of the page's styles", match.group("url"))
            return "none"
        return f"url('{target}')"

    def _verify(self, value: str, target: str, integrity: str) -> None:
        """The local copy has the digest the tag's ``integrity`` names: it is the CDN's file."""
        site_path = posixpath.normpath(posixpath.join(posixpath.dirname(self.page), target))
        algorithm, _, expected = integrity.strip().partition("-")
        if algorithm in ("sha256", "sha384", "sha512") and _digest(self.root / site_path, algorithm) != expected:
            raise EtlError(f"{site_path} is not the file {value} names (integrity {integrity}): run `{MAKE_TARGET}`")


def _attribute(attrs: str, name: str) -> str | None:
    for match in _ATTRIBUTE.finditer(attrs):
        if match.group("name").lower() == name:
            return match.group("dq") if match.group("dq") is not None else match.group("sq")
    return None


def _set_attribute(attrs: str, name: str, value: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group("name").lower() != name:
            return match.group(0)
        return f'{match.group("name")}="{html.escape(value, quote=True)}"'

    return _ATTRIBUTE.sub(replace, attrs)


def _remove_attributes(attrs: str, names: Sequence[str]) -> str:
    return _ATTRIBUTE.sub(lambda m: "" if m.group("name").lower() in names else m.group(0), attrs)


def _digest(path: Path, algorithm: str) -> str:
    return base64.b64encode(hashlib.new(algorithm, path.read_bytes()).digest()).decode()


# --- What a page would fetch ------------------------------------------------------------


def external_references(page_html: str) -> list[str]:
    """Every network address ``page_html`` refers to: in an attribute (``src``, ``href``,
    ``srcset``, ``data``, ``poster``, ``action``, an ``a``'s link too) or in CSS (``url()``,
    ``@import`` in a ``<style>`` or a ``style`` attribute). Empty for a page that opens offline."""
    finder = _ReferenceFinder()
    finder.feed(page_html)
    finder.close()
    return sorted({r for r in finder.references if _EXTERNAL.match(r)})


class _ReferenceFinder(HTMLParser):
    _ATTRIBUTES = frozenset({"src", "href", "srcset", "data", "poster", "action", "background", "formaction"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.references: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in self._ATTRIBUTES:
                self.references += (
                    [part.strip().split(" ")[0] for part in value.split(",")] if name == "srcset" else [value]
                )
            elif name == "style":
                self.references += _css_references(value)
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.references += _css_references(data)


def _css_references(css: str) -> list[str]:
    return [m.group("url") for m in _CSS_URL.finditer(css)] + [m.group("url") for m in _CSS_IMPORT.finditer(css)]
