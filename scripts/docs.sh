#!/usr/bin/env bash
# Regenerates what the docs show from what the code does today:
#
# 1. every example of output in README.md, CONTRIBUTING.md and docs/ (the blocks after
#    `<!-- output of: COMMAND -->`), by running the docs tests with UPDATE_DOCS=1;
# 2. the Teams picture on the README: the card `pipewatch replay --format teams` posts for
#    the failed build, rendered by Microsoft's own Adaptive Cards renderer (npm
#    `adaptivecards`) in headless Chromium (Debian's `chromium`, installed if missing).
#    docs/images/teams-release-failure.card.json keeps the card the picture shows; a test
#    fails when the card changes, so the picture cannot silently go stale.
#
# 3. that pipeline text stays text in a card, in the same renderer (hostile-text).
#
# Slack has no offline renderer, so there is no Slack picture: the docs show its JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh

log "regenerating the examples"
UPDATE_DOCS=1 cargo test --locked -p pipewatch --test it docs::every_other_example -- --quiet
UPDATE_DOCS=1 cargo test --locked -p pipewatch-cli --test cli docs::every_command_line_example -- --quiet

log "rendering the Teams card"
ensure_npm_package "adaptivecards@$ADAPTIVECARDS_VERSION"
# Teams renders a TextBlock's Markdown; Microsoft's JS renderer leaves that to the host,
# and suggests markdown-it.
ensure_npm_package "markdown-it@$MARKDOWN_IT_VERSION"
for package in chromium fonts-noto-color-emoji; do
    if ! dpkg -s "$package" > /dev/null 2>&1; then
        log "installing Debian's $package"
        apt-get install -y -q "$package" > /dev/null
    fi
done
card=docs/images/teams-release-failure.card.json
cargo run --locked -q -p pipewatch-cli --no-default-features -- replay --format teams --step 2 \
    --region eu-west-1 --account 123456789012 events/pipeline-states/release-failure-retry/*.json |
    python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin), indent=2, ensure_ascii=False))' > "$card"
page=$(mktemp -d)/card.html
python3 scripts/card-page.py "$card" "$NPM_DIR/node_modules/adaptivecards/dist/adaptivecards.min.js" \
    "$NPM_DIR/node_modules/markdown-it/dist/markdown-it.min.js" > "$page"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$(mktemp -d)" --hide-scrollbars --force-device-scale-factor=1 \
    --window-size=600,345 --screenshot=docs/images/teams-release-failure.png "file://$page" 2> /dev/null
log "wrote docs/images/teams-release-failure.png"

# 3. Pipeline text stays text in a card: the hostile-text scenario's failure, in the same
#    renderer, shows its reason's Markdown and links as characters (no <a>, no <strong>).
log "checking pipeline text in Microsoft's renderer"
hostile=$(mktemp -d)
cargo run --locked -q -p pipewatch-cli --no-default-features -- replay --format teams --step 1 \
    --region eu-west-1 --account 123456789012 events/pipeline-states/hostile-text/*.json > "$hostile/card.json"
python3 scripts/card-page.py "$hostile/card.json" "$NPM_DIR/node_modules/adaptivecards/dist/adaptivecards.min.js" \
    "$NPM_DIR/node_modules/markdown-it/dist/markdown-it.min.js" > "$hostile/card.html"
chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$hostile/profile" \
    --dump-dom "file://$hostile/card.html" 2> /dev/null > "$hostile/dom.html"
grep -qF '[reset your password](https://evil.example/login) **urgent**' "$hostile/dom.html" ||
    { log "the hostile card did not render its reason as text"; exit 1; }
if grep -qE '<a[^>]*evil\.example|<strong>urgent' "$hostile/dom.html"; then
    log "pipeline text became a link or bold in the Teams card"; exit 1
fi
log "pipeline text stays text in the Teams card"
