#!/usr/bin/env bash
# The kill -9 drill, many times: each round starts a server, loads it with concurrent reads and
# writes, kills it with SIGKILL, restarts it, and checks that every acknowledged write reads back
# exactly, every acknowledged read and write has its audit record, and the chain verifies (the e2e
# test crash::a_killed_server_keeps_every_acknowledged_write_and_read_record, which CI runs once).
#
#   bash bench/crash.sh [ROUNDS]        (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-20}
cargo test -q -p tresor --test e2e --no-run >/dev/null 2>&1
passed=0
for r in $(seq "$rounds"); do
  if out=$(cargo test -q -p tresor --test e2e crash:: -- --exact crash::a_killed_server_keeps_every_acknowledged_write_and_read_record 2>&1); then
    passed=$((passed + 1))
  else
    echo "round $r failed:" >&2
    echo "$out" | tail -30 >&2
  fi
done
echo "kill -9 drill: $passed of $rounds rounds kept every acknowledged write and read record"
[ "$passed" -eq "$rounds" ]
