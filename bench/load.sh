#!/usr/bin/env bash
# Load benchmark of the resolution hot path: token auth, grant check, cached sealed value, decryption
# and the durable audit record, at 32 connections, beside a bare axum handler measured in the same
# run on the same machine. Prints requests/s and p99 for both, and their ratio.
#
#   bash bench/load.sh [DURATION_SECONDS]      (needs wrk: apt-get install wrk)
#   NO_BUILD=1 bash bench/load.sh ...           measures the release binaries as they are
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 2; }

[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p tresor --bin tresor
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p tresor-server --example bare
bin=target/release/tresor
bare=target/release/examples/bare
work=$(mktemp -d)
cleanup() { kill "${server_pid:-}" "${bare_pid:-}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

admin=$("$bin" init --json --data-dir "$work/data" | python3 -c 'import json,sys; print(json.load(sys.stdin)["admin_token"])')
tresor_port=$(port)
TRESOR_LOG=warn "$bin" serve --data-dir "$work/data" --listen "127.0.0.1:$tresor_port" --rate-management 0 >/dev/null 2>&1 &
server_pid=$!
wait_port "$tresor_port"
export TRESOR_ADDR="http://127.0.0.1:$tresor_port" TRESOR_TOKEN="$admin"
echo -n 'correct-horse-battery-staple' | "$bin" set db/password >/dev/null
"$bin" principal create app:bench >/dev/null
"$bin" grant add app:bench 'default/default/*' read >/dev/null
app_token=$("$bin" token create app:bench --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

bare_port=$(port)
"$bare" "127.0.0.1:$bare_port" &
bare_pid=$!
wait_port "$bare_port"

path=/api/v1/envs/default/vaults/default/values/db/password
run() { # name url -> "rps p99_ms"
  local out
  out=$(wrk -t2 -c32 -d"${duration}s" --latency -H "Authorization: Bearer $app_token" "$2")
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' <<<"$out")
  if grep -q "Non-2xx" <<<"$out"; then echo "$1: non-2xx answers during the run" >&2; grep "Non-2xx" <<<"$out" >&2; exit 1; fi
  echo "$rps $p99"
}
# Warm both up, then measure alternately so that machine noise hits both alike.
wrk -t1 -c4 -d2s -H "Authorization: Bearer $app_token" "http://127.0.0.1:$tresor_port$path" >/dev/null
read -r bare_rps bare_p99 < <(run bare "http://127.0.0.1:$bare_port$path")
read -r tresor_rps tresor_p99 < <(run tresor "http://127.0.0.1:$tresor_port$path")
ratio=$(python3 -c "print(f'{$tresor_rps / $bare_rps:.2f}')")
audit_records=$("$bin" audit verify --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"])')
printf '%-34s %12s %10s\n' "target (32 connections, ${duration}s)" "requests/s" "p99 ms"
printf '%-34s %12.0f %10.2f\n' "bare axum handler (baseline)" "$bare_rps" "$bare_p99"
printf '%-34s %12.0f %10.2f\n' "tresor resolve (auth+grant+audit)" "$tresor_rps" "$tresor_p99"
echo "ratio tresor/bare: $ratio   (target >= 0.60, p99 < 5 ms); audit records written: $audit_records"
