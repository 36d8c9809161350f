#!/usr/bin/env bash
# Publish a release: deploy/publish.sh ENV VERSION COMMIT
# Uploads the Glue bundle of dist/glue/ (or $GLUE_BUNDLE_DIR's; `make glue-bundle` builds it):
# the zip of wheels etl_lib-*.gluewheels.zip and the job scripts (to glue_jobs/), and every
# customer's specs (to specs/{customer}/) and model files (the *.yaml of its models folder, to
# models/{customer}/) of ENV to s3://{artifacts bucket}/releases/VERSION/, manifest.json last
# (a release without one is incomplete). Releases are kept: rolling back is deploying an
# older VERSION. A VERSION already published from the same commit is left as it is; from
# another commit, it is refused.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"

[[ $# -eq 3 ]] || die "usage: deploy/publish.sh ENV VERSION COMMIT"
env=$1 version=$2 commit=$3
use_region "$env"
plan version --sha "$commit" >/dev/null # a commit id, not a branch name

shopt -s nullglob
glue=${GLUE_BUNDLE_DIR:-$REPO_ROOT/dist/glue}
bundles=("$glue"/etl_lib-*.gluewheels.zip)
[[ ${#bundles[@]} -eq 1 ]] ||
  die "expected one etl_lib-*.gluewheels.zip in $glue, found ${#bundles[@]}: run 'make glue-bundle'"
bundle=${bundles[0]}
# The scripts cloudformation/customer.yaml runs, from releases/VERSION/glue_jobs/.
scripts=("$glue/raw_to_processed.py" "$glue/processed_to_analytics.py" "$glue/build_models.py")
for script in "${scripts[@]}"; do
  [[ -f $script ]] || die "$script is missing: run 'make glue-bundle'"
done
bucket=$(platform_output "$env" ArtifactsBucketName)
dest="s3://$bucket/releases/$version"

if published=$(aws s3 cp "$dest/manifest.json" - 2>&1); then
  was=$("$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["commit"])' <<<"$published")
  [[ $was == "$commit" ]] || die "release $version was published from commit $was, not $commit: releases are never replaced"
  log "release $version is already published from $commit; kept as it is"
  exit 0
elif [[ $published != *"Not Found"* && $published != *"NoSuchKey"* && $published != *"404"* ]]; then
  die "cannot read $dest/manifest.json: $published"
fi

log "publishing $dest/"
cp_up() { aws s3 cp --only-show-errors "$1" "$2"; }
cp_up "$bundle" "$dest/$(basename "$bundle")"
for script in "${scripts[@]}"; do
  cp_up "$script" "$dest/glue_jobs/$(basename "$script")"
done
specs=$(plan specs --env "$env")
if [[ -n $specs ]]; then
  while IFS=$'\t' read -r customer dataset path; do
    cp_up "$path" "$dest/specs/$customer/$dataset.yaml"
  done <<<"$specs"
fi
models=$(plan models --env "$env")
if [[ -n $models ]]; then
  while IFS=$'\t' read -r customer name path; do
    cp_up "$path" "$dest/models/$customer/$name"
  done <<<"$models"
fi
manifest=$(plan manifest --env "$env" --version "$version" --commit "$commit" --bundle "$(basename "$bundle")")
cp_up - "$dest/manifest.json" <<<"$manifest"
log "published release $version ($(basename "$bundle"), commit $commit)"
