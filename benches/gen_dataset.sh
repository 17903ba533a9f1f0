#!/usr/bin/env bash
# benches/gen_dataset.sh [--size-mb N] [--out FILE] [--info FILE] [--server NAME] [--seed N]
#
# Builds the mixed benchmark RDB with a real redis-server (default redis-7.0.15 from
# /work/shared/servers): benches/gen_dataset.py writes RESP for every type (see its
# docstring), `redis-cli --pipe` loads it, a Lua script counts keys per db/type/encoding
# (and their elements) on the server, then SAVE. The RDB goes to FILE (default
# benches/data/bench-<N>mb.rdb) and the description to --info (default FILE with .txt).
# The size is approximate (scale = N / MB_PER_UNIT, calibrated on Redis 7.0.15).
set -euo pipefail
export LC_ALL=C

cd "$(dirname "$0")/.."
SIZE_MB=1000
OUT=''
INFO=''
SERVER=redis-7.0.15
SEED=20240601
while [ $# -gt 0 ]; do
  case $1 in
    --size-mb) SIZE_MB=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --info) INFO=$2; shift 2 ;;
    --server) SERVER=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gen_dataset.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
OUT=${OUT:-benches/data/bench-${SIZE_MB}mb.rdb}
INFO=${INFO:-${OUT%.rdb}.txt}
mkdir -p "$(dirname "$OUT")" "$(dirname "$INFO")"

SERVERS=${RDBKIT_SERVERS_DIR:-$HOME/.cache/rdbkit-servers}
START=${RDBKIT_START_SH:-/work/shared/servers/start.sh}
CLI=$SERVERS/bin/redis-cli
[ -x "$CLI" ] || { echo "gen_dataset.sh: $CLI missing; run /work/shared/servers/install.sh" >&2; exit 2; }

# MB of RDB per unit of --scale, measured on redis-7.0.15 (see benches/README.md)
MB_PER_UNIT=${RDBKIT_BENCH_MB_PER_UNIT:-1140}
SCALE=$(python3 -c "print(round($SIZE_MB / $MB_PER_UNIT, 6))")

T0=$SECONDS
read -r PORT PID DIR < <("$START" "$SERVER" --enable-debug-command yes --rdbcompression yes --rdbchecksum yes)
cleanup() {
  "$CLI" -p "$PORT" shutdown nosave >/dev/null 2>&1 || kill "$PID" 2>/dev/null || true
  for _ in $(seq 200); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
  rm -rf "$DIR"
}
trap cleanup EXIT
echo "gen_dataset: $SERVER on port $PORT (pid $PID), scale $SCALE (target ~${SIZE_MB} MB) -> $OUT" >&2

python3 benches/gen_dataset.py --scale "$SCALE" --seed "$SEED" \
  | "$CLI" -p "$PORT" --pipe --pipe-timeout 0 >"$DIR/pipe.out" 2>&1 || { cat "$DIR/pipe.out" >&2; exit 1; }
tail -n 2 "$DIR/pipe.out" | sed 's/^/  pipe: /' >&2
grep -q 'errors: 0,' "$DIR/pipe.out" || { echo "gen_dataset.sh: redis-cli --pipe reported errors" >&2; exit 1; }
T_LOAD=$((SECONDS - T0))

# Count per db / type / encoding, with element totals (string bytes for strings).
COUNT_LUA='
local out = {}
for db = 0, 15 do
  redis.call("SELECT", db)
  local stats, order = {}, {}
  local cursor = "0"
  repeat
    local r = redis.call("SCAN", cursor, "COUNT", 1000)
    cursor = r[1]
    for _, k in ipairs(r[2]) do
      local t = redis.call("TYPE", k)["ok"]
      local e = redis.call("OBJECT", "ENCODING", k)
      local n
      if t == "string" then n = redis.call("STRLEN", k)
      elseif t == "list" then n = redis.call("LLEN", k)
      elseif t == "set" then n = redis.call("SCARD", k)
      elseif t == "zset" then n = redis.call("ZCARD", k)
      elseif t == "hash" then n = redis.call("HLEN", k)
      elseif t == "stream" then n = redis.call("XLEN", k)
      else n = 0 end
      local id = t .. " " .. e
      local s = stats[id]
      if not s then s = {0, 0, 0}; stats[id] = s; order[#order + 1] = id end
      s[1] = s[1] + 1
      s[2] = s[2] + n
      if redis.call("PTTL", k) >= 0 then s[3] = s[3] + 1 end
    end
  until cursor == "0"
  table.sort(order)
  for _, id in ipairs(order) do
    local s = stats[id]
    out[#out + 1] = string.format("db%d %s %d %d %d", db, id, s[1], s[2], s[3])
  end
end
return out'
"$CLI" -p "$PORT" eval "$COUNT_LUA" 0 >"$DIR/counts.raw"
T_COUNT=$((SECONDS - T0))

"$CLI" -p "$PORT" save >/dev/null
T_SAVE=$((SECONDS - T0))
VERSION=$("$CLI" -p "$PORT" info server | tr -d '\r' | sed -n 's/^redis_version://p')
KEYSPACE=$("$CLI" -p "$PORT" info keyspace | tr -d '\r' | grep '^db')
USED_MEM=$("$CLI" -p "$PORT" info memory | tr -d '\r' | sed -n 's/^used_memory_human://p')
mv "$DIR/dump.rdb" "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
BYTES=$(stat -c %s "$OUT")

{
  echo "# rdbkit benchmark dataset"
  echo "file: $OUT"
  echo "bytes: $BYTES ($(python3 -c "print(f'{$BYTES/1e6:.1f} MB, {$BYTES/2**20:.1f} MiB')"))"
  echo "written by: $SERVER (redis_version $VERSION), SAVE with rdbcompression yes, rdbchecksum yes"
  echo "generator: benches/gen_dataset.py --scale $SCALE --seed $SEED (target ${SIZE_MB} MB)"
  echo "server used_memory before SAVE: $USED_MEM"
  echo "generated: $(date -u +%Y-%m-%dT%H:%M:%SZ) in ${T_SAVE}s (load ${T_LOAD}s, count $((T_COUNT - T_LOAD))s, save $((T_SAVE - T_COUNT))s)"
  echo
  echo "INFO keyspace:"
  echo "$KEYSPACE" | sed 's/^/  /'
  echo "keys_total: $(echo "$KEYSPACE" | sed -n 's/.*keys=\([0-9]*\).*/\1/p' | paste -sd+ | bc)"
  echo "expires_total: $(echo "$KEYSPACE" | sed -n 's/.*expires=\([0-9]*\).*/\1/p' | paste -sd+ | bc)"
  echo
  echo "per db / type / encoding (SCAN + TYPE + OBJECT ENCODING on the server before SAVE):"
  printf '  %-4s %-7s %-10s %10s %14s %8s\n' db type encoding keys elements with_ttl
  awk '{printf "  %-4s %-7s %-10s %10d %14d %8d\n", $1, $2, $3, $4, $5, $6}' "$DIR/counts.raw"
  echo "  (elements: string bytes for strings, LLEN/SCARD/ZCARD/HLEN/XLEN otherwise)"
  echo
  echo "per type (all dbs):"
  awk '{k[$2]+=$4; e[$2]+=$5} END {for (t in k) printf "  %-7s %10d keys %14d elements\n", t, k[t], e[t]}' "$DIR/counts.raw" | sort
} >"$INFO"
cat "$INFO" >&2
