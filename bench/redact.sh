#!/usr/bin/env bash
# Benchmark of `tresor redact` and `tresor render` in local mode, beside `cat` measured in the same
# run on the same machine. Prints medians of several rounds:
#   - redact throughput on 20 MB and 100 MB of log with 1,000 values, vs cat, to /dev/null and to a file;
#   - start-up (an empty stdin) and peak RSS at 10, 1,000 and 10,000 values (/usr/bin/time -v);
#   - how many of the plain, base64 and percent-encoded occurrences in the 20 MB log were masked;
#   - render of a 10 MB template with 10,000 references.
# Everything it generates is deterministic and lives in a temporary directory deleted on exit.
#
#   bash bench/redact.sh
#   ROUNDS=5 bash bench/redact.sh            rounds per figure (default 3); medians are reported
#   NO_BUILD=1 bash bench/redact.sh          measures target/release/tresor as it is
#   BASELINE=/tmp/tresor-main bash bench/redact.sh
#       also measures another build (e.g. main's, copied aside) in the same rounds, run after tresor
#       each time, on the same store: a before/after that a noisy machine affects alike
#   AIRFLOW_VENV=/tmp/venv bash bench/redact.sh
#       also runs Apache Airflow's secrets masker on the 20 MB log, from a virtualenv holding
#       apache-airflow-task-sdk==1.3.2 (python3 -m venv /tmp/venv && /tmp/venv/bin/pip install
#       apache-airflow-task-sdk==1.3.2); AIRFLOW_ROUNDS=N for more than one round of it
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
[ -x /usr/bin/time ] || { echo "/usr/bin/time is not installed: apt-get install -y time" >&2; exit 2; }
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p tresor --bin tresor
bin=$PWD/target/release/tresor
baseline=${BASELINE:-}
[ -z "$baseline" ] || [ -x "$baseline" ] || { echo "BASELINE=$baseline is not an executable" >&2; exit 2; }
work=$(mktemp -d)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
# Local mode, in a store of its own (11,010 entries: above the default limit of 10,000).
export TRESOR_HOME=$work/home TRESOR_LOCAL=1 TRESOR_MAX_ENTRIES=0
unset TRESOR_ADDR TRESOR_TOKEN

# --- Data: values, logs with known occurrences, a template. ---------------------------------------
python3 - "$work" <<'PY'
import base64, json, random, sys, urllib.parse
work = sys.argv[1]
rng = random.Random(18)
TOKEN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
PASSWORD = TOKEN + "!#$%&()*+,./:;<=>?@[]^{|}~ "

def values(count):
    # API-token-like values, a third password-like with symbols and spaces.
    return ["".join(rng.choice(PASSWORD if i % 3 == 0 else TOKEN) for _ in range(8 + rng.randrange(57)))
            for i in range(count)]

sets = {n: values(n) for n in (10, 1000, 10000)}
for n, vals in sets.items():
    with open(f"{work}/values{n}.json", "w") as f:
        json.dump({f"k{i:05d}": v for i, v in enumerate(vals)}, f)
with open(f"{work}/values1000.txt", "w") as f:
    f.write("\n".join(sets[1000]))

def percent(value):
    # As URL encoders write it: every byte or only the reserved ones, upper, lower or mixed hex,
    # `+` or `%20` for a space.
    data = value.encode()
    style = rng.randrange(4)
    if style == 0:
        return "".join(f"%{b:02X}" for b in data)
    if style == 1:
        return "".join(f"%{b:02x}" for b in data)
    if style == 2:
        return "".join("%" + "".join(rng.choice((c.upper(), c.lower())) for c in f"{b:02x}") for b in data)
    return urllib.parse.quote_plus(value, safe="")

LEVELS = ["INFO", "INFO", "INFO", "DEBUG", "WARNING", "ERROR"]
WORDS = ("request completed started connection established closed timeout retrying user session "
         "token refreshed cache miss hit query took rows returned failed to the of for with upstream "
         "responded slowly batch processed").split()

def log(path, size, vals, every):
    # Airflow-task-log-like lines; one line in `every` carries a value, raw (70%), base64 (15%)
    # or percent-encoded (15%), on its own line so that masking is checked line by line.
    lines, kinds, total = [], [], 0
    while total < size:
        t = f"[2024-05-17T{rng.randrange(24):02}:{rng.randrange(60):02}:{rng.randrange(60):02}.{rng.randrange(1000):03}+0000]"
        line = (f"{t} {{taskinstance.py:{rng.randrange(3000)}}} {rng.choice(LEVELS)} - "
                + " ".join(rng.choice(WORDS) for _ in range(3 + rng.randrange(12)))
                + f" run_id=scheduled__{rng.randrange(10**6)} progress={rng.randrange(101)}%")
        kind = None
        if rng.randrange(every) == 0:
            v = rng.choice(vals)
            r = rng.random()
            if r < 0.70:
                kind, text = "plain", v
            elif r < 0.85:
                kind, text = "base64", base64.b64encode(v.encode()).decode()
            else:
                kind, text = "percent", percent(v)
            line += f" conn=postgres://u:{text}@db/x" if kind == "percent" else f" secret={text}"
            kinds.append((len(lines), kind, text))
        lines.append(line)
        total += len(line) + 1
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(path + ".occurrences.json", "w") as f:
        json.dump(kinds, f)

log(f"{work}/log20", 20 << 20, sets[1000], 60)
log(f"{work}/log100", 100 << 20, sets[1000], 60)
with open(f"{work}/template10k.txt", "w") as f:
    filler = "x" * 1000
    for i in range(10000):
        f.write(f"line {i}: {filler} ${{secret:k{i:05d}}}\n")
PY

for n in 10 1000 10000; do
  "$bin" vault create "v$n" >/dev/null
  "$bin" set --vault "v$n" "@$work/values$n.json" >/dev/null
done

# --- Helpers ------------------------------------------------------------------------------------
now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# seconds for one run of "$@" with stdin $in and stdout $out
timed() { local t0 t1; t0=$(now); "$@" <"$in" >"$out"; t1=$(now); echo "$(( (t1 - t0) / 1000 ))e-6" | awk '{printf "%.6f\n", $1}'; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN {printf "%.0f", b / s / 1e6}'; }

echo "machine: $(nproc) cores, $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "rounds: $rounds (medians)"
echo

echo "== throughput, 1,000 values (tresor's time includes its start-up) =="
printf '%-10s %-10s %12s %12s %8s' log output "cat MB/s" "redact MB/s" "ratio"
[ -z "$baseline" ] && echo || printf ' %14s %8s\n' "baseline MB/s" "ratio"
for log in log20 log100; do
  in=$work/$log
  bytes=$(stat -c %s "$in")
  for dest in /dev/null file; do
    out=/dev/null; [ "$dest" = file ] && out=$work/out
    cat_s=(); red_s=(); base_s=()
    for _ in $(seq "$rounds"); do
      cat_s+=("$(timed cat)"); rm -f "$work/out"
      red_s+=("$(timed "$bin" redact --vault v1000)"); rm -f "$work/out"
      [ -z "$baseline" ] || { base_s+=("$(timed "$baseline" redact --vault v1000)"); rm -f "$work/out"; }
    done
    c=$(printf '%s\n' "${cat_s[@]}" | median); r=$(printf '%s\n' "${red_s[@]}" | median)
    printf '%-10s %-10s %12s %12s %8s' "$log" "$dest" "$(mbps "$bytes" "$c")" "$(mbps "$bytes" "$r")" \
      "$(awk -v c="$c" -v r="$r" 'BEGIN {printf "%.2f", c / r}')"
    if [ -z "$baseline" ]; then echo; else
      b=$(printf '%s\n' "${base_s[@]}" | median)
      printf ' %14s %8s\n' "$(mbps "$bytes" "$b")" "$(awk -v c="$c" -v b="$b" 'BEGIN {printf "%.2f", c / b}')"
    fi
  done
done
echo

echo "== start-up (empty stdin) and peak RSS =="
printf '%-8s %-9s %10s %10s\n' values build "elapsed ms" "max RSS MB"
for n in 10 1000 10000; do
  for build in tresor ${baseline:+baseline}; do
    exe=$bin; [ "$build" = baseline ] && exe=$baseline
    ms=(); rss=()
    for _ in $(seq "$rounds"); do
      report=$(/usr/bin/time -v "$exe" redact --vault "v$n" </dev/null 2>&1 >/dev/null)
      ms+=("$(awk -F': ' '/Elapsed/ {split($2, t, ":"); printf "%.0f", (t[1] * 60 + t[2]) * 1000}' <<<"$report")")
      rss+=("$(awk -F': ' '/Maximum resident/ {printf "%.1f", $2 / 1024}' <<<"$report")")
    done
    printf '%-8s %-9s %10s %10s\n' "$n" "$build" "$(printf '%s\n' "${ms[@]}" | median)" "$(printf '%s\n' "${rss[@]}" | median)"
  done
done
echo

echo "== masked occurrences in the 20 MB log, 1,000 values =="
"$bin" redact --vault v1000 <"$work/log20" >"$work/log20.redacted"
count_masked() { # log redacted -> per kind "masked / inserted"
  python3 - "$1" "$2" <<'PY'
import json, sys
log, redacted = sys.argv[1], sys.argv[2]
occurrences = json.load(open(log + ".occurrences.json"))
lines = open(redacted, encoding="utf-8", errors="replace").read().split("\n")
totals, masked = {}, {}
for line, kind, text in occurrences:
    totals[kind] = totals.get(kind, 0) + 1
    if text not in lines[line]:
        masked[kind] = masked.get(kind, 0) + 1
print("  ".join(f"{k}: {masked.get(k, 0)} / {totals[k]}" for k in ("plain", "base64", "percent")))
PY
}
echo "tresor:  $(count_masked "$work/log20" "$work/log20.redacted")"
if [ -n "${AIRFLOW_VENV:-}" ]; then
  # One round by default: the masker takes minutes on 20 MB.
  airflow_s=()
  for _ in $(seq "${AIRFLOW_ROUNDS:-1}"); do
    t0=$(now)
    "$AIRFLOW_VENV/bin/python" - "$work/values1000.txt" "$work/log20" "$work/log20.airflow" <<'PY'
import sys
from airflow.sdk._shared.secrets_masker.secrets_masker import SecretsMasker
values, src, dst = sys.argv[1:]
masker = SecretsMasker()
for v in open(values).read().split("\n"):
    masker.add_mask(v)
with open(src) as f, open(dst, "w") as out:
    for line in f:
        out.write(masker.redact(line))
PY
    t1=$(now); airflow_s+=("$(( (t1 - t0) / 1000 ))e-6")
  done
  a=$(printf '%s\n' "${airflow_s[@]}" | awk '{printf "%.6f\n", $1}' | median)
  speed=$(awk -v b="$(stat -c %s "$work/log20")" -v s="$a" 'BEGIN {printf "%.2f", b / s / 1e6}')
  echo "airflow: $(count_masked "$work/log20" "$work/log20.airflow")   ($speed MB/s, start-up included)"
fi
echo

echo "== render: 10 MB template, 10,000 references =="
render_s=(); render_rss=()
for _ in $(seq "$rounds"); do
  report=$(/usr/bin/time -v "$bin" render --vault v10000 --text "$work/template10k.txt" 2>&1 >"$work/rendered")
  render_s+=("$(awk -F': ' '/Elapsed/ {split($2, t, ":"); printf "%.3f", t[1] * 60 + t[2]}' <<<"$report")")
  render_rss+=("$(awk -F': ' '/Maximum resident/ {printf "%.1f", $2 / 1024}' <<<"$report")")
done
r=$(printf '%s\n' "${render_s[@]}" | median)
in=$work/template10k.txt out=/dev/null
c=$(for _ in $(seq "$rounds"); do timed cat; done | median)
echo "render: ${r}s ($(mbps "$(stat -c %s "$work/template10k.txt")" "$r") MB/s), max RSS $(printf '%s\n' "${render_rss[@]}" | median) MB; cat: ${c}s"
