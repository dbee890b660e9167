#!/usr/bin/env bash
# User-space instructions per request of a session server (deterministic, so other load on the
# machine does not change it): the server runs under callgrind, N requests on one keep-alive
# connection warm it up, the counters are zeroed, the same N run again and are dumped.
#
#   bench/callgrind.sh LABEL PATH N command...
#   bench/callgrind.sh actix-cookie /count 2000 target/release/sessile-bench actix-cookie
#
# Writes /tmp/callgrind-LABEL.out.1 (read it with callgrind_annotate) and prints the count.
set -euo pipefail
label=$1 path=$2 n=$3
shift 3
port=${PORT:-3198}
out=/tmp/callgrind-$label.out
rm -f "$out"*
PORT=$port valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >"/tmp/callgrind-$label.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do curl -s -o /dev/null "localhost:$port/plain" && break; sleep 0.2; done
cookie=$(curl -s -D - -o /dev/null "localhost:$port/count" | tr -d '\r' \
  | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | head -n 1)
urls=$(mktemp)
for _ in $(seq 1 "$n"); do printf 'url = "http://127.0.0.1:%s%s"\noutput = /dev/null\n' "$port" "$path"; done >"$urls"
send() {
  curl -s -K "$urls" -H "Cookie: $cookie" -H "Accept: */*" \
    -H "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
}
send
callgrind_control -z "$pid" >/dev/null 2>&1
send
callgrind_control -d "$pid" >/dev/null 2>&1
sleep 1
kill "$pid"
wait "$pid" 2>/dev/null || true
rm -f "$urls"
total=$(sed -n 's/^summary: //p; s/^totals: //p' "$out.1" | head -n 1)
echo "$label $path: $((total / n)) instructions per request (cookie ${#cookie} characters)"
