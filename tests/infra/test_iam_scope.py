"""Least privilege per environment and per tenant, checked statement by statement.

The IAM policies of ``cloudformation/*.yaml`` are resolved for sample parameters (prefix ``etl``,
account 123456789012, eu-west-1; stacks named as ``deploy/plan.py`` names them) and evaluated by a
small IAM matcher: ``*``/``?`` wildcards in actions (case-insensitive) and resources, and the
condition operators the templates use (any other operator fails the test until it is modelled).

What a role must never reach is not listed by hand: it is every resource the same templates declare
for other parameters (the platform of another environment, customer stacks of other environments,
other customers of the same environment, including a customer whose id is an environment's name), so
a new resource, or a new name, is covered as soon as a template has it.

A statement's conditions are evaluated in one of two ways:

* **attacker** (no request context given): the caller picks every request-side value (request
  tags, ``iam:PassedToService``, ``cloudformation:RoleArn``, ``kms:ViaService``...), so such
  conditions never save an Allow; resource-side ones (``aws:ResourceTag/...``) are read from the
  resource's tags. A Deny counts only when all its conditions are resource-side. What this model
  cannot reach, the role cannot reach, whatever the caller sends.
* **caller** (a request context given): every condition as written, for the calls the deploy
  scripts and the jobs really make, so that a policy granting nothing cannot pass.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.test_templates import CUSTOMER_PARAMETERS, DATASETS, expand_for_each, load_template
from tests.infra.test_workflows import deploy_plan

REPO = Path(__file__).resolve().parents[2]
PLATFORM = REPO / "cloudformation" / "platform.yaml"
CUSTOMER = REPO / "cloudformation" / "customer.yaml"
DOCS = REPO / "docs" / "infrastructure.md"
ACCOUNT = "123456789012"
REGION = "eu-west-1"
PREFIX = "etl"  # with this prefix, the platform stack etl-lib-platform-{env} matches etl-*-{env}
REPOSITORY = "example-org/etl_lib"
RELEASE = CUSTOMER_PARAMETERS["ReleaseVersion"]

# Actions granted on "*" because AWS has no resource-level permissions for them (each one said so
# in docs/infrastructure.md, "IAM scoping").
NO_RESOURCE_LEVEL = {
    "cloudwatch:PutMetricData",
    "kms:CreateKey",
    "kms:ListAliases",
    "glue:CreateSecurityConfiguration",
    "glue:GetSecurityConfiguration",
    # what Glue checks of a connection's network before a build-models run with a sink
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeRouteTables",
    # saved Logs Insights queries (customer.yaml *Query) have no ARN
    "logs:PutQueryDefinition",
    "logs:DeleteQueryDefinition",
    "logs:DescribeQueryDefinitions",
}
# kms:TagResource is on "*" too: KMS allows tags given to CreateKey only to a policy not restricted to
# particular keys. A Deny keeps it off keys of other environments, which the sweeps below check.
STAR_FOR_CREATION = {"kms:TagResource"}
# Resources that are the same in every environment: an AWS-owned transform, the account's Data
# Catalog (Glue asks for it together with a database, which is scoped).
SHARED_ARN_SUFFIXES = (":aws:transform/LanguageExtensions", f":{ACCOUNT}:catalog")
# The network a models' sink runs in is the customer's VPC, not a resource of these templates: network
# interfaces, subnets, security groups and VPCs have no name or tag that tells environments or tenants apart
# (documented in docs/infrastructure.md; the job role still names its own subnet and security groups).
NETWORK_ARN = re.compile(rf"^arn:aws:ec2:{REGION}:{ACCOUNT}:(network-interface|subnet|security-group|vpc)/")
# The log groups AWS names for the Iceberg table optimizers: the same in every environment of the account
# (docs/infrastructure.md, "Iceberg tables"); the customer role boundary lets roles write to them.
OPTIMIZER_LOG_GROUP = re.compile(
    rf"^arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws-glue/iceberg-(compaction|retention|orphan-file-deletion)/logs:\*$"
)

# Resources named by one property, and the ARN that name gives ({region} is region:account).
NAMED = {
    "AWS::Glue::Job": ("Name", "arn:aws:glue:{region}:job/{name}"),
    "AWS::Glue::Workflow": ("Name", "arn:aws:glue:{region}:workflow/{name}"),
    "AWS::Glue::Trigger": ("Name", "arn:aws:glue:{region}:trigger/{name}"),
    "AWS::Events::Rule": ("Name", "arn:aws:events:{region}:rule/{name}"),
    "AWS::Athena::WorkGroup": ("Name", "arn:aws:athena:{region}:workgroup/{name}"),
    "AWS::Lambda::Function": ("FunctionName", "arn:aws:lambda:{region}:function:{name}"),
    "AWS::Logs::LogGroup": ("LogGroupName", "arn:aws:logs:{region}:log-group:{name}"),
    "AWS::CloudWatch::Alarm": ("AlarmName", "arn:aws:cloudwatch:{region}:alarm:{name}"),
    "AWS::CloudWatch::Dashboard": ("DashboardName", "arn:aws:cloudwatch::{account}:dashboard/{name}"),
}

NO_VALUE = object()
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::URLSuffix": "amazonaws.com"}


# --- the templates, resolved ------------------------------------------------------------------


@dataclass
class Resource:
    """A concrete AWS resource: its ARN and tags (what resource-side conditions read)."""

    arn: str
    tags: dict[str, str] = field(default_factory=dict)
    where: str = ""


@dataclass
class Statement:
    """One resolved IAM policy statement."""

    sid: str
    effect: str
    actions: list[str]
    resources: list[str]
    condition: dict[str, dict[str, Any]]
    principal: Any = None


class Stack:
    """A template resolved for one set of parameters, as CloudFormation would (for what IAM reads)."""

    def __init__(self, template: dict[str, Any], name: str, parameters: dict[str, str], imports: dict[str, str]):
        self.template = template
        self.name = name
        self.imports = imports
        self.parameters = {
            key: str(parameters[key]) if key in parameters else str(spec.get("Default", ""))
            for key, spec in template["Parameters"].items()
        }
        unknown = set(parameters) - set(self.parameters)
        assert not unknown, unknown
        self._identities: dict[str, tuple[Any, str | None, dict[str, str]]] = {}

    # intrinsic functions
    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [item for item in (self.resolve(n) for n in node) if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return NO_VALUE if arg == "AWS::NoValue" else self._ref(arg)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self._get_att(logical_id, attribute)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                separator, items = arg
                return separator.join(self.resolve(items))
            if key == "Fn::Split":
                separator, text = arg
                return self.resolve(text).split(separator)
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::ImportValue":
                return self.imports[self.resolve(arg)]
            if key == "Fn::If":
                name, when_true, when_false = arg
                return self.resolve(when_true if self.condition(name) else when_false)
            assert not key.startswith("Fn::"), f"{key} is not modelled"
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else arg
        values = {name: self.resolve(value) for name, value in variables.items()}

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in values:
                return str(values[name])
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return str(self._get_att(logical_id, attribute))
            return str(self._ref(name))

        return re.sub(r"\$\{([^}!]+)\}", one, text)

    def _ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        if name == "AWS::StackName":
            return self.name
        if name in PSEUDO:
            return PSEUDO[name]
        return self.identity(name)[0]

    def _get_att(self, logical_id: str, attribute: str) -> str:
        assert attribute == "Arn", f"{logical_id}.{attribute} is not modelled"
        arn = self.identity(logical_id)[1]
        assert arn, f"{logical_id} has no ARN"
        return arn

    def condition(self, name: str) -> bool:
        return bool(self._evaluate(self.template["Conditions"][name]))

    def _evaluate(self, node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Fn::Equals":
                left, right = (self._evaluate(a) for a in arg)
                return left == right
            if key == "Fn::Not":
                return not self._evaluate(arg[0])
            if key == "Fn::And":
                return all(self._evaluate(a) for a in arg)
            if key == "Fn::Or":
                return any(self._evaluate(a) for a in arg)
            if key == "Condition":
                return self.condition(arg)
        return self.resolve(node)

    # what a resource is called
    def identity(self, logical_id: str) -> tuple[Any, str | None, dict[str, str]]:
        """(what Ref gives, the ARN or None, the tags) of a resource of this stack."""
        if logical_id not in self._identities:
            self._identities[logical_id] = self._make_identity(logical_id)
        return self._identities[logical_id]

    def _make_identity(self, logical_id: str) -> tuple[Any, str | None, dict[str, str]]:
        resource = self.template["Resources"][logical_id]
        kind, props = resource["Type"], resource.get("Properties", {})
        raw_tags = props.get("Tags", [])
        tags = (
            {t["Key"]: self.resolve(t["Value"]) for t in raw_tags}
            if isinstance(raw_tags, list)
            else {k: self.resolve(v) for k, v in raw_tags.items()}
        )
        region = f"{REGION}:{ACCOUNT}"

        def name(key: str) -> str:
            return str(self.resolve(props[key]))

        if kind == "AWS::S3::Bucket":
            return name("BucketName"), f"arn:aws:s3:::{name('BucketName')}", tags
        if kind == "AWS::KMS::Key":
            key_id = f"{self.name}-{logical_id}"  # opaque and unique, as a key id is
            return key_id, f"arn:aws:kms:{region}:key/{key_id}", tags
        if kind == "AWS::KMS::Alias":
            return name("AliasName"), f"arn:aws:kms:{region}:{name('AliasName')}", tags
        if kind == "AWS::IAM::Role":
            path = props.get("Path", "/")
            return name("RoleName"), f"arn:aws:iam::{ACCOUNT}:role{path}{name('RoleName')}", tags
        if kind == "AWS::IAM::ManagedPolicy":
            arn = f"arn:aws:iam::{ACCOUNT}:policy/{name('ManagedPolicyName')}"
            return arn, arn, tags
        if kind == "AWS::IAM::OIDCProvider":
            arn = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
            return arn, arn, tags
        if kind == "AWS::DynamoDB::Table":
            return name("TableName"), f"arn:aws:dynamodb:{region}:table/{name('TableName')}", tags
        if kind == "AWS::SNS::Topic":
            arn = f"arn:aws:sns:{region}:{name('TopicName')}"
            return arn, arn, tags
        if kind == "AWS::Glue::Database":
            database = str(self.resolve(props["DatabaseInput"]["Name"]))
            return database, f"arn:aws:glue:{region}:database/{database}", tags
        if kind in NAMED:  # a name property, and the ARN that name gives
            key, arn = NAMED[kind]
            return name(key), arn.format(region=region, account=ACCOUNT, name=name(key)), tags
        if kind == "AWS::Glue::Connection":
            connection = str(self.resolve(props["ConnectionInput"]["Name"]))
            return connection, f"arn:aws:glue:{region}:connection/{connection}", tags
        if kind == "AWS::Glue::SecurityConfiguration":
            return name("Name"), None, tags
        assert kind in {
            "AWS::S3::BucketPolicy",
            "AWS::SNS::TopicPolicy",
            "AWS::IAM::Policy",
            "AWS::Lambda::Permission",
            "AWS::Logs::QueryDefinition",
        }, f"{kind} is not modelled"
        return logical_id, None, tags

    # what the stack holds
    def exports(self) -> dict[str, str]:
        """Export name -> value, as a customer stack imports them."""
        return {
            self.resolve(output["Export"]["Name"]): self.resolve(output["Value"])
            for output in self.template["Outputs"].values()
            if "Export" in output
        }

    def active(self, logical_id: str) -> bool:
        """Whether the resource exists for these parameters (its Condition, if any, holds)."""
        resource = self.template["Resources"][logical_id]
        return "Condition" not in resource or self.condition(resource["Condition"])

    def statements(self, logical_id: str) -> list[Statement]:
        """Every statement of a role's inline policies (its own and those of AWS::IAM::Policy resources
        attached to it that exist for these parameters), or of a managed policy."""
        props = self.template["Resources"][logical_id]["Properties"]
        documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        if "PolicyDocument" in props:
            documents.append(props["PolicyDocument"])
        documents += [
            resource["Properties"]["PolicyDocument"]
            for policy_id, resource in self.template["Resources"].items()
            if resource["Type"] == "AWS::IAM::Policy"
            and {"Ref": logical_id} in resource["Properties"]["Roles"]
            and self.active(policy_id)
        ]
        resolved = [self.resolve(s) for d in documents for s in d["Statement"]]
        return [_statement(s) for s in resolved if s is not NO_VALUE]

    def trust(self, logical_id: str) -> list[Statement]:
        """A role's trust policy."""
        document = self.template["Resources"][logical_id]["Properties"]["AssumeRolePolicyDocument"]
        return [_statement(self.resolve(s)) for s in document["Statement"]]

    def inventory(self) -> list[Resource]:
        """Every resource of the stack that has an ARN, with sample children (objects, tables, logs)."""
        found = [Resource(f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{self.name}/0a1b2c3d", {}, self.name)]
        for logical_id, resource in self.template["Resources"].items():
            if not self.active(logical_id):
                continue
            _, arn, tags = self.identity(logical_id)
            if arn is None or resource["Type"] == "AWS::IAM::OIDCProvider":  # the account's one provider
                continue
            where = f"{self.name}:{logical_id}"
            found.append(Resource(arn, tags, where))
            if resource["Type"] == "AWS::S3::Bucket":
                found += [Resource(f"{arn}/{key}", tags, where) for key in OBJECT_KEYS]
            if resource["Type"] == "AWS::Glue::Database":
                found.append(Resource(arn.replace(":database/", ":table/") + "/transactions", tags, where))
            if resource["Type"] == "AWS::Logs::LogGroup":
                found.append(Resource(f"{arn}:log-stream:2024/06/01/[$LATEST]0a1b", tags, where))
            if resource["Type"] == "AWS::Glue::Job":
                group = self.resolve(resource["Properties"]["DefaultArguments"]["--custom-logGroup-prefix"])
                logs = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:"
                for name in (f"{group}/error", f"{group}/output", f"{group}-role/{self.name}-glue/output"):
                    found += [
                        Resource(f"{logs}{name}", {}, where),
                        Resource(f"{logs}{name}:log-stream:jr_1", {}, where),
                    ]
        return found


# Sample object keys in every bucket: the data-lake areas and the release layout.
OBJECT_KEYS = (
    "raw/transactions/2024-06.csv",
    "processed/transactions/f-0001.json",
    "rejected/transactions/f-0001.json",
    "analytics-ready/transactions/year=2024/p.parquet",
    "receipts/transactions/f.json",
    "_meta/staging/transactions/run/x.json",
    "_meta/glue-temp/x",
    f"releases/{RELEASE}/manifest.json",
    f"releases/{RELEASE}/etl_lib-{RELEASE}.gluewheels.zip",
    f"releases/{RELEASE}/glue_jobs/raw_to_processed.py",
    f"releases/{RELEASE}/specs/acme/transactions.yaml",
    f"releases/{RELEASE}/specs/globex/invoices.yaml",
    f"releases/{RELEASE}/cloudformation/customer.template",
)


def _statement(raw: dict[str, Any]) -> Statement:
    assert not {"NotAction", "NotResource", "NotPrincipal"} & set(raw), f"{raw.get('Sid')}: not modelled"
    return Statement(
        raw.get("Sid", ""),
        raw["Effect"],
        _listed(raw["Action"]),
        _listed(raw.get("Resource", [])),
        raw.get("Condition", {}),
        raw.get("Principal"),
    )


@cache
def _templates() -> tuple[dict[str, Any], dict[str, Any]]:
    return load_template(PLATFORM), load_template(CUSTOMER)


@cache
def platform(env: str, **parameters: str) -> Stack:
    """The platform stack of ``env``, as deploy/plan.py names it."""
    given = {"Prefix": PREFIX, "Env": env, "GitHubRepository": REPOSITORY, **parameters}
    return Stack(_templates()[0], deploy_plan.platform_stack(env), given, {})


@cache
def customer(customer_id: str, env: str, **extra: str) -> Stack:
    """A customer stack, ``Fn::ForEach`` unrolled, importing its environment's platform exports; ``extra``
    parameters on top of the sample ones (e.g. models and a sink)."""
    parameters = {
        **CUSTOMER_PARAMETERS,
        "PlatformStackName": deploy_plan.platform_stack(env),
        "Prefix": PREFIX,
        "CustomerId": customer_id,
        "Env": env,
        **extra,
    }
    template = expand_for_each(_templates()[1], parameters)
    stack_name = deploy_plan.customer_stack(PREFIX, customer_id, env)
    return Stack(template, stack_name, parameters, platform(env).exports())


OTHER_ENVIRONMENTS = ("staging", "prod")
# Other environments' customers, among them customer ids spelt like an environment.
FOREIGN_CUSTOMERS = [(c, e) for e in OTHER_ENVIRONMENTS for c in ("acme", "globex", "dev", "staging", "prod")]


def other_environments() -> list[Resource]:
    """Everything the templates make in staging and prod."""
    found = [r for env in OTHER_ENVIRONMENTS for r in platform(env).inventory()]
    return found + [r for c, e in FOREIGN_CUSTOMERS for r in customer(c, e).inventory()]


def other_tenants() -> list[Resource]:
    """For acme in dev: other environments, other dev customers, and the dev platform's resources that are
    not acme's to use (its own ledger items, topic, key use and release files are checked by name)."""
    shared = {"LedgerTable", "AlertsTopic", "PlatformKey", "ArtifactsBucket"}
    dev = platform("dev")
    found = [r for r in dev.inventory() if r.where.split(":")[-1] not in shared]
    artifacts = dev.identity("ArtifactsBucket")[1]
    found += [
        Resource(f"{artifacts}/{key}")
        for key in (
            f"releases/{RELEASE}/specs/globex/invoices.yaml",  # another customer's spec
            "releases/0.9.0/specs/acme/transactions.yaml",  # another release
            "releases/0.9.0/glue_jobs/raw_to_processed.py",
            f"releases/{RELEASE}/manifest.json",
        )
    ]
    found += [r for c in ("globex", "acmex", "dev", "prod") for r in customer(c, "dev").inventory()]
    return found + other_environments()


# --- a small IAM matcher ----------------------------------------------------------------------


def _service(arn_or_action: str) -> str:
    return arn_or_action.split(":")[2] if arn_or_action.startswith("arn:") else arn_or_action.split(":")[0]


def _resource_side(key: str) -> bool:
    return key.startswith("aws:ResourceTag/")


def _holds(operator: str, key: str, wanted: list[str], context: dict[str, Any]) -> bool:
    """One condition key, as IAM evaluates it (only the operators the templates use)."""
    present = key in context
    value = context.get(key)
    if operator == "Null":
        return (not present) == (wanted[0] == "true")
    if operator == "ForAllValues:StringLike":
        return not present or all(any(fnmatchcase(v, w) for w in wanted) for v in value)
    if operator == "ForAllValues:StringEquals":
        return not present or all(v in wanted for v in value)
    if operator == "StringNotEquals":
        return not present or value not in wanted
    if operator == "StringEqualsIfExists":
        return not present or value in wanted
    if not present:
        return False
    if operator == "StringEquals":
        return value in wanted
    if operator in {"StringLike", "ArnLike"}:
        return any(fnmatchcase(value, w) for w in wanted)
    if operator == "Bool":
        return str(value).lower() in {w.lower() for w in wanted}
    raise AssertionError(f"condition operator {operator} is not modelled: teach _holds")


def _conditions_hold(statement: Statement, context: dict[str, Any], only: Callable[[str], bool]) -> bool:
    for operator, block in statement.condition.items():
        for key, wanted in block.items():
            if only(key) and not _holds(operator, key, [str(w) for w in _listed(wanted)], context):
                return False
    return True


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches(statement: Statement, action: str, arn: str) -> bool:
    return any(fnmatchcase(action.lower(), a.lower()) for a in statement.actions) and any(
        fnmatchcase(arn, pattern) for pattern in statement.resources
    )


def allows(
    statements: Iterable[Statement], action: str, resource: Resource, request: dict[str, Any] | None = None
) -> bool:
    """Whether ``statements`` allow ``action`` on ``resource``: attacker model without ``request``, caller with."""
    context = {f"aws:ResourceTag/{k}": v for k, v in resource.tags.items()} | (request or {})
    allowed = denied = False
    for statement in statements:
        if not _matches(statement, action, resource.arn):
            continue
        keys = [k for block in statement.condition.values() for k in block]
        if statement.effect == "Allow":
            scope = _resource_side if request is None else (lambda _key: True)
            allowed = allowed or _conditions_hold(statement, context, scope)
        elif request is not None or all(_resource_side(k) for k in keys):
            denied = denied or _conditions_hold(statement, context, lambda _key: True)
    return allowed and not denied


# Actions whose only resource type is narrower than their service's ARNs (KMS tags keys, not aliases).
RESOURCE_TYPE = {"kms:TagResource": ":key/", "kms:UntagResource": ":key/"}


def reach(statements: list[Statement], resources: list[Resource]) -> list[str]:
    """Every (action, resource) of ``resources`` the statements allow, in the attacker model; actions
    without resource-level permissions are left to ``test_star_resources_...``."""
    actions = sorted({a for s in statements if s.effect == "Allow" for a in s.actions} - NO_RESOURCE_LEVEL)
    found = []
    for action in actions:
        for resource in resources:
            if _service(resource.arn) != _service(action) or RESOURCE_TYPE.get(action, ":") not in resource.arn:
                continue
            if allows(statements, action, resource):
                found.append(f"{action} on {resource.arn} ({resource.where})")
    return found


def _arn(service: str, rest: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{rest}"


# --- every statement is scoped ------------------------------------------------------------------

PLATFORM_POLICIES = ("GitHubDeployRole", "CloudFormationExecutionRole", "CustomerRoleBoundary")
CUSTOMER_POLICIES = ("GlueJobRole", "DeliveryEventsRole", "JobAlertsRole")


def _env_condition(statement: Statement, env: str) -> bool:
    """The statement is limited by a request or resource tag naming the environment."""
    return any(
        key in {"aws:ResourceTag/etl-lib:env", "aws:RequestTag/etl-lib:env"} and _listed(value) == [env]
        for operator, block in statement.condition.items()
        if operator == "StringEquals"
        for key, value in block.items()
    )


def _through_secrets_manager_only(statement: Statement) -> bool:
    """A KMS statement usable only by Secrets Manager on the caller's behalf (it decrypts a secret only for
    a caller GetSecretValue already allows, and that is scoped)."""
    via = statement.condition.get("StringEquals", {}).get("kms:ViaService")
    return all(a.startswith("kms:") for a in statement.actions) and _listed(via) == [
        f"secretsmanager.{REGION}.amazonaws.com"
    ]


def documented_exception(statement: Statement, resource: str) -> bool:
    """The documented resources that are the same in every environment and for every customer: the sink's
    network (EC2 actions on network ARNs) and keys used through Secrets Manager only."""
    if all(a.startswith("ec2:") for a in statement.actions) and NETWORK_ARN.match(resource):
        return True
    if all(a.startswith("logs:") for a in statement.actions) and OPTIMIZER_LOG_GROUP.match(resource):
        return True
    return resource.endswith(":key/*") and _through_secrets_manager_only(statement)


def unscoped(ours: list[Statement], theirs: list[Statement], env: str, shared: Callable[[str], bool]) -> list[str]:
    """Allow resources that would be the same for the other stack, and are neither documented nor tag-scoped."""
    assert [s.sid for s in ours] == [s.sid for s in theirs]
    problems = []
    for mine, other in zip(ours, theirs, strict=True):
        if mine.effect != "Allow":
            continue
        for resource, counterpart in zip(mine.resources, other.resources, strict=True):
            if resource == "*":
                if not set(mine.actions) <= NO_RESOURCE_LEVEL | STAR_FOR_CREATION:
                    problems.append(f"{mine.sid}: Resource * for {sorted(set(mine.actions) - NO_RESOURCE_LEVEL)}")
            elif (
                resource == counterpart
                and not resource.endswith(SHARED_ARN_SUFFIXES)
                and not (_env_condition(mine, env) or shared(resource) or documented_exception(mine, resource))
            ):
                problems.append(f"{mine.sid}: {resource} is the same in the other stack")
    return problems


@pytest.mark.parametrize("logical_id", PLATFORM_POLICIES)
def test_platform_policies_name_their_environment_in_every_allow(logical_id: str) -> None:
    """The deploy role, the execution role and the customer boundary: every Allow resource, resolved for dev,
    differs from the one resolved for prod, or is limited by an etl-lib:env tag condition, or is documented
    (``*`` for actions without resource-level permissions, the LanguageExtensions transform, the catalog)."""
    dev, prod = platform("dev").statements(logical_id), platform("prod").statements(logical_id)
    assert dev, logical_id
    assert unscoped(dev, prod, "dev", lambda _arn: False) == []


@pytest.mark.parametrize("logical_id", CUSTOMER_POLICIES)
def test_customer_policies_name_their_customer_and_environment_in_every_allow(logical_id: str) -> None:
    """The Glue job role and the EventBridge role: every Allow resource differs for another environment and
    for another customer, except the environment's shared ledger (items limited by LeadingKeys), alerts topic,
    platform key (only through S3, DynamoDB and SNS) and the release's code."""
    acme = customer("acme", "dev")
    dev = platform("dev")
    shared_in_env = {
        dev.identity("LedgerTable")[1],
        dev.identity("AlertsTopic")[1],
        dev.identity("PlatformKey")[1],
    }
    release = f"{dev.identity('ArtifactsBucket')[1]}/releases/{RELEASE}/"
    code = {f"{release}etl_lib-{RELEASE}.gluewheels.zip", f"{release}glue_jobs/*"}
    mine = acme.statements(logical_id)
    assert unscoped(mine, customer("acme", "prod").statements(logical_id), "dev", lambda _arn: False) == []
    assert (
        unscoped(mine, customer("globex", "dev").statements(logical_id), "dev", (shared_in_env | code).__contains__)
        == []
    )
    # The shared ones are used only as documented.
    by_sid = {s.sid: s for s in mine}
    if logical_id == "GlueJobRole":
        ledger = by_sid["OwnLedgerItemsOnly"]
        assert ledger.condition["ForAllValues:StringLike"] == {"dynamodb:LeadingKeys": ["acme#*"]}
        assert ledger.condition["Null"] == {"dynamodb:LeadingKeys": "false"}
        assert by_sid["DescribeTheLedger"].actions == ["dynamodb:DescribeTable"]
        assert by_sid["PublishAlerts"].actions == ["sns:Publish"]
        via = by_sid["UseThePlatformKeyThroughS3DynamoDbSns"].condition["StringEquals"]["kms:ViaService"]
        assert sorted(via) == sorted(f"{s}.{REGION}.amazonaws.com" for s in ("s3", "dynamodb", "sns"))


def test_star_resources_only_where_aws_has_no_resource_level_permissions() -> None:
    """``Resource: *`` only for the documented actions, each named in docs/infrastructure.md; and no
    ``*`` or ``service:*`` action anywhere."""
    docs = DOCS.read_text(encoding="utf-8")
    star_actions: set[str] = set()
    policies = [platform("dev").statements(lid) for lid in PLATFORM_POLICIES]
    policies += [customer("acme", "dev").statements(lid) for lid in CUSTOMER_POLICIES]
    for statements in policies:
        for statement in statements:
            assert not [a for a in statement.actions if a == "*" or a.endswith(":*")], statement.sid
            if statement.effect == "Allow" and "*" in statement.resources:
                assert statement.resources == ["*"], statement.sid
                star_actions |= set(statement.actions)
    assert star_actions <= NO_RESOURCE_LEVEL | STAR_FOR_CREATION, star_actions - NO_RESOURCE_LEVEL
    for action in NO_RESOURCE_LEVEL | STAR_FOR_CREATION:
        assert f"`{action}`" in docs, f"{action} on Resource * is not documented in {DOCS.name}"
    for shared in ("LanguageExtensions", "catalog"):
        assert shared in docs


# --- nothing of another environment --------------------------------------------------------------


def test_the_sweeps_see_every_kind_of_resource() -> None:
    """The foreign inventories hold what the roles could touch: stacks, buckets and objects, keys, aliases,
    roles, the ledger, topics, Glue jobs, workflows, triggers, databases, tables, rules, log groups."""
    kinds = {
        (r.arn.split(":")[2], r.arn.split(":")[5].split("/")[0]) if r.arn.split(":")[2] != "s3" else ("s3", "")
        for r in other_environments()
    }
    assert {
        ("cloudformation", "stack"),
        ("s3", ""),
        ("kms", "key"),
        ("kms", "alias"),
        ("iam", "role"),
        ("iam", "policy"),
        ("dynamodb", "table"),
        ("glue", "job"),
        ("glue", "workflow"),
        ("glue", "trigger"),
        ("glue", "database"),
        ("glue", "table"),
        ("events", "rule"),
        ("logs", "log-group"),
    } <= kinds
    assert any(r.arn.startswith("arn:aws:sns:") for r in other_environments())


def test_deploy_role_reaches_nothing_of_another_environment() -> None:
    """The dev GitHub deploy role: no action of it on any resource of staging or prod, whatever it sends."""
    assert reach(platform("dev").statements("GitHubDeployRole"), other_environments()) == []


def test_execution_role_reaches_nothing_of_another_environment() -> None:
    """The dev CloudFormation execution role: nothing of staging or prod, keys of other environments included
    (the Deny stops re-tagging them into dev)."""
    assert reach(platform("dev").statements("CloudFormationExecutionRole"), other_environments()) == []


def test_customer_boundary_caps_roles_to_their_environment() -> None:
    """The dev customer role boundary allows nothing of staging or prod."""
    assert reach(platform("dev").statements("CustomerRoleBoundary"), other_environments()) == []


def test_deploy_role_can_do_what_the_deploy_scripts_do() -> None:
    """publish.sh, customer.sh (aws cloudformation deploy --role-arn), smoke.sh and platform_output, in dev;
    and not the platform stack, the execution role's powers, or anything else of dev."""
    dev = platform("dev")
    role = dev.statements("GitHubDeployRole")
    execution_role = dev.identity("CloudFormationExecutionRole")[1]
    artifacts = dev.identity("ArtifactsBucket")[1]
    stack = Resource(_arn("cloudformation", "stack/etl-acme-dev/0a1b2c3d"))
    platform_stack = Resource(_arn("cloudformation", "stack/etl-lib-platform-dev/0a1b2c3d"))
    with_role = {"cloudformation:RoleArn": execution_role}
    for action in ("CreateChangeSet", "CreateStack", "UpdateStack", "DeleteStack"):
        assert allows(role, f"cloudformation:{action}", stack, with_role), action
        assert not allows(role, f"cloudformation:{action}", stack, {}), f"{action} without the execution role"
        assert not allows(role, f"cloudformation:{action}", platform_stack, with_role), action
    for action in (
        "DescribeStacks",
        "DescribeChangeSet",
        "ExecuteChangeSet",
        "DescribeStackEvents",
        "DescribeStackResources",
    ):
        assert allows(role, f"cloudformation:{action}", stack, {}), action
    assert allows(role, "cloudformation:DescribeStacks", platform_stack, {})
    assert not allows(role, "cloudformation:ExecuteChangeSet", platform_stack, {})
    transform = Resource(f"arn:aws:cloudformation:{REGION}:aws:transform/LanguageExtensions")
    assert allows(role, "cloudformation:CreateChangeSet", transform, {})
    passed = {"iam:PassedToService": "cloudformation.amazonaws.com"}
    assert allows(role, "iam:PassRole", Resource(execution_role), passed)
    assert not allows(role, "iam:PassRole", Resource(execution_role), {"iam:PassedToService": "glue.amazonaws.com"})
    assert not allows(role, "iam:PassRole", Resource(customer("acme", "dev").identity("GlueJobRole")[1]), passed)
    for key in ("manifest.json", f"etl_lib-{RELEASE}.gluewheels.zip", "cloudformation/abc.template"):
        for action in ("s3:PutObject", "s3:GetObject"):
            assert allows(role, action, Resource(f"{artifacts}/releases/v9/{key}"), {}), (action, key)
    assert allows(role, "s3:ListBucket", Resource(artifacts), {"s3:prefix": "releases/v9/"})
    assert not allows(role, "s3:ListBucket", Resource(artifacts), {"s3:prefix": ""})
    via_s3 = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    platform_key = Resource(dev.identity("PlatformKey")[1], dev.identity("PlatformKey")[2])
    assert allows(role, "kms:GenerateDataKey", platform_key, via_s3)
    assert not allows(role, "kms:Decrypt", platform_key, {})
    for dataset in DATASETS:
        workflow = Resource(_arn("glue", f"workflow/etl-acme-dev-{dataset}"))
        assert allows(role, "glue:StartWorkflowRun", workflow, {}) and allows(role, "glue:GetWorkflowRun", workflow, {})
    # Nothing of dev beyond that: no customer data, no ledger, no customer keys.
    lake = customer("acme", "dev").identity("DataLakeBucket")[1]
    assert not allows(role, "s3:GetObject", Resource(f"{lake}/raw/transactions/a.csv"))
    assert not allows(role, "dynamodb:GetItem", Resource(dev.identity("LedgerTable")[1]))


def test_execution_role_can_build_customer_stacks_and_nothing_of_the_platform() -> None:
    """What CloudFormation does for a dev customer stack is allowed; the platform's key, roles and
    buckets, and passing a role to the wrong service, are not."""
    dev, acme = platform("dev"), customer("acme", "dev")
    role = dev.statements("CloudFormationExecutionRole")
    key_tags = acme.identity("DataLakeKey")[2]
    request_tags = {f"aws:RequestTag/{k}": v for k, v in key_tags.items()}
    assert allows(role, "s3:CreateBucket", Resource(acme.identity("DataLakeBucket")[1]), {})
    assert allows(role, "s3:PutLifecycleConfiguration", Resource(acme.identity("DataLakeBucket")[1]), {})
    assert allows(role, "kms:CreateKey", Resource("*"), request_tags)
    assert not allows(role, "kms:CreateKey", Resource("*"), {**request_tags, "aws:RequestTag/etl-lib:env": "prod"})
    customer_key = Resource(acme.identity("DataLakeKey")[1], key_tags)
    for action in ("kms:PutKeyPolicy", "kms:EnableKeyRotation", "kms:ScheduleKeyDeletion", "kms:TagResource"):
        assert allows(role, action, customer_key, request_tags), action
    assert allows(role, "kms:CreateAlias", Resource(acme.identity("DataLakeKeyAlias")[1]), {})
    platform_key = Resource(dev.identity("PlatformKey")[1], dev.identity("PlatformKey")[2])
    for action in ("kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:TagResource", "kms:UntagResource"):
        assert not allows(role, action, platform_key, request_tags), action
    boundary = {"iam:PermissionsBoundary": dev.identity("CustomerRoleBoundary")[1]}
    for logical_id, service in (("GlueJobRole", "glue"), ("DeliveryEventsRole", "events")):
        arn = Resource(acme.identity(logical_id)[1])
        assert allows(role, "iam:CreateRole", arn, boundary) and not allows(role, "iam:CreateRole", arn, {})
        assert allows(role, "iam:PassRole", arn, {"iam:PassedToService": f"{service}.amazonaws.com"})
        other = "events" if service == "glue" else "glue"
        assert not allows(role, "iam:PassRole", arn, {"iam:PassedToService": f"{other}.amazonaws.com"}), logical_id
    for logical_id in ("GitHubDeployRole", "CloudFormationExecutionRole"):
        platform_role = Resource(dev.identity(logical_id)[1])
        assert not [
            a
            for a in ("iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:PassRole", "iam:DeleteRole")
            if allows(role, a, platform_role)
        ], logical_id
    for kind in (
        "RawToProcessedJob",
        "Workflowtransactions",
        "OnDeliverytransactions",
        "DeliveryRuletransactions",
        "GlueDatabase",
    ):
        arn = acme.identity(kind)[1]
        action = {"glue": "glue:Delete" + arn.split(":")[5].split("/")[0].title(), "events": "events:DeleteRule"}
        assert allows(role, action[_service(arn)], Resource(arn), {}), kind
    assert not allows(role, "glue:DeleteSecurityConfiguration", Resource("*"), {})
    assert not allows(role, "s3:PutBucketPolicy", Resource(dev.identity("ArtifactsBucket")[1]), {})


# --- one customer's jobs: their own data only, and raw/ read-only ------------------------------


def _glue_role() -> tuple[list[Statement], list[Statement]]:
    """The acme dev Glue role's statements and the boundary it carries."""
    return customer("acme", "dev").statements("GlueJobRole"), platform("dev").statements("CustomerRoleBoundary")


AREAS_WRITTEN = ("processed", "rejected", "analytics-ready", "receipts", "_meta")


def test_glue_role_reaches_only_its_customer() -> None:
    """The acme dev Glue role: nothing of another customer, of the platform beyond its shared ledger, topic,
    key and release, or of another environment."""
    role, _ = _glue_role()
    assert reach(role, other_tenants()) == []
    events = customer("acme", "dev").statements("DeliveryEventsRole")
    assert reach(events, other_tenants()) == []


def test_glue_jobs_read_raw_and_never_write_it() -> None:
    """raw/ is the partner's: GetObject only, by the role and by the boundary; the areas the jobs write
    (processed/, rejected/, analytics-ready/, receipts/, _meta/ with its staging) are writable by both."""
    role, boundary = _glue_role()
    lake = customer("acme", "dev").identity("DataLakeBucket")[1]
    raw = Resource(f"{lake}/raw/transactions/2024-06.csv")
    for policy in (role, boundary):
        assert allows(policy, "s3:GetObject", raw, {})
        for action in (
            "s3:PutObject",
            "s3:DeleteObject",
            "s3:DeleteObjectVersion",
            "s3:AbortMultipartUpload",
            "s3:PutObjectTagging",
            "s3:PutObjectAcl",
        ):
            assert not allows(policy, action, raw), action  # attacker model: whatever is sent
        assert not allows(policy, "s3:PutObject", Resource(f"{lake}/raw/")), "the raw/ folder marker"
        for area in AREAS_WRITTEN:
            written = Resource(f"{lake}/{area}/transactions/part-0.json")
            assert all(allows(policy, a, written, {}) for a in ("s3:PutObject", "s3:DeleteObject")), area
        # what source.py and ingest.py do: a raw object copied as an alias into the run's staging
        alias = Resource(f"{lake}/_meta/staging/transactions/run-1/f-abc/input/source.csv")
        assert allows(policy, "s3:GetObject", raw, {}) and allows(policy, "s3:PutObject", alias, {})
    (deny,) = [s for s in role if s.effect == "Deny"]
    assert deny.resources == [f"{lake}/raw/*"]


def test_glue_role_reads_only_its_own_specs_and_release() -> None:
    """specs/acme/ of the stack's release, its bundle and job scripts: yes. Another customer's spec, another
    release, the manifest: no."""
    role, boundary = _glue_role()
    release = f"{platform('dev').identity('ArtifactsBucket')[1]}/releases/{RELEASE}"
    own = [
        f"{release}/specs/acme/transactions.yaml",
        f"{release}/etl_lib-{RELEASE}.gluewheels.zip",
        f"{release}/glue_jobs/raw_to_processed.py",
    ]
    assert all(allows(role, "s3:GetObject", Resource(arn), {}) for arn in own)
    assert all(allows(boundary, "s3:GetObject", Resource(arn), {}) for arn in own)
    for arn in (f"{release}/specs/globex/invoices.yaml", f"{release}/specs/acmex/a.yaml", f"{release}/manifest.json"):
        assert not allows(role, "s3:GetObject", Resource(arn)), arn


def test_glue_role_touches_only_its_customers_ledger_items() -> None:
    """dynamodb:LeadingKeys: every key starts acme#; a request without one (a Scan) or mixing in
    another customer's key is refused."""
    role, boundary = _glue_role()
    ledger = Resource(platform("dev").identity("LedgerTable")[1])
    for keys, expected in (
        (["acme#transactions"], True),
        (["acme#run#2024-06-01T00:00:00Z"], True),
        (["acme#runs", "acme#transactions"], True),
        (["globex#invoices"], False),
        (["acme#transactions", "globex#invoices"], False),
        (["acmex#transactions"], False),
        (["acme"], False),
    ):
        request = {"dynamodb:LeadingKeys": keys}
        assert allows(role, "dynamodb:PutItem", ledger, request) is expected, keys
        assert allows(boundary, "dynamodb:PutItem", ledger, request), "the boundary allows the table"
    assert not allows(role, "dynamodb:Query", ledger, {}), "no leading key: a Scan"
    assert not allows(role, "dynamodb:Scan", ledger, {})


def test_glue_role_uses_its_own_key_bucket_topic_and_database() -> None:
    """The customer's key, bucket listing, the environment's alerts topic, its own database's tables and
    workflows' logs: allowed by the role and by the boundary."""
    role, boundary = _glue_role()
    acme, dev = customer("acme", "dev"), platform("dev")
    key = Resource(acme.identity("DataLakeKey")[1], acme.identity("DataLakeKey")[2])
    table = Resource(acme.identity("GlueDatabase")[1].replace(":database/", ":table/") + "/transactions")
    group = _arn("logs", "log-group:/aws-glue/jobs/etl-acme-dev/output:log-stream:jr_1-driver")
    calls = [
        ("kms:Decrypt", key, {}),
        ("kms:GenerateDataKey", key, {}),
        ("s3:ListBucket", Resource(acme.identity("DataLakeBucket")[1]), {}),
        ("sns:Publish", Resource(dev.identity("AlertsTopic")[1]), {}),
        ("glue:CreateTable", table, {}),
        ("glue:GetDatabase", Resource(acme.identity("GlueDatabase")[1]), {}),
        ("logs:PutLogEvents", Resource(group), {}),
        ("cloudwatch:PutMetricData", Resource("*"), {"cloudwatch:namespace": "Glue"}),
    ]
    for action, resource, request in calls:
        assert allows(role, action, resource, request), action
        assert allows(boundary, action, resource, request), f"{action}: refused by the boundary"
    platform_key = Resource(dev.identity("PlatformKey")[1], dev.identity("PlatformKey")[2])
    assert allows(role, "kms:Decrypt", platform_key, {"kms:ViaService": f"dynamodb.{REGION}.amazonaws.com"})
    assert not allows(role, "kms:Decrypt", platform_key, {})


# --- who may assume the deploy role --------------------------------------------------------------

CLAIMS = "token.actions.githubusercontent.com"


def token(
    environment: str = "dev",
    repository: str = REPOSITORY,
    workflow: str = "deploy.yml",
    ref: str = "refs/heads/main",
    audience: str = "sts.amazonaws.com",
    subject: str | None = None,
) -> dict[str, str]:
    """The claims of a GitHub Actions OIDC token of a job in ``environment``, as STS sees them."""
    return {
        f"{CLAIMS}:aud": audience,
        f"{CLAIMS}:sub": subject or f"repo:{repository}:environment:{environment}",
        f"{CLAIMS}:repository": repository,
        f"{CLAIMS}:environment": environment,
        f"{CLAIMS}:ref": ref,
        f"{CLAIMS}:job_workflow_ref": f"{repository}/.github/workflows/{workflow}@{ref}",
    }


def may_assume(stack: Stack, claims: dict[str, str]) -> bool:
    """Whether the deploy role's trust policy lets this token assume it."""
    provider = Resource(f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com")
    (statement,) = stack.trust("GitHubDeployRole")
    assert statement.principal == {"Federated": provider.arn}
    trust = Statement(statement.sid, "Allow", statement.actions, [provider.arn], statement.condition)
    return allows([trust], "sts:AssumeRoleWithWebIdentity", provider, claims)


def test_deploy_role_trust_names_repository_environment_and_workflow() -> None:
    """Only deploy.yml of this repository, in the GitHub environment named like Env, from main or a v* tag:
    not another environment's jobs (a prod token for the dev role), another workflow, branch or repository."""
    dev = platform("dev")
    for ref in ("refs/heads/main", "refs/tags/v1.4.0", "refs/tags/v2.0.0-rc1"):
        assert may_assume(dev, token(ref=ref)), ref
    refused = {
        "prod's environment": token(environment="prod"),
        "staging's environment": token(environment="staging"),
        "another repository": token(repository="example-org/fork"),
        "a fork's subject": token(subject=f"repo:{REPOSITORY}:pull_request"),
        "a branch": token(subject=f"repo:{REPOSITORY}:ref:refs/heads/main"),
        "ci.yml": token(workflow="ci.yml"),
        "a feature branch": token(ref="refs/heads/feature/x"),
        "a branch named like main": token(ref="refs/heads/main-x"),
        "another tag": token(ref="refs/tags/release-1"),
        "another audience": token(audience="https://example.org"),
    }
    assert [name for name, claims in refused.items() if may_assume(dev, claims)] == []
    no_claim = {k: v for k, v in token().items() if not k.endswith(":job_workflow_ref")}
    assert not may_assume(dev, no_claim), "a token without job_workflow_ref"
    prod = platform("prod")
    assert may_assume(prod, token(environment="prod")) and not may_assume(prod, token(environment="dev"))


def test_deploy_role_trust_is_parameterised() -> None:
    """GitHubEnvironment, GitHubWorkflow, GitHubBranch and GitHubTagPattern (empty: no tag) change it."""
    custom = platform(
        "prod",
        GitHubEnvironment="production",
        GitHubWorkflow="release.yaml",
        GitHubBranch="release",
        GitHubTagPattern="",
    )
    assert may_assume(custom, token(environment="production", workflow="release.yaml", ref="refs/heads/release"))
    assert not may_assume(custom, token(environment="prod", workflow="release.yaml", ref="refs/heads/release"))
    assert not may_assume(custom, token(environment="production", ref="refs/heads/release"))
    assert not may_assume(custom, token(environment="production", workflow="release.yaml", ref="refs/tags/v1.0.0"))


def test_the_trusted_workflow_is_the_deploy_workflow() -> None:
    """The default GitHubWorkflow is the workflow that assumes AWS_DEPLOY_ROLE_ARN, in the environment the run
    deploys to, and each of its environments is one the templates know."""
    template = _templates()[0]
    workflow = REPO / ".github" / "workflows" / template["Parameters"]["GitHubWorkflow"]["Default"]
    assert workflow.is_file()
    assuming = [
        path.name
        for path in (REPO / ".github" / "workflows").glob("*.y*ml")
        if "AWS_DEPLOY_ROLE_ARN" in path.read_text()
    ]
    assert assuming == [workflow.name]
    doc = yaml.safe_load(workflow.read_text())
    options = doc[True]["workflow_dispatch"]["inputs"]["environment"]["options"]
    assert set(options) <= set(template["Parameters"]["Env"]["AllowedValues"])


# --- the checks can fail -----------------------------------------------------------------------


def _mutated(path: Path, old: str, new: str) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= 1, old
    from cfnlint.decode import decode_str

    template, _ = decode_str(text.replace(old, new))
    return copy.deepcopy(dict(template))


def _loose_platform(env: str) -> Stack:
    """The platform stack with the deploy role's stack pattern as it was before this scoping: {prefix}-*."""
    template = _mutated(PLATFORM, 'stack/${Prefix}-*-${Env}/*"', 'stack/${Prefix}-*/*"')
    return Stack(
        template, deploy_plan.platform_stack(env), {"Prefix": PREFIX, "Env": env, "GitHubRepository": REPOSITORY}, {}
    )


def test_the_environment_checks_fail_on_an_unscoped_deploy_role() -> None:
    """With stacks {prefix}-* (as before), the sweep finds prod's customer and platform stacks, and the
    structural check the pattern that is the same in every environment."""
    loose_dev, loose_prod = _loose_platform("dev"), _loose_platform("prod")
    found = reach(loose_dev.statements("GitHubDeployRole"), other_environments())
    assert any("stack/etl-acme-prod/" in f for f in found) and any("stack/etl-lib-platform-prod/" in f for f in found)
    problems = unscoped(
        loose_dev.statements("GitHubDeployRole"), loose_prod.statements("GitHubDeployRole"), "dev", lambda _arn: False
    )
    assert problems and all(":stack/etl-*/*" in p for p in problems)


def test_the_raw_check_fails_when_the_glue_role_may_write_its_whole_bucket() -> None:
    """With PutObject on {bucket}/* (as before) and no Deny, the raw/ check finds the write."""
    template = _mutated(CUSTOMER, '- !Sub "${DataLakeBucket.Arn}/processed/*"', '- !Sub "${DataLakeBucket.Arn}/*"')
    parameters = {**CUSTOMER_PARAMETERS, "PlatformStackName": deploy_plan.platform_stack("dev"), "Prefix": PREFIX}
    writer = Stack(expand_for_each(template, parameters), "etl-acme-dev", parameters, platform("dev").exports())
    allow_only = [s for s in writer.statements("GlueJobRole") if s.effect == "Allow"]
    raw = Resource(f"{writer.identity('DataLakeBucket')[1]}/raw/transactions/a.csv")
    assert allows(allow_only, "s3:PutObject", raw) and allows(allow_only, "s3:DeleteObject", raw)
    assert not allows(writer.statements("GlueJobRole"), "s3:PutObject", raw), "the Deny alone still holds"


def test_the_trust_check_fails_without_the_workflow_condition() -> None:
    """With the subject condition alone (as before), any workflow and branch of the environment gets in."""
    (trust,) = platform("dev").trust("GitHubDeployRole")
    subject_only = {k: v for k, v in trust.condition.items() if k != "StringLike"}
    loose = [Statement("", "Allow", trust.actions, ["*"], subject_only)]
    assert allows(loose, "sts:AssumeRoleWithWebIdentity", Resource("*"), token(workflow="ci.yml", ref="refs/heads/x"))
