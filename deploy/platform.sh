#!/usr/bin/env bash
# Deploy the platform stack of one environment: deploy/platform.sh ENV
# Needs credentials that may create IAM roles, KMS keys and the GitHub OIDC provider
# (an administrator's): the GitHub deploy role is created here and cannot update it.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"

[[ $# -eq 1 ]] || die "usage: deploy/platform.sh ENV"
env=$1
use_region "$env"
stack=$(plan stack-name --env "$env")
params=$(plan platform-params --env "$env")
overrides=()
while IFS= read -r line; do overrides+=("$line"); done <<<"$params"
cfn_deploy "$stack" cloudformation/platform.yaml --parameter-overrides "${overrides[@]}"
log "platform $stack is up to date"
