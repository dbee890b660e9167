#!/usr/bin/env bash
# Scale, interleaved: `/count` with HOT live sessions against `/count` with SIZE live sessions,
# both servers up at once and measured in alternation, so a machine whose speed drifts (other
# work on its two cores) moves both sides alike and the ratio stays honest. bench/scale.sh
# measures one size after another and needs a quiet machine; this one does not.
#
# For each store: two tables (SQL) or key prefixes (Redis), `sessile_scale_small` holding only the
# HOT sessions the load replays and `sessile_scale_big` holding SIZE - HOT more, filled through the
# store's own `create` (`sessile-bench fill`; the memory store, which lives in its server, by
# `FILL` in the big side's server before it listens); one server on each; then ROUNDS rounds of
# `wrk -t2 -c50` for DUR seconds on each, the order swapped every round. Prints every round's
# pair and the median of the per-round ratios big / small. Everything filled is removed at the end.
#
#   BIN=target/release STORES="postgres mysql redis" SIZE=1000000 bench/scale-ab.sh
#
# Environment: BIN (folder of sessile-bench, target/release), HARNESS (../shared/bench/peers),
# STORES (postgres mysql redis; memory and sqlite too), SIZE (1000000), HOT (1000), ROUNDS (6),
# DUR (5), PORT (3197 and the next), SQLITE_DIR, DATABASE_URL, MYSQL_URL, REDIS_DB (14).
set -euo pipefail
bin=${BIN:-target/release}/sessile-bench
harness=${HARNESS:-../shared/bench/peers}
stores=${STORES:-postgres mysql redis}
size=${SIZE:-1000000}
hot=${HOT:-1000}
rounds=${ROUNDS:-6}
dur=${DUR:-5}
port=${PORT:-3197}
redis_db=${REDIS_DB:-14}
sqlite_dir=${SQLITE_DIR:-/tmp/sessile-scale}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
export MYSQL_URL=${MYSQL_URL:-mysql://root@127.0.0.1:3306/test}
export REDIS_URL=redis://127.0.0.1:6379/$redis_db
work=$(mktemp -d)
servers=()
mkdir -p "$sqlite_dir"

# The environment that points a sessile-bench process at one side's table or key prefix.
side_env() { # side
  echo "SESSILE_TABLE=sessile_scale_$1 REDIS_PREFIX=sessile-scale-$1: SQLITE_PATH=$sqlite_dir/$1.sqlite"
}
empty() { # store side
  local table=sessile_scale_$2
  case $1 in
    sqlite) rm -f "$sqlite_dir/$2.sqlite" "$sqlite_dir/$2.sqlite-wal" "$sqlite_dir/$2.sqlite-shm" ;;
    postgres) psql -q "$DATABASE_URL" -c "DROP TABLE IF EXISTS $table, ${table}_forwards, ${table}_schema_versions" \
      >/dev/null 2>&1 || true ;;
    # MySQL records applied migrations per table in one shared table: forget them with the table.
    mysql) mysql -h 127.0.0.1 -u root test -e "DROP TABLE IF EXISTS $table, ${table}_forwards;
      DELETE FROM sessile_schema_versions WHERE table_name = '$table'" 2>/dev/null || true ;;
    redis) redis-cli -n "$redis_db" --scan --pattern "sessile-scale-$2:*" \
      | xargs -r -n 5000 redis-cli -n "$redis_db" UNLINK >/dev/null ;;
  esac
}
stop_all() {
  for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  servers=()
}
cleanup() {
  stop_all
  for store in $stores; do empty "$store" small; empty "$store" big; done
  rm -rf "$work"
}
trap cleanup EXIT

start_side() { # store side port [sessions the server fills itself]
  env $(side_env "$2") PORT="$3" ${4:+FILL=$4} "$bin" "$1" >"$work/$2.log" 2>&1 &
  servers+=($!)
  local pid=$!
  until curl -s -o /dev/null "localhost:$3/plain"; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/$2.log" >&2; exit 1; }
    sleep 0.2
  done
  node "$harness/tools/mksessions.js" "http://127.0.0.1:$3" "$hot" "$work/$2.cookies" 8 server 2>/dev/null
}
load() { # side port seconds
  PB_COOKIES=$work/$1.cookies PB_PATH=/count PB_THREADS=2 \
    wrk -t2 -c50 -d"$3"s -s "$harness/tools/sessions.lua" "http://127.0.0.1:$2/count" \
    | sed -n 's/^PEERBENCH //p' | jq -r '.rps | floor'
}

printf 'store\tsize\tround\tsmall req/s\tbig req/s\tbig/small\tload\n'
for store in $stores; do
  empty "$store" small
  empty "$store" big
  start=$(date +%s)
  in_server=
  if [ "$store" = memory ]; then
    in_server=$((size - hot))
  else
    env $(side_env big) "$bin" fill "$store" "$((size - hot))" >"$work/fill.log"
  fi
  start_side "$store" small "$port"
  start_side "$store" big "$((port + 1))" "$in_server"
  echo "# $store: filled $((size - hot)) sessions in $(($(date +%s) - start)) s" >&2
  load small "$port" 2 >/dev/null
  load big "$((port + 1))" 2 >/dev/null
  ratios=()
  for round in $(seq 1 "$rounds"); do
    if [ $((round % 2)) = 1 ]; then
      small=$(load small "$port" "$dur"); big=$(load big "$((port + 1))" "$dur")
    else
      big=$(load big "$((port + 1))" "$dur"); small=$(load small "$port" "$dur")
    fi
    ratio=$(echo "scale=3; $big / $small" | bc)
    ratios+=("$ratio")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$store" "$size" "$round" "$small" "$big" "$ratio" \
      "$(cut -d' ' -f1 /proc/loadavg)"
  done
  median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
  printf '%s\t%s\tmedian\t\t\t%s\n' "$store" "$size" "$median"
  stop_all
  empty "$store" small
  empty "$store" big
done
