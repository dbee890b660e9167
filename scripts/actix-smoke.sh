#!/usr/bin/env bash
# Smoke test of the built actix-web example (examples/actix): starts it on a free loopback port
# with a temporary database, walks through it with curl and a cookie jar (sign in, count twice,
# list sessions, sign out, old cookie dead), and fails loudly on the first mismatch.
#
# Usage: scripts/actix-smoke.sh            (builds the binary with cargo first)
#        SESSILE_ACTIX_EXAMPLE_BIN=path/to/sessile-actix-example scripts/actix-smoke.sh
set -euo pipefail

cd "$(dirname "$0")/.."

if [[ -n "${SESSILE_ACTIX_EXAMPLE_BIN:-}" ]]; then
    bin=$SESSILE_ACTIX_EXAMPLE_BIN
else
    cargo build --quiet -p sessile-actix-example
    bin="${CARGO_TARGET_DIR:-target}/debug/sessile-actix-example"
fi
[[ -x "$bin" ]] || { echo "FAIL: no example binary at $bin" >&2; exit 1; }

source scripts/smoke-lib.sh

PORT=0 SESSILE_DB="$work/example.sqlite" RUST_LOG=info NO_COLOR=1 \
    "$bin" >"$work/server.log" 2>&1 &
server_pid=$!
wait_for_address example
echo "actix example up at $base"

request POST /login 200 --data-urlencode 'user=alice'
expect_body "login" 'signed in as alice'
[[ -n "$(session_cookie)" ]] || fail "login set no cookie"

request POST /count 200
expect_body "first count" '{"count":1}'
request POST /count 200
expect_body "second count" '{"count":2}'

request GET /sessions 200
rows=$(grep -o '"key":' "$body" | wc -l)
[[ "$rows" -eq 1 ]] || fail "expected 1 session, listed $rows: $(cat "$body")"
grep -qF '"user_agent":"curl on Linux"' "$body" || fail "the session lists no device: $(cat "$body")"

old_cookie=$(session_cookie)
request POST /logout 200
expect_body "logout" 'signed out'
[[ -z "$(session_cookie)" ]] || fail "logout left the cookie in the jar"

# The old cookie is dead: it is signed out, and its counter starts again from a fresh session.
request GET /sessions 200 -H "Cookie: id=$old_cookie"
[[ "$(cat "$body")" == "[]" ]] || fail "old cookie still lists sessions: $(cat "$body")"
request POST /count 200 -H "Cookie: id=$old_cookie"
expect_body "count with the old cookie" '{"count":1}'
[[ -n "$(session_cookie)" && "$(session_cookie)" != "$old_cookie" ]] ||
    fail "the old cookie was not replaced by a fresh session's"

stop_server
echo "actix example smoke test: 1 passed, 0 failed"
