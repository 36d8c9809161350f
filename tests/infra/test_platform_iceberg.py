"""The platform lets a customer stack with ``IcebergTableOptimizers=true`` deploy, and no more.

The execution role makes the stack's ``IcebergTableOptimizerRole`` (``{prefix}-{customerid}-{env}-table-optimizer``
under ``/etl-lib-customer/``, with the boundary), passes it to Glue only, and creates, reads, updates and deletes
the table optimizers of this environment's databases; the customer role boundary lets that role do what its
policy says, the optimizers' three log groups included. Checked with the IAM matcher of ``test_iam_scope.py``:
the calls in the caller model, what must stay out of reach in the attacker model (whatever the caller sends).
That AWS checks exactly these actions on exactly these resources needs AWS: see docs/infrastructure.md,
"Iceberg tables".
"""

from __future__ import annotations

import pytest

from tests.infra.test_iam_scope import (
    ACCOUNT,
    FOREIGN_CUSTOMERS,
    PLATFORM,
    PREFIX,
    REGION,
    REPOSITORY,
    Resource,
    Stack,
    _mutated,
    allows,
    customer,
    platform,
    reach,
)
from tests.infra.test_workflows import deploy_plan

OPTIMIZE = {"IcebergTables": "transactions", "IcebergTableOptimizers": "true"}
LOG_GROUPS = ("iceberg-compaction", "iceberg-retention", "iceberg-orphan-file-deletion")
OPTIMIZER_ACTIONS = ("CreateTableOptimizer", "GetTableOptimizer", "UpdateTableOptimizer", "DeleteTableOptimizer")
# What CloudFormation does with a customer role: made and changed with the boundary, then read, tagged, deleted.
ROLE_WITH_BOUNDARY = ("iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy")
ROLE_MANAGEMENT = (
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:DeleteRole",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRoleDescription",
    "iam:ListRolePolicies",
    "iam:ListAttachedRolePolicies",
)


def _arn(service: str, rest: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{rest}"


def _optimizing(customer_id: str = "acme", env: str = "dev") -> Stack:
    return customer(customer_id, env, **OPTIMIZE)


def _optimizer_role(customer_id: str = "acme", env: str = "dev") -> Resource:
    _, arn, tags = _optimizing(customer_id, env).identity("IcebergTableOptimizerRole")
    assert arn == f"arn:aws:iam::{ACCOUNT}:role/etl-lib-customer/{PREFIX}-{customer_id}-{env}-table-optimizer"
    return Resource(arn, tags, f"{customer_id}-{env}")


def _catalog_resources(customer_id: str, env: str) -> list[Resource]:
    """What Glue checks for a table optimizer of ``customer_id``'s table transactions: catalog, database, table."""
    database = _optimizing(customer_id, env).identity("GlueDatabase")[1]
    table = database.replace(":database/", ":table/") + "/transactions"
    return [Resource(_arn("glue", "catalog")), Resource(database), Resource(table)]


def _log_stream(group: str) -> Resource:
    return Resource(_arn("logs", f"log-group:/aws-glue/{group}/logs:log-stream:run-1"))


def _stack_of(template: dict, env: str = "dev") -> Stack:
    given = {"Prefix": PREFIX, "Env": env, "GitHubRepository": REPOSITORY}
    return Stack(template, deploy_plan.platform_stack(env), given, {})


# --- the checks: what a deploy and the optimizers need, what nobody may get ---------------------


def missing(dev: Stack) -> list[str]:
    """What the dev platform refuses that acme's dev stack and its optimizers need (caller model)."""
    execution = dev.statements("CloudFormationExecutionRole")
    boundary = dev.statements("CustomerRoleBoundary")
    role = _optimizer_role()
    with_boundary = {"iam:PermissionsBoundary": dev.identity("CustomerRoleBoundary")[1]}
    calls = [(a, role, with_boundary) for a in ROLE_WITH_BOUNDARY]
    calls += [(a, role, {}) for a in ROLE_MANAGEMENT]
    calls.append(("iam:PassRole", role, {"iam:PassedToService": "glue.amazonaws.com"}))
    calls += [(f"glue:{a}", r, {}) for a in (*OPTIMIZER_ACTIONS, "GetTable") for r in _catalog_resources("acme", "dev")]
    found = [f"execution role: {a} on {r.arn}" for a, r, request in calls if not allows(execution, a, r, request)]

    # The optimizer role's own policy, call by call: the boundary must not cut any of it.
    stack = _optimizing()
    lake = stack.identity("DataLakeBucket")[1]
    key = Resource(stack.identity("DataLakeKey")[1], stack.identity("DataLakeKey")[2])
    data = Resource(f"{lake}/analytics-ready/transactions/data/00000-1.parquet")
    via_s3 = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    runs = [(a, data, {}) for a in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")]
    runs.append(("s3:ListBucket", Resource(lake), {"s3:prefix": "analytics-ready/transactions/"}))
    runs += [(a, key, via_s3) for a in ("kms:Decrypt", "kms:GenerateDataKey")]
    runs += [(a, _catalog_resources("acme", "dev")[2], {}) for a in ("glue:GetTable", "glue:UpdateTable")]
    runs += [
        (a, _log_stream(g), {})
        for g in LOG_GROUPS
        for a in ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
    ]
    optimizer = stack.statements("IcebergTableOptimizerRole")
    for action, resource, request in runs:
        assert allows(optimizer, action, resource, request), f"the optimizer role itself: {action}"
        if not allows(boundary, action, resource, request):
            found.append(f"boundary: {action} on {resource.arn}")
    return found


def excess(dev: Stack) -> list[str]:
    """What the dev platform allows and must not: another environment's optimizer roles and tables (whatever
    is sent), the optimizer roles to another service or without the boundary, table writes, other log groups."""
    execution = dev.statements("CloudFormationExecutionRole")
    boundary = dev.statements("CustomerRoleBoundary")
    foreign = [_optimizer_role(c, e) for c, e in FOREIGN_CUSTOMERS]
    foreign += [r for c, e in FOREIGN_CUSTOMERS for r in _catalog_resources(c, e)[1:]]
    found = [f"execution role: {f}" for f in reach(execution, foreign)]

    role = _optimizer_role()
    outside_the_path = Resource(f"arn:aws:iam::{ACCOUNT}:role/{PREFIX}-acme-dev-table-optimizer")
    for action in (*ROLE_WITH_BOUNDARY, "iam:PassRole", "iam:DeleteRole"):
        if allows(execution, action, outside_the_path):
            found.append(f"execution role: {action} on {outside_the_path.arn}")
    for service in ("events", "lambda", "cloudformation", "ec2", "ecs-tasks"):
        if allows(execution, "iam:PassRole", role, {"iam:PassedToService": f"{service}.amazonaws.com"}):
            found.append(f"execution role: iam:PassRole of {role.arn} to {service}")
    prod_boundary = {"iam:PermissionsBoundary": platform("prod").identity("CustomerRoleBoundary")[1]}
    for request in ({}, prod_boundary):
        if allows(execution, "iam:CreateRole", role, request):
            found.append(f"execution role: iam:CreateRole of {role.arn} with {request or 'no boundary'}")
    # The stacks make no table and drop none: the jobs make them, a user drops a former Parquet table by hand.
    table = _catalog_resources("acme", "dev")[2]
    for policy, name in ((execution, "execution role"), (boundary, "boundary")):
        found += [
            f"{name}: {a} on {table.arn}"
            for a in ("glue:DeleteTable", "glue:BatchDeleteTable")
            if allows(policy, a, table)
        ]
    found += [
        f"execution role: glue:{a}" for a in ("CreateTable", "UpdateTable") if allows(execution, f"glue:{a}", table)
    ]

    # The boundary: only the optimizers' own log groups, and only to write to them.
    others = [
        "log-group:/aws-glue/iceberg-compaction/other:log-stream:run-1",
        "log-group:/aws-glue/iceberg-compaction/logs-x:log-stream:run-1",
        "log-group:/aws-glue/jobs/etl-acme-prod/output:log-stream:jr_1",
        "log-group:/aws-glue/crawlers:log-stream:c",
        "log-group:/aws/lambda/etl-acme-prod-job-alerts:log-stream:x",
    ]
    found += [
        f"boundary: {a} on {rest}"
        for rest in others
        for a in ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
        if allows(boundary, a, Resource(_arn("logs", rest)))
    ]
    for group in LOG_GROUPS:
        for action in ("logs:DeleteLogGroup", "logs:PutRetentionPolicy", "logs:DeleteLogStream", "logs:GetLogEvents"):
            if allows(boundary, action, _log_stream(group)):
                found.append(f"boundary: {action} on /aws-glue/{group}/logs")
    return found


# --- the platform as it is --------------------------------------------------------------------


def test_the_platform_allows_what_a_deploy_with_table_optimizers_needs() -> None:
    """The execution role makes, tags, changes and deletes acme's optimizer role with the boundary, passes it to
    Glue, and manages the optimizers of acme's tables; the boundary leaves the optimizer role its whole policy."""
    assert missing(platform("dev")) == []


def test_the_platform_allows_nothing_more() -> None:
    """Not staging's or prod's optimizer roles, databases or tables; no role outside /etl-lib-customer/, none
    passed to another service or made without this environment's boundary; no table made or dropped; no log
    group beyond the optimizers' three, and only writes to those."""
    assert excess(platform("dev")) == []


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_each_environment_grants_its_own_optimizer_roles_only(env: str) -> None:
    """The same holds from the other side: prod's execution role manages prod's optimizer role, not dev's."""
    execution = platform(env).statements("CloudFormationExecutionRole")
    with_boundary = {"iam:PermissionsBoundary": platform(env).identity("CustomerRoleBoundary")[1]}
    to_glue = {"iam:PassedToService": "glue.amazonaws.com"}
    assert allows(execution, "iam:CreateRole", _optimizer_role("acme", env), with_boundary)
    assert allows(execution, "iam:PassRole", _optimizer_role("acme", env), to_glue)
    assert not allows(execution, "iam:CreateRole", _optimizer_role("acme", "dev"))
    assert not allows(execution, "iam:PassRole", _optimizer_role("acme", "dev"))
    for resource in _catalog_resources("acme", "dev")[1:]:
        assert not allows(execution, "glue:CreateTableOptimizer", resource), resource.arn


def test_the_boundary_names_the_log_groups_the_optimizer_role_names() -> None:
    """The optimizer role's log statement and the boundary's list the same three groups: a group renamed on one
    side only would be refused at run time."""
    (role_logs,) = [s for s in _optimizing().statements("IcebergTableOptimizerRole") if s.sid == "OptimizerLogs"]
    (boundary_logs,) = [
        s for s in platform("dev").statements("CustomerRoleBoundary") if s.sid == "IcebergTableOptimizerLogs"
    ]
    assert sorted(boundary_logs.resources) == sorted(role_logs.resources)
    assert sorted(boundary_logs.actions) == sorted(role_logs.actions)
    assert sorted(boundary_logs.resources) == sorted(
        _arn("logs", f"log-group:/aws-glue/{g}/logs:*") for g in LOG_GROUPS
    )


# --- the checks can fail ----------------------------------------------------------------------

SCOPE = 'role/etl-lib-customer/${Prefix}-*-${Env}-table-optimizer"'
GLUE_CONDITION = (
    '-table-optimizer"\n                Condition: {StringEquals: {"iam:PassedToService": glue.amazonaws.com}}'
)


@pytest.mark.parametrize(
    ("old", "new", "check", "expected"),
    [
        # the optimizer roles of every environment ({prefix}-*-table-optimizer)
        (SCOPE, 'role/etl-lib-customer/${Prefix}-*-table-optimizer"', excess, "etl-acme-prod-table-optimizer"),
        # PassRole without iam:PassedToService
        (GLUE_CONDITION, '-table-optimizer"', excess, "to lambda"),
        # a boundary open to every Glue log group
        ("log-group:/aws-glue/iceberg-compaction/logs:*", "log-group:/aws-glue/*", excess, "/aws-glue/jobs/"),
        # the platform as it was: no optimizer role, no optimizer action, no optimizer log group
        (SCOPE, 'role/etl-lib-customer/${Prefix}-*-${Env}-glue"', missing, "iam:PassRole"),
        ("glue:CreateTableOptimizer, ", "", missing, "glue:CreateTableOptimizer"),
        ("iceberg-retention/logs:*", "iceberg-retention/logs", missing, "iceberg-retention/logs:log-stream"),
    ],
)
def test_the_checks_fail_on_a_loose_or_short_platform(old: str, new: str, check, expected: str) -> None:
    """Each check finds the hole a plausible mistake in platform.yaml would make."""
    found = check(_stack_of(_mutated(PLATFORM, old, new)))
    assert any(expected in f for f in found), found
