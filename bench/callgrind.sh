#!/usr/bin/env bash
# User-space instructions per request of a session server (deterministic, so other load on the
# machine does not change it): the server runs under callgrind, N requests on one keep-alive
# connection warm it up, the counters are zeroed, the same N run again and are dumped.
#
#   bench/callgrind.sh LABEL PATH N command...
#   bench/callgrind.sh actix-cookie /count 2000 target/release/sessile-bench actix-cookie
#
# Writes /tmp/callgrind-LABEL.out.1 (read it with callgrind_annotate) and prints the count.
# COOKIES=FILE (one Cookie header value per line, as the harness's mksessions.js writes them)
# sends request i with line i mod lines instead of one session's cookie throughout, so a store's
# hot set is those sessions (bench/scale.sh's HOT sessions), not one row; HOT=N creates N sessions
# in the server under valgrind first (the harness's mksessions.js; HARNESS, ../shared/bench/peers)
# and uses theirs (a server's cookies are sealed with its own random key). WRK=SECONDS (with HOT)
# measures `wrk -t2 -c50` over those sessions for that long instead of N sequential requests, so
# concurrent requests meet in the store (group commits); N is then wrk's count of requests (the
# at most 50 in flight at either end are the error). VALGRIND_ARGS adds
# callgrind options (`--cache-sim=yes` for simulated cache misses).
set -euo pipefail
label=$1 path=$2 n=$3
shift 3
port=${PORT:-3198}
out=/tmp/callgrind-$label.out
rm -f "$out"*
PORT=$port valgrind --tool=callgrind ${VALGRIND_ARGS:-} --callgrind-out-file="$out" "$@" >"/tmp/callgrind-$label.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do curl -s -o /dev/null "localhost:$port/plain" && break; sleep 0.2; done
cookie=$(curl -s -D - -o /dev/null "localhost:$port/count" | tr -d '\r' \
  | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | head -n 1)
if [ -n "${HOT:-}" ]; then
  COOKIES=$(mktemp)
  node "${HARNESS:-../shared/bench/peers}/tools/mksessions.js" "http://127.0.0.1:$port" "$HOT" "$COOKIES" 4 server
fi
urls=$(mktemp)
agent="Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
if [ -n "${COOKIES:-}" ]; then
  # One option group per request (curl's `next`), each with its own Cookie header.
  awk -v n="$n" -v port="$port" -v path="$path" -v agent="$agent" '
    NF { cookies[count++] = $0 }
    END {
      for (i = 0; i < n; i++) {
        if (i) print "next"
        printf "url = \"http://127.0.0.1:%s%s\"\noutput = /dev/null\n", port, path
        printf "header = \"Cookie: %s\"\nheader = \"Accept: */*\"\nheader = \"User-Agent: %s\"\n", cookies[i % count], agent
      }
    }' "$COOKIES" >"$urls"
  send() { curl -s -K "$urls"; }
else
  for _ in $(seq 1 "$n"); do printf 'url = "http://127.0.0.1:%s%s"\noutput = /dev/null\n' "$port" "$path"; done >"$urls"
  send() {
    curl -s -K "$urls" -H "Cookie: $cookie" -H "Accept: */*" -H "User-Agent: $agent"
  }
fi
if [ -n "${WRK:-}" ]; then
  load() {
    PB_COOKIES=$COOKIES PB_PATH=$path PB_THREADS=2 wrk -t2 -c50 -d"$1"s --timeout 10s \
      -s "${HARNESS:-../shared/bench/peers}/tools/sessions.lua" "http://127.0.0.1:$port$path"
  }
  load "$WRK" >/dev/null
  callgrind_control -z "$pid" >/dev/null 2>&1
  n=$(load "$WRK" | awk '/requests in/ {print $1}')
  callgrind_control -d "$pid" >/dev/null 2>&1
else
  send
  callgrind_control -z "$pid" >/dev/null 2>&1
  send
  callgrind_control -d "$pid" >/dev/null 2>&1
fi
sleep 1
kill "$pid"
wait "$pid" 2>/dev/null || true
rm -f "$urls"
total=$(sed -n 's/^summary: //p; s/^totals: //p' "$out.1" | head -n 1)
echo "$label $path: $((total / n)) instructions per request over $n (cookie ${#cookie} characters)"
