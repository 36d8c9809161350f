#!/usr/bin/env bash
# Deploy one customer's stack at a published release: deploy/customer.sh ENV CUSTOMER VERSION
# Parameters come from deploy/customers.yaml (deploy/plan.py); the Glue bundle's name from the
# release's manifest.json, so an older release deploys with its own bundle (rollback). A
# release published before the offline bundle (its manifest names only a wheel) is refused.
# CloudFormation acts with the platform's execution role, and the template goes to
# releases/VERSION/cloudformation/ beside the code it deploys.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"

[[ $# -eq 3 ]] || die "usage: deploy/customer.sh ENV CUSTOMER VERSION"
env=$1 customer=$2 version=$3
use_region "$env"
stack=$(plan stack-name --env "$env" --customer "$customer")
bucket=$(platform_output "$env" ArtifactsBucketName)
role=$(platform_output "$env" CloudFormationExecutionRoleArn)

manifest=$(aws s3 cp "s3://$bucket/releases/$version/manifest.json" - 2>/dev/null) ||
  die "release $version is not published in s3://$bucket/releases/ (deploy/publish.sh publishes it)"
bundle=$(plan release-bundle --env "$env" --customer "$customer" <<<"$manifest")

params=$(plan customer-params --env "$env" --customer "$customer" --version "$version" --bundle "$bundle")
overrides=()
while IFS= read -r line; do overrides+=("$line"); done <<<"$params"
cfn_deploy "$stack" cloudformation/customer.yaml --role-arn "$role" \
  --s3-bucket "$bucket" --s3-prefix "releases/$version/cloudformation" \
  --parameter-overrides "${overrides[@]}"
log "customer $customer ($env) runs release $version"
