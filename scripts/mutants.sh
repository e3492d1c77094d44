#!/usr/bin/env bash
# Mutation testing of the pure core (crates/core) with cargo-mutants: each mutant is a
# small change to the core's code (a function returning a default, a `<` made `<=`, a
# `&&` made `||`); the core's own tests must fail for it. Prints the score, the share of
# viable mutants (those that build) that the tests caught, and every one they missed.
#
#   scripts/mutants.sh                  every mutant of the core (about 2 h here)
#   scripts/mutants.sh --iterate        only those not caught by the last run, and new
#                                       ones (minutes after a change to the core)
#   scripts/mutants.sh --in-diff /tmp/core.diff
#                                       only the mutants of a change (`git diff REV --
#                                       crates/core/src > /tmp/core.diff`)
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
# Mutants that do not build stay so while their line is unchanged: remembered across runs,
# so that an --iterate run (which retests only what was not caught before) can still give
# the score of the whole core.
seen_unviable="$MUTANTS_DIR/unviable-seen.txt"
sort -u "$out/unviable.txt" "$seen_unviable" 2>/dev/null > "$seen_unviable.new" || true
mv "$seen_unviable.new" "$seen_unviable"
echo
echo "missed:"
sed 's/^/  /' "$out/missed.txt"
count() { wc -l < "$1"; }
echo
echo "this run: caught $(count "$out/caught.txt"), missed $(count "$out/missed.txt"), timed out $(count "$out/timeout.txt"), unviable $(count "$out/unviable.txt")"
case "$*" in
    ""|--iterate)
        # Every mutant of the core as it is now; what this run did not test was caught (or
        # found unviable) by an earlier one.
        "$MUTANTS_DIR/bin/cargo-mutants" mutants --package pipewatch-core --list 2>/dev/null | sort > "$out/all.txt"
        all=$(count "$out/all.txt")
        unviable=$(sort -u "$seen_unviable" | comm -12 "$out/all.txt" - | wc -l)
        missed=$(count "$out/missed.txt")
        timeout=$(count "$out/timeout.txt")
        viable=$((all - unviable))
        awk -v all="$all" -v v="$viable" -v m="$missed" -v t="$timeout" 'BEGIN {
            printf "the core: %d mutants, %d viable: %d caught, %d timed out, %d missed\n", all, v, v - m - t, t, m
            printf "score: %.1f%% of viable mutants caught (timeouts not counted as caught)\n", 100 * (v - m - t) / v
        }'
        ;;
esac
