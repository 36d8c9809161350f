#!/usr/bin/env bash
# Deploy etl_lib from a laptop, the same way .github/workflows/deploy.yml does:
#   deploy/deploy.sh [options] ENV [CUSTOMER]
# build the Glue bundle and check the specs and models -> platform stack -> publish the release to
# s3://{artifacts}/releases/{version}/ -> one stack per customer of ENV (or just CUSTOMER)
# -> a smoke run of each. What goes where is deploy/customers.yaml. The very first deploy
# of an environment must run here, with administrator credentials: the platform stack
# creates the role GitHub Actions deploys with (docs/deployment.md).
#
# Options:
#   --no-platform   leave the platform stack alone (credentials that may only deploy customers)
#   --no-smoke      skip the smoke runs
#   --allow-dirty   deploy uncommitted changes, as release {sha}-dirty-{time}
#   --yes           do not ask before deploying to prod
# Environment: PYTHON (with PyYAML; default .venv/bin/python), SMOKE_TIMEOUT (seconds, default 1800).
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"

usage() { die "usage: deploy/deploy.sh [--no-platform] [--no-smoke] [--allow-dirty] [--yes] ENV [CUSTOMER]"; }
platform=1 smoke=1 allow_dirty=0 yes=0 args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --no-platform) platform=0 ;;
    --no-smoke) smoke=0 ;;
    --allow-dirty) allow_dirty=1 ;;
    --yes) yes=1 ;;
    -h | --help) sed -n '2,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
    -*) usage ;;
    *) args+=("$1") ;;
  esac
  shift
done
[[ ${#args[@]} -ge 1 && ${#args[@]} -le 2 ]] || usage
env=${args[0]} only=${args[1]:-}

for tool in aws git make; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (the AWS CLI v2: https://docs.aws.amazon.com/cli/)"
done
"$PYTHON" -c 'import yaml' 2>/dev/null || die "$PYTHON cannot import yaml: run 'make venv' or set PYTHON"
plan check >/dev/null
customers=$(plan customers --env "$env" --customer "$only")

cd "$REPO_ROOT"
commit=$(git rev-parse HEAD)
tag=$(git describe --tags --exact-match HEAD 2>/dev/null || true)
# Dirty: a tracked file changed anywhere, or a new file where releases come from (a spec not yet added).
dirty=$(git status --porcelain --untracked-files=no; git status --porcelain -- deploy glue_jobs cloudformation etl_lib sample_csv setup.py requirements)
if [[ -n $dirty ]]; then
  [[ $allow_dirty -eq 1 ]] || die "uncommitted changes: commit them (a release is a commit), or pass --allow-dirty"
  version=$(plan version --sha "$commit" --dirty)
else
  version=$(plan version --sha "$commit" --tag "$tag")
fi

use_region "$env"
caller=$(aws sts get-caller-identity --query Arn --output text) || die "no AWS credentials (aws sts get-caller-identity failed)"
log "environment $env in $AWS_REGION as $caller; release $version; customers: ${customers//$'\n'/ }"
if [[ $env == prod && $yes -eq 0 ]]; then
  [[ -t 0 ]] || die "deploying to prod needs --yes when there is no terminal to confirm at"
  read -r -p "Deploy release $version to prod? Type 'prod' to go on: " answer
  [[ $answer == prod ]] || die "not confirmed"
fi

log "build: make glue-bundle (dist/glue/), then etl-lib validate-spec on every spec and model of $env"
make --no-print-directory glue-bundle >/dev/null
specs=$(plan specs --env "$env")
if [[ -n $specs ]]; then
  spec_paths=()
  while IFS=$'\t' read -r _ _ path; do spec_paths+=("$path"); done <<<"$specs"
  "$REPO_ROOT/.venv/bin/etl-lib" validate-spec "${spec_paths[@]}" >/dev/null
fi
# A customer's models are checked with the specs they read: its own.
for customer in $(plan customers --env "$env"); do
  models=$(plan models --env "$env" --customer "$customer")
  [[ -n $models ]] || continue
  paths=()
  while IFS=$'\t' read -r _ _ path; do paths+=("$path"); done < <(plan specs --env "$env" --customer "$customer")
  while IFS=$'\t' read -r _ _ path; do paths+=("$path"); done <<<"$models"
  "$REPO_ROOT/.venv/bin/etl-lib" validate-spec "${paths[@]}" >/dev/null
done

if [[ $platform -eq 1 ]]; then
  "$REPO_ROOT/deploy/platform.sh" "$env"
fi
"$REPO_ROOT/deploy/publish.sh" "$env" "$version" "$commit"
for customer in $customers; do
  "$REPO_ROOT/deploy/customer.sh" "$env" "$customer" "$version"
done
if [[ $smoke -eq 1 ]]; then
  for customer in $customers; do
    "$REPO_ROOT/deploy/smoke.sh" "$env" "$customer" "${SMOKE_TIMEOUT:-1800}"
  done
fi
log "done: $env runs release $version${customers:+ for ${customers//$'\n'/, }}"
