#!/usr/bin/env bash
# The deployment checks, all offline: the template lints clean (sam validate --lint,
# cfn-lint), checkov finds nothing unjustified, and `sam build` builds the arm64 bootstrap
# with cargo-lambda and zig, without Docker (prints the bootstraps' sizes); then the release
# path: the Serverless Application Repository listing is valid before and after
# `sam package` (to moto's S3), and scripts/release.sh writes notes with the SHA-256.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh

ensure_python_tools $PYTHON_DEPLOY_TOOLS
export PATH="$VENV/bin:$PATH" SAM_CLI_TELEMETRY=0
# cargo-lambda cross-compiles with zig, found as `python3 -m ziglang` in the virtualenv.
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    log "adding the aarch64-unknown-linux-gnu target"
    rustup target add aarch64-unknown-linux-gnu
fi

log "sam validate --lint"
sam validate --lint --region us-east-1
log "cfn-lint"
cfn-lint template.yaml templates/reader-role.yaml templates/approver-role.yaml
log "checkov"
checkov --file template.yaml --file templates/reader-role.yaml --file templates/approver-role.yaml --framework cloudformation --quiet --compact --skip-download

# SAM looks for cargo-lambda's output under ./target/lambda whatever CARGO_TARGET_DIR
# says, so a shared target dir (as CI uses) is linked there instead.
if [ -n "${CARGO_TARGET_DIR:-}" ] && [ ! -e target ]; then
    ln -s "$CARGO_TARGET_DIR" target
fi
unset CARGO_TARGET_DIR

# Outside the clone, so consecutive runs reuse the build.
build_dir="$PIPEWATCH_TOOLS/sam-build"
# CI checks that `sam build` builds working aarch64 bootstraps, not how small and fast they
# are: without LTO and optimisation they build in a fraction of the time. What ships is
# built with Cargo.toml's release profile, and its size checked, by scripts/release.sh.
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=256 \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=0
log "sam build (the quick profile)"
start=$(date +%s)
sam build --build-dir "$build_dir" --cache-dir "$PIPEWATCH_TOOLS/sam-cache"
for function in WatcherFunction ForwarderFunction ApproverFunction; do
    bootstrap="$build_dir/$function/bootstrap"
    [ -x "$bootstrap" ] || { log "no bootstrap at $bootstrap"; exit 1; }
    # ELF e_machine (2 bytes at offset 18) is 183 for aarch64.
    [ "$(od -An -j18 -N2 -tu2 "$bootstrap" | tr -d ' ')" = 183 ] || { log "$function: not an aarch64 binary"; exit 1; }
    log "$function bootstrap: $(du -h "$bootstrap" | cut -f1) ($(stat -c %s "$bootstrap") bytes)"
done
log "sam build took $(( $(date +%s) - start )) s"

# The Serverless Application Repository listing, as `sam publish` reads it (SAM CLI's own
# parser): the template scripts/listing.py makes of the build's (the Chatbot channel left
# out, Cargo.toml's repository filled in), before and after `sam package` uploads the code,
# README and licence: to moto's S3 here, found through AWS_ENDPOINT_URL_S3 as a real bucket
# would be.
start_services
export AWS_ENDPOINT_URL_S3="$AWS_ENDPOINT_URL_SNS"
"$VENV/bin/python" -c 'import boto3; boto3.client("s3").create_bucket(Bucket="pipewatch-release")'
repository=$(sed -n 's/^repository = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
"$VENV/bin/python" scripts/listing.py "$build_dir/template.yaml" "$repository" > "$build_dir/listing.json"
log "sam package"
sam package --template-file "$build_dir/listing.json" --s3-bucket pipewatch-release --region "$AWS_REGION" \
    --output-template-file "$SERVICE_LOGS/packaged.yaml" --no-progressbar > /dev/null
"$VENV/bin/python" - "$build_dir/listing.json" "$SERVICE_LOGS/packaged.yaml" "$repository" <<'PY'
import sys, boto3
from samcli.vendor.serverlessrepo.parser import get_app_metadata, parse_template

source, packaged = (parse_template(open(path).read()) for path in sys.argv[1:3])
required = ["name", "description", "author", "semantic_version", "spdx_license_id",
            "license_url", "readme_url", "source_code_url", "home_page_url", "labels"]
get_app_metadata(source).validate(required)
listing = get_app_metadata(packaged)
listing.validate(required)
assert listing.source_code_url == listing.home_page_url == sys.argv[3], listing.source_code_url
s3 = boto3.client("s3")
uploads = [listing.license_url, listing.readme_url] + [
    r["Properties"]["CodeUri"] for r in packaged["Resources"].values()
    if r["Type"] == "AWS::Serverless::Function"
]
for url in uploads:
    assert url.startswith("s3://pipewatch-release/"), f"not uploaded: {url}"
    s3.head_object(Bucket="pipewatch-release", Key=url.split("/", 3)[3])
print(f"==> the listing of {listing.name} {listing.semantic_version} is valid; "
      f"{len(uploads)} files packaged", file=sys.stderr)
PY

# The release notes for what was just built (scripts/release.sh's last step).
scripts/release.sh --notes-only "$build_dir"
notes="dist/pipewatch-$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)/RELEASE_NOTES.md"
grep -q "$(sha256sum "$build_dir/WatcherFunction/bootstrap" | cut -d' ' -f1)  WatcherFunction/bootstrap" "$notes" ||
    { log "$notes lacks the watcher's SHA-256"; exit 1; }
