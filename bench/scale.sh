#!/usr/bin/env bash
# Scale benchmark: `/count` req/s with N live sessions per store, and bytes per session for the
# memory store (peak RSS over the smallest size's) and Redis (`INFO memory` used_memory grown by
# the fill). For each store and size: empty the store's dedicated table / key prefix, create
# N - HOT sessions directly in the store (`sessile-bench fill`, or `FILL` in the server for the
# memory store, which lives in the server), start the server, create HOT sessions over HTTP with
# the harness's mksessions.js, warm up 2 s, then `wrk -t2 -c50` on `/count` replaying the HOT
# cookies for DUR seconds. Everything filled is removed at the end.
#
#   bench/scale.sh                                  # every store at 1k, 200k and 1M sessions
#   STORES="memory redis" SIZES="1000 20000" DUR=3 bench/scale.sh
#
# Environment: BIN (folder of sessile-bench, target/release), HARNESS (../shared/bench/peers),
# STORES, SIZES, HOT (1000), DUR (10), PORT (3197), SQLITE_PATH, DATABASE_URL, MYSQL_URL,
# REDIS_DB (14). Tables are `sessile_scale`, Redis keys `sessile-scale:*`, never the tests'.
set -euo pipefail
bin=${BIN:-target/release}/sessile-bench
harness=${HARNESS:-../shared/bench/peers}
stores=${STORES:-memory sqlite postgres mysql redis}
sizes=${SIZES:-1000 200000 1000000}
hot=${HOT:-1000}
dur=${DUR:-10}
port=${PORT:-3197}
redis_db=${REDIS_DB:-14}
table=sessile_scale
export SESSILE_TABLE=$table REDIS_PREFIX=sessile-scale:
export SQLITE_PATH=${SQLITE_PATH:-/tmp/sessile-scale/scale.sqlite}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
export MYSQL_URL=${MYSQL_URL:-mysql://root@127.0.0.1:3306/test}
export REDIS_URL=redis://127.0.0.1:6379/$redis_db
work=$(mktemp -d)
server=

empty() {
  case $1 in
    sqlite) rm -f "$SQLITE_PATH" "$SQLITE_PATH-wal" "$SQLITE_PATH-shm" ;;
    # The store's migrations record what they applied per table: forget it with the table.
    postgres) psql -q "$DATABASE_URL" -c "DROP TABLE IF EXISTS $table, ${table}_schema_versions" \
      >/dev/null 2>&1 || true ;;
    mysql) mysql -h 127.0.0.1 -u root test -e "DROP TABLE IF EXISTS $table;
      DELETE FROM sessile_schema_versions WHERE table_name = '$table'" 2>/dev/null || true ;;
    redis) redis-cli -n "$redis_db" --scan --pattern "$REDIS_PREFIX*" \
      | xargs -r -n 5000 redis-cli -n "$redis_db" UNLINK >/dev/null ;;
  esac
}
redis_used() { redis-cli -n "$redis_db" info memory | tr -d '\r' | sed -n 's/^used_memory://p'; }
stop() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  server=
}
cleanup() { stop; for store in $stores; do empty "$store"; done; rm -rf "$work"; }
trap cleanup EXIT

printf 'store\tsessions\t/count req/s\tp99 ms\tpeak RSS KiB\tRedis used_memory grown\tfill s\tload\n'
for store in $stores; do
  for size in $sizes; do
    empty "$store"
    filled=$((size - hot)) fill_env=0 fill_s=- grown=-
    [ "$filled" -lt 0 ] && { echo "size $size is below HOT=$hot" >&2; exit 2; }
    used_before=$(redis_used)
    if [ "$store" = memory ]; then
      fill_env=$filled
    elif [ "$filled" -gt 0 ]; then
      start=$(date +%s.%N)
      "$bin" fill "$store" "$filled" >"$work/fill.log"
      fill_s=$(echo "$(date +%s.%N) - $start" | bc)
    fi
    [ "$store" = redis ] && grown=$(($(redis_used) - used_before))
    start=$(date +%s.%N)
    PORT=$port FILL=$fill_env "$bin" "$store" >"$work/server.log" 2>&1 &
    server=$!
    until curl -s -o /dev/null "localhost:$port/plain"; do
      kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
      sleep 0.2
    done
    [ "$store" = memory ] && fill_s=$(echo "$(date +%s.%N) - $start" | bc)
    node "$harness/tools/mksessions.js" "http://127.0.0.1:$port" "$hot" "$work/cookies" 8 server 2>/dev/null
    run() {
      PB_COOKIES=$work/cookies PB_PATH=/count PB_THREADS=2 \
        wrk -t2 -c50 -d"$1"s -s "$harness/tools/sessions.lua" "http://127.0.0.1:$port/count"
    }
    run 2 >/dev/null
    line=$(run "$dur" | sed -n 's/^PEERBENCH //p')
    rps=$(jq -r '.rps | floor' <<<"$line")
    p99=$(jq -r '.p99_us / 1000' <<<"$line")
    peak=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$server/status")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$store" "$size" "$rps" "$p99" "$peak" "$grown" \
      "$fill_s" "$(cut -d' ' -f1 /proc/loadavg)"
    stop
  done
done
