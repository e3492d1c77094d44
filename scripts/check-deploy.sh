#!/usr/bin/env bash
# The deployment checks, all offline: the template lints clean (sam validate --lint,
# cfn-lint), checkov finds nothing unjustified, and `sam build` builds the arm64 bootstrap
# with cargo-lambda and zig, without Docker. Prints the bootstrap's size.
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
cfn-lint template.yaml templates/reader-role.yaml
log "checkov"
checkov --file template.yaml --file templates/reader-role.yaml --framework cloudformation --quiet --compact --skip-download

# SAM looks for cargo-lambda's output under ./target/lambda whatever CARGO_TARGET_DIR
# says, so a shared target dir (as CI uses) is linked there instead.
if [ -n "${CARGO_TARGET_DIR:-}" ] && [ ! -e target ]; then
    ln -s "$CARGO_TARGET_DIR" target
fi
unset CARGO_TARGET_DIR

# Outside the clone, so consecutive runs reuse the build.
build_dir="$PIPEWATCH_TOOLS/sam-build"
log "sam build"
start=$(date +%s)
sam build --build-dir "$build_dir" --cache-dir "$PIPEWATCH_TOOLS/sam-cache"
for function in WatcherFunction ForwarderFunction; do
    bootstrap="$build_dir/$function/bootstrap"
    [ -x "$bootstrap" ] || { log "no bootstrap at $bootstrap"; exit 1; }
    # ELF e_machine (2 bytes at offset 18) is 183 for aarch64.
    [ "$(od -An -j18 -N2 -tu2 "$bootstrap" | tr -d ' ')" = 183 ] || { log "$function: not an aarch64 binary"; exit 1; }
    log "$function bootstrap: $(du -h "$bootstrap" | cut -f1) ($(stat -c %s "$bootstrap") bytes)"
done
log "sam build took $(( $(date +%s) - start )) s"
