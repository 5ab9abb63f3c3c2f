#!/usr/bin/env bash
# Resolution cost with many grants in the workspace: resolves of one value by an application token
# at 32 connections (wrk -t2 -c32), first with a handful of grants, then after adding 10,000
# principals with one grant each, in the same run. A flat ratio means no request scans the
# workspace's grants (each caller's own grants and groups are looked up by principal).
#
#   bash bench/grants.sh [SECONDS] [GRANTS]      (defaults: 5 s, 10000)
#   NO_BUILD=1 bash bench/grants.sh ...           measures target/release/tresor as it is
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-5}
grants=${2:-10000}
source bench/lib.sh
serve_with_reader
app=$app_token
path=/api/v1/envs/default/vaults/default/values/db/password
measure() {
  wrk -t2 -c32 -d"${duration}s" -H "Authorization: Bearer $app" "$TRESOR_ADDR$path" | awk '/Requests\/sec/ {print $2}'
}
wrk -t1 -c4 -d1s -H "Authorization: Bearer $app" "$TRESOR_ADDR$path" >/dev/null
before=$(measure)
python3 - "$TRESOR_ADDR" "$TRESOR_TOKEN" "$grants" <<'PY'
import json, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
addr, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def post(path, body):
    req = urllib.request.Request(addr + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
def one(i):
    post("/api/v1/principals", {"principal": f"app:other{i}"})
    post("/api/v1/grants", {"principal": f"app:other{i}", "scope": f"default/default/other{i}/*", "access": "read"})
with ThreadPoolExecutor(16) as pool:
    list(pool.map(one, range(n)))
PY
after=$(measure)
python3 - "$before" "$after" "$grants" <<'PY'
import sys
before, after, n = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
print(f"resolves/s with 1 grant: {before:.0f}; with {n:,} more principals and grants: {after:.0f}; ratio {after / before:.2f}")
PY
