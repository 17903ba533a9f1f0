#!/usr/bin/env bash
# rdbkit export (jsonl and resp, to /dev/null and to a new file) vs redis-check-rdb on
# the same ~1 GB RDB.
#
#   bash benches/compare_export.sh [--size-mb N] [--runs N]
#
# Uses benches/data/bench-<N>mb.rdb (made by benches/gen_dataset.sh with a real Redis
# 7.0.15; generated here when missing). redis-check-rdb reads and checks every value
# but writes nothing, so it is a floor for any converter; the ratio export /
# check-rdb is what this machine's load cannot distort much (both run in the same
# session, one after the other). File output goes to a new file in a temp dir (the
# previous run's output is removed and synced before each run, untimed). The input is
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
# Two sinks per format. `-o /dev/null` times the conversion itself (what the issue's
# target is stated for). A new file adds the kernel's page-cache work for 1.6-1.9 GB of
# output, which on these VMs is bimodal: consecutive runs of the same binary measured
# 0.4 s and 1.7-2.8 s of system time, so its min/median/max are shown as they are.
declare -A wall rss spread
names=(check-rdb jsonl resp jsonl-file resp-file)
for name in "${names[@]}"; do
  : >"$out/$name.walls"
  for _ in $(seq "$runs"); do
    # Each file run writes a new file, as an export normally does: truncating the
    # previous run's output (still dirty in the page cache) inside the timed run costs
    # the kernel more than a second that belongs to no export.
    rm -f "$out/out.$name"
    sync
    case $name in
      check-rdb) r=$(timed "$check" "$rdb") ;;
      jsonl) r=$(timed ./target/release/rdbkit export "$rdb" -o /dev/null) ;;
      resp) r=$(timed ./target/release/rdbkit export "$rdb" --format resp -o /dev/null) ;;
      jsonl-file) r=$(timed ./target/release/rdbkit export "$rdb" -o "$out/out.$name") ;;
      resp-file) r=$(timed ./target/release/rdbkit export "$rdb" --format resp -o "$out/out.$name") ;;
    esac
    echo "${r% *}" >>"$out/$name.walls"
    rss[$name]=${r#* }
  done
  wall[$name]=$(median <"$out/$name.walls")
  spread[$name]=$(sort -n "$out/$name.walls" | awk '{a[NR]=$1} END {printf "%s-%s", a[1], a[NR]}')
done
summary=$(
  echo "file: $bytes bytes RDB (redis-7.0.15), median (min-max) of $runs runs each"
  echo "redis-check-rdb 7.0                    ${wall[check-rdb]} s (${spread[check-rdb]})  peak RssAnon ${rss[check-rdb]} KB"
  for f in jsonl resp; do
    size=$(stat -c %s "$out/out.$f-file")
    for sink in "" -file; do
      n=$f$sink
      ratio=$(awk -v a="${wall[$n]}" -v c="${wall[check-rdb]}" 'BEGIN {printf "%.3f", a / c}')
      to=$([ -z "$sink" ] && echo "-o /dev/null" || echo "-o NEW_FILE ")
      echo "rdbkit export --format $f $to ${wall[$n]} s (${spread[$n]})  peak RssAnon ${rss[$n]} KB  output $size bytes  RATIO export/check-rdb $ratio"
    done
  done
)
echo "$summary" | tee "$data/last-run-export.txt"
