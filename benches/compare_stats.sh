#!/usr/bin/env bash
# rdbkit stats vs redis-check-rdb (and HDT3213/rdb -c memory if `rdb` is on PATH) on the
# same ~1 GB RDB written by a real Redis 7.0.15 (benches/gen_dataset.sh, cached in
# benches/data/).
#
#   bash benches/compare_stats.sh [--size-mb N] [--runs N] [--prefix-depth N]
#
# Prints hyperfine medians, the ratio rdbkit stats / redis-7.0.15-check-rdb measured in
# the same run, and rdbkit's peak RSS and RssAnon (anonymous memory: the heap; the rest
# of RSS is the memory-mapped file's page cache). Summary: benches/data/last-run-stats.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=1000 runs=3 depth=2
while [ $# -gt 0 ]; do
  case "$1" in
    --size-mb) size_mb=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --prefix-depth) depth=$2; shift 2 ;;
    *) echo "usage: $0 [--size-mb N] [--runs N] [--prefix-depth N]" >&2; exit 2 ;;
  esac
done
bin="${RDBKIT_SERVERS_DIR:-$HOME/.cache/rdbkit-servers}/bin"
file="benches/data/bench-${size_mb}mb.rdb"
check="$bin/redis-7.0.15-check-rdb"
command -v hyperfine >/dev/null || { echo "hyperfine missing: apt-get install -y hyperfine" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing: apt-get install -y time" >&2; exit 2; }
cargo build --release --quiet
[ -s "$file" ] || bash benches/gen_dataset.sh --size-mb "$size_mb" --out "$file"
stats="./target/release/rdbkit stats --prefix-depth $depth $file"
cmds=(-n "rdbkit stats" "$stats" -n redis-check-rdb "$check $file")
command -v rdb >/dev/null && cmds+=(-n "hdt3213 rdb -c memory" "rdb -c memory -o /dev/null $file")
json=$(mktemp)
trap 'rm -f "$json"' EXIT
source benches/fresh_cache.sh
fresh_cache "$file"
hyperfine -N --warmup 1 --runs "$runs" --export-json "$json" "${cmds[@]}" >&2
# peak RSS, and RssAnon sampled from /proc while it runs
$stats >/dev/null & pid=$!
anon=0
while kill -0 "$pid" 2>/dev/null; do
  a=$(awk '/RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
  [ "${a:-0}" -gt "$anon" ] && anon=$a
  sleep 0.01
done
wait "$pid"
rss=$( { /usr/bin/time -f '%M' $stats >/dev/null; } 2>&1 | tail -1)
python3 - "$json" "$(stat -L -c %s "$file")" "$rss" "$anon" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY' | tee benches/data/last-run-stats.txt
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
b, rss, anon, cpus, load = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
ref = r["redis-check-rdb"]["median"]
print(f"file: {b} bytes; {cpus} CPUs; load average before the summary {load}")
for name, x in r.items():
    print(f"{name:24s} median {x['median']:.3f}s  user {x['user']:.2f}s  sys {x['system']:.2f}s  ratio {x['median']/ref:.3f}")
s = r["rdbkit stats"]["median"]
print(f"RATIO rdbkit stats / redis-7.0.15-check-rdb: {s/ref:.3f} ({ref/s:.1f}x faster)")
print(f"rdbkit stats peak RSS {rss/1024:.1f} MiB (mostly the mapped file), RssAnon peak {anon/1024:.1f} MiB")
PY
