#!/usr/bin/env bash
# benches/compare_restore.sh [--size-mb N] [--file RDB] [--runs N] [--server NAME] [-- RESTORE-ARGS...]
#
# How fast `rdbkit restore` fills an empty server compared with the server loading the
# same RDB itself, measured in one run, alternating, on the same machine:
#   reload     `DEBUG RELOAD` on a server holding the data (SAVE + flush + load: the
#              command the issue names as the reference)
#   load       `DEBUG RELOAD NOSAVE` on an empty server with the file as its dump.rdb
#              (the load alone, the stricter reference)
#   restore    `rdbkit restore FILE --to <fresh empty server>` (end to end: connect,
#              probe, write, and the final per-db count check)
# Prints the medians and the ratios restore/reload and restore/load; the summary also
# goes to benches/data/last-run-restore.txt. The dataset (~N MB, default 100) comes
# from benches/gen_dataset.sh unless --file is given.
set -euo pipefail
export LC_ALL=C

cd "$(dirname "$0")/.."
SIZE_MB=100
FILE=''
RUNS=3
SERVER=redis-7.0.15
while [ $# -gt 0 ]; do
  case $1 in
    --size-mb) SIZE_MB=$2; shift 2 ;;
    --file) FILE=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --server) SERVER=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare_restore.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
EXTRA=("$@")

SERVERS=${RDBKIT_SERVERS_DIR:-$HOME/.cache/rdbkit-servers}
CLI=$SERVERS/bin/redis-cli
START=${RDBKIT_START_SH:-/work/shared/servers/start.sh}
DATA=benches/data
mkdir -p "$DATA"
if [ -z "$FILE" ]; then
  FILE=$DATA/bench-${SIZE_MB}mb.rdb
  [ -s "$FILE" ] || bash benches/gen_dataset.sh --size-mb "$SIZE_MB" --out "$FILE"
fi
cargo build --release >/dev/null 2>&1 || { cargo build --release; exit 1; }
RDBKIT=target/release/rdbkit

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.3f}')"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

PIDS=()
DIRS=()
start_server() {
  read -r PORT PID DIR < <("$START" "$SERVER" --enable-debug-command yes)
  PIDS+=("$PID"); DIRS+=("$DIR")
}
stop_server() {
  "$CLI" -p "$PORT" shutdown nosave >/dev/null 2>&1 || kill "$PID" 2>/dev/null || true
  for _ in $(seq 200); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
  rm -rf "$DIR"
}
trap 'for i in "${!PIDS[@]}"; do kill "${PIDS[$i]}" 2>/dev/null || true; rm -rf "${DIRS[$i]}"; done' EXIT

KEYS=''
T_RELOAD=(); T_LOAD=(); T_RESTORE=()
for run in $(seq "$RUNS"); do
  start_server
  cp "$FILE" "$DIR/dump.rdb"
  t0=$(now); "$CLI" -p "$PORT" debug reload nosave >/dev/null; t1=$(now)
  T_LOAD+=("$(elapsed "$t0" "$t1")")
  KEYS=$("$CLI" -p "$PORT" dbsize)
  t0=$(now); "$CLI" -p "$PORT" debug reload >/dev/null; t1=$(now)
  T_RELOAD+=("$(elapsed "$t0" "$t1")")
  stop_server

  start_server
  t0=$(now)
  "$RDBKIT" restore "$FILE" --to "redis://127.0.0.1:$PORT" "${EXTRA[@]}" >"$DATA/restore-out.txt"
  t1=$(now)
  T_RESTORE+=("$(elapsed "$t0" "$t1")")
  got=$("$CLI" -p "$PORT" dbsize)
  [ "$got" = "$KEYS" ] || { echo "compare_restore.sh: db0 has $got keys after restore, $KEYS after load" >&2; exit 1; }
  stop_server
  echo "run $run: load ${T_LOAD[-1]}s, reload ${T_RELOAD[-1]}s, restore ${T_RESTORE[-1]}s" >&2
done

L=$(median "${T_LOAD[@]}"); R=$(median "${T_RELOAD[@]}"); X=$(median "${T_RESTORE[@]}")
{
  echo "# rdbkit restore vs the server's own load ($SERVER, $(date -u +%Y-%m-%dT%H:%M:%SZ))"
  echo "file: $FILE ($(stat -c %s "$FILE") bytes, db0 $KEYS keys)"
  echo "rdbkit: $(git rev-parse --short HEAD) $([ -n "$(git status --porcelain -- src)" ] && echo '+ uncommitted')  args: ${EXTRA[*]:-(defaults)}"
  echo "runs: $RUNS (medians)"
  echo "DEBUG RELOAD (save+flush+load): ${R}s   [${T_RELOAD[*]}]"
  echo "DEBUG RELOAD NOSAVE (load only): ${L}s   [${T_LOAD[*]}]"
  echo "rdbkit restore:                  ${X}s   [${T_RESTORE[*]}]"
  echo "ratio restore / DEBUG RELOAD: $(python3 -c "print(f'{$X / $R:.2f}')")"
  echo "ratio restore / load only:    $(python3 -c "print(f'{$X / $L:.2f}')")"
} | tee "$DATA/last-run-restore.txt"
