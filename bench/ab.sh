#!/usr/bin/env bash
# Interleaved A/B of session servers on one path: each round starts every server in turn on one
# port, makes one session with curl, warms up 2 s, runs wrk, and prints req/s and the server's CPU
# per request (utime + stime from /proc). Compare rows within one round: the machine drifts.
#
#   bench/ab.sh ROUNDS PATH "label|command" ...
#   DUR=5 bench/ab.sh 3 /count "old|/tmp/old-bench actix-cookie" "new|target/release/sessile-bench actix-cookie"
#
# The command is run with PORT set (as the peer harness does); wrk -t2 -c50, DUR seconds (5).
set -euo pipefail
rounds=$1 path=$2
shift 2
port=${PORT:-3199}
tick=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
printf 'round\tserver\treq/s\tCPU µs/req\tload\n'
for round in $(seq 1 "$rounds"); do
  for spec in "$@"; do
    label="${spec%%|*}" command="${spec#*|}"
    PORT=$port bash -c "exec $command" >"/tmp/ab-$label.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do curl -s -o /dev/null "localhost:$port/plain" && break; sleep 0.1; done
    cookie=$(curl -s -D - -o /dev/null "localhost:$port/count" | tr -d '\r' \
      | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | head -n 1)
    wrk -t2 -c50 -d2s -H "Cookie: $cookie" "http://127.0.0.1:$port$path" >/dev/null
    before=$(cpu_ticks "$pid")
    out=$(wrk -t2 -c50 -d"${DUR:-5}"s -H "Cookie: $cookie" "http://127.0.0.1:$port$path")
    after=$(cpu_ticks "$pid")
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    rate=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    cpu=$(awk -v t=$((after - before)) -v hz="$tick" -v n="$requests" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
    printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$label" "$rate" "$cpu" "$(cut -d' ' -f1 /proc/loadavg)"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
  done
done
