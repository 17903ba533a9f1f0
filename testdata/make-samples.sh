#!/usr/bin/env bash
# Regenerates the small sample RDBs in testdata/ with real servers from ../shared/servers.
# Usage: bash testdata/make-samples.sh   (needs ../shared/servers/install.sh to have run)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared="$here/../../shared"
bin="${RDBKIT_SERVERS_DIR:-$HOME/.cache/rdbkit-servers}/bin"

make_one() { # NAME OUTFILE [server args...]
  local name=$1 out=$2; shift 2
  read -r port pid dir < <("$shared/servers/start.sh" "$name" "$@")
  cli() { "$bin/redis-cli" -p "$port" "$@" >/dev/null; }
  cli set greeting "hello world"
  cli set counter 12345
  cli set compressible "$(printf 'a%.0s' $(seq 1 200))"
  cli set session:1 token EX 100000
  cli rpush queue a b c 1 2 3
  cli sadd tags red green blue
  cli sadd ids 1 2 3 100000
  cli zadd board 1 alice 2.5 bob -3 carol
  cli hset user:1 name Ann age 41 city Oslo
  cli xadd events '1-1' kind login user ann
  cli xadd events '2-1' kind logout user ann
  cli xgroup create events audit 0
  cli xreadgroup group audit worker count 1 streams events '>'
  cli -n 2 set other-db yes
  cli -n 2 pexpire other-db 86400000
  cli save
  cp "$dir/dump.rdb" "$out"
  "$bin/redis-cli" -p "$port" shutdown nosave >/dev/null 2>&1 || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  rm -rf "$dir"
}

make_one redis-7.2.4 "$here/sample-redis-7.2.rdb"
