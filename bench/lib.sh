# What the load scripts share; sourced from the repository root. Checks for wrk, builds the
# release binary unless NO_BUILD is set, makes a work directory, and stops every process whose
# pid is added to `pids` (and removes the work directory) when the script exits.
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 2; }
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p tresor --bin tresor
bin=$PWD/target/release/tresor
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
# A free port on the loopback.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Waits until something listens on the port.
wait_port() { for _ in $(seq 200); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

# Serves a fresh store on the loopback (SQLite, management rate limit off) holding db/password
# and app:bench, which may read default/default/*. Sets TRESOR_ADDR and TRESOR_TOKEN (the
# owner's) and app_token (app:bench's).
serve_with_reader() {
  local p admin
  admin=$("$bin" init --json --data-dir "$work/data" | python3 -c 'import json,sys; print(json.load(sys.stdin)["admin_token"])')
  p=$(port)
  TRESOR_LOG=warn "$bin" serve --data-dir "$work/data" --listen "127.0.0.1:$p" --rate-management 0 >/dev/null 2>&1 &
  pids+=($!)
  wait_port "$p"
  export TRESOR_ADDR="http://127.0.0.1:$p" TRESOR_TOKEN="$admin"
  echo -n 'correct-horse-battery-staple' | "$bin" set db/password >/dev/null
  "$bin" principal create app:bench >/dev/null
  "$bin" grant add app:bench 'default/default/*' read >/dev/null
  app_token=$("$bin" token create app:bench --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
}

# token_of FIELD: the FIELD of the JSON document on stdin (init's admin_token, a token's token).
token_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# start VAR DATA_DIR [serve flags...]: serves DATA_DIR (management rate limit off) and sets VAR to
# its port. Not called in a command substitution (a subshell), so that the server's pid reaches
# `pids` and the cleanup.
start() {
  local var=$1 dir=$2; shift 2
  local p; p=$(port)
  TRESOR_LOG=warn "$bin" serve --data-dir "$dir" --listen "127.0.0.1:$p" --rate-management 0 "$@" >/dev/null 2>&1 &
  pids+=($!)
  wait_port "$p"
  printf -v "$var" '%s' "$p"
}

# seed PORT ADMIN_TOKEN -> prints an application token that may read default/default/*, after
# storing db/password.
seed() {
  export TRESOR_ADDR="http://127.0.0.1:$1" TRESOR_TOKEN="$2"
  echo -n 'correct-horse-battery-staple' | "$bin" set db/password >/dev/null
  "$bin" principal create app:bench >/dev/null
  "$bin" grant add app:bench 'default/default/*' read >/dev/null
  "$bin" token create app:bench --json | token_of token
}
