# shellcheck shell=bash
# Shared by deploy/*.sh (sourced, never run): the plan, logging, and CloudFormation helpers.
# What to deploy comes from deploy/plan.py (deploy/customers.yaml); nothing here hard-codes a customer.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Python with PyYAML: the project's .venv when there is one (make venv creates it), else python3.
if [[ -z ${PYTHON:-} ]]; then
  if [[ -x $REPO_ROOT/.venv/bin/python ]]; then PYTHON=$REPO_ROOT/.venv/bin/python; else PYTHON=python3; fi
fi

log() { printf '[deploy] %s\n' "$*" >&2; }
die() { printf 'deploy: %s\n' "$*" >&2; exit 1; }

# plan ARGS...: ask deploy/plan.py; its one-line error ends the script.
plan() { "$PYTHON" "$REPO_ROOT/deploy/plan.py" "$@"; }

# use_region ENV: every aws call of this environment goes to the region customers.yaml names.
use_region() {
  local region
  region=$(plan region --env "$1")
  export AWS_REGION=$region AWS_DEFAULT_REGION=$region
}

# platform_output ENV OUTPUT: an output of the environment's platform stack (etl-lib-platform-{env}).
# Read with DescribeStacks on that one stack: the deploy role may read no other environment's
# (ListExports, which has no resource-level permissions, would show every stack's exports).
platform_output() {
  local stack out
  stack=$(plan stack-name --env "$1")
  if ! out=$(aws cloudformation describe-stacks --stack-name "$stack" --output text \
    --query "Stacks[0].Outputs[?OutputKey=='$2'].OutputValue | [0]" 2>&1); then
    [[ $out != *"does not exist"* ]] ||
      die "platform stack $stack not found in $AWS_REGION: deploy it first (deploy/deploy.sh $1)"
    die "cannot read platform stack $stack (credentials? region $AWS_REGION?): $out"
  fi
  [[ -n $out && $out != None ]] ||
    die "platform stack $stack has no output $2: update it (deploy/deploy.sh $1)"
  printf '%s\n' "$out"
}

# stack_status STACK: its status, or NONE when it does not exist.
stack_status() {
  local out
  if out=$(aws cloudformation describe-stacks --stack-name "$1" --query 'Stacks[0].StackStatus' --output text 2>&1); then
    printf '%s\n' "$out"
  elif [[ $out == *"does not exist"* ]]; then
    echo NONE
  else
    die "cannot describe stack $1: $out"
  fi
}

# cfn_deploy STACK TEMPLATE [aws cloudformation deploy options...]: create or update; on failure, say why.
cfn_deploy() {
  local stack=$1 template=$2 status
  shift 2
  status=$(stack_status "$stack")
  case $status in
    ROLLBACK_COMPLETE | ROLLBACK_FAILED)
      die "stack $stack is $status (its first creation failed; it holds nothing): delete it with" \
        "'aws cloudformation delete-stack --stack-name $stack' and deploy again" ;;
    *_IN_PROGRESS)
      die "stack $stack is $status: wait for it to finish, then deploy again" ;;
  esac
  log "stack $stack ($status) <- $template"
  if ! aws cloudformation deploy --stack-name "$stack" --template-file "$REPO_ROOT/$template" \
    --capabilities CAPABILITY_NAMED_IAM CAPABILITY_AUTO_EXPAND --no-fail-on-empty-changeset "$@"; then
    log "stack $stack: the latest failures:"
    aws cloudformation describe-stack-events --stack-name "$stack" --max-items 40 \
      --query "StackEvents[?contains(ResourceStatus, 'FAILED')].[Timestamp, LogicalResourceId, ResourceStatusReason]" \
      --output text >&2 || true
    die "stack $stack did not deploy"
  fi
}
