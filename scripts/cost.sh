#!/usr/bin/env bash
# What a month of pipewatch costs, measured from a simulated day (see benches/day.rs):
#   ./scripts/cost.sh            20, 100 and 500 pipelines, events on and off; writes
#                                benches/measured-days.json and the tables of docs/costs.md
#   DAY_SIZES=50 DAY_RUNS=10 ./scripts/cost.sh --print
#                                your own pipeline count and runs a day, printed only
#   ./scripts/cost.sh --tables   the tables again from the measured days, after a change
#                                of the prices (benches/prices.json: one region, one date)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
case "${1:-}" in
    --print) export DAY_PRINT_ONLY=1 ;;
    --tables) DAY_TABLES_ONLY=1 exec cargo bench --locked --bench day ;;
esac
start_services
cargo bench --locked --bench day
