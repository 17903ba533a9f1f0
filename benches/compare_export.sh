#!/usr/bin/env bash
# rdbkit export (jsonl and resp, to a file) vs redis-check-rdb on the same ~1 GB RDB.
#
#   bash benches/compare_export.sh [--size-mb N] [--runs N]
#
# Uses benches/data/bench-<N>mb.rdb (made by benches/gen_dataset.sh with a real Redis
# 7.0.15; generated here when missing). redis-check-rdb reads and checks every value
# but writes nothing, so it is a floor for any converter; the ratio export /
# check-rdb is what this machine's load cannot distort much (both run in the same
# session, one after the other). Output goes to a new file in a temp dir (the previous
# run's output is removed and synced before each run, untimed). The input file is
# memory-mapped, so the memory reported is RssAnon (sampled every 50 ms), not RSS.
# Writes the summary to benches/data/last-run-export.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=1000 runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --size-mb) size_mb=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: $0 [--size-mb N] [--runs N]" >&2; exit 2 ;;
  esac
done
bin="${RDBKIT_SERVERS_DIR:-$HOME/.cache/rdbkit-servers}/bin"
data=benches/data
rdb="$data/bench-${size_mb}mb.rdb"
[ -s "$rdb" ] || bash benches/gen_dataset.sh --size-mb "$size_mb"
cargo build --release --quiet
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
check="$bin/redis-7.0.15-check-rdb"
bytes=$(stat -L -c %s "$rdb")

# one timed run: prints "<wall seconds> <peak RssAnon KB>" (anonymous memory only: the
# input is memory-mapped, and its page-cache pages are not the program's memory)
timed() {
  local start end pid peak=0 anon
  start=$(date +%s.%N)
  "$@" >/dev/null 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    anon=$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ "${anon:-0}" -gt "$peak" ] && peak=$anon
    sleep 0.05
  done
  wait "$pid"
  end=$(date +%s.%N)
  echo "$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.2f", b - a}') $peak"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

source benches/fresh_cache.sh
fresh_cache "$rdb" # page cache, for every contestant alike
declare -A wall rss
for name in check-rdb jsonl resp; do
  : >"$out/$name.walls"
  for _ in $(seq "$runs"); do
    # Each run writes a new file, as an export normally does: truncating the previous
    # run's 1.6-1.9 GB output (still dirty in the page cache) inside the timed run
    # costs the kernel more than a second that belongs to no export.
    rm -f "$out/out.$name"
    sync
    case $name in
      check-rdb) r=$(timed "$check" "$rdb") ;;
      jsonl) r=$(timed ./target/release/rdbkit export "$rdb" -o "$out/out.jsonl") ;;
      resp) r=$(timed ./target/release/rdbkit export "$rdb" --format resp -o "$out/out.resp") ;;
    esac
    echo "${r% *}" >>"$out/$name.walls"
    rss[$name]=${r#* }
  done
  wall[$name]=$(median <"$out/$name.walls")
done
summary=$(
  echo "file: $bytes bytes RDB (redis-7.0.15), median of $runs runs each"
  echo "redis-check-rdb 7.0      ${wall[check-rdb]} s  peak RssAnon ${rss[check-rdb]} KB"
  for f in jsonl resp; do
    size=$(stat -c %s "$out/out.$f")
    ratio=$(awk -v a="${wall[$f]}" -v c="${wall[check-rdb]}" 'BEGIN {printf "%.3f", a / c}')
    echo "rdbkit export --format $f ${wall[$f]} s  peak RssAnon ${rss[$f]} KB  output $size bytes  RATIO export/check-rdb $ratio"
  done
)
echo "$summary" | tee "$data/last-run-export.txt"
