#!/usr/bin/env bash
# Counted, not timed: what one `/count` (or another path) costs a session server and its store,
# per request, under `wrk -t2 -c50` over HOT sessions (the harness's mksessions.js and
# sessions.lua). The counts do not depend on how busy the machine is, unlike req/s:
#
#   - the server's system calls (perf tracepoints: reads and writes of files and sockets,
#     fsync/fdatasync, futex), per request;
#   - STORE=postgres: statements per request by text (pg_stat_statements, with rows and mean
#     execution time per call), commits (pg_stat_database), WAL records, bytes, writes and syncs
#     (pg_stat_wal), and the CPU of every server process (utime + stime from /proc);
#   - STORE=redis: commands per request by name (INFO commandstats, with µs per call) and
#     redis-server's CPU (INFO cpu);
#   - the server's own CPU per request (utime + stime), which is load-dependent; read it as a
#     ratio between rows run one after the other.
#
#   STORE=postgres PG="psql -h 127.0.0.1 -p 5499 -U postgres -d perf" PGDATA=/tmp/perf-pg/data \
#     DATABASE_URL=postgres://postgres@127.0.0.1:5499/perf bench/counters.sh sessile target/release/sessile-bench postgres
#   STORE=redis REDIS_CLI="redis-cli -p 6391" REDIS_URL=redis://127.0.0.1:6391/9 \
#     bench/counters.sh actix-redis /tmp/peerbench-target/release/peer-actix-session redis
#   STORE=sqlite SQLITE_PATH=/tmp/s.sqlite bench/counters.sh sessile target/release/sessile-bench sqlite
#
# PGDATA is the server's data folder (its postmaster.pid names the process whose children are
# summed). pg_stat_statements must be loaded (shared_preload_libraries) and created in the database for
# the statement counts, and the server's counters are reset (pg_stat_statements_reset,
# pg_stat_reset_shared('wal'), CONFIG RESETSTAT): use a private server, not one tests share.
# Environment: HOT (1000), DUR (10), WARM (3), PORT (3196), HARNESS (../shared/bench/peers),
# URL_PATH (/count).
set -euo pipefail
label=$1
shift
store=${STORE:-none} hot=${HOT:-1000} dur=${DUR:-10} warm=${WARM:-3} port=${PORT:-3196}
path=${URL_PATH:-/count}
harness=${HARNESS:-../shared/bench/peers}
work=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

PORT=$port "$@" >"$work/server.log" 2>&1 &
server=$!
until curl -s -o /dev/null "localhost:$port/plain"; do
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.2
done
node "$harness/tools/mksessions.js" "http://127.0.0.1:$port" "$hot" "$work/cookies" 8 server 2>/dev/null
load() {
  PB_COOKIES=$work/cookies PB_PATH=$path PB_THREADS=2 \
    wrk -t2 -c50 -d"$1"s -s "$harness/tools/sessions.lua" "http://127.0.0.1:$port$path"
}
load "$warm" >/dev/null

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
postgres_cpu() { # utime + stime of the postmaster's children (backends, WAL writer, ...)
  local postmaster sum=0
  postmaster=$(head -n 1 "$PGDATA/postmaster.pid")
  for pid in $(pgrep -P "$postmaster"); do sum=$((sum + $(ticks "$pid" 2>/dev/null || echo 0))); done
  echo "$sum"
}
redis_info() { $REDIS_CLI info "$1" | tr -d '\r'; }

case $store in
  postgres)
    $PG -Atqc "SELECT pg_stat_statements_reset()" -c "SELECT pg_stat_reset_shared('wal')" >/dev/null
    commits0=$($PG -Atc "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
    store0=$(postgres_cpu)
    ;;
  redis)
    $REDIS_CLI config resetstat >/dev/null
    store0=$(redis_info cpu | awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.6f", s}')
    ;;
esac
app0=$(ticks "$server")
events=syscalls:sys_enter_pread64,syscalls:sys_enter_pwrite64,syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync,syscalls:sys_enter_futex,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_epoll_wait
perf stat -x, -e "$events" -p "$server" -o "$work/perf" -- sleep "$((dur + 1))" &
perf=$!
sleep 0.5
out=$(load "$dur")
wait "$perf" || true
app1=$(ticks "$server")
requests=$(awk '/requests in/ {print $1}' <<<"$out")
rate=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
tick=$(getconf CLK_TCK)
per() { awk -v v="$1" -v n="$requests" 'BEGIN {printf "%.3f", v / n}'; }

echo "== $label: $requests requests in ${dur}s ($rate req/s at load $(cut -d' ' -f1 /proc/loadavg); req/s is load-dependent)"
echo "app CPU µs/request: $(awk -v t=$((app1 - app0)) -v hz="$tick" -v n="$requests" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')"
echo "server system calls per request (over ${dur}s + 1 s idle):"
awk -F, -v n="$requests" '$3 ~ /syscalls/ {sub("syscalls:sys_enter_", "", $3); printf "  %-10s %.3f\n", $3, $1 / n}' "$work/perf"
case $store in
  postgres)
    store1=$(postgres_cpu)
    commits1=$($PG -Atc "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
    echo "PostgreSQL server CPU µs/request: $(awk -v t=$((store1 - store0)) -v hz="$tick" -v n="$requests" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')"
    echo "commits per request: $(per $((commits1 - commits0)))"
    echo "WAL per request (records, bytes, writes, syncs; sync ms per sync):"
    $PG -AtF' ' -c "SELECT wal_records, wal_bytes, wal_write, wal_sync, round((wal_sync_time / nullif(wal_sync, 0))::numeric, 3) FROM pg_stat_wal" \
      | awk -v n="$requests" '{printf "  %.3f records, %.0f bytes, %.3f writes, %.3f syncs, %s ms per sync\n", $1 / n, $2 / n, $3 / n, $4 / n, $5}'
    echo "statements per request (calls/request, rows/call, mean ms, total ms per request; query):"
    $PG -AtF'|' -c "SELECT calls, rows, mean_exec_time, total_exec_time, regexp_replace(left(query, 140), '\s+', ' ', 'g')
      FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND query NOT LIKE '%pg_stat%' ORDER BY calls DESC LIMIT 12" \
      | awk -F'|' -v n="$requests" '{printf "  %.3f  %.1f  %.3f  %.4f  %s\n", $1 / n, $2 / ($1 ? $1 : 1), $3, $4 / n, $5}'
    ;;
  redis)
    store1=$(redis_info cpu | awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.6f", s}')
    echo "redis-server CPU µs/request: $(awk -v a="$store0" -v b="$store1" -v n="$requests" 'BEGIN {printf "%.1f", (b - a) * 1e6 / n}')"
    echo "commands per request (calls/request, µs per call; command):"
    redis_info commandstats | awk -F'[:,=]' -v n="$requests" \
      '/^cmdstat_/ {sub("cmdstat_", "", $1); if ($3 / n >= 0.001) printf "  %.3f  %.2f  %s\n", $3 / n, $7, $1}'
    ;;
esac
