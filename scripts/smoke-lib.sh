# Helpers the curl walks (scripts/demo-smoke.sh, scripts/actix-smoke.sh) share; sourced, not run.
# Sourcing makes a temporary directory $work (removed on exit with the server stopped), a cookie
# jar $jar, and $body, where each response body lands.

work=$(mktemp -d)
jar="$work/cookies.txt"
body="$work/body"
server_pid=""
base=""

stop_server() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid"
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=""
}
trap 'stop_server; rm -rf "$work"' EXIT

fail() {
    echo "FAIL: $*" >&2
    if [[ -f "$work/server.log" ]]; then
        echo "--- server log ---" >&2
        cat "$work/server.log" >&2
    fi
    exit 1
}

# wait_for_address NAME: sets $base once the server started as $server_pid, logging to
# $work/server.log, has logged its address.
wait_for_address() {
    # Readiness poll (not a pass/fail timing check): the server logs its address once listening.
    for _ in $(seq 1 200); do
        base=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/server.log" | head -n 1 || true)
        [[ -n "$base" ]] && return 0
        kill -0 "$server_pid" 2>/dev/null || fail "the $1 exited during startup"
        sleep 0.1
    done
    fail "the $1 did not report its address"
}

# request METHOD PATH EXPECTED_STATUS [curl args...]: the body lands in $body.
request() {
    local method=$1 path=$2 expected=$3
    shift 3
    local status
    status=$(curl -sS -o "$body" -w '%{http_code}' -X "$method" -b "$jar" -c "$jar" \
        -A 'curl/8 (Linux)' "$@" "$base$path") || fail "$method $path: curl failed"
    [[ "$status" == "$expected" ]] ||
        fail "$method $path: status $status, expected $expected; body: $(cat "$body")"
}

# expect_body LABEL FRAGMENT...: every fragment occurs in $body.
expect_body() {
    local label=$1
    shift
    for fragment in "$@"; do
        grep -qF -- "$fragment" "$body" || fail "$label: body lacks '$fragment': $(cat "$body")"
    done
}

# The session cookie (`id`: the apps serve plain http, so not `__Host-id`) in the jar.
session_cookie() {
    awk '$6 == "id" { print $7 }' "$jar"
}
