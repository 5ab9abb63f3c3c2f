#!/usr/bin/env bash
# Load benchmark of the resolution hot path: token auth, grant check, cached sealed value, decryption
# and the durable audit record, at 32 connections, beside a bare axum handler measured in the same
# run on the same machine. Prints requests/s and p99 for both, and their ratio.
#
#   bash bench/load.sh [DURATION_SECONDS]      (needs wrk: apt-get install wrk)
#   NO_BUILD=1 bash bench/load.sh ...           measures the release binaries as they are
#   ROUNDS=5 bash bench/load.sh ...             alternating rounds (default 3); medians are reported
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
source bench/lib.sh
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p tresor-server --example bare
bare=target/release/examples/bare
serve_with_reader
tresor_port=${TRESOR_ADDR##*:}

bare_port=$(port)
"$bare" "127.0.0.1:$bare_port" &
pids+=($!)
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
# Warm both up, then measure alternately (bare, tresor, bare, ...) so that machine noise hits both
# alike; each round's tresor figure is compared with the mean of the bare runs on either side, and
# the medians over the rounds are reported.
wrk -t1 -c4 -d2s -H "Authorization: Bearer $app_token" "http://127.0.0.1:$tresor_port$path" >/dev/null
rounds=${ROUNDS:-3}
results=$(
  read -r rps p99 < <(run bare "http://127.0.0.1:$bare_port$path"); echo "bare $rps $p99"
  for _ in $(seq "$rounds"); do
    read -r rps p99 < <(run tresor "http://127.0.0.1:$tresor_port$path"); echo "tresor $rps $p99"
    read -r rps p99 < <(run bare "http://127.0.0.1:$bare_port$path"); echo "bare $rps $p99"
  done
)
audit_records=$("$bin" audit verify --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"])')
RESULTS="$results" DURATION="$duration" AUDIT="$audit_records" python3 - <<'PY'
import os, statistics as st
runs = [(n, float(r), float(p)) for n, r, p in (l.split() for l in os.environ["RESULTS"].splitlines())]
bare = [r for r in runs if r[0] == "bare"]
tresor = [r for r in runs if r[0] == "tresor"]
ratios = [t[1] / ((bare[i][1] + bare[i + 1][1]) / 2) for i, t in enumerate(tresor)]
med = lambda rows, k: st.median(r[k] for r in rows)
print(f"{'target (32 connections, ' + os.environ['DURATION'] + 's runs)':<36} {'requests/s':>12} {'p99 ms':>10}")
print(f"{'bare axum handler (baseline)':<36} {med(bare, 1):>12.0f} {med(bare, 2):>10.2f}")
print(f"{'tresor resolve (auth+grant+audit)':<36} {med(tresor, 1):>12.0f} {med(tresor, 2):>10.2f}")
print(f"per round, tresor/bare: {' '.join(f'{r:.2f}' for r in ratios)}")
print(f"median ratio tresor/bare: {st.median(ratios):.2f}   (the bare handler is the ceiling); "
      f"audit records written: {os.environ['AUDIT']}")
PY
