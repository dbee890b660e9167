#!/usr/bin/env bash
# redis-server's instructions per request of a session server (deterministic, so other load on
# the machine does not change it): a private redis-server runs under callgrind on REDIS_PORT, the
# server under test runs natively against it, HOT sessions are made (the harness's
# mksessions.js), `wrk -t2 -c50` warms up for DUR seconds, callgrind's counters are zeroed, the
# same load runs again and the counters are dumped; instructions / wrk's request count.
#
#   bench/redis-callgrind.sh LABEL PATH command...
#   bench/redis-callgrind.sh sessile /count target/release/sessile-bench redis
#   bench/redis-callgrind.sh actix /count /tmp/peerbench-target/release/peer-actix-session redis
#
# Environment: REDIS_PORT (6392), PORT (3195), HOT (1000), DUR (10), HARNESS
# (../shared/bench/peers). Writes /tmp/redis-callgrind-LABEL.out.1.
set -euo pipefail
label=$1 path=$2
shift 2
rport=${REDIS_PORT:-6392} port=${PORT:-3195} hot=${HOT:-1000} dur=${DUR:-10}
harness=${HARNESS:-../shared/bench/peers}
out=/tmp/redis-callgrind-$label.out
work=$(mktemp -d)
rm -f "$out"*
redis=
server=
cleanup() {
  for pid in $server $redis; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
valgrind --tool=callgrind --callgrind-out-file="$out" redis-server --port "$rport" \
  --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
redis=$!
until redis-cli -p "$rport" ping >/dev/null 2>&1; do sleep 0.2; done
REDIS_URL=redis://127.0.0.1:$rport/9 PORT=$port "$@" >"$work/server.log" 2>&1 &
server=$!
until curl -s -o /dev/null "localhost:$port/plain"; do
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.2
done
node "$harness/tools/mksessions.js" "http://127.0.0.1:$port" "$hot" "$work/cookies" 8 server >/dev/null 2>&1
load() {
  PB_COOKIES=$work/cookies PB_PATH=$path PB_THREADS=2 wrk -t2 -c50 -d"$dur"s --timeout 10s \
    -s "$harness/tools/sessions.lua" "http://127.0.0.1:$port$path"
}
load >/dev/null
callgrind_control -z "$redis" >/dev/null 2>&1
n=$(load | awk '/requests in/ {print $1}')
callgrind_control -d "$redis" >/dev/null 2>&1
sleep 1
total=$(sed -n 's/^summary: //p; s/^totals: //p' "$out.1" | head -n 1)
echo "$label $path: redis-server $((total / n)) instructions per request over $n"
