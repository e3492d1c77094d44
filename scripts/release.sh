#!/usr/bin/env bash
# Cuts a release: builds the arm64 bootstraps with `sam build` from the locked dependencies,
# records their SHA-256 and the toolchain in release notes, and, with --publish, packages
# the template and publishes it to the AWS Serverless Application Repository.
#
#   scripts/release.sh                      build, then write dist/pipewatch-VERSION/
#   scripts/release.sh --publish BUCKET     ... then `sam package` to BUCKET and `sam publish`
#   scripts/release.sh --notes-only DIR     the notes for bootstraps already built in DIR
#                                           (a `sam build --build-dir`; CI checks this path)
#
# A release is cut from a clean tree whose version is one everywhere: Cargo.toml, the
# template's AWS::ServerlessRepo::Application SemanticVersion, CHANGELOG.md's latest entry.
# People who build themselves keep using `sam build` and `sam deploy --guided` (README).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh

mode=build bucket="" build_dir=""
case "${1:-}" in
    "") ;;
    --publish) mode=publish bucket="${2:?--publish needs the S3 bucket sam package uploads to}" ;;
    --notes-only) mode=notes build_dir="${2:?--notes-only needs a sam build directory}" ;;
    *) log "unknown argument: $1 (see the header of $0)"; exit 2 ;;
esac

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
listed=$(sed -n 's/^    SemanticVersion: \(.*\)$/\1/p' template.yaml)
changelog=$(sed -n 's/^## \([^ ]*\).*$/\1/p' CHANGELOG.md | head -n 1)
if [ "$version" != "$listed" ] || [ "$version" != "$changelog" ]; then
    log "versions differ: Cargo.toml $version, template.yaml $listed, CHANGELOG.md $changelog"
    exit 1
fi
# The lock file must already say what is built: --locked fails instead of updating it.
cargo metadata --locked --format-version 1 > /dev/null

ensure_python_tools $PYTHON_DEPLOY_TOOLS
export PATH="$VENV/bin:$PATH" SAM_CLI_TELEMETRY=0
dist="dist/pipewatch-$version"
mkdir -p "$dist"

if [ "$mode" != notes ]; then
    if [ -n "$(git status --porcelain)" ]; then
        log "the tree has uncommitted changes: a release is built from a commit"
        exit 1
    fi
    rustup target list --installed | grep -qx aarch64-unknown-linux-gnu ||
        rustup target add aarch64-unknown-linux-gnu
    if [ -n "${CARGO_TARGET_DIR:-}" ] && [ ! -e target ]; then
        ln -s "$CARGO_TARGET_DIR" target
    fi
    unset CARGO_TARGET_DIR
    build_dir="$dist/build"
    # The shipped profile is Cargo.toml's [profile.release], whatever the environment says
    # (CI overrides it to build quickly).
    unset CARGO_PROFILE_RELEASE_LTO CARGO_PROFILE_RELEASE_CODEGEN_UNITS CARGO_PROFILE_RELEASE_OPT_LEVEL
    log "sam build ($version)"
    sam build --build-dir "$build_dir" --cache-dir "$PIPEWATCH_TOOLS/sam-cache"
    # A bootstrap past its budget is a regression to explain before it ships: raise the
    # budget here, with the reason, when growth is the point. 0.2.0 shipped 10,885,768
    # and 8,424,224 bytes. 0.3.0's forwarder grew to 9,351,312 (the Slack app: the DynamoDB
    # and SNS clients for message references and telling the operator); its approver,
    # new, was 9,655,480 (CodePipeline, DynamoDB, SQS, Secrets Manager clients), then
    # 9,862,248 with other accounts (STS's AssumeRole provider), PARALLEL mode's history
    # (ListActionExecutions) and user groups. The notifications document (measured with
    # this script at e29cd7d, then at its templates' commit, 2026-12-08): reading it from
    # S3 (the S3 client and the YAML parser) took the forwarder to 10,548,392 and the
    # approver to 11,159,368; its templates (minijinja, which the approver links too, as it
    # loads the whole document) to 11,170,928 and 11,629,984. The watcher, which does not
    # read the document, stayed at 10,993,432.
    for budget in WatcherFunction:11100000 ForwarderFunction:11300000 ApproverFunction:11800000; do
        function=${budget%%:*} limit=${budget##*:}
        size=$(stat -c %s "$build_dir/$function/bootstrap")
        log "$function bootstrap: $size bytes (budget $limit)"
        [ "$size" -le "$limit" ] || { log "$function's bootstrap is over its budget"; exit 1; }
    done
fi

# One zip per function, as Lambda takes it, with fixed timestamps so that the same
# bootstrap gives the same zip.
checksums=""
for function in WatcherFunction ForwarderFunction ApproverFunction; do
    bootstrap="$build_dir/$function/bootstrap"
    [ -x "$bootstrap" ] || { log "no bootstrap at $bootstrap"; exit 1; }
    zip="$dist/$function-arm64.zip"
    "$VENV/bin/python" - "$bootstrap" "$zip" <<'EOF'
import sys, zipfile
bootstrap, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
    info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = 0o755 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(info, open(bootstrap, "rb").read())
EOF
    checksums+="$(sha256sum "$bootstrap" | cut -d' ' -f1)  $function/bootstrap"$'\n'
    checksums+="$(sha256sum "$zip" | cut -d' ' -f1)  $(basename "$zip")"$'\n'
done

{
    echo "# pipewatch $version"
    echo
    # The CHANGELOG entry of this version, without its heading.
    awk -v v="$version" '/^## / { on = ($2 == v); next } on' CHANGELOG.md
    echo "## SHA-256"
    echo
    echo '```'
    printf '%s' "$checksums"
    echo '```'
    echo
    echo "## Built with"
    echo
    echo "- commit $(git rev-parse HEAD)"
    echo "- $(rustc --version)"
    echo "- $(cargo --version)"
    echo "- cargo-lambda $("$VENV/bin/cargo-lambda" lambda --version | awk '{print $2}'), zig $("$VENV/bin/python" -m ziglang version)"
    echo "- $(sam --version)"
    echo "- dependencies as locked in Cargo.lock (sha256 $(sha256sum Cargo.lock | cut -d' ' -f1))"
} > "$dist/RELEASE_NOTES.md"
log "wrote $dist/RELEASE_NOTES.md"
printf '%s' "$checksums" >&2

if [ "$mode" = publish ]; then
    # The listing: Cargo.toml's repository filled in, what the repository does not accept
    # left out (scripts/listing.py).
    repository=$(sed -n 's/^repository = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
    if [ "$repository" = "https://github.com/OWNER/pipewatch" ]; then
        log "Cargo.toml's repository is still the placeholder: set the real address first"
        exit 1
    fi
    "$VENV/bin/python" scripts/listing.py "$build_dir/template.yaml" "$repository" > "$build_dir/listing.json"
    log "sam package to s3://$bucket"
    sam package --template-file "$build_dir/listing.json" --s3-bucket "$bucket" \
        --output-template-file "$dist/packaged.yaml"
    log "sam publish"
    sam publish --template "$dist/packaged.yaml"
fi
