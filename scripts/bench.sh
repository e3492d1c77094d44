#!/usr/bin/env bash
# Measures a tick against the local emulators (see benches/tick.rs for what and how), or
# the Slack app's route (benches/slack.rs):
#   ./scripts/bench.sh          # the tick
#   ./scripts/bench.sh slack    # the Slack app, per notification
#   ./scripts/bench.sh approver # the approver: click → answer, click → recorded
# Figures are for this machine and local emulators: AWS's own latencies add to them.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
start_services
cargo bench --locked --bench "${1:-tick}"
