#!/usr/bin/env bash
# Smoke-run a deployed customer: deploy/smoke.sh ENV CUSTOMER [TIMEOUT_SECONDS]
# Starts the raw -> processed -> analytics workflow of each of the customer's datasets
# (the stack's Workflow* resources, the ones deliveries start) and waits for all of them.
# It processes only what is waiting in raw/ (with nothing new: the jobs start, install the
# Glue bundle, load the spec, read the ledger and finish), so it is safe on a live customer. Fails
# when a run errors, any job of it fails, stops or times out, or TIMEOUT_SECONDS
# (default 1800) pass first. SMOKE_POLL_SECONDS (default 30) sets the polling interval.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"

[[ $# -ge 2 && $# -le 3 ]] || die "usage: deploy/smoke.sh ENV CUSTOMER [TIMEOUT_SECONDS]"
env=$1 customer=$2 timeout=${3:-1800} poll=${SMOKE_POLL_SECONDS:-30}
[[ $timeout =~ ^[0-9]+$ && $poll =~ ^[0-9]+$ ]] || die "TIMEOUT_SECONDS and SMOKE_POLL_SECONDS are whole numbers"
use_region "$env"
stack=$(plan stack-name --env "$env" --customer "$customer")

names=$(aws cloudformation describe-stack-resources --stack-name "$stack" --output text \
  --query "StackResources[?ResourceType=='AWS::Glue::Workflow' && starts_with(LogicalResourceId, 'Workflow')].PhysicalResourceId")
read -r -a workflows <<<"$names"
[[ ${#workflows[@]} -gt 0 ]] || die "stack $stack has no Glue workflow to run"

run_ids=()
for workflow in "${workflows[@]}"; do
  run_ids+=("$(aws glue start-workflow-run --name "$workflow" --query RunId --output text)")
  log "smoke: started $workflow run ${run_ids[${#run_ids[@]} - 1]}"
done

deadline=$((SECONDS + timeout))
failed=0
pending=("${!workflows[@]}")
while true; do
  still=()
  for i in "${pending[@]}"; do
    workflow=${workflows[$i]} run_id=${run_ids[$i]}
    state=$(aws glue get-workflow-run --name "$workflow" --run-id "$run_id" --output text \
      --query 'Run.[Status, Statistics.FailedActions, Statistics.TimeoutActions, Statistics.StoppedActions]')
    read -r status failed_actions timeout_actions stopped_actions <<<"$state"
    case $status in
      RUNNING | STOPPING) still+=("$i") ;;
      COMPLETED)
        if [[ $failed_actions == 0 && $timeout_actions == 0 && $stopped_actions == 0 ]]; then
          log "smoke: $workflow run $run_id succeeded"
        else
          log "smoke: $workflow run $run_id completed with failed=$failed_actions timed-out=$timeout_actions" \
            "stopped=$stopped_actions job runs (Glue console: workflow $workflow, run $run_id)"
          failed=1
        fi ;;
      *)
        log "smoke: $workflow run $run_id ended ${status:-?}: $(aws glue get-workflow-run --name "$workflow" \
          --run-id "$run_id" --query Run.ErrorMessage --output text)"
        failed=1 ;;
    esac
  done
  [[ ${#still[@]} -gt 0 ]] || break
  pending=("${still[@]}")
  if ((SECONDS >= deadline)); then
    left=()
    for i in "${pending[@]}"; do left+=("${workflows[$i]}"); done
    die "smoke: still running after ${timeout}s: ${left[*]} (not stopped; see the Glue console)"
  fi
  sleep "$poll"
done
[[ $failed -eq 0 ]] || die "smoke: $customer ($env) failed"
log "smoke: $customer ($env) ok"
