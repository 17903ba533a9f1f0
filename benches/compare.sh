#!/usr/bin/env bash
# benches/compare.sh [--size-mb N] [--regen] [--runs N] [--other-runs N] [--checkers LIST]
#                    [--small-mb N] [--no-heap]
#
# Times `rdbkit verify FILE`, `rdbkit verify - < FILE` and every installed redis/valkey
# check-rdb that can read FILE, in one run, on one mixed RDB written by a real Redis
# 7.0.15 (generated once by benches/gen_dataset.sh into benches/data/, ~N MB, default
# 1000; --regen rebuilds it). Reports median wall times (hyperfine), the ratio
# rdbkit / redis-7.0.15-check-rdb, peak RSS (/usr/bin/time -v), an RssAnon/RssFile split
# (sampled from /proc) and rdbkit's heap peak (heaptrack). The summary goes to stdout and
# to benches/data/last-run.txt. Run from anywhere: `bash benches/compare.sh`.
#
#   --runs N         timed runs of rdbkit and redis-7.0.15-check-rdb (default 5, +1 warm-up)
#   --other-runs N   timed runs of the other check-rdb versions (default 3, +1 warm-up)
#   --checkers LIST  comma-separated server names whose check-rdb to time besides
#                    redis-7.0.15, `all` (default: every installed one that reads the
#                    file's RDB version) or `none`
#   --small-mb N     size of the second, small dataset used for the heap measurement and
#                    by `cargo bench` (default 50; 0 skips it)
#   --no-heap        skip the heaptrack measurement
#   --quiet-wait S   before timing, wait up to S seconds (default 600) until no rustc
#                    process has run for 10 s (others compile on this machine); the
#                    summary says how long it waited and whether rustc ran during timing
#   --attempts N     repeat a timing phase during which rustc ran, up to N times (default 3)
#   --timeout S      give up if one untimed run (correctness, RSS, heap) takes over S s (600)
#   --rev REV        benchmark commit REV (a clean `git archive` export built in
#                    target/bench-rev) instead of the working tree
set -euo pipefail
export LC_ALL=C

cd "$(dirname "$0")/.."
ROOT=$PWD
SIZE_MB=1000
REGEN=0
RUNS=5
OTHER_RUNS=3
CHECKERS=all
SMALL_MB=50
HEAP=1
QUIET_WAIT=600
ATTEMPTS=3
REV=''
TIMEOUT=600
while [ $# -gt 0 ]; do
  case $1 in
    --size-mb) SIZE_MB=$2; shift 2 ;;
    --regen) REGEN=1; shift ;;
    --runs) RUNS=$2; shift 2 ;;
    --other-runs) OTHER_RUNS=$2; shift 2 ;;
    --checkers) CHECKERS=$2; shift 2 ;;
    --small-mb) SMALL_MB=$2; shift 2 ;;
    --no-heap) HEAP=0; shift ;;
    --quiet-wait) QUIET_WAIT=$2; shift 2 ;;
    --attempts) ATTEMPTS=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --rev) REV=$2; shift 2 ;;
    -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

SERVERS=${RDBKIT_SERVERS_DIR:-$HOME/.cache/rdbkit-servers}
BIN=$SERVERS/bin
DATA=benches/data
FILE=$DATA/bench-${SIZE_MB}mb.rdb
SMALL=$DATA/bench-${SMALL_MB}mb.rdb
RDBKIT=target/release/rdbkit
REF=redis-7.0.15
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rdbkit-compare.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$DATA"

say() { printf '== %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { echo "compare.sh: $1 not found ($2)" >&2; exit 2; }; }
need python3 "python3 is required"
[ -x /usr/bin/time ] || { echo "compare.sh: /usr/bin/time missing: apt-get install -y time" >&2; exit 2; }
[ -x "$BIN/$REF-check-rdb" ] || { echo "compare.sh: $BIN/$REF-check-rdb missing: run /work/shared/servers/install.sh $REF" >&2; exit 2; }
HAVE_HYPERFINE=0
[ -z "${RDBKIT_BENCH_NO_HYPERFINE:-}" ] && command -v hyperfine >/dev/null 2>&1 && HAVE_HYPERFINE=1

# ---------------------------------------------------------------- build
DIRTY=$(git status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null | wc -l)
if [ -z "$REV" ]; then
  say "cargo build --release"
  if ! cargo build --release >"$WORK/build.log" 2>&1; then
    cat "$WORK/build.log" >&2; echo "compare.sh: cargo build --release failed" >&2; exit 1
  fi
  GIT_DESC="working tree at $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  if [ "$DIRTY" != 0 ]; then GIT_DESC+=" + $DIRTY uncommitted change(s) in src/Cargo"; fi
else
  # a clean export of one commit, built in its own target dir (no lock shared with others)
  SHA=$(git rev-parse --verify "$REV^{commit}") || { echo "compare.sh: no such commit: $REV" >&2; exit 2; }
  say "cargo build --release of a clean export of $REV ($SHA)"
  mkdir -p "$WORK/src"
  git archive "$SHA" | tar -x -C "$WORK/src"
  if ! CARGO_TARGET_DIR=$ROOT/target/bench-rev cargo build --release --manifest-path "$WORK/src/Cargo.toml" >"$WORK/build.log" 2>&1; then
    cat "$WORK/build.log" >&2; echo "compare.sh: cargo build --release of $REV failed" >&2; exit 1
  fi
  RDBKIT=target/bench-rev/release/rdbkit
  GIT_DESC="commit ${SHA:0:7} (clean export, --rev $REV)"
fi
tail -n 1 "$WORK/build.log" >&2
[ -x "$RDBKIT" ] || { echo "compare.sh: $RDBKIT missing after the build" >&2; exit 1; }

# ---------------------------------------------------------------- datasets
if [ "$REGEN" = 1 ] || [ ! -s "$FILE" ] || [ ! -s "${FILE%.rdb}.txt" ]; then
  say "generating $FILE (~$SIZE_MB MB) with $REF"
  bash benches/gen_dataset.sh --size-mb "$SIZE_MB" --out "$FILE"
else
  say "using cached $FILE (--regen to rebuild)"
fi
cp "${FILE%.rdb}.txt" "$DATA/dataset.txt"
if [ "$SMALL_MB" != 0 ] && [ "$SMALL" != "$FILE" ]; then
  if [ "$REGEN" = 1 ] || [ ! -s "$SMALL" ] || [ ! -s "${SMALL%.rdb}.txt" ]; then
    say "generating $SMALL (~$SMALL_MB MB)"
    bash benches/gen_dataset.sh --size-mb "$SMALL_MB" --out "$SMALL"
  fi
fi
KEYS_EXPECTED=$(sed -n 's/^keys_total: //p' "$DATA/dataset.txt")
BYTES=$(stat -c %s "$FILE")
FILE_VER=$(head -c 9 "$FILE" | tail -c 4)
FILE_VER=$((10#$FILE_VER))

# ---------------------------------------------------------------- which checkers
# A check-rdb reads files up to the RDB version its server writes (servers.tsv, column 3).
declare -a CHECK=("$REF")
if [ "$CHECKERS" != none ] && [ -s "$SERVERS/servers.tsv" ]; then
  while IFS=$'\t' read -r name _ hdr _; do
    [[ $name == \#* || $name == "$REF" ]] && continue
    [ -x "$BIN/$name-check-rdb" ] || continue
    if [ "$CHECKERS" != all ]; then
      [[ ",$CHECKERS," == *",$name,"* ]] || continue
    fi
    v=${hdr: -3}
    [[ $v =~ ^[0-9]+$ ]] || continue
    if [ $((10#$v)) -ge "$FILE_VER" ]; then CHECK+=("$name"); else say "skipping $name-check-rdb (writes $hdr, file is RDB $FILE_VER)"; fi
  done <"$SERVERS/servers.tsv"
fi

# ---------------------------------------------------------------- correctness + peak RSS
# One run of each under /usr/bin/time -v (this also warms the page cache). Every tool
# must accept the file and report the key count the server had before SAVE.
rss_of() { sed -n 's/^\s*Maximum resident set size (kbytes): //p' "$1"; }
say "correctness + peak RSS (/usr/bin/time -v), expecting $KEYS_EXPECTED keys"
# (each under `timeout $TIMEOUT`: a pathologically slow build fails here instead of hanging)
guard() { # guard LABEL command...: runs the command, explains a timeout
  local label=$1 rc=0
  shift
  "$@" || rc=$?
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then echo "compare.sh: $label took more than ${TIMEOUT}s (--timeout)" >&2; exit 1; fi
  return "$rc"
}
guard "rdbkit verify FILE" timeout "$TIMEOUT" /usr/bin/time -v "$RDBKIT" verify --json "$FILE" >"$WORK/rdbkit.json" 2>"$WORK/rdbkit.time" || true
guard "rdbkit verify - < FILE" timeout "$TIMEOUT" /usr/bin/time -v "$RDBKIT" verify --json - <"$FILE" >"$WORK/rdbkit-stdin.json" 2>"$WORK/rdbkit-stdin.time" || true
for j in rdbkit rdbkit-stdin; do
  python3 - "$WORK/$j.json" "$KEYS_EXPECTED" <<'EOF' || { grep -vE '^\s' "$WORK/$j.time" | head -20 >&2; grep -E 'Exit status|Command being timed' "$WORK/$j.time" >&2; exit 1; }
import json, sys
line = open(sys.argv[1]).readline()
if not line.strip():
    sys.exit(f"compare.sh: rdbkit printed no JSON ({sys.argv[1]})")
r = json.loads(line)
want = int(sys.argv[2])
if r["status"] != "ok" or r["keys"] != want or not (r.get("checksum") or {}).get("ok"):
    sys.exit(f"compare.sh: rdbkit said status={r['status']} keys={r['keys']} checksum={r.get('checksum')} (want ok, {want} keys, checksum ok)")
EOF
done
RSS_RDBKIT=$(rss_of "$WORK/rdbkit.time")
RSS_STDIN=$(rss_of "$WORK/rdbkit-stdin.time")
declare -A RSS_CHECK
for c in "${CHECK[@]}"; do
  guard "$c-check-rdb" timeout "$TIMEOUT" /usr/bin/time -v "$BIN/$c-check-rdb" "$FILE" >"$WORK/$c.out" 2>"$WORK/$c.time" || {
    cat "$WORK/$c.out" >&2; echo "compare.sh: $c-check-rdb failed on $FILE" >&2; exit 1; }
  grep -q 'RDB looks OK' "$WORK/$c.out" || { cat "$WORK/$c.out" >&2; echo "compare.sh: $c-check-rdb did not say OK" >&2; exit 1; }
  k=$(sed -n 's/.*\[info\] \([0-9]*\) keys read.*/\1/p' "$WORK/$c.out")
  [ "$k" = "$KEYS_EXPECTED" ] || { echo "compare.sh: $c-check-rdb read $k keys, want $KEYS_EXPECTED" >&2; exit 1; }
  RSS_CHECK[$c]=$(rss_of "$WORK/$c.time")
done

# RssAnon / RssFile of rdbkit, sampled from /proc every ~10 ms (peak RSS of the mmap run
# is mostly the file's page-cache pages, which the kernel can drop at any time).
sample_rss() { # sample_rss OUTFILE STDIN-FILE command...
  local out=$1 in=$2 pid anon=0 file=0 a f t0=$SECONDS
  shift 2
  "$@" <"$in" >/dev/null &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if [ $((SECONDS - t0)) -gt "$TIMEOUT" ]; then
      kill "$pid"; echo "compare.sh: $* took more than ${TIMEOUT}s (--timeout)" >&2; exit 1
    fi
    a=$(sed -n 's/^RssAnon:\s*\([0-9]*\).*/\1/p' "/proc/$pid/status" 2>/dev/null) || a=0
    f=$(sed -n 's/^RssFile:\s*\([0-9]*\).*/\1/p' "/proc/$pid/status" 2>/dev/null) || f=0
    [ -n "$a" ] && [ "$a" -gt "$anon" ] && anon=$a
    [ -n "$f" ] && [ "$f" -gt "$file" ] && file=$f
    sleep 0.01
  done
  wait "$pid"
  echo "$anon $file" >"$out"
}
sample_rss "$WORK/split-mmap" /dev/null "$RDBKIT" verify "$FILE"
sample_rss "$WORK/split-stdin" "$FILE" "$RDBKIT" verify -

# ---------------------------------------------------------------- heap (heaptrack)
HEAP_LINES=()
heap_peak() { # heap_peak LABEL FILE MODE(mmap|stdin)
  local label=$1 f=$2 mode=$3 out=$WORK/ht-$RANDOM
  if [ "$mode" = stdin ]; then
    guard "heaptrack $label" timeout "$TIMEOUT" heaptrack -o "$out" "$RDBKIT" verify - <"$f" >/dev/null 2>&1
  else
    guard "heaptrack $label" timeout "$TIMEOUT" heaptrack -o "$out" "$RDBKIT" verify "$f" >/dev/null 2>&1
  fi
  local p n
  p=$(heaptrack_print "$out".zst 2>/dev/null | sed -n 's/^peak heap memory consumption: //p')
  n=$(heaptrack_print "$out".zst 2>/dev/null | sed -n 's/^calls to allocation functions: \([0-9]*\).*/\1/p')
  HEAP_LINES+=("$(printf '%-34s %9s  (%s allocation calls)' "$label" "$p" "$n")")
}
if [ "$HEAP" = 1 ]; then
  if command -v heaptrack >/dev/null && command -v heaptrack_print >/dev/null; then
    say "heap peak (heaptrack)"
    heap_peak "verify FILE (mmap)" "$FILE" mmap
    heap_peak "verify - < FILE (stdin)" "$FILE" stdin
    if [ -s "$SMALL" ] && [ "$SMALL" != "$FILE" ]; then
      heap_peak "verify SMALL (mmap)" "$SMALL" mmap
      heap_peak "verify - < SMALL (stdin)" "$SMALL" stdin
    fi
  else
    HEAP_LINES+=("heaptrack not installed (apt-get install -y heaptrack); heap peak not measured")
  fi
fi

# ---------------------------------------------------------------- timing
# Other people compile in this checkout's target dir on the same 2 CPUs. Each timing
# phase waits for a quiet moment (no rustc/cc1 for 10 s), watches for compilers while
# the clock runs, and is repeated (up to --attempts times) if one ran.
source benches/fresh_cache.sh
wait_quiet() {
  local waited=0 quiet_for=0
  while [ "$waited" -lt "$QUIET_WAIT" ] && [ "$quiet_for" -lt 10 ]; do
    if pgrep -x rustc >/dev/null || pgrep -x cc1 >/dev/null; then quiet_for=0; else quiet_for=$((quiet_for + 1)); fi
    sleep 1
    waited=$((waited + 1))
  done
  if [ "$quiet_for" -ge 10 ]; then echo "quiet after waiting ${waited}s"; else echo "NOT quiet after waiting ${waited}s"; fi
}
declare -a NAMES CMDS PHASE_NOTES
NAMES=("rdbkit verify FILE" "rdbkit verify - < FILE" "$REF-check-rdb FILE")
CMDS=("$RDBKIT verify $FILE" "$RDBKIT verify - < $FILE" "$BIN/$REF-check-rdb $FILE")
for c in "${CHECK[@]:1}"; do NAMES+=("$c-check-rdb FILE"); CMDS+=("$BIN/$c-check-rdb $FILE"); done
time_cmds() { # time_cmds JSON RUNS first last (indices into NAMES/CMDS)
  local json=$1 runs=$2 i args=()
  if [ "$HAVE_HYPERFINE" = 1 ]; then
    for ((i = $3; i <= $4; i++)); do args+=(-n "${NAMES[$i]}" "${CMDS[$i]}"); done
    hyperfine --warmup 1 --runs "$runs" --export-json "$json" "${args[@]}" >&2
  else
    # fallback: bash loop with /usr/bin/time, written in hyperfine's JSON shape
    python3 - "$json" "$runs" "$3" "$4" "${NAMES[@]}" -- "${CMDS[@]}" <<'EOF'
import json, statistics, subprocess, sys, time, resource
out, runs, a, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rest = sys.argv[5:]; k = rest.index("--"); names, cmds = rest[:k], rest[k + 1:]
res = []
for i in range(a, b + 1):
    ts, us, ss = [], [], []
    for r in range(runs + 1):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN); t0 = time.perf_counter()
        subprocess.run(cmds[i], shell=True, check=True, stdout=subprocess.DEVNULL)
        t = time.perf_counter() - t0; r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if r: ts.append(t); us.append(r1.ru_utime - r0.ru_utime); ss.append(r1.ru_stime - r0.ru_stime)
    res.append({"command": names[i], "median": statistics.median(ts), "mean": statistics.mean(ts),
                "min": min(ts), "max": max(ts), "user": statistics.mean(us), "system": statistics.mean(ss), "times": ts})
    print(f"{names[i]}: median {res[-1]['median']:.3f} s", file=sys.stderr)
json.dump({"results": res}, open(out, "w"))
EOF
  fi
}
phase() { # phase LABEL JSON RUNS first last
  local label=$1 json=$2 runs=$3 first=$4 last=$5 attempt q watch busy load0
  for ((attempt = 1; attempt <= ATTEMPTS; attempt++)); do
    q=$(wait_quiet)
    fresh_cache "$FILE"
    say "timing $label ($runs runs each after 1 warm-up), attempt $attempt: machine $q"
    ( while :; do pgrep -x rustc >/dev/null && echo busy; sleep 1; done ) >"$WORK/busy" 2>/dev/null &
    watch=$!
    load0=$(cut -d' ' -f1 /proc/loadavg)
    time_cmds "$json" "$runs" "$first" "$last"
    kill "$watch" 2>/dev/null || true
    wait "$watch" 2>/dev/null || true
    busy=$(wc -l <"$WORK/busy")
    [ "$busy" = 0 ] && break
    say "rustc ran during $busy s of the $label timing"
  done
  PHASE_NOTES+=("$label: attempt $((attempt > ATTEMPTS ? ATTEMPTS : attempt)) of $ATTEMPTS, $q before it, rustc seen in $busy one-second samples during it, load avg (1 min) $load0 -> $(cut -d' ' -f1 /proc/loadavg)")
}
phase "rdbkit and $REF-check-rdb" "$WORK/main.json" "$RUNS" 0 2
if [ ${#CHECK[@]} -gt 1 ]; then
  phase "other check-rdb versions" "$WORK/others.json" "$OTHER_RUNS" 3 $((${#NAMES[@]} - 1))
fi

# ---------------------------------------------------------------- summary
{
  echo "RSS	rdbkit verify FILE	$RSS_RDBKIT"
  echo "RSS	rdbkit verify - < FILE	$RSS_STDIN"
  for c in "${CHECK[@]}"; do echo "RSS	$c-check-rdb FILE	${RSS_CHECK[$c]}"; done
  echo "SPLIT	rdbkit verify FILE	$(cat "$WORK/split-mmap")"
  echo "SPLIT	rdbkit verify - < FILE	$(cat "$WORK/split-stdin")"
  echo "RUNS	$RUNS	$OTHER_RUNS"
} >"$WORK/extra.tsv"
{
  echo "rdbkit verify vs redis-check-rdb -- $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "machine: $(nproc) CPUs ($(lscpu | sed -n 's/^Model name:\s*//p' | head -1)), $(free -g | awk '/^Mem:/{print $2}') GiB RAM, $(uname -sr)"
  echo "rdbkit: $($RDBKIT --version 2>/dev/null | head -1), $GIT_DESC, $(rustc --version 2>/dev/null), cargo build --release"
  echo "file: $FILE, $BYTES bytes, RDB $FILE_VER written by $REF, $KEYS_EXPECTED keys (contents: $DATA/dataset.txt)"
  if [ "$HAVE_HYPERFINE" = 1 ]; then echo "timing: $(hyperfine --version), warm page cache, 1 warm-up run each"; else echo "timing: python3 loop (no hyperfine), warm page cache, 1 warm-up run each"; fi
  for n in "${PHASE_NOTES[@]}"; do echo "machine state, $n"; done
  python3 - "$WORK/main.json" "$WORK/others.json" "$WORK/extra.tsv" "$BYTES" "$REF-check-rdb FILE" <<'EOF'
import json, os, sys
main, others, extra, nbytes, ref = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
res = json.load(open(main))["results"]
if os.path.exists(others):
    res += json.load(open(others))["results"]
rss, split, runs = {}, {}, None
for line in open(extra):
    f = line.rstrip("\n").split("\t")
    if f[0] == "RSS": rss[f[1]] = int(f[2])
    elif f[0] == "SPLIT": split[f[1]] = tuple(int(x) for x in f[2].split())
    elif f[0] == "RUNS": runs = f[1:]
by = {r["command"]: r for r in res}
refm = by[ref]["median"]
print()
print(f"{'command':<34} {'runs':>4} {'median':>8} {'min':>8} {'max':>8} {'CPU u+s':>8} {'MB/s':>7} {'peak RSS':>9} {'vs ref':>7}")
for r in res:
    n = len(r.get("times", [])) or "?"
    print(f"{r['command']:<34} {n:>4} {r['median']:>7.3f}s {r['min']:>7.3f}s {r['max']:>7.3f}s "
          f"{r['user'] + r['system']:>7.2f}s {nbytes / 1e6 / r['median']:>7.0f} "
          f"{rss.get(r['command'], 0) / 1024:>7.1f}MB {r['median'] / refm:>7.3f}")
m = by["rdbkit verify FILE"]["median"]; s = by["rdbkit verify - < FILE"]["median"]
print()
print(f"RATIO rdbkit verify / {ref.replace(' FILE', '')} (median wall): {m / refm:.3f}  ({refm / m:.2f}x faster)")
print(f"RATIO rdbkit verify - < FILE / {ref.replace(' FILE', '')}: {s / refm:.3f}  ({refm / s:.2f}x faster)")
cpu = lambda k: by[k]["user"] + by[k]["system"]
print(f"CPU time ratio (mean user+sys) rdbkit verify / {ref.replace(' FILE', '')}: {cpu('rdbkit verify FILE') / cpu(ref):.3f}; "
      f"stdin: {cpu('rdbkit verify - < FILE') / cpu(ref):.3f}  (CPU > wall means more than one thread)")
print("(vs ref = median / median of " + ref.replace(" FILE", "") + "; MB/s = file bytes / median; "
      "CPU u+s = mean user+system seconds; peak RSS = /usr/bin/time -v maximum resident set size)")
for k, (a, f) in split.items():
    print(f"rdbkit RSS split, {k}: RssAnon peak {a / 1024:.1f} MB, RssFile peak {f / 1024:.1f} MB "
          f"(sampled from /proc every ~10 ms; RssFile of the mmap run is the file's page cache)")
EOF
  if [ ${#HEAP_LINES[@]} -gt 0 ]; then
    echo "rdbkit heap peak (heaptrack, malloc only; SMALL = $SMALL, $(stat -c %s "$SMALL" 2>/dev/null || echo '?') bytes):"
    for l in "${HEAP_LINES[@]}"; do echo "  $l"; done
  fi
} | tee "$WORK/summary"
cp "$WORK/summary" "$DATA/last-run.txt"
say "summary written to $DATA/last-run.txt"
