# Sourced by the compare scripts: `fresh_cache FILE` drops FILE's pages from the page
# cache and reads it back whole, so every timing starts from the same state.
#
# Why: on these VMs memory reclaim evicts parts of a cached file while it sits idle,
# and pages that come back one at a time (on a fault) come back as small folios.
# Mapping such a file costs the kernel several times more: `rdbkit verify` measured
# 100-120 ms of system time on a file left like that against 20-25 ms right after a
# fresh read, while tools that read() it (redis-check-rdb) barely notice. A plain
# `cat FILE` does not repair it (the pages are cached, just fragmented).
fresh_cache() {
  dd if="$1" iflag=nocache count=0 status=none 2>/dev/null || true # posix_fadvise(DONTNEED)
  cat "$1" >/dev/null
}
