# Shared by dev/run, dev/test and dev/admin: install what is missing, start moto.
# shellcheck shell=bash

PYTHON=${PYTHON:-python3}

# From PyPI, when missing: moto's server (the local DynamoDB, S3, SQS and
# Secrets Manager), cfn-lint and the SAM CLI (the template's lints and
# `sam build`), cargo-lambda with zig (`cargo lambda invoke`, SAM's Rust
# build) and schemathesis (the Pipedrive contract test).
ensure_python_tools() {
  local missing=()
  "$PYTHON" -c "import moto.server, flask, werkzeug" 2>/dev/null || missing+=("moto[server]>=5,<6")
  command -v cfn-lint >/dev/null 2>&1 || missing+=("cfn-lint>=1,<2")
  command -v sam >/dev/null 2>&1 || missing+=("aws-sam-cli>=1.140,<2")
  command -v cargo-lambda >/dev/null 2>&1 || missing+=("cargo-lambda>=1.8,<2" "ziglang")
  command -v schemathesis >/dev/null 2>&1 || missing+=("schemathesis>=4,<5")
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} with pip" >&2
    "$PYTHON" -m pip install --quiet --disable-pip-version-check "${missing[@]}" >&2
    hash -r
  fi
}

# Debug builds of the workspace's own crates go through clippy's driver,
# warnings denied: the lints come with the compile that the tests and the
# local runner need anyway (a separate `cargo clippy` checks every
# dependency a second time, minutes on a fresh clone), and dev/test, dev/run
# and dev/admin share one set of artifacts. Dependencies build with rustc.
lint_while_building() {
  cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
  RUSTC_WORKSPACE_WRAPPER="$(rustc --print sysroot)/bin/clippy-driver"
  export RUSTC_WORKSPACE_WRAPPER
  export CLIPPY_ARGS=-Dwarnings
}

free_port() {
  "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts moto's server on 127.0.0.1:$1 in the background (log to $2); sets
# MOTO_PORT and adds it to those stop_moto stops.
MOTO_PIDS=()
start_moto() {
  local port=$1 log=${2:-/dev/null} pid
  "$PYTHON" "$(dirname "${BASH_SOURCE[0]}")/moto_server.py" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  pid=$!
  MOTO_PIDS+=("$pid")
  MOTO_PORT=$port
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then echo "moto's server exited; see $log" >&2; return 1; fi
    sleep 0.1
  done
  echo "moto's server did not answer on 127.0.0.1:$port" >&2
  return 1
}

stop_moto() {
  local pid
  for pid in "${MOTO_PIDS[@]}"; do
    # Interpreter shims may sit between us and the server process.
    pkill -P "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  MOTO_PIDS=()
}

# Static credentials for the local emulator (never real ones).
use_local_aws() {
  export AWS_ENDPOINT_URL=$1
  export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
  export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
  export AWS_REGION=${AWS_REGION:-us-east-1}
}
