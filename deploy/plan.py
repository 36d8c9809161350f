#!/usr/bin/env python3
"""What to deploy, from deploy/customers.yaml: the one place both deployers read it.

deploy/deploy.sh (a laptop) and .github/workflows/deploy.yml (Actions) ask this
script for stack names, parameter overrides, the customer matrix and the spec
files to publish, so the two cannot drift. It needs only PyYAML and makes no AWS
call. Every error is one line naming the file, the entry and what is allowed.

  plan.py check                                  validate the file and every spec it names
  plan.py github-outputs --env E [--customer C]  key=value lines for $GITHUB_OUTPUT
  plan.py customers --env E [--customer C]       customer ids, one a line
  plan.py region --env E
  plan.py stack-name --env E [--customer C]      the platform stack, or the customer's
  plan.py platform-params --env E                Key=Value lines for --parameter-overrides
  plan.py customer-params --env E --customer C --version V [--bundle NAME]
  plan.py specs --env E [--customer C]           customer_id, dataset, spec path (tab-separated)
  plan.py models --env E [--customer C]          customer_id, model file name, its path (tab-separated)
  plan.py version --sha SHA [--tag TAG] [--dirty]
  plan.py manifest --env E --version V --commit SHA --bundle NAME
  plan.py release-bundle --env E --customer C < manifest.json  the Glue bundle, once the release fits the customer
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
ENVIRONMENTS = ("dev", "staging", "prod")
# Every Env the templates accept. The IAM name patterns of one environment ({prefix}-*-{env}-*) must
# never match another's resources, so no dataset is named like one (customer.yaml refuses it too).
TEMPLATE_ENVIRONMENTS = ("dev", "test", "staging", "prod")
# A dataset's EventBridge rule is named {prefix}-{customer_id}-{env}-{dataset}: at most 64 characters.
RULE_NAME_MAX = 64
PLATFORM_TEMPLATE = "cloudformation/platform.yaml"
CUSTOMER_TEMPLATE = "cloudformation/customer.yaml"
# customers.yaml setting -> customer template parameter; `parameters` passes any other one by its own name
SETTINGS = {"worker_type": "WorkerType", "number_of_workers": "NumberOfWorkers", "schedule": "Schedule"}
SETTING_KEYS = {*SETTINGS, "parameters"}
WORKER_TYPES = ("G.1X", "G.2X", "G.4X", "G.8X")
# customer template parameters deploy sets itself (HasModels: whether the customer's models folder holds any;
# IcebergTables: the datasets and models whose table_format is iceberg)
IDENTITY = (
    "PlatformStackName",
    "Prefix",
    "CustomerId",
    "Env",
    "Datasets",
    "ReleaseVersion",
    "BundleFile",
    "HasModels",
    "FreshnessHours",
    "IcebergTables",
)
# Customer template parameters of the models' Aurora PostgreSQL sink (given under `parameters`).
SINK_PARAMETERS = (
    "SinkName",
    "SinkJdbcUrl",
    "SinkSecretArn",
    "SinkSecretKmsKeyArn",
    "SinkSubnetId",
    "SinkSecurityGroupIds",
    "SinkAvailabilityZone",
)
TOP_KEYS = {"prefix", "environments", "defaults", "customers"}
ENV_KEYS = {"region", "platform_parameters"}
CUSTOMER_KEYS = {"customer_id", "datasets", "specs_dir", "models_dir", "environments", "overrides", *SETTING_KEYS}

PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{1,19}$")
CUSTOMER_RE = re.compile(r"^[a-z][a-z0-9]{1,19}$")
DATASET_RE = re.compile(r"^[a-z][a-z0-9_]*$")
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]$")
SCHEDULE_RE = re.compile(r"^$|^cron\([^()]+\)$")
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SHA_RE = re.compile(r"^[0-9a-f]{12,40}$")
# A spec's expected_every (etl_lib.spec.model.DatasetSpec): whole hours or days.
EXPECTED_EVERY_RE = re.compile(r"^([1-9][0-9]*)(h|d)$")
# The freshness alarm evaluates hourly periods, and CloudWatch at most 7 days of them.
FRESHNESS_MAX_HOURS = 168
# A spec's or a model's table_format (etl_lib's TableFormat); absent means parquet.
TABLE_FORMATS = ("parquet", "iceberg")
# The Glue bundle (make glue-bundle): the customer template's BundleFile pattern.
BUNDLE_RE = re.compile(r"^etl_lib-[A-Za-z0-9._+]+\.gluewheels\.zip$")


class PlanError(Exception):
    """A problem in customers.yaml, a spec or a template: one line, said to the user as is."""


@dataclass(frozen=True)
class Customer:
    """One entry of ``customers:``; settings already merged per environment."""

    customer_id: str
    datasets: tuple[str, ...]
    specs_dir: Path
    environments: tuple[str, ...]
    settings: Mapping[str, Mapping[str, Any]]  # env -> worker_type/number_of_workers/schedule/parameters
    models_dir: Path | None = None
    # The model files (*.yaml, *.yml) directly in the models folder, by name (sorted); empty: no models.
    models: tuple[str, ...] = ()
    # dataset -> hours of its spec's expected_every, for the datasets that declare one (in dataset order).
    freshness_hours: Mapping[str, int] = field(default_factory=dict)
    # The tables whose table_format is iceberg: datasets (in dataset order), then models (by file name).
    iceberg_tables: tuple[str, ...] = ()

    def spec_path(self, dataset: str) -> Path:
        """Where the spec of one of the customer's datasets lives."""
        return self.specs_dir / f"{dataset}.yaml"

    def model_path(self, name: str) -> Path:
        """Where one of the customer's model files lives."""
        assert self.models_dir is not None
        return self.models_dir / name


@dataclass(frozen=True)
class Plan:
    """The whole of customers.yaml, validated."""

    path: Path
    prefix: str
    regions: Mapping[str, str]
    platform_parameters: Mapping[str, Mapping[str, str]]
    customers: tuple[Customer, ...] = field(default_factory=tuple)

    def select(self, env: str, customer: str | None = None) -> list[Customer]:
        """The customers deployed to ``env``, or just ``customer`` (an error if it is not deployed there)."""
        self._check_env(env)
        if customer:
            found = [c for c in self.customers if c.customer_id == customer]
            if not found:
                known = ", ".join(c.customer_id for c in self.customers) or "none"
                raise PlanError(f"{self.path}: no customer {customer!r}; customers: {known}")
            if env not in found[0].environments:
                raise PlanError(
                    f"{self.path}: customer {customer!r} is not deployed to {env} "
                    f"(its environments: {', '.join(found[0].environments)})"
                )
            return found
        return [c for c in self.customers if env in c.environments]

    def _check_env(self, env: str) -> None:
        if env not in self.regions:
            raise PlanError(f"{self.path}: no environment {env!r}; environments: {', '.join(self.regions)}")


def platform_stack(env: str) -> str:
    """The platform stack of an environment; its exports are named ``{stack}-{Output}``."""
    return f"etl-lib-platform-{env}"


def customer_stack(prefix: str, customer_id: str, env: str) -> str:
    """A customer's stack: named like its resources, and inside the ``{prefix}-*`` the deploy role may touch."""
    return f"{prefix}-{customer_id}-{env}"


def load_plan(path: Path, root: Path = REPO) -> Plan:
    """Read and validate customers.yaml; spec paths are resolved against ``root``."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlanError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise PlanError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    where = str(path)
    doc = _mapping(doc, where, TOP_KEYS)
    prefix = doc.get("prefix")
    if not isinstance(prefix, str) or not PREFIX_RE.match(prefix):
        raise PlanError(f"{where}: prefix {prefix!r}: expected 2-20 lower-case letters and digits, a letter first")
    envs = _mapping(doc.get("environments"), f"{where}: environments", set(ENVIRONMENTS))
    if not envs:
        raise PlanError(f"{where}: environments: name at least one of {', '.join(ENVIRONMENTS)}")
    regions: dict[str, str] = {}
    platform_parameters: dict[str, dict[str, str]] = {}
    for env, body in envs.items():
        body = _mapping(body, f"{where}: environments.{env}", ENV_KEYS)
        region = body.get("region")
        if not isinstance(region, str) or not REGION_RE.match(region):
            raise PlanError(f"{where}: environments.{env}.region {region!r}: expected an AWS region like eu-west-1")
        regions[env] = region
        params = _mapping(body.get("platform_parameters") or {}, f"{where}: environments.{env}.platform_parameters")
        for key in ("Env", "Prefix"):
            if key in params:
                raise PlanError(f"{where}: environments.{env}.platform_parameters: {key} is passed for you; remove it")
        platform_parameters[env] = {str(k): _scalar(v, f"{where}: platform parameter {k}") for k, v in params.items()}
    defaults = _settings(doc.get("defaults") or {}, f"{where}: defaults")
    raw_customers = doc.get("customers") or []
    if not isinstance(raw_customers, list):
        raise PlanError(f"{where}: customers: expected a list of entries")
    customers: list[Customer] = []
    for index, entry in enumerate(raw_customers):
        cid = entry.get("customer_id") if isinstance(entry, dict) else None
        if cid is not None and any(c.customer_id == cid for c in customers):
            raise PlanError(f"{where}: customers[{index}]: customer_id {cid!r} appears twice")
        customers.append(_customer(entry, f"{where}: customers[{index}]", root, tuple(regions), defaults))
    for index, customer in enumerate(customers):
        for env in customer.environments:
            for dataset in customer.datasets:
                rule = f"{prefix}-{customer.customer_id}-{env}-{dataset}"
                if len(rule) > RULE_NAME_MAX:
                    raise PlanError(
                        f"{where}: customers[{index}] ({customer.customer_id}): dataset {dataset!r} in {env}: its"
                        f" delivery rule {rule} would have {len(rule)} characters, at most {RULE_NAME_MAX}:"
                        " shorten the dataset name"
                    )
    return Plan(path, prefix, regions, platform_parameters, tuple(customers))


def _customer(entry: Any, where: str, root: Path, envs: tuple[str, ...], defaults: Mapping[str, Any]) -> Customer:
    entry = _mapping(entry, where, CUSTOMER_KEYS)
    cid = entry.get("customer_id")
    if not isinstance(cid, str) or not CUSTOMER_RE.match(cid):
        raise PlanError(f"{where}: customer_id {cid!r}: expected 2-20 lower-case letters and digits, a letter first")
    where = f"{where} ({cid})"
    datasets = entry.get("datasets")
    if not isinstance(datasets, list) or not datasets:
        raise PlanError(f"{where}: datasets: expected a non-empty list of dataset names")
    for name in datasets:
        if not isinstance(name, str) or not DATASET_RE.match(name):
            raise PlanError(f"{where}: dataset {name!r}: expected [a-z][a-z0-9_]*, as in the spec's dataset:")
        if name in TEMPLATE_ENVIRONMENTS:
            raise PlanError(
                f"{where}: dataset {name!r} is named like an environment ({', '.join(TEMPLATE_ENVIRONMENTS)}):"
                " the deploy roles tell environments apart by such names; rename the dataset"
            )
    if len(set(datasets)) != len(datasets):
        raise PlanError(f"{where}: datasets: a dataset is listed twice")
    own_envs = entry.get("environments", list(envs))
    if not isinstance(own_envs, list) or not own_envs or any(e not in envs for e in own_envs):
        raise PlanError(f"{where}: environments {own_envs!r}: expected a non-empty list of {', '.join(envs)}")
    specs_dir = root / str(entry.get("specs_dir") or f"deploy/specs/{cid}")
    models_dir, models, iceberg_models = _models(root, entry.get("models_dir"), cid, where)
    customer_settings = _settings({k: entry[k] for k in SETTING_KEYS if k in entry}, where)
    overrides = _mapping(entry.get("overrides") or {}, f"{where}: overrides", set(own_envs))
    settings = {
        env: _merge(defaults, customer_settings, _settings(overrides.get(env) or {}, f"{where}: overrides.{env}"))
        for env in own_envs
    }
    freshness: dict[str, int] = {}
    iceberg: list[str] = []
    for dataset in datasets:
        hours, table_format = _check_spec(specs_dir / f"{dataset}.yaml", dataset, where)
        if hours is not None:
            freshness[dataset] = hours
        if table_format == "iceberg":
            iceberg.append(dataset)
    iceberg_tables = _check_iceberg_tables([*iceberg, *iceberg_models], where)
    customer = Customer(
        cid, tuple(datasets), specs_dir, tuple(own_envs), settings, models_dir, models, freshness, iceberg_tables
    )
    for env, merged in settings.items():
        given = sorted(k for k, v in merged["parameters"].items() if k in SINK_PARAMETERS and v)
        if given and not models:
            raise PlanError(
                f"{where}: {env}: {', '.join(given)} configure the models' sink, but the customer has no models"
                f" (no files in {models_dir}): add models there, or remove the Sink* parameters"
            )
    return customer


def _models(root: Path, configured: Any, cid: str, where: str) -> tuple[Path, tuple[str, ...], tuple[str, ...]]:
    """The models folder (``models_dir``, by default deploy/models/{customer}), its model files, and the
    names (``model:``) of the models whose ``table_format`` is iceberg.

    The model files are what the build-models job reads: the ``*.yaml``/``*.yml`` files directly in
    the folder (not hidden ones, not sub-folders). The default folder may be absent (no models); a
    ``models_dir`` that is named must exist. Each file must be a YAML mapping; the full check is the
    library's (``model:``, ``sql:``, ``reads:``...), when it builds.
    """
    if configured is not None and (not isinstance(configured, str) or not configured.strip()):
        raise PlanError(f"{where}: models_dir {configured!r}: expected a folder of the repository")
    folder = root / (configured or f"deploy/models/{cid}")
    if not folder.exists():
        if configured:
            raise PlanError(f"{where}: models_dir {configured!r}: {folder} does not exist")
        return folder, (), ()
    if not folder.is_dir():
        raise PlanError(f"{where}: models_dir: {folder} is not a folder")
    names, iceberg = [], []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix not in (".yaml", ".yml") or not path.is_file():
            continue
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise PlanError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
        if not isinstance(doc, dict):
            raise PlanError(f"{path}: a model file must be a YAML mapping, got {type(doc).__name__}")
        names.append(path.name)
        if _table_format(doc, path) == "iceberg":
            name = doc.get("model")
            if not isinstance(name, str) or not DATASET_RE.match(name):
                raise PlanError(f"{path}: model {name!r}: expected [a-z][a-z0-9_]*, the name of its Iceberg table")
            iceberg.append(name)
    return folder, tuple(names), tuple(iceberg)


def _table_format(doc: Mapping[str, Any], path: Path) -> str:
    """A spec's or a model's ``table_format``: parquet (also when absent) or iceberg."""
    if "table_format" not in doc:
        return "parquet"
    value = doc["table_format"]
    if value not in TABLE_FORMATS:
        raise PlanError(f"{path}: table_format {value!r}: expected one of {', '.join(TABLE_FORMATS)}")
    return str(value)


def _check_iceberg_tables(names: list[str], where: str) -> tuple[str, ...]:
    """Each Iceberg table once, and no two whose letters and digits are the same: the customer template names
    each table's optimizers by those alone (``CompactionOptimizer&{Table}``)."""
    seen: dict[str, str] = {}
    for name in names:
        key = re.sub("[^a-z0-9]", "", name)
        if key in seen:
            twice = f"{name!r} is an Iceberg table twice" if seen[key] == name else f"{seen[key]!r} and {name!r}"
            raise PlanError(
                f"{where}: {twice} (a dataset and a model, or two models, named alike; the template names each"
                " table's optimizers by its letters and digits): rename one"
            )
        seen[key] = name
    return tuple(names)


def _check_spec(path: Path, dataset: str, where: str) -> tuple[int | None, str]:
    """The spec exists and names the dataset it is listed as (the full check is ``etl-lib validate-spec``);
    returns its ``expected_every`` in hours (None when it has none), for the freshness alarm, and its
    ``table_format``."""
    if not path.is_file():
        raise PlanError(f"{where}: dataset {dataset!r} has no spec: {path} is missing")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PlanError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    named = doc.get("dataset") if isinstance(doc, dict) else None
    if named != dataset:
        raise PlanError(f"{path}: dataset: is {named!r}, but {where} lists it as {dataset!r}")
    table_format = _table_format(doc, path)
    every = doc.get("expected_every")
    if every is None:
        return None, table_format
    match = EXPECTED_EVERY_RE.match(str(every))
    if not match:
        raise PlanError(f"{path}: expected_every {every!r}: expected a number of hours or days, e.g. 12h or 1d")
    hours = int(match.group(1)) * (24 if match.group(2) == "d" else 1)
    if hours > FRESHNESS_MAX_HOURS:
        raise PlanError(
            f"{path}: expected_every {every!r} is {hours} hours; the freshness alarm can watch at most"
            f" {FRESHNESS_MAX_HOURS} (7d, CloudWatch's longest evaluation): use 7d or less"
        )
    return hours, table_format


def _merge(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Later layers win; ``parameters`` maps are merged key by key."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            merged[key] = {**merged.get(key, {}), **value} if key == "parameters" else value
    return merged


def _settings(value: Any, where: str) -> dict[str, Any]:
    settings = _mapping(value, where, SETTING_KEYS)
    worker = settings.get("worker_type")
    if worker is not None and worker not in WORKER_TYPES:
        raise PlanError(f"{where}: worker_type {worker!r}: expected one of {', '.join(WORKER_TYPES)}")
    workers = settings.get("number_of_workers")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or not 2 <= workers <= 200):
        raise PlanError(f"{where}: number_of_workers {workers!r}: expected a whole number from 2 to 200")
    schedule = settings.get("schedule")
    if schedule is not None and not (isinstance(schedule, str) and SCHEDULE_RE.match(schedule)):
        raise PlanError(f'{where}: schedule {schedule!r}: expected a Glue cron(...) expression, or "" for none')
    params = _mapping(settings.get("parameters") or {}, f"{where}: parameters")
    reserved = sorted(set(params) & {*SETTINGS.values(), *IDENTITY})
    if reserved:
        raise PlanError(f"{where}: parameters: {', '.join(reserved)} are set for you or by their own setting")
    settings["parameters"] = {str(k): _scalar(v, f"{where}: parameter {k}") for k, v in params.items()}
    return settings


def _mapping(value: Any, where: str, allowed: set[str] | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PlanError(f"{where}: expected a mapping, got {type(value).__name__}")
    if allowed is not None:
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            raise PlanError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    return value


def _scalar(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str | int | float) or "\n" in str(value):
        raise PlanError(f"{where}: expected a one-line string or number")
    return str(value)


# --- CloudFormation parameters -------------------------------------------------------------


class _TemplateLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML: short-form tags (!Ref, !Sub, ...) become their plain value."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]


_TemplateLoader.add_multi_constructor("!", _any_tag)


def template_parameters(path: Path) -> dict[str, bool] | None:
    """A template's parameters, each with whether it has a Default; None while the template does not exist."""
    if not path.is_file():
        return None
    doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_TemplateLoader)  # a SafeLoader subclass
    params = (doc or {}).get("Parameters") or {}
    return {str(name): isinstance(body, dict) and "Default" in body for name, body in params.items()}


def check_overrides(template: Path, overrides: Mapping[str, str]) -> None:
    """Every override is a parameter of the template, and every parameter without a Default is given."""
    declared = template_parameters(template)
    if declared is None:
        return
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise PlanError(f"{template}: has no parameter(s) {', '.join(unknown)}; it declares: {', '.join(declared)}")
    missing = sorted(name for name, has_default in declared.items() if not has_default and name not in overrides)
    if missing:
        raise PlanError(f"{template}: parameter(s) {', '.join(missing)} have no Default and deploy does not pass them")


def platform_overrides(plan: Plan, env: str, root: Path = REPO) -> dict[str, str]:
    """Env and Prefix (where the template declares them) and the environment's platform_parameters."""
    plan.select(env)
    template = root / PLATFORM_TEMPLATE
    declared = template_parameters(template) or {"Env": False, "Prefix": False}
    given = {"Env": env, "Prefix": plan.prefix}
    overrides = {k: v for k, v in given.items() if k in declared}
    overrides.update(plan.platform_parameters.get(env, {}))
    check_overrides(template, overrides)
    return overrides


def customer_overrides(
    plan: Plan, env: str, customer_id: str, version: str, bundle: str | None = None, root: Path = REPO
) -> dict[str, str]:
    """The customer stack's parameters: identity, datasets, release, and the settings that are set."""
    [customer] = plan.select(env, customer_id)
    overrides = {
        "PlatformStackName": platform_stack(env),
        "Prefix": plan.prefix,
        "CustomerId": customer.customer_id,
        "Env": env,
        "Datasets": ",".join(customer.datasets),
        "ReleaseVersion": check_version(version),
        "HasModels": "true" if customer.models else "false",
    }
    if bundle:
        overrides["BundleFile"] = check_bundle(bundle)
    # Always passed where the template has them: `cloudformation deploy` would keep a stale value otherwise.
    declared = template_parameters(root / CUSTOMER_TEMPLATE) or {}
    if "FreshnessHours" in declared:
        overrides["FreshnessHours"] = ",".join(f"{d}={h}" for d, h in customer.freshness_hours.items())
    if "IcebergTables" in declared:
        overrides["IcebergTables"] = ",".join(customer.iceberg_tables)
    elif customer.iceberg_tables and declared:  # the jobs would lack the Iceberg catalog: say so, not drop it
        raise PlanError(
            f"{root / CUSTOMER_TEMPLATE}: has no parameter IcebergTables, but {customer_id}'s"
            f" {', '.join(customer.iceberg_tables)} declare table_format: iceberg"
        )
    settings = customer.settings[env]
    for key, name in SETTINGS.items():
        if key in settings:
            overrides[name] = _scalar(settings[key], key)
    overrides.update(settings.get("parameters", {}))
    check_overrides(root / CUSTOMER_TEMPLATE, overrides)
    return overrides


def check_version(version: str) -> str:
    """A release version is a path segment of s3://bucket/releases/{version}/ and a stack parameter."""
    if not VERSION_RE.match(version):
        raise PlanError(f"release version {version!r}: expected letters, digits, '.', '_' or '-' (at most 64)")
    return version


def check_bundle(name: str) -> str:
    """The Glue bundle's file name, as make glue-bundle writes it and the customer template accepts it."""
    if not BUNDLE_RE.match(name):
        raise PlanError(f"Glue bundle {name!r}: expected etl_lib-{{version}}.gluewheels.zip (make glue-bundle)")
    return name


def release_version(sha: str, tag: str | None = None, dirty: bool = False, now: datetime | None = None) -> str:
    """The tag when the commit is tagged, else the 12-character short sha; ``-dirty-{time}`` for uncommitted work."""
    if not SHA_RE.match(sha):
        raise PlanError(f"commit {sha!r}: expected a hex commit id of 12 to 40 characters")
    version = tag or sha[:12]
    if dirty:
        version += "-dirty-" + (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    return check_version(version)


def matrix(plan: Plan, env: str, customer: str | None = None) -> dict[str, list[dict[str, str]]]:
    """The GitHub Actions matrix of customer deployments (``include`` may be empty: platform only)."""
    return {
        "include": [
            {
                "customer_id": c.customer_id,
                "datasets": ",".join(c.datasets),
                "stack_name": customer_stack(plan.prefix, c.customer_id, env),
            }
            for c in plan.select(env, customer)
        ]
    }


def github_outputs(plan: Plan, env: str, customer: str | None = None) -> dict[str, str]:
    """What the deploy workflow's plan job hands to the jobs after it."""
    selected = matrix(plan, env, customer)
    return {
        "matrix": json.dumps(selected, separators=(",", ":")),
        "has_customers": "true" if selected["include"] else "false",
        "region": plan.regions[env],
        "platform_stack": platform_stack(env),
    }


def manifest(plan: Plan, env: str, version: str, commit: str, bundle: str) -> dict[str, Any]:
    """releases/{version}/manifest.json: what the release holds, for people choosing one to roll back to."""
    return {
        "version": check_version(version),
        "commit": commit,
        "bundle": check_bundle(bundle),
        "published_for": env,
        "published_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "customers": {c.customer_id: list(c.datasets) for c in plan.select(env)},
        "models": {c.customer_id: list(c.models) for c in plan.select(env) if c.models},
    }


def release_bundle(plan: Plan, env: str, customer_id: str, published: Mapping[str, Any]) -> str:
    """The Glue bundle of a published release, after checking it holds a spec of each of the customer's datasets
    and, when the customer has models, its models.

    Releases published before the offline bundle name only a wheel, which Glue would install
    from PyPI; the customer template can no longer run them.
    """
    [customer] = plan.select(env, customer_id)
    version = published.get("version", "?")
    bundle = published.get("bundle")
    if bundle is None and "wheel" in published:
        raise PlanError(
            f"release {version} predates the offline Glue bundle (its manifest.json names only the wheel "
            f"{published['wheel']!r}): publish and deploy a newer release"
        )
    if not isinstance(bundle, str):
        raise PlanError(f"release {version}: manifest.json names no Glue bundle")
    if not BUNDLE_RE.match(bundle):
        raise PlanError(
            f"release {version}: manifest.json names the Glue bundle {bundle!r}, not etl_lib-{{version}}.gluewheels.zip"
        )
    held = set((published.get("customers") or {}).get(customer_id) or ())
    missing = [d for d in customer.datasets if d not in held]
    if missing:
        raise PlanError(
            f"release {version} holds no spec of {customer_id}'s {', '.join(missing)} (published before they were "
            "added?): publish and deploy a newer release"
        )
    if customer.models and not (published.get("models") or {}).get(customer_id):
        raise PlanError(
            f"release {version} holds no models of {customer_id} (published before they were added, or before "
            "releases carried models?): publish and deploy a newer release"
        )
    return bundle


# --- command line --------------------------------------------------------------------------


def _lines(pairs: Mapping[str, str], sep: str = "=") -> str:
    return "".join(f"{k}{sep}{v}\n" for k, v in pairs.items())


def run(argv: Sequence[str]) -> str:
    """Run one command and return what it prints."""
    parser = argparse.ArgumentParser(prog="deploy/plan.py", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO, help="repository root (specs_dir and templates)")
    parser.add_argument("--config", type=Path, help="default: ROOT/deploy/customers.yaml")
    parser.add_argument(
        "command",
        choices=[
            "check",
            "github-outputs",
            "customers",
            "region",
            "stack-name",
            "platform-params",
            "customer-params",
            "specs",
            "models",
            "version",
            "manifest",
            "release-bundle",
        ],
    )
    parser.add_argument("--env")
    parser.add_argument("--customer", default="")
    parser.add_argument("--version")
    parser.add_argument("--sha")
    parser.add_argument("--tag", default="")
    parser.add_argument("--dirty", action="store_true")
    parser.add_argument("--commit", default="")
    parser.add_argument("--bundle", default="")
    args = parser.parse_args(argv)
    if args.command == "version":
        if not args.sha:
            parser.error("version needs --sha")
        return release_version(args.sha, args.tag or None, args.dirty) + "\n"
    plan = load_plan(args.config or args.root / "deploy" / "customers.yaml", args.root)
    if args.command == "check":
        for env in plan.regions:
            platform_overrides(plan, env, args.root)
            for c in plan.select(env):
                customer_overrides(plan, env, c.customer_id, "check", None, args.root)
        deployed = ", ".join(f"{c.customer_id} ({', '.join(c.environments)})" for c in plan.customers)
        return f"{plan.path}: ok; customers: {deployed or 'none'}\n"
    if not args.env:
        parser.error(f"{args.command} needs --env")
    customer = args.customer or None
    if args.command == "github-outputs":
        return _lines(github_outputs(plan, args.env, customer))
    if args.command == "customers":
        return "".join(c.customer_id + "\n" for c in plan.select(args.env, customer))
    if args.command == "region":
        plan.select(args.env)
        return plan.regions[args.env] + "\n"
    if args.command == "stack-name":
        plan.select(args.env, customer)
        return (customer_stack(plan.prefix, customer, args.env) if customer else platform_stack(args.env)) + "\n"
    if args.command == "platform-params":
        return _lines(platform_overrides(plan, args.env, args.root))
    if args.command == "customer-params":
        if not (customer and args.version):
            parser.error("customer-params needs --customer and --version")
        return _lines(customer_overrides(plan, args.env, customer, args.version, args.bundle or None, args.root))
    if args.command == "specs":
        return "".join(
            f"{c.customer_id}\t{d}\t{c.spec_path(d)}\n" for c in plan.select(args.env, customer) for d in c.datasets
        )
    if args.command == "models":
        return "".join(
            f"{c.customer_id}\t{name}\t{c.model_path(name)}\n"
            for c in plan.select(args.env, customer)
            for name in c.models
        )
    if args.command == "release-bundle":
        if not customer:
            parser.error("release-bundle needs --customer")
        try:
            published = json.loads(sys.stdin.read())
        except json.JSONDecodeError:
            raise PlanError("manifest.json on stdin is not JSON") from None
        return release_bundle(plan, args.env, customer, published if isinstance(published, dict) else {}) + "\n"
    if not (args.version and args.commit and args.bundle):
        parser.error("manifest needs --version, --commit and --bundle")
    return json.dumps(manifest(plan, args.env, args.version, args.commit, args.bundle), indent=2) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Print the answer; a PlanError is one line on stderr and exit code 2."""
    try:
        sys.stdout.write(run(sys.argv[1:] if argv is None else argv))
    except PlanError as exc:
        print(f"plan.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
