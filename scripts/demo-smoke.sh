#!/usr/bin/env bash
# Smoke test of the built demo binary: starts it on a free loopback port with a temporary
# database, walks through it with curl and a cookie jar as the README shows (a CSRF token from
# GET /api/csrf in x-csrf-token on every POST; sign in, a new token, count, list sessions, sign
# out, old cookie dead), checks that a POST without a token or with the token from before sign-in
# is refused, restarts it on the same database (the saved key keeps users signed in), and fails
# loudly on the first mismatch.
#
# Usage: scripts/demo-smoke.sh            (builds the binary with cargo first)
#        SESSILE_DEMO_BIN=path/to/sessile-demo scripts/demo-smoke.sh
set -euo pipefail

cd "$(dirname "$0")/.."

if [[ -n "${SESSILE_DEMO_BIN:-}" ]]; then
    bin=$SESSILE_DEMO_BIN
else
    cargo build --quiet -p sessile-demo
    bin="${CARGO_TARGET_DIR:-target}/debug/sessile-demo"
fi
[[ -x "$bin" ]] || { echo "FAIL: no demo binary at $bin" >&2; exit 1; }

source scripts/smoke-lib.sh

start_server() {
    : >"$work/server.log"
    PORT=0 SESSILE_DB="$work/demo.sqlite" RUST_LOG=info NO_COLOR=1 \
        "$bin" >>"$work/server.log" 2>&1 &
    server_pid=$!
    wait_for_address demo
}

start_server
echo "demo up at $base"
grep -q 'generated a random key' "$work/server.log" || fail "first start did not generate a key"
[[ -f "$work/demo.sqlite.key" ]] || fail "no key file next to the database"

# csrf_token: a fresh token for the jar's session (GET /api/csrf creates the session if needed).
csrf_token() {
    request GET /api/csrf 200
    grep -o '"token":"[^"]*"' "$body" | cut -d'"' -f4
}

request GET /api/session 200
expect_body "signed out" '"user":null' '"data":{}'

token=$(csrf_token)
[[ -n "$token" ]] || fail "GET /api/csrf answered no token"
request POST /login 403 --data-urlencode 'user=alice'
expect_body "login without a token" 'This form has expired'
request POST /login 303 -H "x-csrf-token: $token" --data-urlencode 'user=alice'
[[ -n "$(session_cookie)" ]] || fail "login set no cookie"

# Sign-in renewed the CSRF secret: the token from before it no longer works.
request POST /api/count 403 -H "x-csrf-token: $token"
token=$(csrf_token)
request POST /api/count 200 -H "x-csrf-token: $token"
expect_body "first count" '{"count":1}'
request POST /api/count 200 -H "x-csrf-token: $token"
expect_body "second count" '{"count":2}'
request POST /api/count 403
request POST /api/count 403 -H "x-csrf-token: $token" -H 'Origin: http://localhost:1'

request GET /api/session 200
expect_body "session" '"user":"alice"' '"data":{"count":2}'

request GET /api/sessions 200
expect_body "sessions" '"current":true' '"user_agent":"curl on Linux"' '"ip":"127.0.0.1"'
rows=$(grep -o '"current":' "$body" | wc -l)
[[ "$rows" -eq 1 ]] || fail "expected 1 session, listed $rows: $(cat "$body")"

request GET / 200
expect_body "home page" 'Hello, alice' 'id="count">2<' 'This device' 'name="_csrf"'

old_cookie=$(session_cookie)
request POST /logout 303 -H "x-csrf-token: $token"
[[ "$(session_cookie)" != "$old_cookie" ]] || fail "logout left the old cookie in the jar"

request GET /api/session 200 -H "Cookie: id=$old_cookie"
expect_body "old cookie after logout" '"user":null' '"data":{}'
request GET /api/sessions 200 -H "Cookie: id=$old_cookie"
[[ "$(cat "$body")" == "[]" ]] || fail "old cookie still lists sessions: $(cat "$body")"

# A restart on the same database and key file keeps a signed-in user signed in.
token=$(csrf_token)
request POST /login 303 -H "x-csrf-token: $token" --data-urlencode 'user=bob'
token=$(csrf_token)
request POST /api/count 200 -H "x-csrf-token: $token"
stop_server
start_server
grep -q 'loaded from' "$work/server.log" || fail "restart did not reuse the saved key"
request GET /api/session 200
expect_body "after restart" '"user":"bob"' '"count":1'

echo "demo smoke test: 1 passed, 0 failed"
