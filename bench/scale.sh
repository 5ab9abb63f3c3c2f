#!/usr/bin/env bash
# Throughput and listing latency by store size: for each size N, a fresh store loaded with N
# secrets through the bulk path (`tresor set @FILE`, in chunks of 50,000 per transaction), then
# served and measured at 32 connections (wrk -t2 -c32): reads of one value, durable writes of new
# keys, and `ls` of the first page of the vault (median of 20); plus the store's size on disk per
# entry as loaded (its audit records of the load included), and the server's peak memory (VmHWM).
#
#   bash bench/scale.sh [SECONDS] [SIZES...]      (defaults: 5 s; 1000 100000)
#   NO_BUILD=1 bash bench/scale.sh ...             measures target/release/tresor as it is
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-5}
shift || true
sizes=("${@:-1000 100000}")
read -r -a sizes <<<"${sizes[*]}"
source bench/lib.sh
cat >"$work/write.lua" <<'LUA'
local threads, counter = 0, 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
request = function()
  counter = counter + 1
  return wrk.format("PUT", string.format("/api/secrets/new_%d_%d", tid, counter), nil, "a-new-value")
end
LUA
measure() { # wrk args -> "rps p99_ms"
  local out
  out=$(wrk -t2 -c32 -d"${duration}s" --latency "$@")
  if grep -q "Non-2xx" <<<"$out"; then echo "non-2xx answers:" >&2; echo "$out" >&2; exit 1; fi
  awk '/Requests\/sec/ {r=$2} $1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; p=v} END {print r, p}' <<<"$out"
}

printf '%-10s %12s %9s %12s %9s %10s %10s %10s %9s\n' entries "reads/s" "p99 ms" "writes/s" "p99 ms" "ls ms" "load s" "B/entry" "peak MB"
for n in "${sizes[@]}"; do
  dir="$work/n$n"
  "$bin" init --json --data-dir "$dir" >"$work/init.json"
  admin=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin_token"])' "$work/init.json")
  start=$(date +%s.%N)
  for ((from = 0; from < n; from += 50000)); do
    python3 - "$from" "$(( n < from + 50000 ? n : from + 50000 ))" >"$work/chunk.json" <<'PY'
import json, sys
a, b = int(sys.argv[1]), int(sys.argv[2])
json.dump({f"k{i:07d}": f"value-{i:07d}-x" for i in range(a, b)}, sys.stdout)
PY
    TRESOR_MAX_ENTRIES=0 TRESOR_HOME="$dir" "$bin" set --local "@$work/chunk.json" >/dev/null
  done
  load=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$start" "$(date +%s.%N)")
  # The store's size per entry as loaded (before the measurements add their audit records).
  bytes=$(du -cb "$dir"/tresor.db* | tail -1 | cut -f1)
  p=$(port)
  TRESOR_LOG=warn TRESOR_MAX_ENTRIES=0 "$bin" serve --data-dir "$dir" --listen "127.0.0.1:$p" \
    --rate-management 0 --rate-entries 0 >"$work/serve.log" 2>&1 &
  pids+=($!)
  wait_port "$p"
  url="http://127.0.0.1:$p"
  wrk -t1 -c4 -d1s -H "X-Authorization: $admin" "$url/api/secrets/k0000000" >/dev/null
  read -r rrps rp99 < <(measure -H "X-Authorization: $admin" "$url/api/secrets/k$(printf '%07d' $((n / 2)))")
  read -r wrps wp99 < <(measure -H "X-Authorization: $admin" -H 'Content-Type: text/plain' -s "$work/write.lua" "$url")
  ls_ms=$(python3 - "$url" "$admin" <<'PY'
import sys, time, urllib.request
url, token = sys.argv[1], sys.argv[2]
req = lambda: urllib.request.urlopen(urllib.request.Request(
    url + "/api/v1/envs/default/vaults/default/entries?limit=100", headers={"Authorization": "Bearer " + token})).read()
req()
times = []
for _ in range(20):
    t = time.perf_counter(); req(); times.append((time.perf_counter() - t) * 1000)
times.sort()
print(f"{times[len(times) // 2]:.2f}")
PY
)
  rss_mb=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/${pids[-1]}/status")
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
  printf '%-10s %12.0f %9.2f %12.0f %9.2f %10s %10s %10d %9s\n' "$n" "$rrps" "$rp99" "$wrps" "$wp99" "$ls_ms" "$load" $((bytes / n)) "$rss_mb"
done
