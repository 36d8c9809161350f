"""The wheel Glue installs: requires nothing Glue already ships, carries the CLI and its files."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

GLUE_SHIPS = ("pyspark", "awsgluedataplanepython", "boto3", "pyarrow")


def test_wheel_requirements_and_contents(repo: Path, tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(repo),
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("etl_lib-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry_points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    always = sorted(r.split(">")[0].split("=")[0].split("<")[0].lower() for r in requires if "extra ==" not in r)
    assert always == ["pydantic", "pyyaml"]
    for name in GLUE_SHIPS:
        in_extras = [r for r in requires if r.lower().startswith(name)]
        assert in_extras and all("extra ==" in r for r in in_extras), name
    assert "etl-lib = etl_lib.cli.main:main" in entry_points
    assert "etl_lib/log4j2.properties" in names and "etl_lib/glue/adapter.py" in names
    assert not any(n.startswith(("tests/", "sample_csv/", "glue_jobs/")) for n in names)
