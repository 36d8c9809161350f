"""Write the HTML report, with the Data Docs of the stored validation results beside it.

Into a local folder (``etl-lib report --out DIR``), or into the lake under
``_meta/report/`` (on AWS, after each run: the customer's bucket). Either way the page is
written last, so a reader never follows its links to pages not written yet, and Data Docs
pages no longer in the report are removed after it. The report is derived state: a failure
leaves the previous one, and the next write replaces it whole.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from etl_lib.errors import EtlError
from etl_lib.ledger.base import Ledger
from etl_lib.report.collect import LakeReport, collect
from etl_lib.report.html import Href, render
from etl_lib.runner.context import RunContext
from etl_lib.spec.model import DatasetSpec
from etl_lib.storage.base import Storage
from etl_lib.storage.local import LocalStorage
from etl_lib.storage.s3 import S3Storage

log = logging.getLogger("etl_lib.report")

REPORT_PREFIX = "_meta/report"
"""Where the report lives in the lake: ``index.html`` and ``data-docs/``."""
PAGE = "index.html"
DOCS = "data-docs"


def write_report(storage: Storage, ledger: Ledger, specs: Sequence[DatasetSpec] = (), out: str | None = None) -> str:
    """Write the report of the lake's datasets (``specs``'s, or every one the ledger knows);
    return where its page is. ``out``: a local folder; None: the lake's ``_meta/report/``."""
    report = collect(storage, ledger, specs)
    if out is not None:
        folder = Path(out).resolve()
        _write_folder(storage, report, folder, lambda key: _link_from(storage, key, folder))
        return str(folder / PAGE)
    with tempfile.TemporaryDirectory(prefix="etl-lib-report-") as tmp:
        _write_folder(storage, report, Path(tmp), lambda key: _link_in_lake(storage, key))
        _upload(storage, Path(tmp))
    return storage.uri(f"{REPORT_PREFIX}/{PAGE}")


def report_after_run(ctx: RunContext) -> str | None:
    """The lake's report rewritten after a dataset's run (the Glue jobs call it)."""
    return rewrite_report(ctx.storage, ctx.ledger)


def rewrite_report(storage: Storage, ledger: Ledger) -> str | None:
    """The lake's report rewritten in ``_meta/report/``; a failure is logged and the run's outcome
    stands: the next run writes the report again. Returns its URI, or None."""
    try:
        where = write_report(storage, ledger, ())
    except (EtlError, OSError) as exc:
        log.warning("the lake's HTML report was not rewritten (the next run tries again): %s", exc)
        return None
    log.info("report: %s", where)
    return where


def _write_folder(storage: Storage, report: LakeReport, folder: Path, href: Href) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    fresh = folder / f".{DOCS}.new"
    shutil.rmtree(fresh, ignore_errors=True)
    pages: dict[tuple[str, str], str] = {}
    docs_index = None
    with_results = [d.name for d in report.datasets if d.validations]
    if with_results:
        from etl_lib.quality.data_docs import render_data_docs

        try:
            rendered = render_data_docs(storage, with_results, fresh)
        except EtlError as exc:  # the report stands without them
            log.warning("report: no Data Docs: %s", exc)
            shutil.rmtree(fresh, ignore_errors=True)
        else:
            pages = {k: f"{DOCS}/{quote(v)}" for k, v in rendered.items()}
            docs_index = f"{DOCS}/index.html"
    shutil.rmtree(folder / DOCS, ignore_errors=True)
    if fresh.exists():
        fresh.rename(folder / DOCS)
    (folder / PAGE).write_text(render(report, href, pages, docs_index), encoding="utf-8")


def _link_from(storage: Storage, key: str, folder: Path) -> str | None:
    """A lake object's link from a report written outside the lake."""
    if isinstance(storage, LocalStorage):
        return quote(os.path.relpath(storage.uri(key), folder))
    return _console(storage, key)


def _link_in_lake(storage: Storage, key: str) -> str | None:
    """A lake object's link from the report in the lake: relative on a local lake (or a synced
    copy of a bucket), the S3 console's page of the object on S3."""
    if isinstance(storage, S3Storage):
        return _console(storage, key)
    return quote("../../" + key)


def _is_asset(key: str) -> bool:
    """A vendored static file of the Data Docs (never a page: pages change with the results)."""
    return "/static/" in key and not key.endswith(".html")


def _console(storage: Storage, key: str) -> str | None:
    if not isinstance(storage, S3Storage):
        return None
    full = storage.uri(key).removeprefix(f"s3://{storage.bucket}/")
    return f"https://s3.console.aws.amazon.com/s3/object/{quote(storage.bucket)}?prefix={quote(full)}"


def _upload(storage: Storage, folder: Path) -> None:
    """Copy the report folder into the lake, its page last; then drop Data Docs pages it no longer has."""
    written = set()
    have = {o.key: o.size for o in storage.list(f"{REPORT_PREFIX}/")}
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p != folder / PAGE)
    for path in [*files, folder / PAGE]:
        key = f"{REPORT_PREFIX}/{path.relative_to(folder).as_posix()}"
        written.add(key)
        if _is_asset(key) and have.get(key) == path.stat().st_size:
            continue  # the Data Docs' scripts, styles and fonts: the same files every time
        kind = mimetypes.guess_type(path.name)[0]
        if kind and kind.startswith("text/"):
            kind += "; charset=utf-8"
        storage.write_bytes(key, path.read_bytes(), kind)
    stale = [o.key for o in storage.list(f"{REPORT_PREFIX}/{DOCS}/") if o.key not in written]
    if stale:
        storage.delete(stale)
