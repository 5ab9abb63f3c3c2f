#!/usr/bin/env bash
# Resolution throughput by deployment, measured in one run on one machine, 32 connections in all:
#   1 node on SQLite (the default) | 1 node on PostgreSQL | 3 nodes on one PostgreSQL database
# (for 3 nodes, three wrk processes of 11/11/10 connections run at once, one per node; their
# requests/s add up). Every resolve authenticates, checks grants, decrypts and writes an audit
# record (each node to its own chain), and on PostgreSQL also checks the change number that
# keeps caches coherent. The three deployments take turns, ROUNDS times (default 3); the table
# shows medians.
#
#   [ROUNDS=3] [NO_BUILD=1] bash bench/nodes.sh [DURATION_SECONDS]
# Needs wrk and a PostgreSQL server: $TRESOR_TEST_PG (default postgres://postgres@127.0.0.1:5432),
# where it creates and drops the database tresor_bench_nodes.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
rounds=${ROUNDS:-3}
pg=${TRESOR_TEST_PG:-postgres://postgres@127.0.0.1:5432}
pg=${pg%/}
command -v psql >/dev/null || { echo "psql is not installed: apt-get install -y postgresql-client" >&2; exit 2; }
source bench/lib.sh
db=tresor_bench_nodes
drop_db() { psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; }
trap 'cleanup; drop_db' EXIT
drop_db
psql -q "$pg/postgres" -c "CREATE DATABASE $db" >/dev/null

path=/api/v1/envs/default/vaults/default/values/db/password
# wrk_run CONNECTIONS TOKEN PORT -> "rps p99_ms"
wrk_run() {
  local out rps p99
  out=$(wrk -t1 -c"$1" -d"${duration}s" --latency -H "Authorization: Bearer $2" "http://127.0.0.1:$3$path")
  if grep -q "Non-2xx" <<<"$out"; then echo "non-2xx answers during the run:" >&2; grep "Non-2xx" <<<"$out" >&2; exit 1; fi
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' <<<"$out")
  echo "$rps $p99"
}

# 1 node on SQLite.
sqlite_admin=$("$bin" init --json --data-dir "$work/sqlite" | token_of admin_token)
start sqlite_port "$work/sqlite"
sqlite_token=$(seed "$sqlite_port" "$sqlite_admin")

# 3 nodes on PostgreSQL (node 1 alone is the 1-node case), each with a copy of the root key.
pg_admin=$("$bin" init --json --data-dir "$work/pg1" --storage "$pg/$db" | token_of admin_token)
for n in 2 3; do mkdir -p "$work/pg$n"; cp "$work/pg1/root.key" "$work/pg$n/"; done
pg_ports=()
for n in 1 2 3; do start node_port "$work/pg$n" --storage "$pg/$db"; pg_ports+=("$node_port"); done
pg_token=$(seed "${pg_ports[0]}" "$pg_admin")

wrk -t1 -c4 -d2s -H "Authorization: Bearer $sqlite_token" "http://127.0.0.1:$sqlite_port$path" >/dev/null
for p in "${pg_ports[@]}"; do wrk -t1 -c4 -d1s -H "Authorization: Bearer $pg_token" "http://127.0.0.1:$p$path" >/dev/null; done

: >"$work/sqlite.txt"; : >"$work/pg1.txt"; : >"$work/pg3.txt"
for round in $(seq "$rounds"); do
  wrk_run 32 "$sqlite_token" "$sqlite_port" >>"$work/sqlite.txt"
  wrk_run 32 "$pg_token" "${pg_ports[0]}" >>"$work/pg1.txt"
  wrk_run 11 "$pg_token" "${pg_ports[0]}" >"$work/w1" &
  w1=$!
  wrk_run 11 "$pg_token" "${pg_ports[1]}" >"$work/w2" &
  w2=$!
  wrk_run 10 "$pg_token" "${pg_ports[2]}" >"$work/w3" &
  w3=$!
  wait "$w1" "$w2" "$w3"
  # Three nodes: requests/s add up, p99 is the worst node's.
  cat "$work"/w[123] | awk '{s += $1; if ($2 > m) m = $2} END {print s, m}' >>"$work/pg3.txt"
  echo "round $round of $rounds done" >&2
done

# median FILE COLUMN
median() { sort -n -k"$2" "$1" | awk -v c="$2" '{v[NR] = $c} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
sqlite_rps=$(median "$work/sqlite.txt" 1); sqlite_p99=$(median "$work/sqlite.txt" 2)
pg1_rps=$(median "$work/pg1.txt" 1); pg1_p99=$(median "$work/pg1.txt" 2)
pg3_rps=$(median "$work/pg3.txt" 1); pg3_p99=$(median "$work/pg3.txt" 2)

printf '%-36s %12s %10s %8s\n' "deployment (32 connections, ${duration}s, median of $rounds)" "requests/s" "p99 ms" "ratio"
printf '%-36s %12.0f %10.2f %8s\n' "1 node, SQLite (baseline)" "$sqlite_rps" "$sqlite_p99" "1.00"
printf '%-36s %12.0f %10.2f %8.2f\n' "1 node, PostgreSQL" "$pg1_rps" "$pg1_p99" "$(python3 -c "print($pg1_rps / $sqlite_rps)")"
printf '%-36s %12.0f %10.2f %8.2f\n' "3 nodes, one PostgreSQL" "$pg3_rps" "$pg3_p99" "$(python3 -c "print($pg3_rps / $sqlite_rps)")"
printf '%-36s %12s %10s %8.2f\n' "3 nodes / 1 node on PostgreSQL" "" "" "$(python3 -c "print($pg3_rps / $pg1_rps)")"
echo "(p99 of 3 nodes: the worst of the three; all processes and PostgreSQL share this machine's $(nproc) cores)"
