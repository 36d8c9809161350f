"""The venv runs exactly the Python modules Glue 5.1 ships, at Glue's versions, plus Glue's Spark."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
GLUE_MODULES = REPO / "requirements" / "glue-5.1-base-requirements.txt"
# The list as published (awslabs/aws-glue-libs, branch glue-5.1), where this workplace keeps a copy.
PUBLISHED = REPO.parent / "shared" / "glue" / "glue-5.1-base-requirements.txt"


def pins(path: Path) -> dict[str, str]:
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return {canonicalize_name(n): v for n, v in (ln.split("==") for ln in lines)}


def installed(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def test_the_venv_and_glue_51_module_list_agree() -> None:
    expected = pins(GLUE_MODULES)
    drift = {name: (want, installed(name)) for name, want in expected.items() if installed(name) != want}
    assert not drift, f"modules whose version differs from Glue 5.1's (wanted, installed): {drift}"
    assert installed("pyspark") == "3.5.6"
    assert installed("AWSGlueDataplanePython") == "5.1.0"
    assert installed("great-expectations") is not None


def test_the_list_is_glue_51s() -> None:
    expected = pins(GLUE_MODULES)
    for name, want in {"boto3": "1.40.61", "numpy": "2.3.4", "pandas": "2.3.3", "pyarrow": "22.0.0"}.items():
        assert expected[name] == want
    for absent in ("pydantic", "pyyaml", "great-expectations", "pyspark"):
        assert absent not in expected
    if PUBLISHED.exists():  # the copy in requirements/ is the published list, line for line
        assert expected == pins(PUBLISHED)


def test_the_local_extra_pins_every_glue_module(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)]
    subprocess.run([*command, str(REPO)], check=True, capture_output=True)
    [wheel] = tmp_path.glob("etl_lib-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(next(n for n in archive.namelist() if n.endswith("METADATA"))).decode()
    local = {
        line.split(":", 1)[1].split(";")[0].strip()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:") and 'extra == "local"' in line
    }
    local_pins = {canonicalize_name(r.split("==")[0]): r.split("==")[1] for r in local if "==" in r}
    assert {k: local_pins.get(k) for k in pins(GLUE_MODULES)} == pins(GLUE_MODULES)
    assert local_pins["pyspark"] == "3.5.6" and local_pins["awsgluedataplanepython"] == "5.1.0"
