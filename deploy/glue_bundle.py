"""Build the offline Glue bundle: ``dist/glue/`` = the job scripts + one zip of wheels.

AWS Glue 5.0 and later install a "zip of wheels" named in ``--additional-python-modules``
(a file ending in ``.gluewheels.zip`` whose ``wheels/`` folder holds the wheels and a
``requirements.txt``); with ``--python-modules-installer-option --no-index`` pip never
reaches an index, so a job in a VPC without internet starts as well as any other.

The zip holds the etl_lib wheel and every dependency Glue 5.1 does not ship (pydantic,
pydantic-core, PyYAML, great-expectations and what it needs beyond Glue's modules), as
wheels for Glue's platform: CPython 3.11 on manylinux x86_64. Dependencies are resolved
with Glue 5.1's module list (``requirements/glue-5.1-base-requirements.txt``) as pip
constraints, and Glue's own modules are left out, so installing the bundle changes none
of their versions. Every other dependency is pinned to the version installed in the
environment that builds the bundle (the project's ``.venv``, where the tests ran), so
Glue runs what was tested.

    python deploy/glue_bundle.py --out dist/glue                # what `make glue-bundle` runs
    python deploy/glue_bundle.py --download-only --wheelhouse W # fill W for offline builds
    python deploy/glue_bundle.py --out D --wheelhouse W --offline
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

REPO = Path(__file__).resolve().parent.parent
GLUE_MODULES = REPO / "requirements" / "glue-5.1-base-requirements.txt"
# The scripts cloudformation/customer.yaml runs (releases/{version}/glue_jobs/), all three in every release.
JOB_SCRIPTS = ("raw_to_processed.py", "processed_to_analytics.py", "build_models.py")
# Glue 5.1 runs CPython 3.11 on Amazon Linux 2023 (glibc 2.34): any manylinux x86_64 wheel up to glibc 2.34.
MANYLINUX = [f"manylinux_2_{minor}_x86_64" for minor in range(34, 16, -1)]
MANYLINUX += ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]
PLATFORM = [arg for tag in MANYLINUX for arg in ("--platform", tag)]
PLATFORM += ["--python-version", "3.11", "--implementation", "cp"]
PLATFORM += ["--abi", "cp311", "--abi", "abi3", "--abi", "none", "--only-binary=:all:"]
ALLOWED_PLATFORM_TAGS = ("any", "x86_64")


class BundleError(Exception):
    """The bundle cannot be built as promised (a wheel for another platform, a Glue module changed)."""


def glue_modules(path: Path = GLUE_MODULES) -> dict[str, str]:
    """Glue 5.1's modules: canonical name -> version."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            found[canonicalize_name(name)] = version
    return found


def project_wheel(out: Path) -> Path:
    """Build the etl_lib wheel (no dependencies) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("etl_lib-*.whl"):
        old.unlink()
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), "."]
    _run(command, cwd=REPO)
    [wheel] = out.glob("etl_lib-*.whl")
    return wheel


def tested_versions(path: Path) -> Path:
    """A constraints file pinning every distribution installed here (but etl_lib) to its version."""
    from importlib.metadata import distributions

    glue = glue_modules()
    pins = set()
    for dist in distributions():
        name = canonicalize_name(dist.metadata["Name"] or "")
        if name and name != "etl-lib" and name not in glue:
            pins.add(f"{name}=={dist.version}")
    path.write_text("\n".join(sorted(pins)) + "\n", encoding="utf-8")
    return path


def download(requirements: list[str], dest: Path, wheelhouse: Path | None, offline: bool) -> None:
    """``pip download`` wheels for Glue's platform: Glue's modules and the tested versions as constraints."""
    command = [sys.executable, "-m", "pip", "download", "-q", "--dest", str(dest), *PLATFORM]
    with tempfile.TemporaryDirectory(prefix="glue-bundle-") as tmp:
        tested = tested_versions(Path(tmp) / "tested.txt")
        command += ["--constraint", str(GLUE_MODULES), "--constraint", str(tested)]
        if wheelhouse is not None:
            command += ["--find-links", str(wheelhouse)]
        if offline:
            command.append("--no-index")
        _run([*command, *requirements])


def bundle_wheels(wheels: Path) -> dict[str, Path]:
    """The wheels to ship: canonical name -> file, Glue's own modules left out.

    Raises ``BundleError`` when a dependency would replace a Glue module's version or a
    wheel is not for Glue's platform."""
    glue = glue_modules()
    kept = {}
    for wheel in sorted(wheels.glob("*.whl")):
        name, version, _, tags = parse_wheel_filename(wheel.name)
        if name in glue:
            if str(version) != glue[name]:
                raise BundleError(f"{wheel.name}: would replace Glue 5.1's {name}=={glue[name]}")
            continue
        bad = [
            t for t in tags if t.interpreter not in ("py3", "cp311") or not t.platform.endswith(ALLOWED_PLATFORM_TAGS)
        ]
        if bad:
            raise BundleError(f"{wheel.name}: not a wheel for CPython 3.11 on manylinux x86_64 ({bad[0]})")
        kept[name] = wheel
    return kept


def write_zip(kept: dict[str, Path], target: Path) -> None:
    """``target`` (``*.gluewheels.zip``): ``wheels/*.whl`` and ``wheels/requirements.txt`` pinning each."""
    pins = []
    for wheel in kept.values():
        name, version, _, _ = parse_wheel_filename(wheel.name)
        pins.append(f"{name}=={version}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for wheel in kept.values():
            archive.write(wheel, f"wheels/{wheel.name}")
        archive.writestr("wheels/requirements.txt", "\n".join(sorted(pins)) + "\n")


def build_bundle(out: Path, wheelhouse: Path | None = None, offline: bool = False) -> Path:
    """Write ``out/``: the job scripts and ``etl_lib-{version}.gluewheels.zip``; return the zip."""
    missing = [script for script in JOB_SCRIPTS if not (REPO / "glue_jobs" / script).is_file()]
    if missing:
        raise BundleError(f"glue_jobs/{', '.join(missing)} missing: cloudformation/customer.yaml runs every job script")
    with tempfile.TemporaryDirectory(prefix="glue-bundle-") as tmp:
        work = Path(tmp)
        wheel = project_wheel(work / "project")
        download([f"{wheel}[quality]"], work / "wheels", wheelhouse, offline)
        kept = bundle_wheels(work / "wheels")
        if "etl-lib" not in kept:
            raise BundleError("the etl_lib wheel is missing from the bundle")
        version = parse_wheel_filename(wheel.name)[1]
        if out.exists():
            shutil.rmtree(out)
        target = out / f"etl_lib-{version}.gluewheels.zip"
        write_zip(kept, target)
    for script in JOB_SCRIPTS:
        shutil.copyfile(REPO / "glue_jobs" / script, out / script)
    return target


def fill_wheelhouse(wheelhouse: Path) -> None:
    """Download Glue's modules and the bundle's dependencies, so builds and tests run offline."""
    with tempfile.TemporaryDirectory(prefix="glue-bundle-") as tmp:
        wheel = project_wheel(Path(tmp))
        download([f"{wheel}[quality]", "-r", str(GLUE_MODULES)], wheelhouse, wheelhouse, offline=False)
    for stale in wheelhouse.glob("etl_lib-*.whl"):
        stale.unlink()


def _run(command: list[str], cwd: Path | None = None) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise BundleError(f"{' '.join(command[:4])} failed: {detail[-1] if detail else result.returncode}")


def main(argv: list[str] | None = None) -> int:
    """Command line: build the bundle, or fill a wheelhouse."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist" / "glue", help="folder to (re)write")
    parser.add_argument("--wheelhouse", type=Path, help="extra folder of wheels to use (and fill)")
    parser.add_argument("--offline", action="store_true", help="use only --wheelhouse, never an index")
    parser.add_argument("--download-only", action="store_true", help="only fill --wheelhouse")
    args = parser.parse_args(argv)
    try:
        if args.download_only:
            if args.wheelhouse is None:
                parser.error("--download-only needs --wheelhouse")
            args.wheelhouse.mkdir(parents=True, exist_ok=True)
            fill_wheelhouse(args.wheelhouse)
            print(f"{args.wheelhouse}: {len(list(args.wheelhouse.glob('*.whl')))} wheels")
            return 0
        target = build_bundle(args.out, args.wheelhouse, args.offline)
    except BundleError as exc:
        print(f"glue-bundle: {exc}", file=sys.stderr)
        return 1
    with zipfile.ZipFile(target) as archive:
        count = sum(1 for n in archive.namelist() if n.endswith(".whl"))
    print(f"{target} ({count} wheels, {target.stat().st_size / 1e6:.1f} MB) and {', '.join(JOB_SCRIPTS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
