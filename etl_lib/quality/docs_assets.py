"""The scripts, styles and fonts Great Expectations' Data Docs load, vendored from npm.

Great Expectations' page templates load Bootstrap, jQuery, Font Awesome, Vega and a few
more from CDNs. Data Docs rendered here must open offline and fetch nothing, so the same
packages come from the npm registry, at the versions the CDN URLs name (the three that
name a major only, ``vega@5``, ``vega-lite@5`` and ``vega-embed@6``, pinned to that
major's latest), and ``data_docs`` points the pages at local copies.

``make data-docs-assets`` (which ``make test``, ``make demo``, ``make wheel`` and
``make glue-bundle`` run) packs each package with ``npm pack`` into
``.venv/data-docs-assets/`` and copies the files the pages use into
``etl_lib/quality/data_docs_assets/`` (git-ignored), which the wheel carries as package
data: a run on Glue renders Data Docs from the installed wheel.
``ETL_LIB_DATA_DOCS_ASSETS`` names another folder of the same layout.

    python -m etl_lib.quality.docs_assets --cache .venv/data-docs-assets --out etl_lib/quality/data_docs_assets
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from etl_lib.errors import ConfigError

__all__ = ["CDN_FILES", "PACKAGES", "Package", "assets_dir", "missing_assets", "require_assets", "vendor"]

ENV_VAR = "ETL_LIB_DATA_DOCS_ASSETS"
MAKE_TARGET = "make data-docs-assets"


@dataclass(frozen=True)
class Package:
    """One npm package version and the files of it the pages use (a folder ends with ``/``)."""

    name: str
    version: str
    files: tuple[str, ...]

    @property
    def slug(self) -> str:
        """Its folder (and ``npm pack``'s tarball name): ``@fortawesome/x`` 6.6.0 -> ``fortawesome-x-6.6.0``."""
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}"


PACKAGES: tuple[Package, ...] = (
    Package("bootstrap", "4.3.1", ("dist/css/bootstrap.min.css", "dist/js/bootstrap.min.js")),
    Package(
        "bootstrap-table",
        "1.19.1",
        (
            "dist/bootstrap-table.min.css",
            "dist/bootstrap-table.min.js",
            "dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
        ),
    ),
    # The templates load the filter-control styles from 1.19.0 and the rest from 1.19.1.
    Package(
        "bootstrap-table",
        "1.19.0",
        (
            "dist/extensions/filter-control/bootstrap-table-filter-control.css",
            "dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
        ),
    ),
    Package(
        "bootstrap-datepicker",
        "1.9.0",
        ("dist/css/bootstrap-datepicker.min.css", "dist/js/bootstrap-datepicker.min.js"),
    ),
    Package("@forevolve/bootstrap-dark", "1.1.0", ("dist/css/bootstrap-prefers-dark.css",)),
    # all.min.css loads its fonts from ../webfonts/.
    Package("@fortawesome/fontawesome-free", "6.6.0", ("css/all.min.css", "webfonts/")),
    Package("jquery", "3.7.1", ("dist/jquery.min.js",)),
    Package("popper.js", "1.12.9", ("dist/umd/popper.min.js",)),
    Package("vega", "5.33.1", ("build/vega.min.js",)),
    Package("vega-lite", "5.23.0", ("build/vega-lite.min.js",)),
    Package("vega-embed", "6.29.0", ("build/vega-embed.min.js",)),
)


def _file(name: str, version: str, path: str) -> tuple[str, str]:
    package = next(p for p in PACKAGES if (p.name, p.version) == (name, version))
    return package.slug, path


CDN_FILES: dict[str, tuple[str, str]] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": _file(
        "bootstrap", "4.3.1", "dist/css/bootstrap.min.css"
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": _file(
        "bootstrap", "4.3.1", "dist/js/bootstrap.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": _file(
        "bootstrap-table", "1.19.1", "dist/bootstrap-table.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": _file(
        "bootstrap-table", "1.19.1", "dist/bootstrap-table.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (
        _file("bootstrap-table", "1.19.1", "dist/extensions/filter-control/bootstrap-table-filter-control.min.js")
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": (
        _file("bootstrap-table", "1.19.0", "dist/extensions/filter-control/bootstrap-table-filter-control.css")
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": (
        _file("bootstrap-table", "1.19.0", "dist/extensions/filter-control/bootstrap-table-filter-control.min.css")
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": _file(
        "bootstrap-datepicker", "1.9.0", "dist/css/bootstrap-datepicker.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": _file(
        "bootstrap-datepicker", "1.9.0", "dist/js/bootstrap-datepicker.min.js"
    ),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": _file(
        "@forevolve/bootstrap-dark", "1.1.0", "dist/css/bootstrap-prefers-dark.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": _file(
        "@fortawesome/fontawesome-free", "6.6.0", "css/all.min.css"
    ),
    "https://code.jquery.com/jquery-3.7.1.min.js": _file("jquery", "3.7.1", "dist/jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": _file(
        "popper.js", "1.12.9", "dist/umd/popper.min.js"
    ),
    # The package's default file, which jsDelivr serves for a bare package URL.
    "https://cdn.jsdelivr.net/npm/vega@5": _file("vega", "5.33.1", "build/vega.min.js"),
    "https://cdn.jsdelivr.net/npm/vega-lite@5": _file("vega-lite", "5.23.0", "build/vega-lite.min.js"),
    "https://cdn.jsdelivr.net/npm/vega-embed@6": _file("vega-embed", "6.29.0", "build/vega-embed.min.js"),
}
"""Each URL Great Expectations' templates load, and the vendored file that replaces it:
(package folder, path inside the package)."""


# --- At render time ---------------------------------------------------------------------


def assets_dir() -> Path:
    """The vendored files: ``$ETL_LIB_DATA_DOCS_ASSETS``, else the package's own folder."""
    override = os.environ.get(ENV_VAR)
    return Path(override) if override else Path(__file__).resolve().parent / "data_docs_assets"


def missing_assets(root: Path) -> list[str]:
    """The vendored files (``slug/path``) absent from ``root``; a folder counts when it has a file."""
    missing = []
    for package in PACKAGES:
        for path in package.files:
            target = root / package.slug / path
            present = any(p.is_file() for p in target.iterdir()) if path.endswith("/") and target.is_dir() else None
            if not (present if present is not None else target.is_file()):
                missing.append(f"{package.slug}/{path}")
    return missing


def require_assets() -> Path:
    """``assets_dir()``, or a one-line ``ConfigError`` naming what is missing and how to get it."""
    root = assets_dir()
    missing = missing_assets(root)
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise ConfigError(
            f"Data Docs need their scripts and styles, vendored from npm, and {root} lacks {missing[0]}{more}: "
            f"run `{MAKE_TARGET}` in the etl_lib checkout (make test, demo, wheel and glue-bundle run it), "
            f"or set {ENV_VAR} to a folder that has them"
        )
    return root


# --- At build time (make data-docs-assets) ----------------------------------------------


def vendor(cache: Path, out: Path) -> None:
    """``npm pack`` each package into ``cache`` (once) and copy the files the pages use to
    ``out/{slug}/``; ``out`` is replaced whole."""
    cache.mkdir(parents=True, exist_ok=True)
    wanted = [p for p in PACKAGES if not (cache / f"{p.slug}.tgz").is_file()]
    if wanted:
        if shutil.which("npm") is None:
            raise ConfigError(
                "npm is missing (Data Docs' scripts and styles come from the npm registry): install Node.js 20+"
            )
        specs = [f"{p.name}@{p.version}" for p in wanted]
        command = ["npm", "pack", "--silent", "--pack-destination", str(cache), *specs]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.is_dir() else None) as tmp:
        staged = Path(tmp) / "assets"
        for package in PACKAGES:
            _extract(cache / f"{package.slug}.tgz", package, staged / package.slug)
        missing = missing_assets(staged)
        if missing:
            raise ConfigError(f"npm packages lack files Data Docs use: {', '.join(missing)}")
        if out.exists():
            shutil.rmtree(out)
        staged.rename(out)


def _extract(tarball: Path, package: Package, target: Path) -> None:
    """The package's listed files from its npm tarball (whose files are under ``package/``)."""
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive.getmembers():
            path = member.name.removeprefix("package/")
            if not member.isfile() or ".." in path.split("/"):
                continue
            if not any(path == f or (f.endswith("/") and path.startswith(f)) for f in package.files):
                continue
            source = archive.extractfile(member)
            if source is None:
                continue
            destination = target / path
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(source.read())


def main(argv: list[str] | None = None) -> int:
    """Command line of ``make data-docs-assets``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, required=True, help="where npm pack leaves the packages")
    parser.add_argument("--out", type=Path, required=True, help="the vendored files' folder (replaced)")
    args = parser.parse_args(argv)
    try:
        vendor(args.cache, args.out)
    except (ConfigError, subprocess.CalledProcessError) as exc:
        print(f"data-docs-assets: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
