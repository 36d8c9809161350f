"""The CloudFormation templates in ``cloudformation/``: lint, security scan, and a deploy into moto.

Three layers, each able to fail on its own:

1. **cfn-lint** (the ``cfnlint`` API of the main venv): no error, warning or info match.
2. **checkov** (its own venv, ``.venv-checkov``, so its pins never mix with ours): no failed
   check in any template, and every skipped check carries a comment saying why. checkov does
   not look inside ``Fn::ForEach``, so the per-dataset resources are scanned in an expanded copy
   of ``customer.yaml``.
3. **moto**: both stacks are created in a ``moto_server`` on 127.0.0.1 and the resources are read
   back (bucket names and encryption, key rotation, the ledger's keys and billing, the topic, the
   IAM scoping, the delivery rules' event patterns). moto's CloudFormation cannot create Glue,
   Athena, bucket/topic policy or OIDC provider resources and ignores several bucket and table
   properties, so those are checked in the template itself (``test_*_template_*`` below).

moto cannot run ``AWS::LanguageExtensions`` either: ``expand_for_each`` does the expansion the
transform would do, for the constructs these templates use (``${Id}``/``&{Id}`` in logical IDs and
``Fn::Sub`` strings, ``Ref`` to the loop variable).
"""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import shutil
import subprocess
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_DIR = REPO / "cloudformation"
TEMPLATES = sorted(TEMPLATE_DIR.glob("*.yaml"))
PLATFORM = TEMPLATE_DIR / "platform.yaml"
CUSTOMER = TEMPLATE_DIR / "customer.yaml"
CHECKOV = Path(os.environ.get("CHECKOV", REPO / ".venv-checkov" / "bin" / "checkov"))
REGION = "eu-west-1"

PLATFORM_STACK = "etl-platform-dev"
PLATFORM_PARAMETERS = {
    "Prefix": "etl",
    "Env": "dev",
    "GitHubRepository": "example-org/etl_lib",
    "GitHubBranch": "main",
    "CreateGitHubOidcProvider": "false",
}
CUSTOMER_STACK = "etl-acme-dev"
CUSTOMER_PARAMETERS = {
    "PlatformStackName": PLATFORM_STACK,
    "Prefix": "etl",
    "CustomerId": "acme",
    "Env": "dev",
    "Datasets": "transactions,card_payments",
    "ReleaseVersion": "1.4.0",
    "BundleFile": "etl_lib-1.4.0.gluewheels.zip",
    "Schedule": "cron(0 3 * * ? *)",
    # transactions' spec says expected_every: 1d (deploy/plan.py writes it)
    "FreshnessHours": "transactions=24",
}
DATASETS = CUSTOMER_PARAMETERS["Datasets"].split(",")
JOBS = {
    "RawToProcessedJob": "raw_to_processed.py",
    "ProcessedToAnalyticsJob": "processed_to_analytics.py",
    "BuildModelsJob": "build_models.py",
}

# The argument names the Glue scripts read (see README, "Running on Glue").
JOB_ARGUMENTS = {"--lake", "--ledger", "--alerts_topic_arn", "--notify_on", "--catalog_database", "--customer_id"}


# --- template helpers -------------------------------------------------------------------------


def load_template(path: Path) -> dict[str, Any]:
    """A template as plain JSON data, short-form tags (``!Sub``) turned into ``Fn::Sub`` by cfn-lint's decoder."""
    from cfnlint.decode import decode_str

    template, matches = decode_str(path.read_text(encoding="utf-8"))
    assert not matches, f"{path.name} does not parse: {matches}"
    return json.loads(json.dumps(template))


def _alphanumeric(value: str) -> str:
    """What ``&{Id}`` makes of a value: its letters and digits only (logical IDs allow nothing else)."""
    return re.sub("[^0-9A-Za-z]", "", value)


def _substitute(node: Any, name: str, value: str) -> Any:
    """One ``Fn::ForEach`` iteration: ``name`` set to ``value`` in keys, ``Fn::Sub`` strings and ``Ref``."""
    if isinstance(node, list):
        return [_substitute(item, name, value) for item in node]
    if not isinstance(node, dict):
        return node
    if node == {"Ref": name}:
        return value
    if "Fn::Sub" in node:
        sub = node["Fn::Sub"]
        text, variables = (sub, None) if isinstance(sub, str) else (sub[0], sub[1])
        text = text.replace("${" + name + "}", value).replace("&{" + name + "}", _alphanumeric(value))
        return {"Fn::Sub": text if variables is None else [text, _substitute(variables, name, value)]}
    return {
        key.replace("${" + name + "}", value).replace("&{" + name + "}", _alphanumeric(value)): _substitute(
            item, name, value
        )
        for key, item in node.items()
    }


def expand_for_each(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    """``template`` with every ``Fn::ForEach`` unrolled over its list parameter, and no ``Transform``."""
    expanded = copy.deepcopy(template)
    expanded.pop("Transform", None)
    for section in ("Conditions", "Resources", "Outputs"):
        unrolled: dict[str, Any] = {}
        for key, value in expanded.get(section, {}).items():
            if not key.startswith("Fn::ForEach::"):
                unrolled[key] = value
                continue
            name, collection, fragment = value
            for item in parameters.get(collection["Ref"], "").split(","):
                for fragment_key, fragment_value in _substitute(fragment, name, item).items():
                    assert fragment_key not in unrolled, f"Fn::ForEach makes {fragment_key} twice"
                    unrolled[fragment_key] = fragment_value
        if section in expanded:
            expanded[section] = unrolled
    return expanded


def _stub_references(node: Any, removed: set[str]) -> Any:
    """References to removed resources become the string ``unsupported-{LogicalId}``."""
    if isinstance(node, list):
        return [_stub_references(item, removed) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("Ref") in removed:
        return f"unsupported-{node['Ref']}"
    if "Fn::GetAtt" in node and node["Fn::GetAtt"][0] in removed:
        return f"unsupported-{node['Fn::GetAtt'][0]}"
    if "Fn::Sub" in node:
        sub = node["Fn::Sub"]
        text, variables = (sub, None) if isinstance(sub, str) else (sub[0], sub[1])
        for logical_id in removed:
            text = re.sub(r"\$\{" + logical_id + r"(\.[A-Za-z.]+)?\}", f"unsupported-{logical_id}", text)
        return {"Fn::Sub": text if variables is None else [text, _stub_references(variables, removed)]}
    return {key: _stub_references(item, removed) for key, item in node.items()}


def moto_variant(template: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The template without the resource types moto's CloudFormation cannot create, and what was removed."""
    from moto.cloudformation.parsing import get_model_map

    supported = set(get_model_map())
    variant = copy.deepcopy(template)
    removed = {lid: r["Type"] for lid, r in variant["Resources"].items() if r["Type"] not in supported}
    for logical_id in removed:
        del variant["Resources"][logical_id]
    for resource in variant["Resources"].values():
        depends_on = resource.get("DependsOn")
        if depends_on is not None:
            kept = [d for d in ([depends_on] if isinstance(depends_on, str) else depends_on) if d not in removed]
            resource["DependsOn"] = kept
    # moto reads two CloudFormation properties in the shape of the service API instead.
    for resource in variant["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::KMS::Key" and "Tags" in properties:
            properties["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in properties["Tags"]]
        if resource["Type"] == "AWS::DynamoDB::Table" and "SSESpecification" in properties:
            properties["SSESpecification"]["Enabled"] = properties["SSESpecification"].pop("SSEEnabled")
    variant["Resources"] = _stub_references(variant["Resources"], set(removed))
    variant["Outputs"] = _stub_references(variant.get("Outputs", {}), set(removed))
    return variant, removed


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """Logical ID -> properties of every resource of one type (``Fn::ForEach`` bodies are not looked into)."""
    return {
        lid: r.get("Properties", {})
        for lid, r in template["Resources"].items()
        if not lid.startswith("Fn::ForEach::") and r["Type"] == resource_type
    }


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    """A policy document's statements, a conditional one (``Fn::If``) as its statement."""
    return [s["Fn::If"][1] if "Fn::If" in s else s for s in document["Statement"]]


def sub_text(value: Any) -> str:
    """The text of a ``Fn::Sub`` (either form), or the value itself when it is a plain string."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    assert isinstance(value, str), value
    return value


# What the customer stack's references resolve to in account 123456789012 (no AWS needed).
ACCOUNT = "123456789012"
ARTIFACTS = f"etl-dev-{ACCOUNT}-artifacts"
RESOLVED = {
    **CUSTOMER_PARAMETERS,
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    f"{PLATFORM_STACK}-ArtifactsBucketName": ARTIFACTS,  # an export, by its name
    f"{PLATFORM_STACK}-AlertsTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:etl-dev-alerts",
}
LIST_PARAMETERS = {"Datasets", "FreshnessHours"}


def resolve(value: Any, values: dict[str, str] = RESOLVED) -> Any:
    """A value as CloudFormation resolves it from ``values``: ``Ref``, ``Fn::ImportValue``, ``Fn::Sub`` (both forms),
    ``Fn::Join``, ``Fn::Split``, ``Fn::Select``; a ``Ref`` to a list parameter (``Datasets``) is its list."""
    if isinstance(value, str | int | float):
        return value
    if isinstance(value, list):
        return [resolve(item, values) for item in value]
    if "Ref" in value:
        name = value["Ref"]
        return values[name].split(",") if name in LIST_PARAMETERS else values[name]
    if "Fn::ImportValue" in value:
        return values[resolve(value["Fn::ImportValue"], values)]
    if "Fn::Join" in value:
        separator, items = value["Fn::Join"]
        resolved = resolve(items, values)
        return separator.join(resolved)
    if "Fn::Split" in value:
        separator, text = value["Fn::Split"]
        return resolve(text, values).split(separator)
    if "Fn::Select" in value:
        index, items = value["Fn::Select"]
        return resolve(items, values)[int(index)]
    sub = value["Fn::Sub"]
    text, variables = (sub, {}) if isinstance(sub, str) else sub
    scope = {**values, **{name: resolve(item, values) for name, item in variables.items()}}
    return re.sub(r"\$\{([^}]+)\}", lambda m: scope[m.group(1)], text)


@pytest.fixture(scope="module")
def platform_template() -> dict[str, Any]:
    """platform.yaml as data."""
    return load_template(PLATFORM)


@pytest.fixture(scope="module")
def customer_template() -> dict[str, Any]:
    """customer.yaml as data, ``Fn::ForEach`` still in place."""
    return load_template(CUSTOMER)


@pytest.fixture(scope="module")
def customer_expanded(customer_template: dict[str, Any]) -> dict[str, Any]:
    """customer.yaml unrolled for ``DATASETS``."""
    return expand_for_each(customer_template, CUSTOMER_PARAMETERS)


# --- 1. cfn-lint ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_cfn_lint_finds_nothing(path: Path) -> None:
    """Every template is cfn-lint clean: no error, warning or informational match."""
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(path, config=ManualArgs(regions=[REGION], include_checks=["I"]))
    assert not matches, "\n".join(f"{m.rule.id} {m.message} ({path.name}:{m.linenumber})" for m in matches)


def test_cfn_lint_does_fail_on_a_broken_template(tmp_path: Path) -> None:
    """The lint check can fail: a Glue job without its required Command is reported."""
    from cfnlint.api import ManualArgs, lint_file

    broken = tmp_path / "broken.yaml"
    broken.write_text("Resources:\n  Job:\n    Type: AWS::Glue::Job\n    Properties:\n      Role: x\n")
    assert lint_file(broken, config=ManualArgs(regions=[REGION]))


def test_there_is_a_template_per_stack() -> None:
    """The two stacks have their templates, with obvious names."""
    assert [p.name for p in TEMPLATES] == ["customer.yaml", "platform.yaml"]


# --- 2. checkov -------------------------------------------------------------------------------

CANARY = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  OpenBucket:
    Type: AWS::S3::Bucket
"""


@pytest.fixture(scope="module")
def checkov_report(tmp_path_factory: pytest.TempPathFactory, customer_expanded: dict[str, Any]) -> dict[str, Any]:
    """One checkov run over both templates, the expanded customer template, and a bucket that must fail."""
    if not CHECKOV.exists():
        pytest.fail(
            f"checkov is not installed at {CHECKOV}: run `make test` (it creates .venv-checkov), "
            "or set CHECKOV=/path/to/checkov"
        )
    scan = tmp_path_factory.mktemp("checkov")
    for path in TEMPLATES:
        shutil.copy(path, scan / path.name)
    (scan / "customer.expanded.json").write_text(json.dumps(customer_expanded, indent=1))
    (scan / "canary.yaml").write_text(CANARY)
    result = subprocess.run(
        [str(CHECKOV), "-d", str(scan), "--framework", "cloudformation", "--output", "json", "--skip-download"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    assert result.stdout.strip(), f"checkov printed nothing (exit {result.returncode}): {result.stderr[-2000:]}"
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


def _checks(report: dict[str, Any], outcome: str, file_name: str) -> list[dict[str, Any]]:
    """The checkov results of one outcome (passed_checks, failed_checks, skipped_checks) for one file."""
    return [c for c in report["results"][outcome] if Path(c["file_path"]).name == file_name]


def test_checkov_ran_the_checks(checkov_report: dict[str, Any]) -> None:
    """checkov parsed every file and really checks: the canary's bare bucket fails, and was the only failure."""
    assert checkov_report["summary"]["parsing_errors"] == 0
    assert _checks(checkov_report, "failed_checks", "canary.yaml"), "the unencrypted canary bucket passed checkov"
    for name in ("platform.yaml", "customer.yaml", "customer.expanded.json"):
        assert _checks(checkov_report, "passed_checks", name), f"checkov checked nothing in {name}"


@pytest.mark.parametrize("file_name", ["platform.yaml", "customer.yaml", "customer.expanded.json"])
def test_checkov_finds_no_failed_check(checkov_report: dict[str, Any], file_name: str) -> None:
    """No failed checkov check in the templates (the expanded copy covers the per-dataset resources)."""
    failed = _checks(checkov_report, "failed_checks", file_name)
    assert not failed, "\n".join(f"{c['check_id']} {c['check_name']}: {c['resource']}" for c in failed)


def test_every_checkov_suppression_says_why(
    checkov_report: dict[str, Any], platform_template: dict[str, Any], customer_template: dict[str, Any]
) -> None:
    """Each deliberate suppression is a Metadata checkov skip with a comment, and checkov honoured it."""
    for template in (platform_template, customer_template):
        for logical_id, resource in template["Resources"].items():
            if logical_id.startswith("Fn::ForEach::"):
                continue
            for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
                assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), skip
                assert len(skip.get("comment", "").strip()) > 20, f"{logical_id}: say why {skip['id']} is skipped"
    for skipped in checkov_report["results"]["skipped_checks"]:
        assert skipped["check_result"].get("suppress_comment", "").strip(), skipped["check_id"]


# --- 3. what the templates declare (including what moto cannot show) -------------------------


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_parameters_are_described_and_shaped(path: Path) -> None:
    """House style: every parameter has a Description; strings have an AllowedPattern or AllowedValues."""
    for name, parameter in load_template(path)["Parameters"].items():
        assert parameter.get("Description", "").strip(), f"{path.name}: {name} has no Description"
        if parameter["Type"] in ("String", "CommaDelimitedList"):
            assert "AllowedPattern" in parameter or "AllowedValues" in parameter, f"{path.name}: {name}"
        if parameter["Type"] == "Number":
            assert "MinValue" in parameter, f"{path.name}: {name} has no MinValue"


@pytest.mark.parametrize(
    ("parameter", "good", "bad"),
    [
        ("Prefix", ["etl", "acme-data"], ["E", "-etl", "etl-", "a" * 21]),
        ("CustomerId", ["acme", "c42"], ["Acme", "acme-eu", "4acme", "a"]),
        (
            "Datasets",
            ["transactions", "transactions,card_payments", "devices", "production,prod_x,test1", "staging_area"],
            # ... and never named like an environment: the roles' {prefix}-*-{env}-* patterns rely on it.
            ["Transactions", "a,,b", "a-b", "a, b", "dev", "transactions,prod", "staging,x", "a,test,b"],
        ),
        ("ReleaseVersion", ["1.4.0", "2024.06.01-rc1", "abc123f"], ["", "../x", "1 2"]),
        ("Schedule", ["", "cron(0 3 * * ? *)"], ["rate(1 day)", "0 3 * * ?"]),
        (
            "FreshnessHours",
            ["", "transactions=24", "transactions=1,card_payments=168", "a_b=99"],
            ["transactions=0", "transactions=169", "transactions=24,", "transactions", "Transactions=2", "a=1;b=2"],
        ),
        (
            "BundleFile",
            ["etl_lib-0.1.0.gluewheels.zip", "etl_lib-1.4.0rc1+g1234abc.gluewheels.zip"],
            [
                "etl_lib-0.1.0-py3-none-any.whl",
                "etl_lib-0.1.0.zip",
                "etl_lib-0.1.0.gluewheels.zip.bak",
                "other-0.1.0.gluewheels.zip",
                "../etl_lib-0.1.0.gluewheels.zip",
                "etl_lib-.gluewheels.zip",
            ],
        ),
    ],
)
def test_customer_parameter_patterns(
    customer_template: dict[str, Any], parameter: str, good: list[str], bad: list[str]
) -> None:
    """The AllowedPatterns accept the documented shapes and refuse the rest."""
    pattern = re.compile(customer_template["Parameters"][parameter]["AllowedPattern"])
    assert all(pattern.fullmatch(value) for value in good)
    assert not any(pattern.fullmatch(value) for value in bad)


def test_platform_template_declares_the_ledger_and_the_workgroup(platform_template: dict[str, Any]) -> None:
    """Ledger: pk/sk strings, on demand, PITR, KMS, TTL on expires_at; Athena: encrypted results and a cutoff."""
    (ledger,) = resources_of_type(platform_template, "AWS::DynamoDB::Table").values()
    assert ledger["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert {a["AttributeName"]: a["AttributeType"] for a in ledger["AttributeDefinitions"]} == {"pk": "S", "sk": "S"}
    assert ledger["BillingMode"] == "PAY_PER_REQUEST"
    assert ledger["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert ledger["SSESpecification"]["SSEType"] == "KMS"
    assert ledger["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    (workgroup,) = resources_of_type(platform_template, "AWS::Athena::WorkGroup").values()
    configuration = workgroup["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["BytesScannedCutoffPerQuery"] == {"Ref": "AthenaBytesScannedCutoffPerQuery"}
    assert configuration["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    assert all(k["EnableKeyRotation"] for k in resources_of_type(platform_template, "AWS::KMS::Key").values())


def test_buckets_are_private_versioned_and_tls_only(
    platform_template: dict[str, Any], customer_template: dict[str, Any]
) -> None:
    """Every bucket: versioned, encrypted, all public access blocked, and a policy refusing plain HTTP."""
    for template in (platform_template, customer_template):
        buckets = resources_of_type(template, "AWS::S3::Bucket")
        policies = resources_of_type(template, "AWS::S3::BucketPolicy")
        tls_only = {
            p["Bucket"]["Ref"]
            for p in policies.values()
            for s in statements(p["PolicyDocument"])
            if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        }
        for logical_id, bucket in buckets.items():
            assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}, logical_id
            assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}, logical_id
            assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"], logical_id
            assert logical_id in tls_only, f"{logical_id} has no TLS-only policy"


def test_customer_template_declares_the_data_lake(customer_template: dict[str, Any]) -> None:
    """Name pattern, customer key, access logs, EventBridge on, lifecycle rules, refusal of foreign encryption."""
    bucket = customer_template["Resources"]["DataLakeBucket"]["Properties"]
    assert sub_text(bucket["BucketName"]) == "${Prefix}-${CustomerId}-${Env}-datalake"
    encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert encryption == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": ["DataLakeKey", "Arn"]}}
    assert customer_template["Resources"]["DataLakeKey"]["Properties"]["EnableKeyRotation"] is True
    assert "DestinationBucketName" in bucket["LoggingConfiguration"]
    assert bucket["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    rules = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["archive-raw"]["Prefix"] == "raw/"
    assert rules["archive-raw"]["Transitions"] == [
        {"StorageClass": {"Ref": "RawArchiveStorageClass"}, "TransitionInDays": {"Ref": "RawArchiveAfterDays"}}
    ]
    assert rules["expire-rejected"] == {
        "Id": "expire-rejected",
        "Status": "Enabled",
        "Prefix": "rejected/",
        "ExpirationInDays": {"Ref": "RejectedExpireAfterDays"},
    }
    assert rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": {"Ref": "NoncurrentVersionExpireAfterDays"}
    }
    # What a killed run left in _meta/staging/ (rows not yet pii-hashed): gone within days, versions and
    # unfinished uploads too; never before a run could still be using it (a job run lasts at most 2 days).
    assert rules["expire-staging"] == {
        "Id": "expire-staging",
        "Status": "Enabled",
        "Prefix": "_meta/staging/",
        "ExpirationInDays": {"Ref": "StagingExpireAfterDays"},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    }
    staging_days = customer_template["Parameters"]["StagingExpireAfterDays"]
    longest_run_days = max(
        customer_template["Parameters"][p]["MaxValue"]
        for p in ("RawToProcessedTimeoutMinutes", "ProcessedToAnalyticsTimeoutMinutes", "BuildModelsTimeoutMinutes")
    ) / (24 * 60)
    assert staging_days["MinValue"] > longest_run_days and staging_days["Default"] <= 7
    bucket_policy = customer_template["Resources"]["DataLakeBucketPolicy"]["Properties"]["PolicyDocument"]
    denied_encryption = [s for s in statements(bucket_policy) if s["Sid"] == "DenyUploadsNotEncryptedWithKms"]
    assert denied_encryption[0]["Condition"]["StringNotEquals"] == {"s3:x-amz-server-side-encryption": "aws:kms"}


def test_a_partners_reader_may_read_receipts_alone(customer_template: dict[str, Any]) -> None:
    """The optional ReceiptsReaderArn: get and list receipts/ only, decrypt only through S3; absent by default."""
    assert customer_template["Parameters"]["ReceiptsReaderArn"]["Default"] == ""
    assert customer_template["Conditions"]["HasReceiptsReader"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ReceiptsReaderArn"}, ""]}]
    }
    bucket_policy = customer_template["Resources"]["DataLakeBucketPolicy"]["Properties"]["PolicyDocument"]
    key_policy = customer_template["Resources"]["DataLakeKey"]["Properties"]["KeyPolicy"]
    granted = [
        s["Fn::If"]
        for s in bucket_policy["Statement"] + key_policy["Statement"]
        if "Fn::If" in s and s["Fn::If"][1]["Principal"] == {"AWS": {"Ref": "ReceiptsReaderArn"}}
    ]
    assert [g[0] for g in granted] == ["HasReceiptsReader"] * 3 and all(
        g[2] == {"Ref": "AWS::NoValue"} for g in granted
    )
    by_action = {g[1]["Action"]: g[1] for g in granted}
    assert set(by_action) == {"s3:GetObject", "s3:ListBucket", "kms:Decrypt"}
    assert sub_text(by_action["s3:GetObject"]["Resource"]) == "${DataLakeBucket.Arn}/receipts/*"
    assert by_action["s3:ListBucket"]["Condition"] == {"StringLike": {"s3:prefix": ["receipts/*"]}}
    via = by_action["kms:Decrypt"]["Condition"]["StringEquals"]
    assert sub_text(via["kms:ViaService"]) == "s3.${AWS::Region}.amazonaws.com"
    pattern = customer_template["Parameters"]["ReceiptsReaderArn"]["AllowedPattern"]
    assert re.fullmatch(pattern, "arn:aws:iam::123456789012:role/partner-reader")
    assert not re.fullmatch(pattern, "*") and not re.fullmatch(pattern, "arn:aws:iam::123456789012:role/*x*")


def test_customer_template_declares_the_glue_jobs(customer_template: dict[str, Any]) -> None:
    """Glue 5.1 Spark jobs from the release prefix: the Glue bundle offline, metrics, auto scaling, the arguments."""
    jobs = resources_of_type(customer_template, "AWS::Glue::Job")
    assert set(jobs) == set(JOBS)
    for logical_id, job in jobs.items():
        assert job["GlueVersion"] == "5.1"
        assert job["Command"]["Name"] == "glueetl" and job["Command"]["PythonVersion"] == "3"
        assert sub_text(job["Command"]["ScriptLocation"]) == (
            f"s3://${{Artifacts}}/releases/${{ReleaseVersion}}/glue_jobs/{JOBS[logical_id]}"
        )
        assert job["MaxRetries"] == 1
        assert job["SecurityConfiguration"] == {"Ref": "GlueSecurityConfiguration"}
        arguments = job["DefaultArguments"]
        assert set(arguments) >= JOB_ARGUMENTS, JOB_ARGUMENTS - set(arguments)
        assert sub_text(arguments["--additional-python-modules"]) == (
            "s3://${Artifacts}/releases/${ReleaseVersion}/${BundleFile}"
        )
        assert arguments["--python-modules-installer-option"] == "--no-index"
        assert sub_text(arguments["--ledger"]).startswith("dynamodb://")
        assert sub_text(arguments["--lake"]) == "s3://${DataLakeBucket}"
        for flag in ("--enable-metrics", "--enable-auto-scaling"):
            assert arguments[flag] == "true", flag
        assert "--dataset_spec" not in arguments, "the dataset comes from the trigger"
    assert jobs["ProcessedToAnalyticsJob"]["ExecutionProperty"] == {"MaxConcurrentRuns": 1}
    encryption = customer_template["Resources"]["GlueSecurityConfiguration"]["Properties"]["EncryptionConfiguration"]
    assert encryption["S3Encryptions"][0]["S3EncryptionMode"] == "SSE-KMS"
    assert encryption["CloudWatchEncryption"]["CloudWatchEncryptionMode"] == "SSE-KMS"
    assert encryption["JobBookmarksEncryption"]["JobBookmarksEncryptionMode"] == "CSE-KMS"


@pytest.mark.parametrize("logical_id", sorted(JOBS))
def test_jobs_install_the_release_bundle_and_never_an_index(customer_template: dict[str, Any], logical_id: str) -> None:
    """The zip of wheels of the stack's release, from the release folder, installed by pip with --no-index."""
    job = customer_template["Resources"][logical_id]["Properties"]
    arguments = job["DefaultArguments"]
    release = f"s3://{ARTIFACTS}/releases/1.4.0/"
    modules = resolve(arguments["--additional-python-modules"])
    assert modules == release + "etl_lib-1.4.0.gluewheels.zip"
    assert modules.endswith(".gluewheels.zip") and "," not in modules, "one zip of wheels, nothing from an index"
    assert arguments["--python-modules-installer-option"] == "--no-index"
    assert resolve(job["Command"]["ScriptLocation"]) == release + "glue_jobs/" + JOBS[logical_id]
    # ... and the job role may read exactly that object.
    statements = _statements(customer_template["Resources"]["GlueJobRole"]["Properties"])
    (release_read,) = [s for s in statements if s["Sid"] == "ReadTheRelease"]
    assert f"arn:aws:s3:::{modules.removeprefix('s3://')}" in [resolve(r) for r in release_read["Resource"]]


def test_job_logs_go_to_the_customers_own_log_groups(customer_template: dict[str, Any]) -> None:
    """Glue 5.x logging: no Glue 4 continuous-log flags; one custom log group prefix per customer, valid for Glue."""
    jobs = resources_of_type(customer_template, "AWS::Glue::Job")
    prefix = "/aws-glue/jobs/${Prefix}-${CustomerId}-${Env}"
    for logical_id, job in jobs.items():
        arguments = job["DefaultArguments"]
        assert "--enable-continuous-cloudwatch-log" not in arguments, logical_id
        assert not [name for name in arguments if "continuous-log" in name], logical_id
        assert sub_text(arguments["--custom-logGroup-prefix"]) == prefix, logical_id
        # A stream prefix would replace the job run id in the stream names, mixing every run's logs.
        assert "--custom-logStream-prefix" not in arguments, logical_id
    assert sub_text(customer_template["Outputs"]["GlueLogGroupPrefix"]["Value"]) == prefix
    assert resolve({"Fn::Sub": prefix}) == "/aws-glue/jobs/etl-acme-dev"
    # Glue's rule for a prefix: at most 400 characters of [^:*]; under /aws-glue/, where the key policy lets
    # CloudWatch Logs use the customer key (the security configuration encrypts the logs with it).
    longest = {"Prefix": "p" * 20, "CustomerId": "c" * 20, "Env": "staging"}
    assert re.fullmatch(r"[^:*]{1,400}", resolve({"Fn::Sub": prefix}, longest))
    (key_statement,) = [
        s
        for s in statements(customer_template["Resources"]["DataLakeKey"]["Properties"]["KeyPolicy"])
        if s["Sid"] == "CloudWatchLogsEncryptsGlueLogs"
    ]
    log_arn = resolve({"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:" + prefix})
    assert _allows(
        resolve(key_statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]), log_arn + "/error"
    )


def test_each_dataset_gets_its_workflow(customer_expanded: dict[str, Any]) -> None:
    """Per dataset: a workflow, an EVENT trigger (batching), a CONDITIONAL trigger on SUCCEEDED, a delivery rule."""
    triggers = resources_of_type(customer_expanded, "AWS::Glue::Trigger")
    for dataset in DATASETS:
        suffix = dataset.replace("_", "")
        spec = f"/releases/${{ReleaseVersion}}/specs/${{CustomerId}}/{dataset}.yaml"
        workflow = customer_expanded["Resources"][f"Workflow{suffix}"]["Properties"]
        assert sub_text(workflow["Name"]) == f"${{Prefix}}-${{CustomerId}}-${{Env}}-{dataset}"
        assert workflow["MaxConcurrentRuns"] == 1

        event = triggers[f"OnDelivery{suffix}"]
        assert event["Type"] == "EVENT"
        assert sub_text(event["WorkflowName"]) == f"${{Workflow{suffix}}}"
        assert event["EventBatchingCondition"] == {
            "BatchSize": {"Ref": "EventBatchSize"},
            "BatchWindow": {"Ref": "EventBatchWindowSeconds"},
        }
        assert event["Actions"][0]["JobName"] == {"Ref": "RawToProcessedJob"}
        assert sub_text(event["Actions"][0]["Arguments"]["--dataset_spec"]).endswith(spec)

        conditional = triggers[f"ToAnalytics{suffix}"]
        assert conditional["Type"] == "CONDITIONAL"
        assert conditional["Predicate"]["Conditions"] == [
            {"LogicalOperator": "EQUALS", "JobName": {"Ref": "RawToProcessedJob"}, "State": "SUCCEEDED"}
        ]
        assert conditional["Actions"][0]["JobName"] == {"Ref": "ProcessedToAnalyticsJob"}
        assert sub_text(conditional["Actions"][0]["Arguments"]["--dataset_spec"]).endswith(spec)

        scheduled = customer_expanded["Resources"][f"OnSchedule{suffix}"]
        assert scheduled["Condition"] == "HasSchedule"
        assert scheduled["Properties"]["Type"] == "SCHEDULED"
        assert scheduled["Properties"]["Schedule"] == {"Ref": "Schedule"}

        rule = customer_expanded["Resources"][f"DeliveryRule{suffix}"]["Properties"]
        assert rule["EventPattern"]["detail-type"] == ["Object Created"]
        assert sub_text(rule["Targets"][0]["Arn"]).endswith(f":workflow/${{Workflow{suffix}}}")


def _as_list(value: str | list[str]) -> list[str]:
    """An IAM ``Action``/``Resource`` value as a list."""
    return [value] if isinstance(value, str) else value


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement of a role's inline policies (or of an AWS::IAM::Policy resource's)."""
    documents = [policy["PolicyDocument"] for policy in role.get("Policies", [])]
    documents += [role["PolicyDocument"]] if "PolicyDocument" in role else []
    return [s for document in documents for s in document["Statement"]]


def test_no_wildcard_action_anywhere(platform_template: dict[str, Any], customer_template: dict[str, Any]) -> None:
    """No IAM Allow has ``*`` or ``service:*`` actions; ``Resource: *`` only for actions without resource level."""
    no_resource_level = {
        "cloudwatch:PutMetricData",
        "kms:CreateKey",
        "kms:TagResource",
        "kms:ListAliases",
        "glue:CreateSecurityConfiguration",
        "glue:GetSecurityConfiguration",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeVpcEndpoints",
        "ec2:DescribeRouteTables",
        "logs:PutQueryDefinition",
        "logs:DeleteQueryDefinition",
        "logs:DescribeQueryDefinitions",
    }
    for template in (platform_template, customer_template):
        roles = {**resources_of_type(template, "AWS::IAM::Role"), **resources_of_type(template, "AWS::IAM::Policy")}
        managed = resources_of_type(template, "AWS::IAM::ManagedPolicy")
        statements = [s for r in roles.values() for s in _statements(r)]
        statements += [s for p in managed.values() for s in p["PolicyDocument"]["Statement"]]
        for statement in (s for s in statements if s["Effect"] == "Allow"):
            actions = _as_list(statement["Action"])
            assert not any(a == "*" or a.endswith(":*") for a in actions), statement
            if statement["Resource"] == "*":
                assert set(actions) <= no_resource_level, statement


def test_deploy_role_can_read_its_platform_and_smoke_run_customer_workflows(platform_template: dict[str, Any]) -> None:
    """What deploy/lib.sh (describe-stacks on its platform stack) and deploy/smoke.sh (start/get-workflow-run)
    call, in this environment, and no more."""
    statements = {s["Sid"]: s for s in _statements(platform_template["Resources"]["GitHubDeployRole"]["Properties"])}
    outputs = statements["ReadThisPlatformsOutputs"]
    assert _as_list(outputs["Action"]) == ["cloudformation:DescribeStacks"]
    assert sub_text(outputs["Resource"]).endswith(":stack/${AWS::StackName}/*")
    assert not [s for s in statements.values() if "cloudformation:ListExports" in _as_list(s["Action"])]
    smoke = statements["SmokeRunCustomerWorkflows"]
    assert set(_as_list(smoke["Action"])) == {"glue:StartWorkflowRun", "glue:GetWorkflowRun"}
    assert sub_text(smoke["Resource"]).endswith(":workflow/${Prefix}-*-${Env}-*")


def test_customer_deployments_cannot_reach_the_platform(
    platform_template: dict[str, Any], customer_template: dict[str, Any]
) -> None:
    """Customer roles sit under /etl-lib-customer/ with the boundary; the execution role manages only those."""
    for logical_id, role in resources_of_type(customer_template, "AWS::IAM::Role").items():
        assert role["Path"] == "/etl-lib-customer/", logical_id
        assert "CustomerRoleBoundaryArn" in json.dumps(role["PermissionsBoundary"]), logical_id
    for logical_id, role in resources_of_type(platform_template, "AWS::IAM::Role").items():
        assert "Path" not in role, f"{logical_id} must stay outside the customer path"
    execution = platform_template["Resources"]["CloudFormationExecutionRole"]["Properties"]
    statements = _statements(execution)
    for statement in statements:
        if statement["Effect"] == "Allow" and any(a.startswith("iam:") for a in _as_list(statement["Action"])):
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for resource in resources:
                assert ":role/etl-lib-customer/${Prefix}-*-${Env}-" in sub_text(resource), statement["Sid"]
    creating = next(s for s in statements if "iam:CreateRole" in _as_list(s["Action"]))
    assert creating["Condition"] == {"StringEquals": {"iam:PermissionsBoundary": {"Ref": "CustomerRoleBoundary"}}}
    (deny,) = [s for s in statements if s["Effect"] == "Deny" and s["Sid"] == "NeverChangeThePlatformKey"]
    assert deny["Resource"] == {"Fn::GetAtt": ["PlatformKey", "Arn"]}
    assert {"kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:TagResource"} <= set(deny["Action"])


# --- 4. deployed into moto --------------------------------------------------------------------


# The moto server is the session's (``moto_endpoint`` in tests/conftest.py): one server for
# every AWS test, reset by the tests that need a clean account.


def _inline_policy(iam: Any, role: str, policy: str) -> dict[str, Any]:
    """A role's inline policy document (moto keeps the ones made by CloudFormation as a Python repr)."""
    document = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
    if isinstance(document, str):
        try:
            return dict(json.loads(document))
        except json.JSONDecodeError:
            return dict(ast.literal_eval(document))
    return dict(document)


def _client(service: str, endpoint: str) -> Any:
    """A boto3 client of the moto server."""
    import boto3

    return boto3.session.Session().client(service, region_name=REGION, endpoint_url=endpoint)


def _create_stack(endpoint: str, name: str, template: dict[str, Any], parameters: dict[str, str]) -> dict[str, str]:
    """Create a stack, wait for CREATE_COMPLETE, and return its outputs."""
    cloudformation = _client("cloudformation", endpoint)
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    cloudformation.get_waiter("stack_create_complete").wait(
        StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    (stack,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


@pytest.fixture(scope="module")
def deployed(
    moto_endpoint: str, platform_template: dict[str, Any], customer_expanded: dict[str, Any]
) -> dict[str, Any]:
    """Both stacks created in moto (platform first: the customer stack imports its exports)."""
    platform, platform_removed = moto_variant(platform_template)
    customer, customer_removed = moto_variant(customer_expanded)
    return {
        "platform": _create_stack(moto_endpoint, PLATFORM_STACK, platform, PLATFORM_PARAMETERS),
        "customer": _create_stack(moto_endpoint, CUSTOMER_STACK, customer, CUSTOMER_PARAMETERS),
        "removed": {**platform_removed, **customer_removed},
        "account": _client("sts", moto_endpoint).get_caller_identity()["Account"],
    }


def test_moto_variant_removes_only_what_moto_cannot_create(deployed: dict[str, Any]) -> None:
    """What is left out of the moto deploy: Glue, Athena, bucket and topic policies, the OIDC provider."""
    removed_types = set(deployed["removed"].values())
    assert removed_types <= {
        "AWS::Glue::Database",
        "AWS::Glue::TableOptimizer",
        "AWS::Glue::SecurityConfiguration",
        "AWS::Glue::Job",
        "AWS::Glue::Workflow",
        "AWS::Glue::Trigger",
        "AWS::Glue::Connection",
        "AWS::Athena::WorkGroup",
        "AWS::S3::BucketPolicy",
        "AWS::SNS::TopicPolicy",
        "AWS::IAM::OIDCProvider",
        "AWS::CloudWatch::Alarm",
        "AWS::Logs::QueryDefinition",
    }, removed_types


def test_platform_buckets_are_named_and_encrypted(deployed: dict[str, Any], moto_endpoint: str) -> None:
    """Artifacts and Athena results use the platform KMS key; the access-log bucket SSE-S3."""
    s3 = _client("s3", moto_endpoint)
    outputs, account = deployed["platform"], deployed["account"]
    assert outputs["ArtifactsBucketName"] == f"etl-dev-{account}-artifacts"
    assert outputs["AthenaResultsBucketName"] == f"etl-dev-{account}-athena-results"
    assert outputs["AccessLogsBucketName"] == f"etl-dev-{account}-access-logs"
    for bucket in (outputs["ArtifactsBucketName"], outputs["AthenaResultsBucketName"]):
        rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert rule["ApplyServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": outputs["PlatformKeyArn"],
        }
    rule = s3.get_bucket_encryption(Bucket=outputs["AccessLogsBucketName"])["ServerSideEncryptionConfiguration"]
    assert rule["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_platform_key_rotates(deployed: dict[str, Any], moto_endpoint: str) -> None:
    """The platform key has rotation on and its alias."""
    kms = _client("kms", moto_endpoint)
    key_arn = deployed["platform"]["PlatformKeyArn"]
    assert kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"] is True
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    assert aliases["alias/etl-dev-platform"] == key_arn.rsplit("/", 1)[1]


def test_ledger_table_is_on_demand_with_pk_and_sk(deployed: dict[str, Any], moto_endpoint: str) -> None:
    """The ledger table: pk (S) partition key, sk (S) sort key, on-demand billing, KMS encryption."""
    table = _client("dynamodb", moto_endpoint).describe_table(TableName=deployed["platform"]["LedgerTableName"])[
        "Table"
    ]
    assert table["TableName"] == "etl-dev-ledger"
    assert table["TableArn"] == deployed["platform"]["LedgerTableArn"]
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]} == {"pk": "S", "sk": "S"}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSEDescription"]["SSEType"] == "KMS"
    assert table["SSEDescription"]["KMSMasterKeyArn"] == deployed["platform"]["PlatformKeyArn"]


def test_alerts_topic_is_encrypted(deployed: dict[str, Any], moto_endpoint: str) -> None:
    """The alerts topic exists, named after the installation, encrypted with the platform key."""
    topic_arn = deployed["platform"]["AlertsTopicArn"]
    assert topic_arn.endswith(":etl-dev-alerts")
    attributes = _client("sns", moto_endpoint).get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    assert attributes["KmsMasterKeyId"] == deployed["platform"]["PlatformKeyArn"]


def test_deploy_role_trusts_only_the_repository_environment_and_workflow(
    deployed: dict[str, Any], moto_endpoint: str
) -> None:
    """The GitHub role: web identity from GitHub's OIDC provider, for one repository, its GitHub environment
    named like Env (GitHubEnvironment left empty), and deploy.yml run from main or a v* tag."""
    role = _client("iam", moto_endpoint).get_role(RoleName="etl-dev-github-deploy")["Role"]
    assert role["Arn"] == deployed["platform"]["GitHubDeployRoleArn"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"].endswith(":oidc-provider/token.actions.githubusercontent.com")
    assert statement["Condition"]["StringEquals"] == {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": "repo:example-org/etl_lib:environment:dev",
    }
    assert statement["Condition"]["StringLike"] == {
        "token.actions.githubusercontent.com:job_workflow_ref": [
            "example-org/etl_lib/.github/workflows/deploy.yml@refs/heads/main",
            "example-org/etl_lib/.github/workflows/deploy.yml@refs/tags/v*",
        ]
    }


def test_platform_exports_what_customer_stacks_import(deployed: dict[str, Any], moto_endpoint: str) -> None:
    """Bucket names, table name and ARN, topic ARN, key ARN and role ARNs are exported under the stack name."""
    exports = {e["Name"] for e in _client("cloudformation", moto_endpoint).list_exports()["Exports"]}
    for output in (
        "ArtifactsBucketName",
        "AthenaResultsBucketName",
        "AccessLogsBucketName",
        "LedgerTableName",
        "LedgerTableArn",
        "AlertsTopicArn",
        "PlatformKeyArn",
        "CustomerRoleBoundaryArn",
        "CloudFormationExecutionRoleArn",
        "GitHubDeployRoleArn",
    ):
        assert f"{PLATFORM_STACK}-{output}" in exports, output


def test_data_lake_bucket_is_the_customers_and_kms_encrypted(deployed: dict[str, Any], moto_endpoint: str) -> None:
    """``{prefix}-{customerid}-{env}-datalake``, SSE-KMS with the customer's own key, which rotates."""
    s3, kms = _client("s3", moto_endpoint), _client("kms", moto_endpoint)
    outputs = deployed["customer"]
    assert outputs["DataLakeBucketName"] == "etl-acme-dev-datalake"
    rule = s3.get_bucket_encryption(Bucket="etl-acme-dev-datalake")["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": outputs["DataLakeKeyArn"],
    }
    assert outputs["DataLakeKeyArn"] != deployed["platform"]["PlatformKeyArn"]
    assert kms.get_key_rotation_status(KeyId=outputs["DataLakeKeyArn"])["KeyRotationEnabled"] is True
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket="etl-acme-dev-datalake")["TagSet"]}
    assert tags["etl-lib:customer"] == "acme"


def test_glue_role_is_confined_to_the_customer(deployed: dict[str, Any], moto_endpoint: str) -> None:
    """The Glue role: this bucket, this customer's ledger items (LeadingKeys acme#*), its specs, the boundary."""
    iam = _client("iam", moto_endpoint)
    role = iam.get_role(RoleName="etl-acme-dev-glue")["Role"]
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == deployed["platform"]["CustomerRoleBoundaryArn"]
    document = _inline_policy(iam, "etl-acme-dev-glue", "customer-pipeline")
    statements = {s["Sid"]: s for s in document["Statement"]}
    ledger = statements["OwnLedgerItemsOnly"]
    assert ledger["Resource"] == deployed["platform"]["LedgerTableArn"]
    assert ledger["Condition"]["ForAllValues:StringLike"] == {"dynamodb:LeadingKeys": ["acme#*"]}
    assert ledger["Condition"]["Null"] == {"dynamodb:LeadingKeys": "false"}
    assert "dynamodb:Scan" not in ledger["Action"]
    s3_resources = [
        resource
        for s in document["Statement"]
        if s["Effect"] == "Allow" and any(action.startswith("s3:") for action in _as_list(s["Action"]))
        for resource in _as_list(s["Resource"])
    ]
    artifacts = deployed["platform"]["ArtifactsBucketName"]
    lake = "arn:aws:s3:::etl-acme-dev-datalake"
    assert sorted(s3_resources) == sorted(
        [
            lake,
            f"{lake}/*",  # read: raw/ included
            *(f"{lake}/{area}/*" for area in ("processed", "rejected", "analytics-ready", "receipts", "_meta")),
            f"arn:aws:s3:::{artifacts}/releases/1.4.0/etl_lib-1.4.0.gluewheels.zip",
            f"arn:aws:s3:::{artifacts}/releases/1.4.0/glue_jobs/*",
            f"arn:aws:s3:::{artifacts}/releases/1.4.0/specs/acme/*",
        ]
    )
    assert _as_list(statements["ReadTheDataLake"]["Action"]) == ["s3:GetObject"]
    raw = statements["NeverWriteTheDeliveryArea"]
    assert raw["Effect"] == "Deny" and raw["Resource"] == f"{lake}/raw/*"
    assert {"s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"} <= set(_as_list(raw["Action"]))
    assert statements["PublishAlerts"]["Resource"] == deployed["platform"]["AlertsTopicArn"]


def _allows(patterns: str | list[str], arn: str) -> bool:
    """Whether an IAM resource pattern (``*`` wildcards; no ``?`` or ``[`` in these ARNs) matches ``arn``."""
    return any(fnmatchcase(arn, pattern) for pattern in _as_list(patterns))


def _boundary_document(iam: Any, name: str) -> dict[str, Any]:
    """The default version of a customer-managed policy, by name."""
    (policy,) = [p for p in iam.list_policies(Scope="Local")["Policies"] if p["PolicyName"] == name]
    document = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
    document = document["PolicyVersion"]["Document"]
    return dict(json.loads(document) if isinstance(document, str) else document)


def test_jobs_may_log_to_their_own_log_groups_only(deployed: dict[str, Any], moto_endpoint: str) -> None:
    """{prefix}/error and /output: allowed by the Glue role, the boundary and the key policy; no other group is."""
    prefix = deployed["customer"]["GlueLogGroupPrefix"]
    assert prefix == "/aws-glue/jobs/etl-acme-dev"
    log_groups = f"arn:aws:logs:{REGION}:{deployed['account']}:log-group:"
    own = [f"{log_groups}{prefix}/{kind}" for kind in ("error", "output")]
    own_streams = [f"{group}:log-stream:jr_0123abcd-driver" for group in own]
    foreign = [
        f"{log_groups}/aws-glue/jobs/error",  # Glue's default group, shared by every job of the account
        f"{log_groups}/aws-glue/jobs/output:log-stream:jr_0123abcd-driver",
        f"{log_groups}/aws-glue/jobs/etl-acmex-dev/error",  # another customer
        f"{log_groups}/aws-glue/jobs/etl-acme-prod/error",  # another environment
        f"{log_groups}/aws-lambda/etl-acme-dev/error",
    ]
    iam = _client("iam", moto_endpoint)
    statements = {s["Sid"]: s for s in _inline_policy(iam, "etl-acme-dev-glue", "customer-pipeline")["Statement"]}
    logs = statements["GlueJobLogs"]
    assert set(_as_list(logs["Action"])) == {
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "logs:AssociateKmsKey",
    }
    assert all(_allows(logs["Resource"], arn) for arn in own + own_streams)
    assert not [arn for arn in foreign if _allows(logs["Resource"], arn)]
    boundary = {s["Sid"]: s for s in _boundary_document(iam, "etl-dev-customer-role-boundary")["Statement"]}
    assert all(_allows(boundary["GlueJobLogs"]["Resource"], arn) for arn in own + own_streams)
    # The security configuration encrypts the job logs with the customer key: CloudWatch Logs may use it for them.
    kms = _client("kms", moto_endpoint)
    key_policy = kms.get_key_policy(KeyId=deployed["customer"]["DataLakeKeyArn"], PolicyName="default")["Policy"]
    key_policy = json.loads(key_policy) if isinstance(key_policy, str) else key_policy  # moto: a JSON object
    # moto leaves a conditional statement whose condition is false (AWS::NoValue) as null.
    (logs_use,) = [s for s in key_policy["Statement"] if s and s["Sid"] == "CloudWatchLogsEncryptsGlueLogs"]
    assert all(_allows(logs_use["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"], arn) for arn in own)


S3_EVENT = {
    "version": "0",
    "id": "17793124-05d4-b198-2fde-7ededc63b103",
    "detail-type": "Object Created",
    "source": "aws.s3",
    "account": "123456789012",
    "time": "2024-06-01T12:00:00Z",
    "region": REGION,
    "resources": ["arn:aws:s3:::etl-acme-dev-datalake"],
    "detail": {"version": "0", "bucket": {"name": "etl-acme-dev-datalake"}, "object": {"key": "", "size": 5}},
}


def _matches(
    pattern: str, key: str, bucket: str = "etl-acme-dev-datalake", detail_type: str = "Object Created"
) -> bool:
    """Whether an S3 event for ``key`` matches ``pattern``, by moto's EventBridge pattern engine.

    (moto's server does not implement TestEventPattern, so its matcher is called directly.)
    """
    from moto.events.models import EventPattern

    event = copy.deepcopy(S3_EVENT)
    event["detail"]["object"]["key"] = key
    event["detail"]["bucket"]["name"] = bucket
    event["detail-type"] = detail_type
    return EventPattern.load(pattern).matches_event(event)


def test_each_dataset_has_a_delivery_rule(deployed: dict[str, Any], moto_endpoint: str) -> None:
    """One rule per dataset: it matches .csv and .csv.gz under raw/{dataset}/ of this bucket, nothing else."""
    events = _client("events", moto_endpoint)
    rules = {r["Name"]: r for r in events.list_rules(NamePrefix=CUSTOMER_STACK)["Rules"]}
    rules.pop(f"{CUSTOMER_STACK}-job-failed")  # the job-failure rule (tests/infra/test_alerts.py)
    by_dataset = {}
    for name, rule in rules.items():
        (target,) = events.list_targets_by_rule(Rule=name)["Targets"]
        assert target["RoleArn"].endswith(":role/etl-lib-customer/etl-acme-dev-events")
        for dataset in DATASETS:
            if target["Arn"].endswith(f":workflow/unsupported-Workflow{dataset.replace('_', '')}"):
                by_dataset[dataset] = rule["EventPattern"]
    assert set(by_dataset) == set(DATASETS)
    for dataset, pattern in by_dataset.items():
        other = next(d for d in DATASETS if d != dataset)
        matching = [f"raw/{dataset}/2024-06.csv", f"raw/{dataset}/2024-06.csv.gz", f"raw/{dataset}/sub/x.csv"]
        not_matching = [
            f"raw/{other}/2024-06.csv",
            f"raw/{dataset}/notes.txt",
            f"processed/{dataset}/a.csv",
            f"rejected/{dataset}/a.csv",
            f"raw/{dataset}x/a.csv",
        ]
        assert [key for key in matching if not _matches(pattern, key)] == []
        assert [key for key in not_matching if _matches(pattern, key)] == []
        assert not _matches(pattern, f"raw/{dataset}/a.csv", bucket="etl-other-dev-datalake")
        assert not _matches(pattern, f"raw/{dataset}/a.csv", detail_type="Object Deleted")


def test_events_role_may_only_notify_this_customers_workflows(moto_endpoint: str, deployed: dict[str, Any]) -> None:
    """The rules' role can call glue:NotifyEvent on ``{prefix}-{customerid}-{env}-*`` workflows only."""
    iam = _client("iam", moto_endpoint)
    document = _inline_policy(iam, "etl-acme-dev-events", "notify-own-workflows")
    (statement,) = document["Statement"]
    assert statement["Action"] == "glue:NotifyEvent"
    assert statement["Resource"] == f"arn:aws:glue:{REGION}:{deployed['account']}:workflow/etl-acme-dev-*"


# A second customer, with models and an Aurora sink (the sample one has neither).
SINK_CUSTOMER_PARAMETERS = {
    **CUSTOMER_PARAMETERS,
    "CustomerId": "globex",
    "HasModels": "true",
    "SinkName": "warehouse",
    "SinkJdbcUrl": "jdbc:postgresql://globex.cluster-c1.eu-west-1.rds.amazonaws.com:5432/gold",
    "SinkSecretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:globex/warehouse-AbC123",
    "SinkSecretKmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "SinkSubnetId": "subnet-0123456789abcdef0",
    "SinkSecurityGroupIds": "sg-0123456789abcdef0,sg-0fedcba9876543210",
    "SinkAvailabilityZone": f"{REGION}a",
}


def test_a_customer_with_models_and_a_sink_deploys(
    deployed: dict[str, Any], moto_endpoint: str, customer_template: dict[str, Any]
) -> None:
    """The customer stack with HasModels and every Sink* parameter is created (beside the sample one); the job
    role gets the build-models and sink policies, the secret's ARN as the only Secrets Manager resource."""
    template, removed = moto_variant(expand_for_each(customer_template, SINK_CUSTOMER_PARAMETERS))
    assert {"BuildModelsJob", "SinkConnection"} <= set(removed)
    _create_stack(moto_endpoint, "etl-globex-dev", template, SINK_CUSTOMER_PARAMETERS)
    iam = _client("iam", moto_endpoint)
    names = set(iam.list_role_policies(RoleName="etl-globex-dev-glue")["PolicyNames"])
    assert names == {"customer-pipeline", "build-models", "model-sink", "model-sink-secret-key"}
    sink = {s["Sid"]: s for s in _inline_policy(iam, "etl-globex-dev-glue", "model-sink")["Statement"]}
    assert sink["ReadTheSinkSecret"]["Resource"] == SINK_CUSTOMER_PARAMETERS["SinkSecretArn"]
    secret_resources = [
        r
        for name in names
        for s in _inline_policy(iam, "etl-globex-dev-glue", name)["Statement"]
        for r in _as_list(s["Resource"])
        if ":secretsmanager:" in r
    ]
    assert secret_resources == [SINK_CUSTOMER_PARAMETERS["SinkSecretArn"]]
    models = {s["Sid"]: s for s in _inline_policy(iam, "etl-globex-dev-glue", "build-models")["Statement"]}
    artifacts = deployed["platform"]["ArtifactsBucketName"]
    assert models["ReadTheModels"]["Resource"] == f"arn:aws:s3:::{artifacts}/releases/1.4.0/models/globex/*"
    # The sample customer, without models, has none of it.
    assert set(iam.list_role_policies(RoleName="etl-acme-dev-glue")["PolicyNames"]) == {"customer-pipeline"}


# --- alerts: the job-failure rule and the dashboard, deployed ------------------------------------

JOB_NAMES = [f"{CUSTOMER_STACK}-{job}" for job in ("raw-to-processed", "processed-to-analytics", "build-models")]
FAILURE_STATES = ["FAILED", "TIMEOUT", "ERROR", "STOPPED"]


def glue_job_event(job: str, state: str) -> dict[str, Any]:
    """A "Glue Job State Change" event as AWS documents it (source aws.glue, the run in ``detail``)."""
    return {
        "Source": "aws.glue",
        "DetailType": "Glue Job State Change",
        "Detail": json.dumps(
            {
                "jobName": job,
                "severity": "ERROR" if state in FAILURE_STATES else "INFO",
                "state": state,
                "jobRunId": "jr_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "message": "Command failed with exit code 1" if state in FAILURE_STATES else "Job run succeeded",
            }
        ),
        "Resources": [],
    }


def test_a_dead_job_run_of_this_customer_matches_the_job_failed_rule(
    deployed: dict[str, Any], moto_endpoint: str
) -> None:
    """The deployed rule's pattern, put on a probe rule with an SQS target in moto's EventBridge: each failure
    state of each of the customer's jobs arrives; SUCCEEDED/RUNNING, another customer's or environment's job,
    and another source do not. (moto's server has no TestEventPattern, so events go through put_events.)"""
    events, sqs = _client("events", moto_endpoint), _client("sqs", moto_endpoint)
    rule = events.describe_rule(Name=f"{CUSTOMER_STACK}-job-failed")
    (target,) = events.list_targets_by_rule(Rule=f"{CUSTOMER_STACK}-job-failed")["Targets"]
    assert target["Arn"].endswith(f":function:{CUSTOMER_STACK}-job-alerts")
    queue = sqs.create_queue(QueueName="job-failed-probe")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="job-failed-probe", EventPattern=rule["EventPattern"], State="ENABLED")
    events.put_targets(Rule="job-failed-probe", Targets=[{"Id": "queue", "Arn": queue_arn}])
    # moto cannot deliver to a Lambda target (put_events fails): every stack's job-failed rule (the models
    # customer's too) lends its target while the probe runs.
    lent = {
        name: events.list_targets_by_rule(Rule=name)["Targets"]
        for name in (r["Name"] for r in events.list_rules()["Rules"])
        if name.endswith("-job-failed")
    }
    for name, targets in lent.items():
        events.remove_targets(Rule=name, Ids=[t["Id"] for t in targets])
    try:
        matching = [(job, state) for job in JOB_NAMES for state in FAILURE_STATES]
        not_matching = [(job, state) for job in JOB_NAMES for state in ("SUCCEEDED", "RUNNING", "STARTING")]
        not_matching += [
            ("etl-globex-dev-raw-to-processed", "FAILED"),  # another customer
            ("etl-acmex-dev-raw-to-processed", "FAILED"),
            ("etl-acme-prod-raw-to-processed", "FAILED"),  # another environment
            ("etl-acme-dev-raw-to-processed-copy", "FAILED"),
        ]
        sent = [glue_job_event(job, state) for job, state in matching + not_matching]
        sent.append({**glue_job_event(JOB_NAMES[0], "FAILED"), "Source": "custom.glue"})
        for start in range(0, len(sent), 10):
            assert events.put_events(Entries=sent[start : start + 10])["FailedEntryCount"] == 0
        received = []
        while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                detail = json.loads(message["Body"])["detail"]
                received.append((detail["jobName"], detail["state"]))
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        assert sorted(received) == sorted(matching)
    finally:
        for name, targets in lent.items():
            events.put_targets(Rule=name, Targets=targets)
        events.remove_targets(Rule="job-failed-probe", Ids=["queue"])
        events.delete_rule(Name="job-failed-probe")
        sqs.delete_queue(QueueUrl=queue)


def test_the_job_alerts_function_is_deployed_with_its_log_group(deployed: dict[str, Any], moto_endpoint: str) -> None:
    """The function (Python, its own role with the boundary) and its log group (kept a year)."""
    function = _client("lambda", moto_endpoint).get_function(FunctionName=f"{CUSTOMER_STACK}-job-alerts")
    configuration = function["Configuration"]
    assert configuration["Runtime"].startswith("python3")
    assert configuration["Role"].endswith(":role/etl-lib-customer/etl-acme-dev-job-alerts")
    assert configuration["Environment"]["Variables"]["TOPIC_ARN"] == deployed["platform"]["AlertsTopicArn"]
    role = _client("iam", moto_endpoint).get_role(RoleName="etl-acme-dev-job-alerts")["Role"]
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == deployed["platform"]["CustomerRoleBoundaryArn"]
    (group,) = _client("logs", moto_endpoint).describe_log_groups(logGroupNamePrefix="/aws/lambda/etl-acme-dev-")[
        "logGroups"
    ]
    # (moto drops the group's KMS key; tests/infra/test_alerts.py checks it in the template)
    assert group["logGroupName"] == "/aws/lambda/etl-acme-dev-job-alerts" and group["retentionInDays"] == 365


def test_the_dashboard_is_deployed_with_a_line_per_dataset(deployed: dict[str, Any], moto_endpoint: str) -> None:
    """moto stores the dashboard CloudFormation made: JSON, every dataset in each per-dataset widget."""
    body = _client("cloudwatch", moto_endpoint).get_dashboard(DashboardName=CUSTOMER_STACK)["DashboardBody"]
    widgets = json.loads(body)["widgets"]
    for widget in widgets:
        metrics = widget["properties"]["metrics"]
        if "expression" in metrics[0][0] if isinstance(metrics[0][0], dict) else False:
            continue
        assert [line[-1] for line in metrics] == DATASETS, widget["properties"]["title"]
