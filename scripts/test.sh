#!/usr/bin/env bash
# Runs every test pipewatch has, on a fresh machine or a warm one.
#
# Installs what the tests need (idempotent, cached outside the clone under
# $PIPEWATCH_TOOLS, default ~/.cache/pipewatch), then runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --locked --all-targets
# Doc tests are not part of --all-targets.
cargo test --locked --doc
