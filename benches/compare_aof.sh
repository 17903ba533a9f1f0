#!/usr/bin/env bash
# rdbkit verify vs redis-check-aof on the same RESP AOF written by a real Redis 7.0.15.
#
#   bash benches/compare_aof.sh [--size-mb N] [--runs N] [--regen]
#
# Generates (once, cached in benches/data/) a plain RESP AOF of about N MB (default 400)
# by replaying generated writes into `redis-7.0.15 --appendonly yes
# --aof-use-rdb-preamble no --aof-timestamp-enabled yes`, with MULTI/EXEC blocks and
# SELECTs. Then times `rdbkit verify FILE` and `redis-check-aof FILE` (hyperfine medians
# if installed) and prints the ratio. Writes the summary to benches/data/last-run-aof.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=400 runs=5 regen=0
while [ $# -gt 0 ]; do
  case "$1" in
    --size-mb) size_mb=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --regen) regen=1; shift ;;
    *) echo "usage: $0 [--size-mb N] [--runs N] [--regen]" >&2; exit 2 ;;
  esac
done
bin="${RDBKIT_SERVERS_DIR:-$HOME/.cache/rdbkit-servers}/bin"
shared=../shared/servers
data=benches/data
out="$data/bench-aof-${size_mb}mb.aof"
mkdir -p "$data"
cargo build --release --quiet

if [ ! -s "$out" ] || [ "$regen" = 1 ]; then
  read -r port pid dir < <("$shared/start.sh" redis-7.0.15 --appendonly yes --aof-use-rdb-preamble no \
    --aof-timestamp-enabled yes --appendfsync no)
  trap '"$bin/redis-cli" -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
  python3 - "$size_mb" <<'PY' | "$bin/redis-cli" -p "$port" --pipe >/dev/null
import sys, random
random.seed(7)
target = int(sys.argv[1]) * 1_000_000
out = sys.stdout.buffer
written = 0
def cmd(*a):
    global written
    parts = [b"*%d\r\n" % len(a)]
    for x in a:
        x = x if isinstance(x, bytes) else str(x).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(x), x))
    b = b"".join(parts)
    written += len(b)
    out.write(b)
i = 0
while written < target:
    i += 1
    cmd("SET", f"user:{i}", "x" * random.randint(5, 120))
    if i % 3 == 0: cmd("HSET", f"h:{i % 50000}", f"f{i}", i)
    if i % 5 == 0: cmd("RPUSH", f"q:{i % 1000}", f"job-{i}", f"payload-{i}")
    if i % 7 == 0: cmd("SADD", f"s:{i % 2000}", i)
    if i % 11 == 0: cmd("ZADD", f"z:{i % 500}", i * 0.5, f"m{i}")
    if i % 13 == 0: cmd("PEXPIRE", f"user:{i}", 86_400_000)
    if i % 97 == 0:
        cmd("MULTI"); cmd("INCR", "counter"); cmd("SET", f"tx:{i}", i); cmd("EXEC")
    if i % 1009 == 0: cmd("SELECT", i % 4); cmd("SET", f"db-key:{i}", i); cmd("SELECT", 0)
PY
  # Everything went to the first INCR file (no rewrite ran).
  cp "$(ls -S "$dir"/appendonlydir/*.incr.aof | head -1)" "$out"
fi

bytes=$(stat -c %s "$out")
check="$bin/redis-7.0.15-check-aof"
./target/release/rdbkit verify "$out" >/dev/null
"$check" "$out" | tail -1
if command -v hyperfine >/dev/null 2>&1; then
  json=$(mktemp)
  hyperfine --warmup 1 --runs "$runs" --export-json "$json" -n rdbkit "./target/release/rdbkit verify $out" \
    -n redis-check-aof "$check $out" >&2
  summary=$(python3 - "$json" "$bytes" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
b = int(sys.argv[2])
a, c = r["rdbkit"]["median"], r["redis-check-aof"]["median"]
print(f"file: {b} bytes RESP AOF (redis-7.0.15)")
print(f"rdbkit verify       median {a:.3f}s  {b/a/1e6:.0f} MB/s")
print(f"redis-check-aof 7.0 median {c:.3f}s  {b/c/1e6:.0f} MB/s")
print(f"RATIO rdbkit / redis-check-aof: {a/c:.3f} ({c/a:.1f}x faster)")
PY
)
  rm -f "$json"
else
  summary="hyperfine not installed: apt-get install -y hyperfine"
fi
echo "$summary" | tee "$data/last-run-aof.txt"
