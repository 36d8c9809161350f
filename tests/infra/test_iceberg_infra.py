"""Issue #14, infrastructure half: ``table_format: iceberg`` in a spec or a model file reaches the stack.

deploy/plan.py reads the specs and model files of a temporary repository (the ``root`` fixture of
``test_workflows.py``) and passes the Iceberg tables as ``IcebergTables``. The customer template is resolved
for sample parameters with the IAM tests' ``Stack`` (conditions evaluated, ``Fn::ForEach`` unrolled): the
analytics and build-models jobs get Glue's Iceberg libraries and the Spark catalog ``lake`` only with Iceberg
tables, and the table optimizers and their role exist only with ``IcebergTableOptimizers=true``, one set per
table. What needs AWS (that Glue 5.1 starts with these settings, that the optimizers run) is not claimed here;
see docs/infrastructure.md, "Iceberg tables".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra.test_iam_scope import (
    ACCOUNT,
    REGION,
    Resource,
    Stack,
    Statement,
    _conditions_hold,
    _matches,
    _statement,
    allows,
    customer,
    other_tenants,
    platform,
    reach,
    unscoped,
)
from tests.infra.test_templates import CUSTOMER, load_template
from tests.infra.test_workflows import CONFIG, SPEC, cli, deploy_plan, write_config
from tests.infra.test_workflows import root as root

# The Spark settings the library's catalog `lake` needs on Glue (its Iceberg half), without the two whose
# values depend on the stack: the warehouse and the KMS key.
CATALOG = {
    "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
    "spark.sql.catalog.lake": "org.apache.iceberg.spark.SparkCatalog",
    "spark.sql.catalog.lake.catalog-impl": "org.apache.iceberg.aws.glue.GlueCatalog",
    "spark.sql.catalog.lake.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
    "spark.sql.catalog.lake.s3.sse.type": "kms",
    # Every read sees the latest commit (a table cached by one Spark session goes stale when another writes).
    "spark.sql.catalog.lake.cache-enabled": "false",
}
ICEBERG_JOBS = ("ProcessedToAnalyticsJob", "BuildModelsJob")
OPTIMIZER_TYPES = {"compaction", "retention", "orphan_file_deletion"}
TABLES = "transactions,revenue"  # a dataset of the sample parameters and a model
OPTIMIZER_LOG_GROUPS = {
    f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws-glue/{name}/logs:*"
    for name in ("iceberg-compaction", "iceberg-retention", "iceberg-orphan-file-deletion")
}


# --- deploy/plan.py: table_format -> IcebergTables --------------------------------------------


def _declare_iceberg(root: Path) -> None:
    """The fixture's customer template, with the real one's IcebergTables."""
    template = root / "cloudformation" / "customer.yaml"
    text = template.read_text().replace(
        "Parameters:\n", "Parameters:\n  IcebergTables: {Type: CommaDelimitedList, Default: ''}\n", 1
    )
    template.write_text(text)


def _spec(root: Path, customer_id: str, dataset: str, extra: str = "") -> Path:
    path = root / "deploy" / "specs" / customer_id / f"{dataset}.yaml"
    path.write_text(SPEC.format(name=dataset) + extra)
    return path


def _model(root: Path, customer_id: str, file_name: str, name: str, extra: str = "") -> Path:
    path = root / "deploy" / "models" / customer_id / file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"model: {name}\nsql: SELECT 1 AS x\n{extra}")
    return path


def _iceberg_tables(root: Path, customer_id: str, env: str = "dev") -> str:
    plan = deploy_plan.load_plan(write_config(root), root)
    return deploy_plan.customer_overrides(plan, env, customer_id, "v1", None, root)["IcebergTables"]


def test_the_plan_lists_the_iceberg_datasets_and_models(root: Path) -> None:
    """acme: the dataset refunds and the model revenue say iceberg (datasets first, in dataset order, then
    models by file name); orders says parquet and another model says nothing. globex has none: the parameter
    is passed empty (so a stack update clears a stale list), in every environment."""
    _declare_iceberg(root)
    _spec(root, "acme", "orders", "table_format: parquet\n")
    _spec(root, "acme", "refunds", "table_format: iceberg\n")
    _model(root, "acme", "b_revenue.yaml", "revenue", "table_format: iceberg\n")
    _model(root, "acme", "a_margin.yml", "margin", "table_format: iceberg\n")
    _model(root, "acme", "c_other.yaml", "other")
    assert _iceberg_tables(root, "acme") == "refunds,margin,revenue"
    assert _iceberg_tables(root, "acme", "prod") == "refunds,margin,revenue"
    assert _iceberg_tables(root, "globex") == ""
    pattern = load_template(CUSTOMER)["Parameters"]["IcebergTables"]["AllowedPattern"]
    assert re.fullmatch(pattern, "refunds,margin,revenue") and re.fullmatch(pattern, "")
    # Back to parquet everywhere: the list empties.
    _spec(root, "acme", "refunds")
    for name in ("b_revenue.yaml", "a_margin.yml"):
        (root / "deploy" / "models" / "acme" / name).unlink()
    assert _iceberg_tables(root, "acme") == ""


def test_customer_params_prints_the_iceberg_tables(root: Path) -> None:
    """What deploy/customer.sh passes to `aws cloudformation deploy`."""
    _declare_iceberg(root)
    _spec(root, "acme", "orders", "table_format: iceberg\n")
    write_config(root)
    result = cli(root, "customer-params", "--env", "dev", "--customer", "acme", "--version", "v1")
    assert result.returncode == 0, result.stderr
    assert "IcebergTables=orders\n" in result.stdout
    result = cli(root, "customer-params", "--env", "dev", "--customer", "globex", "--version", "v1")
    assert "IcebergTables=\n" in result.stdout


@pytest.mark.parametrize("value", ["delta", "Iceberg", "''", "null", "[iceberg]"])
@pytest.mark.parametrize("where", ["spec", "model"])
def test_an_unknown_table_format_is_a_one_line_error_naming_the_file(root: Path, where: str, value: str) -> None:
    """Anything but parquet or iceberg, in a spec or a model file: the file and the allowed values are named."""
    if where == "spec":
        path = _spec(root, "acme", "refunds", f"table_format: {value}\n")
    else:
        path = _model(root, "acme", "revenue.yaml", "revenue", f"table_format: {value}\n")
    with pytest.raises(deploy_plan.PlanError) as error:
        deploy_plan.load_plan(write_config(root), root)
    message = str(error.value)
    assert message.startswith(f"{path}: table_format ") and message.endswith("expected one of parquet, iceberg")
    assert "\n" not in message


def test_iceberg_model_names_and_clashes_are_one_line_errors(root: Path) -> None:
    """An Iceberg model needs a valid model: name; two Iceberg tables named alike (the same letters and digits,
    which is all the template's logical IDs keep) are refused, naming both."""
    path = _model(root, "acme", "revenue.yaml", "Revenue-2", "table_format: iceberg\n")
    with pytest.raises(deploy_plan.PlanError, match=r"revenue.yaml: model 'Revenue-2': expected \[a-z\]"):
        deploy_plan.load_plan(write_config(root), root)
    path.unlink()
    _spec(root, "acme", "orders", "table_format: iceberg\n")
    for name in ("orders", "order_s"):
        _model(root, "acme", "clash.yaml", name, "table_format: iceberg\n")
        with pytest.raises(deploy_plan.PlanError, match=rf"\(acme\): .*'{name}'.*rename one") as error:
            deploy_plan.load_plan(write_config(root), root)
        assert "\n" not in str(error.value)
    _model(root, "acme", "clash.yaml", "orders")  # a parquet model of the same name is not the plan's business
    deploy_plan.load_plan(write_config(root), root)


def test_iceberg_tables_is_set_for_you_and_needs_the_templates_parameter(root: Path) -> None:
    """IcebergTables is deploy's own (not a `parameters:` entry); a template without it is an error when the
    customer has Iceberg tables (the jobs would run without the Iceberg catalog), not when it has none."""
    assert "IcebergTables" in deploy_plan.IDENTITY
    config = CONFIG.replace("parameters: {NotifyOn: all}", "parameters: {IcebergTables: orders}")
    with pytest.raises(deploy_plan.PlanError, match=r"parameters: IcebergTables are set for you"):
        deploy_plan.load_plan(write_config(root, config), root)
    _spec(root, "acme", "orders", "table_format: iceberg\n")
    plan = deploy_plan.load_plan(write_config(root), root)
    with pytest.raises(deploy_plan.PlanError, match=r"has no parameter IcebergTables, but acme's orders declare"):
        deploy_plan.customer_overrides(plan, "dev", "acme", "v1", None, root)
    assert "IcebergTables" not in deploy_plan.customer_overrides(plan, "dev", "globex", "v1", None, root)


def test_the_repositorys_own_plan_passes_iceberg_tables() -> None:
    """The real template declares IcebergTables, so every customer of deploy/customers.yaml gets it."""
    plan = deploy_plan.load_plan(deploy_plan.REPO / "deploy" / "customers.yaml")
    for env in plan.regions:
        for c in plan.select(env):
            overrides = deploy_plan.customer_overrides(plan, env, c.customer_id, "v1")
            assert overrides["IcebergTables"] == ",".join(c.iceberg_tables)


# --- the template: the jobs ----------------------------------------------------------------------


def acme(**extra: str) -> Stack:
    """The sample acme dev stack (datasets transactions and card_payments), with models and ``extra``."""
    return customer("acme", "dev", HasModels="true", **extra)


def arguments(stack: Stack, job: str) -> dict[str, Any]:
    return stack.resolve(stack.template["Resources"][job]["Properties"]["DefaultArguments"])


def spark_conf(value: str) -> dict[str, str]:
    """A Glue ``--conf`` value (``k=v --conf k=v ...``) as a dict; each setting once."""
    pairs = [item.split("=", 1) for item in value.split(" --conf ")]
    assert all(len(p) == 2 and p[0] and p[1] and " " not in p[0] + p[1] for p in pairs), value
    assert len({k for k, _ in pairs}) == len(pairs), value
    return dict(pairs)


@pytest.mark.parametrize("tables", ["", "transactions", TABLES])
def test_the_jobs_get_iceberg_only_with_iceberg_tables(tables: str) -> None:
    """With Iceberg tables, the analytics and build-models jobs get --datalake-formats iceberg and --conf with the
    catalog `lake`: the extensions, Iceberg's Glue catalog and S3FileIO, the warehouse analytics-ready/ of this
    customer's bucket, SSE-KMS with its lake key. Without, neither argument. raw-to-processed never."""
    stack = acme(IcebergTables=tables)
    assert stack.condition("UsesIceberg") == bool(tables)
    for job in ICEBERG_JOBS:
        given = arguments(stack, job)
        if not tables:
            assert "--datalake-formats" not in given and "--conf" not in given, job
            continue
        assert given["--datalake-formats"] == "iceberg", job
        assert spark_conf(given["--conf"]) == {
            **CATALOG,
            "spark.sql.catalog.lake.warehouse": "s3://etl-acme-dev-datalake/analytics-ready/",
            "spark.sql.catalog.lake.s3.sse.key": stack.identity("DataLakeKey")[1],
            "spark.sql.catalog.lake.default-namespace": "etl_acme_dev",
        }, job
        # The namespace is the stack's database, which the jobs already get.
        assert given["--catalog_database"] == "etl_acme_dev"
    raw = arguments(stack, "RawToProcessedJob")
    assert "--datalake-formats" not in raw and "--conf" not in raw


def test_the_iceberg_settings_are_each_customers_own() -> None:
    """Another customer, another environment: its own bucket and key in --conf."""
    mine = spark_conf(arguments(acme(IcebergTables="transactions"), "ProcessedToAnalyticsJob")["--conf"])
    for other in (customer("globex", "dev", IcebergTables="transactions"), customer("acme", "prod", IcebergTables="x")):
        theirs = spark_conf(arguments(other, "ProcessedToAnalyticsJob")["--conf"])
        bucket = other.identity("DataLakeBucket")[0]
        assert theirs["spark.sql.catalog.lake.warehouse"] == f"s3://{bucket}/analytics-ready/"
        assert theirs["spark.sql.catalog.lake.s3.sse.key"] == other.identity("DataLakeKey")[1]
        assert theirs["spark.sql.catalog.lake.s3.sse.key"] != mine["spark.sql.catalog.lake.s3.sse.key"]


def _bucket_policy(stack: Stack) -> list[Statement]:
    document = stack.resolve(stack.template["Resources"]["DataLakeBucketPolicy"]["Properties"]["PolicyDocument"])
    return [_statement(s) for s in document["Statement"]]


def _denied(statements: list[Statement], action: str, arn: str, request: dict[str, Any]) -> bool:
    return any(
        s.effect == "Deny" and _matches(s, action, arn) and _conditions_hold(s, request, lambda _key: True)
        for s in statements
    )


def test_s3fileio_writes_are_what_the_bucket_policy_and_the_job_role_accept() -> None:
    """sse.type kms with sse.key K makes S3FileIO send x-amz-server-side-encryption aws:kms and the key id K:
    the bucket policy denies no such upload, the job role (and its boundary) allow it and the key's use through
    S3. The same upload naming another key, or AES256, is denied (the check can fail)."""
    stack = acme(IcebergTables=TABLES)
    conf = spark_conf(arguments(stack, "ProcessedToAnalyticsJob")["--conf"])
    assert conf["spark.sql.catalog.lake.s3.sse.type"] == "kms"
    headers = {
        "s3:x-amz-server-side-encryption": "aws:kms",
        "s3:x-amz-server-side-encryption-aws-kms-key-id": conf["spark.sql.catalog.lake.s3.sse.key"],
        "aws:SecureTransport": "true",
    }
    bucket = _bucket_policy(stack)
    lake = stack.identity("DataLakeBucket")[1]
    for key in (
        "analytics-ready/transactions/metadata/00001-a.metadata.json",
        "analytics-ready/revenue/data/x.parquet",
    ):
        assert not _denied(bucket, "s3:PutObject", f"{lake}/{key}", headers), key
        assert _denied(
            bucket, "s3:PutObject", f"{lake}/{key}", {**headers, "s3:x-amz-server-side-encryption": "AES256"}
        )
        other_key = customer("globex", "dev").identity("DataLakeKey")[1]
        assert _denied(
            bucket,
            "s3:PutObject",
            f"{lake}/{key}",
            {**headers, "s3:x-amz-server-side-encryption-aws-kms-key-id": other_key},
        )
    role = stack.statements("GlueJobRole")
    boundary = platform("dev").statements("CustomerRoleBoundary")
    data = Resource(f"{lake}/analytics-ready/transactions/data/x.parquet")
    key = Resource(stack.identity("DataLakeKey")[1], stack.identity("DataLakeKey")[2])
    via_s3 = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    for statements in (role, boundary):
        for action in ("s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"):
            assert allows(statements, action, data, headers), action
        for action in ("kms:GenerateDataKey", "kms:Decrypt"):
            assert allows(statements, action, key, via_s3), action
    # Iceberg's Glue catalog: the database, its tables (create, commit), nothing of another customer.
    database = stack.identity("GlueDatabase")[1]
    table = Resource(database.replace(":database/", ":table/") + "/transactions")
    assert allows(role, "glue:GetDatabase", Resource(database), {})
    for action in ("glue:GetTable", "glue:GetTables", "glue:CreateTable", "glue:UpdateTable"):
        assert allows(role, action, table, {}) and allows(boundary, action, table, {}), action
    globex_table = customer("globex", "dev").identity("GlueDatabase")[1].replace(":database/", ":table/") + "/x"
    assert not allows(role, "glue:UpdateTable", Resource(globex_table), {})


# --- the template: the table optimizers ---------------------------------------------------------


def optimizers(stack: Stack) -> dict[str, dict[str, Any]]:
    """The table optimizers that exist with the stack's parameters, resolved."""
    return {
        lid: stack.resolve(r["Properties"])
        for lid, r in stack.template["Resources"].items()
        if r["Type"] == "AWS::Glue::TableOptimizer" and stack.active(lid)
    }


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"IcebergTables": TABLES},
        {"IcebergTables": TABLES, "IcebergTableOptimizers": "false"},
        {"IcebergTables": "", "IcebergTableOptimizers": "true"},
    ],
)
def test_no_optimizer_and_no_role_unless_switched_on_with_tables(extra: dict[str, str]) -> None:
    """IcebergTableOptimizers defaults to false; true without Iceberg tables makes nothing either."""
    stack = acme(**extra)
    assert stack.parameters["IcebergTableOptimizers"] == extra.get("IcebergTableOptimizers", "false")
    assert optimizers(stack) == {}
    assert not stack.active("IcebergTableOptimizerRole")


@pytest.mark.parametrize("tables", ["transactions", TABLES, "transactions,card_payments,revenue"])
def test_each_iceberg_table_gets_its_three_optimizers(tables: str) -> None:
    """Compaction, retention and orphan file deletion for each table of IcebergTables, in this stack's database,
    enabled, with the optimizer role; the retention settings from the parameters."""
    stack = acme(IcebergTables=tables, IcebergTableOptimizers="true")
    made = optimizers(stack)
    names = tables.split(",")
    assert sorted((o["TableName"], o["Type"]) for o in made.values()) == sorted(
        (name, kind) for name in names for kind in OPTIMIZER_TYPES
    )
    role = stack.identity("IcebergTableOptimizerRole")[1]
    assert role == f"arn:aws:iam::{ACCOUNT}:role/etl-lib-customer/etl-acme-dev-table-optimizer"
    for logical_id, optimizer in made.items():
        assert optimizer["CatalogId"] == ACCOUNT and optimizer["DatabaseName"] == "etl_acme_dev", logical_id
        configuration = optimizer["TableOptimizerConfiguration"]
        assert configuration["Enabled"] is True and configuration["RoleArn"] == role, logical_id
    retention = {o["TableName"]: o for o in made.values() if o["Type"] == "retention"}
    orphans = {o["TableName"]: o for o in made.values() if o["Type"] == "orphan_file_deletion"}
    for name in names:
        assert retention[name]["TableOptimizerConfiguration"]["RetentionConfiguration"] == {
            "IcebergConfiguration": {
                "SnapshotRetentionPeriodInDays": "7",
                "NumberOfSnapshotsToRetain": "1",
                "CleanExpiredFiles": "true",
            }
        }
        assert orphans[name]["TableOptimizerConfiguration"]["OrphanFileDeletionConfiguration"] == {
            "IcebergConfiguration": {"OrphanFileRetentionPeriodInDays": "3"}
        }
    # Logical IDs keep the letters and digits of the name (Fn::ForEach's &{Table}).
    assert set(made) == {
        f"{kind}Optimizer{name.replace('_', '')}"
        for kind in ("Compaction", "Retention", "OrphanFileDeletion")
        for name in names
    }


def test_the_retention_settings_are_parameters() -> None:
    """Snapshot age, snapshots kept, expired-file cleanup and orphan age follow their parameters."""
    stack = acme(
        IcebergTables="transactions",
        IcebergTableOptimizers="true",
        IcebergSnapshotRetentionDays="30",
        IcebergSnapshotsToRetain="5",
        IcebergCleanExpiredFiles="false",
        IcebergOrphanFileRetentionDays="14",
    )
    made = optimizers(stack)
    retention = made["RetentionOptimizertransactions"]["TableOptimizerConfiguration"]["RetentionConfiguration"]
    assert retention["IcebergConfiguration"] == {
        "SnapshotRetentionPeriodInDays": "30",
        "NumberOfSnapshotsToRetain": "5",
        "CleanExpiredFiles": "false",
    }
    orphans = made["OrphanFileDeletionOptimizertransactions"]["TableOptimizerConfiguration"]
    assert orphans["OrphanFileDeletionConfiguration"]["IcebergConfiguration"] == {
        "OrphanFileRetentionPeriodInDays": "14"
    }
    parameters = load_template(CUSTOMER)["Parameters"]
    assert {
        name: parameters[name]["Default"]
        for name in (
            "IcebergTableOptimizers",
            "IcebergSnapshotRetentionDays",
            "IcebergSnapshotsToRetain",
            "IcebergCleanExpiredFiles",
            "IcebergOrphanFileRetentionDays",
        )
    } == {
        "IcebergTableOptimizers": "false",
        "IcebergSnapshotRetentionDays": 7,
        "IcebergSnapshotsToRetain": 1,
        "IcebergCleanExpiredFiles": "true",
        "IcebergOrphanFileRetentionDays": 3,
    }


def test_iceberg_tables_pattern() -> None:
    """Names as in the specs' dataset: and the models' model:, comma-separated."""
    good = ["", "transactions", "transactions,revenue", "a_1,b"]
    bad = ["Transactions", "a,,b", "a-b", "a, b", "transactions,", ",a", "1a"]
    pattern = re.compile(load_template(CUSTOMER)["Parameters"]["IcebergTables"]["AllowedPattern"])
    assert all(pattern.fullmatch(value) for value in good)
    assert not any(pattern.fullmatch(value) for value in bad)


# --- the optimizers' role -------------------------------------------------------------------------

OPTIMIZE = {"IcebergTables": TABLES, "IcebergTableOptimizers": "true"}


def _optimizer_role(customer_id: str = "acme", env: str = "dev") -> list[Statement]:
    return customer(customer_id, env, HasModels="true", **OPTIMIZE).statements("IcebergTableOptimizerRole")


def test_the_optimizer_role_is_assumed_by_glue_with_the_boundary() -> None:
    """Glue assumes it; it sits under /etl-lib-customer/ with the customer role boundary, like every customer role."""
    stack = acme(**OPTIMIZE)
    (trust,) = stack.trust("IcebergTableOptimizerRole")
    assert (trust.effect, trust.actions, trust.principal) == (
        "Allow",
        ["sts:AssumeRole"],
        {"Service": "glue.amazonaws.com"},
    )
    properties = stack.resolve(stack.template["Resources"]["IcebergTableOptimizerRole"]["Properties"])
    assert properties["Path"] == "/etl-lib-customer/"
    assert properties["PermissionsBoundary"] == platform("dev").identity("CustomerRoleBoundary")[1]


def test_the_optimizer_role_may_rewrite_analytics_ready_and_commit_to_its_tables() -> None:
    """What the optimizers do (AWS's list): read, write and delete under analytics-ready/, list it, use the lake
    key through S3, get and update the database's tables, and log to the optimizers' log groups."""
    stack = acme(**OPTIMIZE)
    role = _optimizer_role()
    lake = stack.identity("DataLakeBucket")[1]
    key = Resource(stack.identity("DataLakeKey")[1], stack.identity("DataLakeKey")[2])
    database = stack.identity("GlueDatabase")[1]
    table = Resource(database.replace(":database/", ":table/") + "/revenue")
    data = Resource(f"{lake}/analytics-ready/revenue/data/00000-1.parquet")
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert allows(role, action, data, {}), action
    assert allows(role, "s3:ListBucket", Resource(lake), {"s3:prefix": "analytics-ready/revenue/"})
    via_s3 = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    assert allows(role, "kms:GenerateDataKey", key, via_s3) and allows(role, "kms:Decrypt", key, via_s3)
    for action in ("glue:GetTable", "glue:UpdateTable"):
        assert allows(role, action, table, {}), action
    for group in OPTIMIZER_LOG_GROUPS:
        stream = Resource(group.replace(":*", ":log-stream:run-1"))
        assert allows(role, "logs:PutLogEvents", stream, {}) and allows(role, "logs:CreateLogStream", stream, {})


def test_the_optimizer_role_reaches_nothing_else() -> None:
    """Not the rest of the bucket (raw/ least of all), not the key outside S3, no table drop or creation, and
    nothing of another customer or environment. The optimizers' log groups are AWS's, the same for every
    table of the account: the only resources another stack's role names too."""
    stack = acme(**OPTIMIZE)
    role = _optimizer_role()
    lake = stack.identity("DataLakeBucket")[1]
    for area in ("raw/transactions/a.csv", "processed/transactions/f.json", "receipts/r.json", "_meta/x"):
        for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
            assert not allows(role, action, Resource(f"{lake}/{area}"), {}), (action, area)
    assert not allows(role, "s3:ListBucket", Resource(lake), {"s3:prefix": "raw/"})
    assert not allows(role, "s3:ListBucket", Resource(lake), {})
    key = Resource(stack.identity("DataLakeKey")[1], stack.identity("DataLakeKey")[2])
    assert not allows(role, "kms:Decrypt", key, {})
    table = Resource(stack.identity("GlueDatabase")[1].replace(":database/", ":table/") + "/revenue")
    for action in ("glue:DeleteTable", "glue:CreateTable", "glue:CreateTableOptimizer"):
        assert not allows(role, action, table, {}), action
    assert reach(role, other_tenants()) == []
    for other in (_optimizer_role("globex", "dev"), _optimizer_role("acme", "prod")):
        shared = {
            p.split(": ", 1)[1].removesuffix(" is the same in the other stack")
            for p in unscoped(role, other, "dev", lambda _arn: False)
        }
        # The optimizers' log groups are the one shared resource, a documented exception of the scope check
        # (test_iam_scope.OPTIMIZER_LOG_GROUP): nothing else is named by both stacks.
        assert shared == set()
    assert all(allows(role, "logs:PutLogEvents", Resource(group), {}) for group in OPTIMIZER_LOG_GROUPS)
