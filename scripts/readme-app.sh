#!/usr/bin/env bash
# The README's first app, built as a crate of its own: extracts the `Cargo.toml` dependencies and
# `src/main.rs` the README marks with `<!-- readme-app: ... -->` into a temporary crate whose
# sessile crates are path dependencies on this workspace (the README's versions kept, so they
# must match), builds it offline against the workspace's Cargo.lock and target dir, then walks
# it with curl on SQLite and on PostgreSQL (DATABASE_URL, default the scripts/services server):
# sign in, count twice, the session listed as current, sign out, the old cookie signed out.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
source scripts/smoke-lib.sh

# The fenced block that follows the marker line `<!-- readme-app: NAME ... -->`.
readme_block() {
    awk -v name="$1" '
        index($0, "<!-- readme-app: " name) == 1 { armed = 1; next }
        armed && /^```/ { if (inside) exit; inside = 1; next }
        inside { print }
    ' README.md
}

app="$work/readme-app"
mkdir -p "$app/src"
readme_block "src/main.rs" >"$app/src/main.rs"
[[ -s "$app/src/main.rs" ]] || fail "README has no readme-app src/main.rs block"
{
    printf '[package]\nname = "readme-app"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n'
    printf '# Not a member of the sessile workspace.\n[workspace]\n\n'
    # `sessile-x = "V"` and `sessile-x = { version = ... }` gain a path to the workspace crate.
    readme_block "Cargo.toml" | sed -E \
        -e "s#^(sessile[a-z-]*) = \\{ version#\1 = { path = \"$root/crates/\1\", version#" \
        -e "s#^(sessile[a-z-]*) = \"([^\"]+)\"#\1 = { version = \"\2\", path = \"$root/crates/\1\" }#"
} >"$app/Cargo.toml"
grep -q '^\[dependencies\]' "$app/Cargo.toml" || fail "README has no readme-app Cargo.toml block"
cp Cargo.lock "$app/Cargo.lock"

target="${CARGO_TARGET_DIR:-$root/target}"
CARGO_TARGET_DIR="$target" cargo build --quiet --offline --manifest-path "$app/Cargo.toml" ||
    fail "the README's app does not build (crate in $app)"
bin="$target/debug/readme-app"

# walk LABEL [ENV=VALUE...]: starts the app in a fresh directory and walks it.
walk() {
    local label=$1
    shift
    local dir="$work/run-$label"
    mkdir -p "$dir"
    rm -f "$jar"
    (cd "$dir" && env PORT=0 NO_COLOR=1 "$@" "$bin" >"$work/server.log" 2>&1) &
    server_pid=$!
    wait_for_address "README app on $label"
    # A user of its own, so runs sharing the PostgreSQL database do not see each other.
    local user="readme-$label-$$-$RANDOM"

    request POST /login 200 --data-urlencode "user=$user"
    expect_body "$label login" "signed in as $user"
    request POST /count 200
    [[ "$(cat "$body")" == "1" ]] || fail "$label: first count $(cat "$body"), expected 1"
    request POST /count 200
    [[ "$(cat "$body")" == "2" ]] || fail "$label: second count $(cat "$body"), expected 2"
    request GET /sessions 200
    [[ "$(grep -o '"current":true' "$body" | wc -l)" -eq 1 ]] ||
        fail "$label: expected this session listed as current: $(cat "$body")"
    local old_cookie
    old_cookie=$(awk '$6 == "__Host-id" { print $7 }' "$jar")
    [[ -n "$old_cookie" ]] || fail "$label: no __Host-id cookie in the jar: $(cat "$jar")"
    request POST /logout 200
    expect_body "$label logout" 'signed out'
    request GET /sessions 200 -H "Cookie: __Host-id=$old_cookie"
    [[ "$(cat "$body")" == "[]" ]] || fail "$label: the old cookie still lists sessions: $(cat "$body")"
    grep -q 'signed in' "$work/server.log" || fail "$label: the log shows no sign-in"
    stop_server
    echo "README app on $label: signed in, counted 1 and 2, listed as current, signed out"
}

walk sqlite
walk postgres DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
echo "README app: 2 passed, 0 failed"
