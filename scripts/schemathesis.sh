#!/usr/bin/env bash
# schemathesis against the live mock and its own OpenAPI document (GET /__mock/v1/openapi.json).
#
# Builds uko-mock (debug), installs schemathesis into target/schemathesis-venv (PyPI) if it is not there,
# and runs every phase (examples, coverage, fuzzing, stateful) twice, each against a fresh mock on
# 127.0.0.1 with a free port:
#   1. --auth none: no 5xx, and every status, content type, header and body as the document says;
#   2. --auth iam with a static token: the same, plus schema-invalid requests refused
#      (negative_data_rejection; a request without the token must get 401, as the document's security says).
# Exits non-zero on any finding. Usage: scripts/schemathesis.sh [extra schemathesis arguments];
# SCHEMATHESIS_EXAMPLES (default 50) sets --max-examples. JUnit reports go to target/schemathesis/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv="$root/target/schemathesis-venv"
report="$root/target/schemathesis"
token="schemathesis-token"
checks="not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance"

if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==4.32.*"
fi
cargo build --quiet -p uko-mock
mkdir -p "$report"
# schemathesis and hypothesis keep caches in the working directory: keep them under target/.
cd "$report"

pid=""
log=$(mktemp)
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -f "$log"' EXIT

# Starts the mock with the given flags and sets $base to its URL.
start_mock() {
  "$root/target/debug/uko-mock" --bind 127.0.0.1 --port 0 --log warn "$@" >"$log" 2>&1 &
  pid=$!
  base=""
  for _ in $(seq 1 100); do
    base=$(grep -o 'listening on http://[0-9.:]*' "$log" | head -1 | sed 's/listening on //' || true)
    [ -n "$base" ] && return 0
    sleep 0.1
  done
  echo "uko-mock did not start:" >&2
  cat "$log" >&2
  exit 1
}

stop_mock() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
}

echo "== run 1: --auth none"
start_mock --auth none
"$venv/bin/schemathesis" run "$base/__mock/v1/openapi.json" --url "$base/api/v4" \
  --checks "$checks" --max-examples "${SCHEMATHESIS_EXAMPLES:-50}" --seed 1 \
  --report junit --report-junit-path "$report/auth-none.xml" "$@"
stop_mock

echo "== run 2: --auth iam, schema-invalid requests must be refused"
start_mock --auth iam --token "$token"
"$venv/bin/schemathesis" run "$base/__mock/v1/openapi.json" --url "$base/api/v4" \
  --header "Authorization: Bearer $token" \
  --checks "$checks,negative_data_rejection" --max-examples "${SCHEMATHESIS_EXAMPLES:-50}" --seed 2 \
  --report junit --report-junit-path "$report/auth-iam.xml" "$@"
stop_mock
