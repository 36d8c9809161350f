"""The gold models in ``cloudformation/``: the build-models job, its triggers, and the optional Aurora sink.

The customer template is resolved for sample parameters with the IAM tests' ``Stack`` (conditions
evaluated, ``Fn::ForEach`` unrolled): without models, with models, with models and a sink. What
cannot be seen without AWS (that Glue starts the job in the subnet, that the secret is read) is
not claimed here; see docs/infrastructure.md, "Gold models".
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.infra.test_iam_scope import (
    ACCOUNT,
    PREFIX,
    REGION,
    RELEASE,
    Resource,
    Stack,
    Statement,
    _arn,
    allows,
    customer,
    documented_exception,
    other_tenants,
    platform,
    reach,
    unscoped,
)
from tests.infra.test_templates import CUSTOMER as CUSTOMER_TEMPLATE
from tests.infra.test_templates import CUSTOMER_PARAMETERS, DATASETS, load_template

MODELS = {"HasModels": "true"}


def sink(customer_id: str, env: str, key: bool = True) -> dict[str, str]:
    """Sink parameters of one customer and environment: its own secret, key, subnet and security groups."""
    digits = f"{sum(map(ord, customer_id + env)):017x}"
    parameters = {
        "HasModels": "true",
        "SinkName": "warehouse",
        "SinkJdbcUrl": f"jdbc:postgresql://{customer_id}-gold.cluster-c1.{REGION}.rds.amazonaws.com:5432/gold",
        "SinkSecretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{customer_id}/{env}/warehouse-AbC123",
        "SinkSubnetId": f"subnet-{digits}",
        "SinkSecurityGroupIds": f"sg-{digits},sg-{digits[:-1]}f",
        "SinkAvailabilityZone": f"{REGION}a",
    }
    if key:
        parameters["SinkSecretKmsKeyArn"] = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{customer_id}-{env}-dba-key"
    return parameters


def active(stack: Stack) -> dict[str, dict[str, Any]]:
    """Logical ID -> resource, for the resources that exist with the stack's parameters."""
    return {lid: r for lid, r in stack.template["Resources"].items() if stack.active(lid)}


def starting(stack: Stack, job: str) -> dict[str, dict[str, Any]]:
    """The existing triggers whose action starts ``job``, resolved."""
    return {
        lid: stack.resolve(r["Properties"])
        for lid, r in active(stack).items()
        if r["Type"] == "AWS::Glue::Trigger" and any(a["JobName"] == {"Ref": job} for a in r["Properties"]["Actions"])
    }


def acme(**extra: str) -> Stack:
    """The sample acme dev stack (datasets transactions and card_payments, a schedule) with ``extra``."""
    return customer("acme", "dev", **extra)


# --- the job -------------------------------------------------------------------------------------


def test_build_models_job_runs_like_the_analytics_job() -> None:
    """Glue 5.1 with the job role, the security configuration, the offline bundle, logs, workers and
    DefaultArguments of the analytics job, plus --models and --specs of this customer in this release;
    one run at a time, the others queued."""
    stack = acme(**MODELS)
    template = stack.template["Resources"]
    assert template["BuildModelsJob"]["Condition"] == "BuildsModels"
    job = stack.resolve(template["BuildModelsJob"]["Properties"])
    analytics = stack.resolve(template["ProcessedToAnalyticsJob"]["Properties"])
    for same in ("Role", "GlueVersion", "WorkerType", "NumberOfWorkers", "MaxRetries", "SecurityConfiguration"):
        assert job[same] == analytics[same], same
    assert job["GlueVersion"] == "5.1" and job["Name"] == "etl-acme-dev-build-models"
    assert job["Timeout"] == stack.parameters["BuildModelsTimeoutMinutes"]
    assert job["ExecutionProperty"] == {"MaxConcurrentRuns": 1} and job["JobRunQueuingEnabled"] is True
    release = f"s3://etl-dev-{ACCOUNT}-artifacts/releases/{RELEASE}"
    assert job["Command"] == {
        "Name": "glueetl",
        "PythonVersion": "3",
        "ScriptLocation": f"{release}/glue_jobs/build_models.py",
    }
    own = {"--models": f"{release}/models/acme/", "--specs": f"{release}/specs/acme/"}
    assert job["DefaultArguments"] == {**analytics["DefaultArguments"], **own}
    assert "Connections" not in job, "no sink, no connection"


def test_without_models_there_is_no_job_trigger_or_policy() -> None:
    """HasModels=false (the default): nothing of the models exists."""
    stack = acme()
    assert stack.parameters["HasModels"] == "false"
    made = active(stack)
    assert not {"BuildModelsJob", "ModelsPolicy", "SinkConnection", "SinkPolicy", "SinkSecretKeyPolicy"} & set(made)
    assert not [lid for lid in made if "Models" in lid]
    assert starting(stack, "BuildModelsJob") == {}
    assert "BuildModelsJobName" not in {
        k for k, o in stack.template["Outputs"].items() if "Condition" not in o or stack.condition(o["Condition"])
    }


# --- the order: one trigger per dataset workflow --------------------------------------------------


@pytest.mark.parametrize("schedule", ["cron(0 3 * * ? *)", ""])
def test_each_dataset_workflow_builds_its_downstream_models_after_its_analytics(schedule: str) -> None:
    """In each dataset's workflow, and its scheduled workflow when there is a schedule, exactly one
    CONDITIONAL trigger starts the build-models job with --changed_dataset {dataset} when that
    workflow's processed-to-analytics run SUCCEEDED; nothing else starts the job."""
    stack = acme(Schedule=schedule, **MODELS)
    triggers = starting(stack, "BuildModelsJob")
    workflows = [f"etl-acme-dev-{d}" for d in DATASETS]
    if schedule:
        workflows += [f"etl-acme-dev-{d}-scheduled" for d in DATASETS]
    assert sorted(t["WorkflowName"] for t in triggers.values()) == sorted(workflows), "one per workflow"
    for trigger in triggers.values():
        dataset = trigger["WorkflowName"].removeprefix("etl-acme-dev-").removesuffix("-scheduled")
        assert trigger["Type"] == "CONDITIONAL" and trigger["StartOnCreation"] is True
        assert trigger["Predicate"] == {
            "Conditions": [
                {"LogicalOperator": "EQUALS", "JobName": "etl-acme-dev-processed-to-analytics", "State": "SUCCEEDED"}
            ]
        }
        assert trigger["Actions"] == [
            {"JobName": "etl-acme-dev-build-models", "Arguments": {"--changed_dataset": dataset}}
        ]
    # The analytics job itself is still started by the raw job's success, in the same workflows.
    analytics = starting(stack, "ProcessedToAnalyticsJob")
    assert sorted(t["WorkflowName"] for t in analytics.values()) == sorted(workflows)


def test_the_trigger_conditions_follow_the_parameters() -> None:
    """ToModels triggers exist with models; their scheduled twins only with models and a schedule."""
    template = load_template(CUSTOMER_TEMPLATE)
    (body,) = [v for k, v in template["Resources"].items() if k == "Fn::ForEach::Dataset"]
    fragment = body[2]
    assert fragment["ToModels&{Dataset}"]["Condition"] == "BuildsModels"
    assert fragment["ScheduledToModels&{Dataset}"]["Condition"] == "BuildsScheduledModels"
    conditions = template["Conditions"]
    assert conditions["BuildsModels"] == {"Fn::Equals": [{"Ref": "HasModels"}, "true"]}
    assert conditions["BuildsScheduledModels"] == {
        "Fn::And": [{"Condition": "HasSchedule"}, {"Condition": "BuildsModels"}]
    }
    assert template["Parameters"]["HasModels"]["Default"] == "false"


# --- the sink ---------------------------------------------------------------------------------------


def test_the_sink_is_a_jdbc_connection_to_the_dbas_secret() -> None:
    """With the sink parameters: one JDBC connection {prefix}-{customer}-{env}-{sink}, SSL enforced, the
    credentials by the secret's ARN, in the given subnet, groups and zone; the job lists it and gets
    --connection_prefix; without them, none of it."""
    parameters = sink("acme", "dev")
    stack = acme(**parameters)
    connection = stack.resolve(stack.template["Resources"]["SinkConnection"]["Properties"])["ConnectionInput"]
    assert connection["Name"] == "etl-acme-dev-warehouse" and connection["ConnectionType"] == "JDBC"
    assert connection["ConnectionProperties"] == {
        "JDBC_CONNECTION_URL": parameters["SinkJdbcUrl"],
        "SECRET_ID": parameters["SinkSecretArn"],
        "JDBC_ENFORCE_SSL": "true",
    }
    assert connection["PhysicalConnectionRequirements"] == {
        "SubnetId": parameters["SinkSubnetId"],
        "SecurityGroupIdList": parameters["SinkSecurityGroupIds"].split(","),
        "AvailabilityZone": parameters["SinkAvailabilityZone"],
    }
    job = stack.resolve(stack.template["Resources"]["BuildModelsJob"]["Properties"])
    assert job["Connections"] == {"Connections": ["etl-acme-dev-warehouse"]}
    assert job["DefaultArguments"]["--connection_prefix"] == "etl-acme-dev-"
    # A dataset's own sinks are loaded by its analytics job: it reaches the database the same way.
    analytics = stack.resolve(stack.template["Resources"]["ProcessedToAnalyticsJob"]["Properties"])
    assert analytics["Connections"] == job["Connections"]
    assert analytics["DefaultArguments"]["--connection_prefix"] == "etl-acme-dev-"
    assert {"SinkConnection", "SinkPolicy", "SinkSecretKeyPolicy"} <= set(active(stack))
    # A model's `connection: warehouse` resolves to exactly this connection.
    assert job["DefaultArguments"]["--connection_prefix"] + parameters["SinkName"] == connection["Name"]

    without_key = acme(**sink("acme", "dev", key=False))
    assert "SinkSecretKeyPolicy" not in active(without_key) and "SinkPolicy" in active(without_key)
    models_only = acme(**MODELS)
    job = models_only.resolve(models_only.template["Resources"]["BuildModelsJob"]["Properties"])
    assert "Connections" not in job and "--connection_prefix" not in job["DefaultArguments"]
    analytics = models_only.resolve(models_only.template["Resources"]["ProcessedToAnalyticsJob"]["Properties"])
    assert "Connections" not in analytics and "--connection_prefix" not in analytics["DefaultArguments"]
    assert not {"SinkConnection", "SinkPolicy", "SinkSecretKeyPolicy"} & set(active(models_only))


def test_a_sink_is_all_of_its_settings_or_none() -> None:
    """CloudFormation Rules: a SinkName needs models and every other setting (the key aside); Sink* settings
    without a SinkName are refused rather than ignored."""
    template = load_template(CUSTOMER_TEMPLATE)
    rules = template["Rules"]
    every = rules["SinkHasEverySetting"]
    assert every["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "SinkName"}, ""]}]}
    asserted = json.dumps(every["Assertions"])
    for name in ("SinkJdbcUrl", "SinkSecretArn", "SinkSubnetId", "SinkSecurityGroupIds", "SinkAvailabilityZone"):
        assert f'{{"Ref": "{name}"}}' in asserted, name
    assert {"Fn::Equals": [{"Ref": "HasModels"}, "true"]} in [a["Assert"] for a in every["Assertions"]]
    none = rules["NoSinkSettingsWithoutASink"]
    assert none["RuleCondition"] == {"Fn::Equals": [{"Ref": "SinkName"}, ""]}
    sink_parameters = [p for p in template["Parameters"] if p.startswith("Sink") and p != "SinkName"]
    assert sorted(re.findall(r'"Ref": "(Sink\w+)"', json.dumps(none["Assertions"]))) == sorted(sink_parameters)
    for name in [*sink_parameters, "SinkName"]:
        assert template["Parameters"][name]["Default"] == "", name


@pytest.mark.parametrize(
    ("parameter", "good", "bad"),
    [
        ("SinkName", ["", "warehouse", "dw_2"], ["Warehouse", "dw-2", "2dw", "a" * 41]),
        (
            "SinkJdbcUrl",
            [
                "",
                "jdbc:postgresql://gold.cluster-c1.eu-west-1.rds.amazonaws.com:5432/gold",
                "jdbc:postgresql://10.0.1.5/analytics",
            ],
            [
                "jdbc:mysql://host:3306/db",
                "jdbc:postgresql://admin:hunter2@host:5432/db",  # credentials in the URL
                "jdbc:postgresql://host:5432/db?user=admin&password=hunter2",
                "jdbc:postgresql://host:5432/db;password=hunter2",
                "jdbc:postgresql://host:5432/",
                "postgresql://host:5432/db",
            ],
        ),
        (
            "SinkSecretArn",
            ["", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:acme/dev/warehouse-AbC123"],
            [
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:acme/dev/warehouse",  # no suffix: partial ARN
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:*",
                "acme/dev/warehouse",
                "arn:aws:ssm:eu-west-1:123456789012:parameter/x-AbC123",
            ],
        ),
        (
            "SinkSecretKmsKeyArn",
            ["", "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"],
            ["arn:aws:kms:eu-west-1:123456789012:alias/aws/secretsmanager", "arn:aws:kms:eu-west-1:123456789012:key/*"],
        ),
        ("SinkSubnetId", ["", "subnet-0123456789abcdef0", "subnet-01234567"], ["subnet-*", "sn-01234567"]),
        (
            "SinkSecurityGroupIds",
            ["", "sg-0123456789abcdef0", "sg-01234567,sg-0123456789abcdef0"],
            ["sg-01234567, sg-89abcdef", "sg-*", "sg-01234567,", ",".join(["sg-01234567"] * 6)],
        ),
        ("SinkAvailabilityZone", ["", "eu-west-1a", "us-gov-west-1b"], ["eu-west-1", "euw1-az1"]),
        ("HasModels", ["true", "false"], ["yes", ""]),
    ],
)
def test_sink_parameter_shapes(parameter: str, good: list[str], bad: list[str]) -> None:
    """Each parameter accepts its documented shape and refuses the rest (no credentials in a URL)."""
    spec = load_template(CUSTOMER_TEMPLATE)["Parameters"][parameter]
    if "AllowedValues" in spec:
        assert all(v in spec["AllowedValues"] for v in good) and not any(v in spec["AllowedValues"] for v in bad)
        return
    pattern = re.compile(spec["AllowedPattern"])
    assert [v for v in good if not pattern.fullmatch(v)] == []
    assert [v for v in bad if pattern.fullmatch(v)] == []


def test_no_secret_value_anywhere() -> None:
    """No parameter, property or output carries a credential: the connection names the secret, never a
    user or password, and nothing in the template looks like one."""
    template = load_template(CUSTOMER_TEMPLATE)
    assert not [p for p in template["Parameters"] if re.search(r"password|username|credential|token", p, re.I)]
    text = json.dumps(template)
    assert not re.search(r'"(PASSWORD|USERNAME|USER|password|user)"\s*:', text)
    stack = acme(**sink("acme", "dev"))
    properties = stack.resolve(stack.template["Resources"]["SinkConnection"]["Properties"])
    assert set(properties["ConnectionInput"]["ConnectionProperties"]) == {
        "JDBC_CONNECTION_URL",
        "SECRET_ID",
        "JDBC_ENFORCE_SSL",
    }
    job = stack.resolve(stack.template["Resources"]["BuildModelsJob"]["Properties"])
    assert not [a for a in job["DefaultArguments"] if re.search(r"pass|secret|user", a, re.I)]


# --- IAM: what the job role may do with models and a sink ------------------------------------------


def _role(stack: Stack) -> list[Statement]:
    return stack.statements("GlueJobRole")


def test_the_secrets_arn_is_the_only_secretsmanager_resource() -> None:
    """Of every policy of the customer stack: one statement names Secrets Manager, GetSecretValue on the
    sink's secret; its key (if any) is usable only through Secrets Manager for that secret."""
    parameters = sink("acme", "dev")
    stack = acme(**parameters)
    statements = [s for lid in ("GlueJobRole", "DeliveryEventsRole") for s in stack.statements(lid)]
    secret_statements = [
        s for s in statements if any(a.startswith("secretsmanager:") for a in s.actions) or "secretsmanager" in str(s)
    ]
    assert [
        (s.actions, s.resources) for s in secret_statements if s.sid != "DecryptTheSinkSecretThroughSecretsManager"
    ] == [(["secretsmanager:GetSecretValue"], [parameters["SinkSecretArn"]])]
    (key,) = [s for s in statements if s.sid == "DecryptTheSinkSecretThroughSecretsManager"]
    assert key.actions == ["kms:Decrypt"] and key.resources == [parameters["SinkSecretKmsKeyArn"]]
    assert key.condition == {
        "StringEquals": {
            "kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com",
            "kms:EncryptionContext:SecretARN": parameters["SinkSecretArn"],
        }
    }
    for bare in (acme(), acme(**MODELS)):
        assert "secretsmanager" not in str(_role(bare)) and "ec2:" not in str(_role(bare))


def test_sink_permissions_name_their_customer_and_environment() -> None:
    """Every Allow of acme's role with models and a sink differs from prod's and globex's, except the shared
    documented ones: the ledger, topic and platform key of the environment, the release's code, and the
    sink's network (subnets, groups and interfaces are the customer's VPC: docs/infrastructure.md)."""
    mine = _role(acme(**sink("acme", "dev")))
    dev = platform("dev")
    shared = {dev.identity(n)[1] for n in ("LedgerTable", "AlertsTopic", "PlatformKey")}
    release = f"{dev.identity('ArtifactsBucket')[1]}/releases/{RELEASE}/"
    shared |= {f"{release}etl_lib-{RELEASE}.gluewheels.zip", f"{release}glue_jobs/*"}
    shared.add(dev.identity("ArtifactsBucket")[1])  # listed only with s3:prefix under this customer's folders
    prod = _role(customer("acme", "prod", **sink("acme", "prod")))
    globex = _role(customer("globex", "dev", **sink("globex", "dev")))
    assert unscoped(mine, prod, "dev", lambda _arn: False) == []
    assert unscoped(mine, globex, "dev", shared.__contains__) == []
    # The exceptions are the network ones, for EC2 actions only.
    excepted = [(s.sid, r) for s in mine for r in s.resources if r != "*" and documented_exception(s, r)]
    assert excepted and all(":ec2:" in r for _, r in excepted), excepted
    (listing,) = [s for s in mine if s.sid == "ListTheModelsAndSpecs"]
    assert listing.condition == {
        "StringLike": {"s3:prefix": [f"releases/{RELEASE}/models/acme/*", f"releases/{RELEASE}/specs/acme/*"]}
    }


def _foreign_sinks() -> list[Resource]:
    """Other tenants' and environments' sink connections and secrets (tagged as the DBA tags them)."""
    found = []
    for customer_id, env in (("globex", "dev"), ("acmex", "dev"), ("acme", "prod"), ("acme", "staging")):
        stack = customer(customer_id, env, **sink(customer_id, env))
        found += [r for r in stack.inventory() if ":connection/" in r.arn]
        secret = sink(customer_id, env)["SinkSecretArn"]
        found.append(Resource(secret, {"etl-lib:prefix": PREFIX, "etl-lib:env": env}, f"{customer_id} {env} secret"))
    assert len([r for r in found if ":connection/" in r.arn]) == 4
    return found


def test_a_sink_role_reaches_no_other_customers_connection_or_secret() -> None:
    """Attacker model: acme's dev role with a sink reaches nothing of other customers or environments,
    their sink connections and secrets included."""
    role = _role(acme(**sink("acme", "dev")))
    assert reach(role, other_tenants() + _foreign_sinks()) == []


def test_the_boundary_reaches_no_other_environments_secret_or_connection() -> None:
    """Attacker model: the dev boundary allows no secret tagged for staging or prod (or untagged), and no
    connection of another environment."""
    boundary = platform("dev").statements("CustomerRoleBoundary")
    foreign = [r for r in _foreign_sinks() if ":acme/prod/" in r.arn or ":acme/staging/" in r.arn]
    foreign += [r for r in _foreign_sinks() if "-prod-" in r.arn or "-staging-" in r.arn]
    assert len(foreign) == 4
    untagged = Resource(_arn("secretsmanager", "secret:someone/else-AbC123"))
    assert reach(boundary, [*foreign, untagged]) == []


def test_a_build_with_a_sink_may_make_its_calls() -> None:
    """Caller model: what Glue and the job do with a sink is allowed by the role and by the boundary; the
    same calls on another secret, subnet, security group or tag key are not allowed by the role."""
    parameters = sink("acme", "dev")
    stack = acme(**parameters)
    role, boundary = _role(stack), platform("dev").statements("CustomerRoleBoundary")
    secret = Resource(parameters["SinkSecretArn"], {"etl-lib:prefix": PREFIX, "etl-lib:env": "dev"})
    key = Resource(parameters["SinkSecretKmsKeyArn"])
    through = {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}
    through["kms:EncryptionContext:SecretARN"] = parameters["SinkSecretArn"]
    subnet = Resource(_arn("ec2", f"subnet/{parameters['SinkSubnetId']}"))
    groups = parameters["SinkSecurityGroupIds"].split(",")
    interface = Resource(_arn("ec2", "network-interface/eni-0123456789abcdef0"))
    artifacts = platform("dev").identity("ArtifactsBucket")[1]
    calls = [
        ("secretsmanager:GetSecretValue", secret, {}),
        ("kms:Decrypt", key, through),
        ("glue:GetConnection", Resource(_arn("glue", "connection/etl-acme-dev-warehouse")), {}),
        ("glue:GetConnection", Resource(_arn("glue", "catalog")), {}),
        ("ec2:CreateNetworkInterface", interface, {}),
        ("ec2:CreateNetworkInterface", subnet, {}),
        *[
            ("ec2:CreateNetworkInterface", Resource(_arn("ec2", f"security-group/{g}")), {"ec2:SecurityGroupID": g})
            for g in groups
        ],
        ("ec2:DeleteNetworkInterface", interface, {"ec2:Subnet": subnet.arn}),
        ("ec2:CreateTags", interface, {"aws:TagKeys": ["aws-glue-service-resource"]}),
        ("ec2:DescribeSubnets", Resource("*"), {"ec2:Region": REGION}),
        ("ec2:DescribeVpcEndpoints", Resource("*"), {"ec2:Region": REGION}),
        ("ec2:DescribeRouteTables", Resource("*"), {"ec2:Region": REGION}),
        ("ec2:DescribeVpcAttribute", Resource(_arn("ec2", "vpc/vpc-0123456789abcdef0")), {}),
        ("s3:GetObject", Resource(f"{artifacts}/releases/{RELEASE}/models/acme/revenue.yaml"), {}),
        ("s3:ListBucket", Resource(artifacts), {"s3:prefix": f"releases/{RELEASE}/models/acme/"}),
        ("s3:ListBucket", Resource(artifacts), {"s3:prefix": f"releases/{RELEASE}/specs/acme/"}),
    ]
    for action, resource, request in calls:
        assert allows(role, action, resource, request), (action, resource.arn)
        assert allows(boundary, action, resource, request), f"{action} on {resource.arn}: refused by the boundary"
    other_subnet = Resource(_arn("ec2", "subnet/subnet-0fedcba9876543210"))
    refused = [
        ("secretsmanager:GetSecretValue", Resource(sink("globex", "dev")["SinkSecretArn"], secret.tags), {}),
        ("kms:Decrypt", key, {}),
        ("kms:Decrypt", key, {**through, "kms:EncryptionContext:SecretARN": sink("globex", "dev")["SinkSecretArn"]}),
        ("ec2:CreateNetworkInterface", other_subnet, {}),
        (
            "ec2:CreateNetworkInterface",
            Resource(_arn("ec2", "security-group/sg-0fedcba9876543210")),
            {"ec2:SecurityGroupID": "sg-0fedcba9876543210"},
        ),
        ("ec2:DeleteNetworkInterface", interface, {"ec2:Subnet": other_subnet.arn}),
        ("ec2:CreateTags", interface, {"aws:TagKeys": ["Name"]}),
        ("ec2:DeleteTags", interface, {}),
        ("ec2:DescribeSubnets", Resource("*"), {"ec2:Region": "us-east-1"}),
        ("glue:GetConnection", Resource(_arn("glue", "connection/etl-globex-dev-warehouse")), {}),
        ("s3:GetObject", Resource(f"{artifacts}/releases/{RELEASE}/models/globex/revenue.yaml"), {}),
        ("s3:ListBucket", Resource(artifacts), {"s3:prefix": f"releases/{RELEASE}/models/globex/"}),
        ("s3:ListBucket", Resource(artifacts), {"s3:prefix": ""}),
    ]
    for action, resource, request in refused:
        assert not allows(role, action, resource, request), (action, resource.arn, request)
    # The boundary: only secrets tagged for this installation and environment, keys only through Secrets Manager.
    for tags in (
        {"etl-lib:prefix": PREFIX, "etl-lib:env": "prod"},
        {},
        {"etl-lib:prefix": "other", "etl-lib:env": "dev"},
    ):
        assert not allows(boundary, "secretsmanager:GetSecretValue", Resource(secret.arn, tags), {}), tags
    assert not allows(boundary, "kms:Decrypt", key, {"kms:ViaService": f"s3.{REGION}.amazonaws.com"})
    prod_key = Resource(key.arn, {"etl-lib:env": "prod"})
    assert not allows(boundary, "kms:Decrypt", prod_key, through), "a key tagged for another environment"
    assert not allows(boundary, "ec2:CreateTags", interface, {"aws:TagKeys": ["Name"]})


def test_the_execution_role_manages_sink_connections_of_its_environment_only() -> None:
    """CloudFormation may update, read, tag and delete dev customers' connections, not prod's. It may create
    one: IAM authorises glue:CreateConnection on the Data Catalog alone (no connection ARN), which is why
    docs/infrastructure.md lists it under Known limits."""
    role = platform("dev").statements("CloudFormationExecutionRole")
    for action in ("UpdateConnection", "DeleteConnection", "GetConnection", "TagResource"):
        assert allows(role, f"glue:{action}", Resource(_arn("glue", "connection/etl-acme-dev-warehouse")), {}), action
        assert not allows(role, f"glue:{action}", Resource(_arn("glue", "connection/etl-acme-prod-warehouse")))
    assert allows(role, "glue:CreateConnection", Resource(_arn("glue", "catalog")), {})
    boundary = {"iam:PermissionsBoundary": platform("dev").identity("CustomerRoleBoundary")[1]}
    glue_role = Resource(acme(**MODELS).identity("GlueJobRole")[1])
    assert allows(role, "iam:PutRolePolicy", glue_role, boundary), "the AWS::IAM::Policy resources of the job role"
    assert not allows(role, "iam:PutRolePolicy", glue_role, {}), "only on a role that carries the boundary"


def test_the_sample_parameters_have_no_models() -> None:
    """The other infra tests run without models; this module adds them, so both shapes are covered."""
    assert "HasModels" not in CUSTOMER_PARAMETERS
