#!/usr/bin/env bash
# Mutation testing of the pure core (crates/core) with cargo-mutants: each mutant is a
# small change to the core's code (a function returning a default, a `<` made `<=`, a
# `&&` made `||`); the core's own tests must fail for it. Prints the score, the share of
# viable mutants (those that build) that the tests caught, and every one they missed.
#
#   scripts/mutants.sh                  every mutant of the core (about 2 h here)
#   scripts/mutants.sh --file crates/core/src/diff.rs
#                                       one file's (any cargo-mutants option passes on)
#
# It runs in a copy of the tree under $PIPEWATCH_TOOLS/mutants (so a cancelled run never
# leaves a mutant in your files) with a target dir kept there between runs. CI does not
# run it (hours); run it when the core changes and update docs/testing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/tools.sh

CARGO_MUTANTS_VERSION="27.1.0"
MUTANTS_DIR="$PIPEWATCH_TOOLS/mutants"
mkdir -p "$MUTANTS_DIR"

if ! "$MUTANTS_DIR/bin/cargo-mutants" mutants --version 2>/dev/null | grep -qF "$CARGO_MUTANTS_VERSION"; then
    log "installing cargo-mutants $CARGO_MUTANTS_VERSION"
    cargo install --locked --quiet cargo-mutants --version "$CARGO_MUTANTS_VERSION" --root "$MUTANTS_DIR"
fi

# The tree as it is now (tracked and new files, not ignored ones), in a fixed place so the
# target dir's build is reused.
source="$MUTANTS_DIR/src"
rm -rf "$source"
mkdir -p "$source"
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$source"

cd "$source"
status=0
CARGO_TARGET_DIR="$MUTANTS_DIR/target" "$MUTANTS_DIR/bin/cargo-mutants" mutants \
    --package pipewatch-core --in-place --profile mutants --no-shuffle \
    --output "$MUTANTS_DIR" "$@" || status=$?
# cargo-mutants exits 2 when some mutants were missed, 3 on timeouts; anything else is a
# failure of the run itself.
case $status in 0|2|3) ;; *) exit "$status" ;; esac

out="$MUTANTS_DIR/mutants.out"
caught=$(wc -l < "$out/caught.txt")
missed=$(wc -l < "$out/missed.txt")
timeout=$(wc -l < "$out/timeout.txt")
unviable=$(wc -l < "$out/unviable.txt")
viable=$((caught + missed + timeout))
echo
echo "missed:"
sed 's/^/  /' "$out/missed.txt"
echo
echo "caught $caught, missed $missed, timed out $timeout (counted caught), unviable $unviable"
if [ "$viable" -gt 0 ]; then
    awk -v c=$((caught + timeout)) -v v=$viable 'BEGIN { printf "score: %.1f%% of %d viable mutants caught\n", 100 * c / v, v }'
fi
