#!/usr/bin/env bash
# CPU per resolve on PostgreSQL: the tresor servers' and the database's own (its backends for the
# bench database and its WAL writer), from /proc, with the throughput and the database
# transactions per resolve (pg_stat_database). Throughput on a shared machine follows whatever
# else runs there (and more processes take a larger share of a busy machine: 3 nodes can then
# "beat" 1); the CPU a resolve costs does much less, so it is the figure to compare before and
# after a change, in the same run, alternating the binaries.
#
#   [NO_BUILD=1] [BIN=path/to/tresor] bash bench/pgcpu.sh MODE [DURATION_SECONDS]
# MODE: sqlite (1 node), pg1 (1 node on PostgreSQL), pg3 (3 nodes on one PostgreSQL database;
# wrk at 11/11/10 connections, 32 in all, as bench/nodes.sh). Needs wrk and psql;
# $TRESOR_TEST_PG (default postgres://postgres@127.0.0.1:5432), where it creates and drops the
# database tresor_bench_pgcpu. Prints one line:
#   mode=pg1 rps=18305 xact/req=0.202 server_us/req=55.4 pg_us/req=42.3 walwriter_us/req=1.8
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?mode: sqlite, pg1 or pg3}
duration=${2:-6}
pg=${TRESOR_TEST_PG:-postgres://postgres@127.0.0.1:5432}
pg=${pg%/}
source bench/lib.sh
bin=${BIN:-$bin}
db=tresor_bench_pgcpu
drop_db() { psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; }
trap 'cleanup; drop_db' EXIT
drop_db

path=/api/v1/envs/default/vaults/default/values/db/password
ports=()
if [ "$mode" = sqlite ]; then
  admin=$("$bin" init --json --data-dir "$work/n1" | token_of admin_token)
  start node_port "$work/n1"; ports=("$node_port")
else
  psql -q "$pg/postgres" -c "CREATE DATABASE $db" >/dev/null
  admin=$("$bin" init --json --data-dir "$work/n1" --storage "$pg/$db" | token_of admin_token)
  n=1; [ "$mode" = pg3 ] && n=3
  for i in $(seq 2 "$n"); do mkdir -p "$work/n$i"; cp "$work/n1/root.key" "$work/n$i/"; done
  for i in $(seq "$n"); do start node_port "$work/n$i" --storage "$pg/$db"; ports+=("$node_port"); done
fi
token=$(seed "${ports[0]}" "$admin")
for p in "${ports[@]}"; do wrk -t1 -c4 -d1s -H "Authorization: Bearer $token" "http://127.0.0.1:$p$path" >/dev/null; done

# CPU ticks (user + system) of the given processes.
ticks() { local t=0 p; for p in "$@"; do [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
xacts() { [ "$mode" = sqlite ] && { echo 0; return; }; psql -tAq "$pg/postgres" -c "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$db'"; }
backends=""; walwriter=""
if [ "$mode" != sqlite ]; then
  backends=$(psql -tAq "$pg/postgres" -c "SELECT pid FROM pg_stat_activity WHERE datname = '$db'" | tr '\n' ' ')
  walwriter=$(pgrep -f "postgres: .*walwriter" || true)
fi
s0=$(ticks "${pids[@]}"); b0=$(ticks $backends); w0=$(ticks $walwriter); x0=$(xacts)
conns=(32); [ "${#ports[@]}" = 3 ] && conns=(11 11 10)
wrks=(); i=0
for p in "${ports[@]}"; do
  wrk -t1 -c"${conns[$i]}" -d"${duration}s" -H "Authorization: Bearer $token" "http://127.0.0.1:$p$path" >"$work/wrk$i" &
  wrks+=($!); i=$((i + 1))
done
wait "${wrks[@]}"
s1=$(ticks "${pids[@]}"); b1=$(ticks $backends); w1=$(ticks $walwriter); x1=$(xacts)
if cat "$work"/wrk* | grep -q "Non-2xx"; then echo "non-2xx answers during the run" >&2; exit 1; fi
rps=$(cat "$work"/wrk* | awk '/Requests\/sec/ {s += $2} END {print s}')
hz=$(getconf CLK_TCK)
python3 -c "
n = $rps * $duration; us = 1e6 / $hz / n
print('mode=$mode rps=%.0f xact/req=%.3f server_us/req=%.1f pg_us/req=%.1f walwriter_us/req=%.1f'
      % ($rps, ($x1 - $x0) / n, ($s1 - $s0) * us, ($b1 - $b0) * us, ($w1 - $w0) * us))"
