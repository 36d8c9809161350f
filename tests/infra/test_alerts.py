"""Issue #13, infrastructure half: a dead job run, failed files, a rejected share over its limit and a late
delivery each reach the alerts topic, with a dashboard and saved Logs Insights queries beside them.

The job-alerts function's Python lives in ``customer.yaml`` (inline ``ZipFile``); here it is taken out of the
template and run with plain fake Glue and SNS clients. The rule's pattern and the deployed function, log group
and dashboard are checked in moto by ``test_templates.py``; alarms and query definitions, which moto's
CloudFormation cannot create, are checked in the template, resolved for the sample parameters.
"""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import pytest

from tests.infra.test_iam_scope import Resource, allows, customer, platform
from tests.infra.test_templates import (
    CUSTOMER,
    CUSTOMER_PARAMETERS,
    DATASETS,
    RESOLVED,
    expand_for_each,
    load_template,
    resolve,
)
from tests.infra.test_workflows import SPEC, deploy_plan, write_config
from tests.infra.test_workflows import root as root

ENVIRON = {
    "CUSTOMER_ID": "acme",
    "ENV": "dev",
    "TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:etl-dev-alerts",
    "LOG_GROUP_PREFIX": "/aws-glue/jobs/etl-acme-dev",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """customer.yaml unrolled for the sample datasets."""
    return expand_for_each(load_template(CUSTOMER), CUSTOMER_PARAMETERS)


def _properties(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return template["Resources"][logical_id]["Properties"]


# --- the job-alerts function's code -----------------------------------------------------------


@pytest.fixture
def function(template: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The inline code as a module, with the environment the template gives the function."""
    code = _properties(template, "JobAlertsFunction")["Code"]["ZipFile"]
    assert len(code) <= 4096, "CloudFormation's inline ZipFile holds at most 4096 characters"
    module = types.ModuleType("job_alerts")
    exec(compile(code, "customer.yaml:JobAlertsFunction", "exec"), module.__dict__)
    for key, value in ENVIRON.items():
        monkeypatch.setenv(key, value)
    return module


def test_the_function_gets_the_environment_its_code_reads(template: dict[str, Any]) -> None:
    """The variables the code reads, resolved for the sample customer."""
    variables = _properties(template, "JobAlertsFunction")["Environment"]["Variables"]
    assert {k: resolve(v) for k, v in variables.items()} == ENVIRON


class FakeGlue:
    """get_job_run answers with the given run, or raises."""

    def __init__(self, run: dict[str, Any] | Exception) -> None:
        self.run, self.calls = run, []

    def get_job_run(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if isinstance(self.run, Exception):
            raise self.run
        return {"JobRun": self.run}


class FakeSns:
    """Records what is published."""

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, **kwargs: Any) -> dict[str, str]:
        self.published.append(kwargs)
        return {"MessageId": "1"}


def event(job: str = "etl-acme-dev-raw-to-processed", state: str = "FAILED") -> dict[str, Any]:
    """A Glue Job State Change event as EventBridge hands it to the function."""
    return {
        "source": "aws.glue",
        "detail-type": "Glue Job State Change",
        "detail": {"jobName": job, "jobRunId": "jr_abc", "state": state, "message": "Command failed"},
    }


def test_a_failed_run_is_published_with_customer_job_dataset_and_error(function: types.ModuleType) -> None:
    """The dataset comes from the run's --dataset_spec; Glue's error message is in the text."""
    run = {
        "Arguments": {"--dataset_spec": "s3://etl-dev-123-artifacts/releases/1.4.0/specs/acme/card_payments.yaml"},
        "ErrorMessage": "Container killed by YARN for exceeding memory limits",
    }
    glue, sns = FakeGlue(run), FakeSns()
    function.handler(event(), None, glue=glue, sns=sns)
    assert glue.calls == [{"JobName": "etl-acme-dev-raw-to-processed", "RunId": "jr_abc"}]
    (published,) = sns.published
    assert published["TopicArn"] == ENVIRON["TOPIC_ARN"]
    assert published["Subject"] == "etl_lib acme dev: raw-to-processed FAILED (card_payments)"
    lines = published["Message"].splitlines()
    for expected in (
        "customer: acme",
        "job: etl-acme-dev-raw-to-processed",
        "dataset: card_payments",
        "run id: jr_abc",
        "error: Container killed by YARN for exceeding memory limits",
        "logs: /aws-glue/jobs/etl-acme-dev/error and /output, stream jr_abc-driver",
    ):
        assert expected in lines
    attributes = {k: v["StringValue"] for k, v in published["MessageAttributes"].items()}
    assert attributes == {"customer": "acme", "dataset": "card_payments", "kind": "job-run-failed"}


def test_build_models_names_its_changed_dataset(function: types.ModuleType) -> None:
    """build-models runs carry --changed_dataset instead of a spec."""
    sns = FakeSns()
    function.handler(
        event("etl-acme-dev-build-models", "TIMEOUT"),
        None,
        glue=FakeGlue({"Arguments": {"--changed_dataset": "transactions"}}),
        sns=sns,
    )
    assert sns.published[0]["Subject"] == "etl_lib acme dev: build-models TIMEOUT (transactions)"
    assert "error: Command failed" in sns.published[0]["Message"]  # no ErrorMessage: the event's message


@pytest.mark.parametrize(
    "glue",
    [FakeGlue({"Arguments": {"--lake": "s3://etl-acme-dev-datalake"}}), FakeGlue({}), FakeGlue(RuntimeError("denied"))],
    ids=["no-dataset-argument", "no-arguments", "get-job-run-fails"],
)
def test_a_run_without_a_dataset_is_still_reported(function: types.ModuleType, glue: FakeGlue) -> None:
    """Arguments naming no dataset (or a run that cannot be read) still make one alert, saying so."""
    sns = FakeSns()
    assert function.handler(event(state="STOPPED"), None, glue=glue, sns=sns)["dataset"] is None
    (published,) = sns.published
    assert published["Subject"] == "etl_lib acme dev: raw-to-processed STOPPED"
    (line,) = [x for x in published["Message"].splitlines() if x.startswith("dataset: ")]
    assert line.startswith("dataset: unknown: the run's arguments name none")
    assert "dataset" not in published["MessageAttributes"]
    if isinstance(glue.run, Exception):
        assert "(reading the run failed: RuntimeError)" in line


# --- the rule, the alarms, the dashboard, the queries (template) -------------------------------


def test_the_rule_matches_this_customers_jobs_in_failure_states(template: dict[str, Any]) -> None:
    """Its pattern resolved: the three job names, four states; it targets the function, which it may invoke."""
    rule = _properties(template, "JobFailedRule")
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.glue"] and pattern["detail-type"] == ["Glue Job State Change"]
    assert [resolve(j) for j in pattern["detail"]["jobName"]] == [
        "etl-acme-dev-raw-to-processed",
        "etl-acme-dev-processed-to-analytics",
        "etl-acme-dev-build-models",
    ]
    assert pattern["detail"]["state"] == ["FAILED", "TIMEOUT", "ERROR", "STOPPED"]
    assert resolve(rule["Name"]) == "etl-acme-dev-job-failed"
    permission = _properties(template, "JobFailedRuleInvokesJobAlerts")
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": ["JobFailedRule", "Arn"]}


def test_the_function_logs_to_its_own_encrypted_group(template: dict[str, Any]) -> None:
    """Its log group exists before it (DependsOn), a year's retention, the customer key; the key admits it."""
    assert template["Resources"]["JobAlertsFunction"]["DependsOn"] == "JobAlertsLogGroup"
    group = _properties(template, "JobAlertsLogGroup")
    assert resolve(group["LogGroupName"]) == "/aws/lambda/etl-acme-dev-job-alerts"
    assert group["RetentionInDays"] == 365 and group["KmsKeyId"] == {"Fn::GetAtt": ["DataLakeKey", "Arn"]}
    statements = _properties(template, "DataLakeKey")["KeyPolicy"]["Statement"]
    (logs,) = [s for s in statements if isinstance(s, dict) and s.get("Sid") == "CloudWatchLogsEncryptsGlueLogs"]
    arns = resolve(logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"])
    assert "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/etl-acme-dev-job-alerts" in arns


ALERTS_TOPIC = RESOLVED["etl-platform-dev-AlertsTopicArn"]


def _alarm(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return {k: resolve(v) if k not in ("Dimensions",) else v for k, v in _properties(template, logical_id).items()}


@pytest.mark.parametrize("dataset", DATASETS)
def test_each_dataset_alarms_on_failed_files_and_its_rejected_share(template: dict[str, Any], dataset: str) -> None:
    """FilesFailed Sum > 0 and RejectedShareOverLimit Maximum >= 1, per run (5 minutes), to the alerts topic."""
    key = dataset.replace("_", "")
    dimensions = [{"Name": "Customer", "Value": "acme"}, {"Name": "Dataset", "Value": dataset}]
    for logical_id, metric, statistic, operator, threshold in (
        (f"FilesFailedAlarm{key}", "FilesFailed", "Sum", "GreaterThanThreshold", 0),
        (f"RejectedShareAlarm{key}", "RejectedShareOverLimit", "Maximum", "GreaterThanOrEqualToThreshold", 1),
    ):
        alarm = _alarm(template, logical_id)
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("etl_lib", metric, statistic)
        assert [{"Name": d["Name"], "Value": resolve(d["Value"])} for d in alarm["Dimensions"]] == dimensions
        assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["Period"]) == (operator, threshold, 300)
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmActions"] == [ALERTS_TOPIC] and "OKActions" not in alarm
        assert alarm["AlarmName"].startswith(f"etl-acme-dev-{dataset}-")


def test_a_freshness_alarm_only_for_datasets_with_expected_every(template: dict[str, Any]) -> None:
    """transactions (24 hours) gets one: no file processed in 24 hourly periods, missing data breaching,
    ALARM and OK to the topic; card_payments, without expected_every, gets none."""
    alarms = {lid for lid, r in template["Resources"].items() if lid.startswith("FreshnessAlarm")}
    assert alarms == {"FreshnessAlarmtransactions24"}
    alarm = _alarm(template, "FreshnessAlarmtransactions24")
    assert alarm["AlarmName"] == "etl-acme-dev-transactions-freshness-24h"
    assert [resolve(d["Value"]) for d in alarm["Dimensions"]] == ["acme", "transactions"]
    assert (alarm["MetricName"], alarm["Statistic"], alarm["Period"]) == ("FilesProcessed", "Sum", 3600)
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == ("24", "24")
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanThreshold", 1)
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["AlarmActions"] == alarm["OKActions"] == [ALERTS_TOPIC]
    assert int(alarm["Period"]) * int(alarm["EvaluationPeriods"]) <= 7 * 86400  # CloudWatch's limit


def test_each_pair_gives_its_own_dataset_and_hours() -> None:
    """Every dataset=hours item of FreshnessHours is one alarm of that dataset with that many periods, including a
    dataset whose name ends another's; a changed period is a new name (the old alarm is deleted, not the new)."""
    parameters = {**CUSTOMER_PARAMETERS, "FreshnessHours": "card_payments=6,payments=168,transactions=12"}
    unrolled = expand_for_each(load_template(CUSTOMER), parameters)
    found = {}
    for logical_id, resource in unrolled["Resources"].items():
        if logical_id.startswith("FreshnessAlarm"):
            properties = resource["Properties"]
            found[resolve(properties["Dimensions"][1]["Value"])] = (
                resolve(properties["EvaluationPeriods"]),
                resolve(properties["AlarmName"], {**RESOLVED, **parameters}),
            )
    assert found == {
        "card_payments": ("6", "etl-acme-dev-card_payments-freshness-6h"),
        "payments": ("168", "etl-acme-dev-payments-freshness-168h"),
        "transactions": ("12", "etl-acme-dev-transactions-freshness-12h"),
    }


def test_no_freshness_alarm_is_made_without_expected_every() -> None:
    """With no dataset listed, the loop's one empty iteration is switched off by HasFreshnessAlarms."""
    parameters = {**CUSTOMER_PARAMETERS, "FreshnessHours": ""}
    assert not customer("acme", "dev", FreshnessHours="").condition("HasFreshnessAlarms")
    assert customer("acme", "dev").condition("HasFreshnessAlarms")
    unrolled = expand_for_each(load_template(CUSTOMER), parameters)
    (only,) = [lid for lid in unrolled["Resources"] if lid.startswith("FreshnessAlarm")]
    assert unrolled["Resources"][only]["Condition"] == "HasFreshnessAlarms"


def test_the_dashboard_body_is_json_naming_every_dataset(template: dict[str, Any]) -> None:
    """DashboardBody resolved: valid JSON; every per-dataset widget has one line per dataset, the stage widget a
    SEARCH over this customer's StageSeconds."""
    dashboard = _properties(template, "Dashboard")
    assert resolve(dashboard["DashboardName"]) == "etl-acme-dev"
    body = json.loads(resolve(dashboard["DashboardBody"]))
    shown = {}
    for widget in body["widgets"]:
        first = widget["properties"]["metrics"][0]
        if isinstance(first[0], dict):
            assert 'MetricName="StageSeconds" Customer="acme"' in first[0]["expression"]
            shown["StageSeconds"] = DATASETS
            continue
        assert first[:5] == ["etl_lib", first[1], "Customer", "acme", "Dataset"]
        lines = widget["properties"]["metrics"]
        assert all(line[0] == "..." for line in lines[1:])
        shown[first[1]] = [line[-1] for line in lines]
    assert shown == {
        metric: DATASETS
        for metric in (
            "RowsIn",
            "RowsRejected",
            "RejectedShare",
            "FilesFailed",
            "FilesProcessed",
            "NewestDeliveryAgeSeconds",
            "StageSeconds",
        )
    }


def test_logs_insights_queries_read_etl_libs_json_lines(template: dict[str, Any]) -> None:
    """Three saved queries over the jobs' output group, written against the library's file and stage lines."""
    queries = {
        resolve(_properties(template, lid)["Name"]): _properties(template, lid)
        for lid in ("FailedFilesQuery", "SlowestFilesQuery", "RejectedShareQuery")
    }
    assert set(queries) == {
        "etl-acme-dev/failed files (last 7 days)",
        "etl-acme-dev/slowest files",
        "etl-acme-dev/rejected share by dataset",
    }
    for query in queries.values():
        assert [resolve(g) for g in query["LogGroupNames"]] == ["/aws-glue/jobs/etl-acme-dev/output"]
    failed = queries["etl-acme-dev/failed files (last 7 days)"]["QueryString"]
    assert 'filter etl_lib = "file" and outcome = "failed"' in failed
    assert "sort duration_s desc" in queries["etl-acme-dev/slowest files"]["QueryString"]
    share = queries["etl-acme-dev/rejected share by dataset"]["QueryString"]
    assert 'etl_lib = "stage"' in share and "sum(rows_rejected) / sum(rows_in)" in share and "by dataset" in share


# --- IAM ----------------------------------------------------------------------------------------


def test_the_function_reads_only_this_customers_runs_and_publishes_alerts() -> None:
    """Role and boundary allow GetJobRun on acme's dev jobs, Publish to the topic (through the platform key via
    SNS) and its logs; not another customer's or environment's runs."""
    role = customer("acme", "dev").statements("JobAlertsRole")
    boundary = platform("dev").statements("CustomerRoleBoundary")
    dev = platform("dev")
    own_run = Resource("arn:aws:glue:eu-west-1:123456789012:job/etl-acme-dev-raw-to-processed")
    logs = Resource("arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/etl-acme-dev-job-alerts:log-stream:x")
    key = Resource(dev.identity("PlatformKey")[1], dev.identity("PlatformKey")[2])
    for statements in (role, boundary):
        assert allows(statements, "glue:GetJobRun", own_run, {})
        assert allows(statements, "sns:Publish", Resource(dev.identity("AlertsTopic")[1]), {})
        assert allows(statements, "kms:GenerateDataKey", key, {"kms:ViaService": "sns.eu-west-1.amazonaws.com"})
        assert allows(statements, "logs:PutLogEvents", logs, {})
    for job in ("etl-globex-dev-raw-to-processed", "etl-acme-prod-raw-to-processed", "etl-acmex-dev-build-models"):
        assert not allows(role, "glue:GetJobRun", Resource(f"arn:aws:glue:eu-west-1:123456789012:job/{job}"))
    assert not allows(role, "kms:Decrypt", key, {"kms:ViaService": "s3.eu-west-1.amazonaws.com"})


def test_the_jobs_may_put_etl_lib_metrics_and_no_other_namespace() -> None:
    """cloudwatch:PutMetricData with namespace etl_lib (and Glue's own), by the job role and the boundary."""
    role = customer("acme", "dev").statements("GlueJobRole")
    boundary = platform("dev").statements("CustomerRoleBoundary")
    for statements in (role, boundary):
        for namespace, expected in (("etl_lib", True), ("Glue", True), ("AWS/Lambda", False), ("Custom", False)):
            request = {"cloudwatch:namespace": namespace}
            assert allows(statements, "cloudwatch:PutMetricData", Resource("*"), request) is expected, namespace


def test_the_execution_role_can_build_the_alerts_of_its_environment_only() -> None:
    """Function, its role (with the boundary, passed to Lambda only), log group, alarms, dashboard: in dev, by name."""
    role = platform("dev").statements("CloudFormationExecutionRole")
    acme, prod = customer("acme", "dev"), customer("acme", "prod")
    boundary = {"iam:PermissionsBoundary": platform("dev").identity("CustomerRoleBoundary")[1]}
    calls = [
        ("lambda:CreateFunction", "JobAlertsFunction", {}),
        ("lambda:AddPermission", "JobAlertsFunction", {}),
        ("logs:CreateLogGroup", "JobAlertsLogGroup", {}),
        ("logs:PutRetentionPolicy", "JobAlertsLogGroup", {}),
        ("cloudwatch:PutMetricAlarm", "FilesFailedAlarmtransactions", {}),
        ("cloudwatch:PutMetricAlarm", "FreshnessAlarmtransactions24", {}),
        ("cloudwatch:PutMetricAlarm", "JobAlertsFunctionErrors", {}),
        ("cloudwatch:PutDashboard", "Dashboard", {}),
        ("iam:CreateRole", "JobAlertsRole", boundary),
        ("iam:PassRole", "JobAlertsRole", {"iam:PassedToService": "lambda.amazonaws.com"}),
        ("events:PutRule", "JobFailedRule", {}),
    ]
    for action, logical_id, request in calls:
        assert allows(role, action, Resource(acme.identity(logical_id)[1]), request), (action, logical_id)
        assert not allows(role, action, Resource(prod.identity(logical_id)[1])), (action, logical_id, "prod")
    alerts_role = Resource(acme.identity("JobAlertsRole")[1])
    assert not allows(role, "iam:CreateRole", alerts_role, {})
    assert not allows(role, "iam:PassRole", alerts_role, {"iam:PassedToService": "glue.amazonaws.com"})


# --- deploy/plan.py: expected_every -> FreshnessHours ----------------------


def _with_expected_every(root: Path, customer_id: str, dataset: str, every: str) -> None:
    (root / "deploy" / "specs" / customer_id / f"{dataset}.yaml").write_text(
        SPEC.format(name=dataset) + f"expected_every: {every}\n"
    )


def _declare_freshness(root: Path) -> None:
    """The fixture's customer template, with the two parameters of the real one."""
    template = root / "cloudformation" / "customer.yaml"
    text = template.read_text().replace(
        "Parameters:\n",
        "Parameters:\n  FreshnessHours: {Type: CommaDelimitedList, Default: ''}\n",
        1,
    )
    template.write_text(text)


def test_the_plan_passes_each_specs_expected_every_in_hours(root: Path) -> None:
    """orders 1d -> 24, refunds none; globex's invoices 12h; every customer gets the parameter, empty when no
    spec has expected_every (so a stack update clears it)."""
    _declare_freshness(root)
    _with_expected_every(root, "acme", "orders", "1d")
    _with_expected_every(root, "globex", "invoices", "12h")
    plan = deploy_plan.load_plan(write_config(root), root)
    acme = deploy_plan.customer_overrides(plan, "dev", "acme", "v1", None, root)
    assert acme["FreshnessHours"] == "orders=24"
    globex = deploy_plan.customer_overrides(plan, "dev", "globex", "v1", None, root)
    assert globex["FreshnessHours"] == "invoices=12"
    _with_expected_every(root, "acme", "refunds", "7d")
    both = deploy_plan.customer_overrides(
        deploy_plan.load_plan(write_config(root), root), "dev", "acme", "v1", None, root
    )
    assert both["FreshnessHours"] == "orders=24,refunds=168"
    (root / "deploy" / "specs" / "acme" / "orders.yaml").write_text(SPEC.format(name="orders"))
    (root / "deploy" / "specs" / "acme" / "refunds.yaml").write_text(SPEC.format(name="refunds"))
    none = deploy_plan.customer_overrides(
        deploy_plan.load_plan(write_config(root), root), "dev", "acme", "v1", None, root
    )
    assert none["FreshnessHours"] == ""


def test_the_plans_values_fit_the_templates_parameters(root: Path) -> None:
    """What the plan writes matches the real template's AllowedPatterns."""
    _declare_freshness(root)
    _with_expected_every(root, "acme", "orders", "36h")
    _with_expected_every(root, "acme", "refunds", "2d")
    overrides = deploy_plan.customer_overrides(
        deploy_plan.load_plan(write_config(root), root), "dev", "acme", "v1", None, root
    )
    import re

    parameters = load_template(CUSTOMER)["Parameters"]
    assert re.fullmatch(parameters["FreshnessHours"]["AllowedPattern"], overrides["FreshnessHours"])
    assert overrides["FreshnessHours"] == "orders=36,refunds=48"


@pytest.mark.parametrize(
    ("every", "message"),
    [
        ("8d", r"expected_every '8d' is 192 hours; the freshness alarm can watch at most 168 \(7d"),
        ("1w", r"expected_every '1w': expected a number of hours or days, e.g. 12h or 1d"),
        ("0h", r"expected_every '0h': expected a number of hours or days"),
    ],
)
def test_an_expected_every_the_alarm_cannot_watch_is_a_one_line_error(root: Path, every: str, message: str) -> None:
    """Longer than CloudWatch can evaluate, or not hours/days: the spec file is named."""
    _with_expected_every(root, "acme", "orders", every)
    with pytest.raises(deploy_plan.PlanError, match=message) as error:
        deploy_plan.load_plan(write_config(root), root)
    assert "orders.yaml" in str(error.value) and "\n" not in str(error.value)
