#!/usr/bin/env python3
"""Writes the RESP commands that build rdbkit's benchmark dataset to stdout.

Used by benches/gen_dataset.sh, which pipes the output into `redis-cli --pipe`
against a real redis-server and then SAVEs. Standard library only.

The mix is fixed per unit of `--scale` (scale 1.0 is about 1 GB of RDB written by
Redis 7.0): int-encoded, short random, compressible JSON-like and big strings
(plus `DEBUG POPULATE` ones), small (listpack) and big (quicklist, LZF-compressed
nodes) lists, intsets of all three widths, small and big string sets, small
(listpack) and big (skiplist) sorted sets, small (listpack) and big (hashtable)
hashes, and streams with consumer groups, pending entries, acks and deletions.
About 10% of the keys carry a TTL (30 days ahead, so none expires before SAVE).
Keys are spread over db 0, 1 and 2. Everything is seeded: the same scale and seed
give the same commands (stream IDs are explicit, not `*`).
"""

import argparse
import base64
import random
import sys
import time

TTL_MS = b"2592000000"  # 30 days

out = sys.stdout.buffer
buf = []
buf_len = 0
n_cmds = 0


def flush():
    global buf, buf_len
    out.write(b"".join(buf))
    buf = []
    buf_len = 0


def emit(b):
    global buf_len, n_cmds
    buf.append(b)
    buf_len += len(b)
    n_cmds += 1
    if buf_len > (1 << 20):
        flush()


def bulk(b):
    return b"$%d\r\n%s\r\n" % (len(b), b)


def cmd(*args):
    return b"*%d\r\n" % len(args) + b"".join(bulk(a) for a in args)


def cmd_with(head, enc_items, n_items):
    """A command whose first arguments are `head` (plain) followed by pre-encoded items."""
    return b"*%d\r\n" % (len(head) + n_items) + b"".join(bulk(a) for a in head) + b"".join(enc_items)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=20240601)
    args = ap.parse_args()
    S = args.scale
    rnd = random.Random(args.seed)
    t0 = time.time()

    def n_of(base, minimum=1):
        return max(minimum, int(round(base * S)))

    def log(msg):
        sys.stderr.write("  gen %6.1fs  %s\n" % (time.time() - t0, msg))
        sys.stderr.flush()

    # ---- pools (built once, sliced per key) ----
    text = base64.b64encode(rnd.randbytes(24 << 20)).replace(b"+", b"-").replace(b"/", b"_")
    text_len = len(text)

    rf = rnd.random

    def rstr(lo, hi):
        n = lo + int(rf() * (hi - lo + 1))
        o = int(rf() * (text_len - n))
        return text[o:o + n]

    def rint():
        k = rnd.random()
        if k < 0.3:
            return b"%d" % rnd.randint(-128, 127)
        if k < 0.6:
            return b"%d" % rnd.randint(-32768, 32767)
        if k < 0.85:
            return b"%d" % rnd.randint(-(1 << 31), (1 << 31) - 1)
        return b"%d" % rnd.randint(-(1 << 62), 1 << 62)

    POOL = 1 << 19
    # list elements: 70% short strings, 30% integers (listpack int encodings)
    elems = [bulk(rint() if rnd.random() < 0.3 else rstr(1, 40)) for _ in range(POOL)]
    # unique set members
    members = [bulk(b"%s:%x" % (rstr(2, 20), i)) for i in range(POOL)]
    # unique zset (score, member) pairs: integer, decimal and large scores
    zpairs = []
    for i in range(POOL):
        k = i % 3
        if k == 0:
            sc = b"%d" % rnd.randint(-1000000, 1000000)
        elif k == 1:
            sc = b"%.4f" % rnd.uniform(-1e6, 1e6)
        else:
            sc = repr(rnd.uniform(0, 1) * 10 ** rnd.randint(-20, 20)).encode()
        zpairs.append(bulk(sc) + bulk(b"%s%x" % (rstr(1, 16), i)))
    # unique hash (field, value) pairs
    hpairs = []
    for i in range(POOL):
        v = rint() if rnd.random() < 0.4 else rstr(1, 60)
        hpairs.append(bulk(b"f%x:%s" % (i, rstr(0, 12))) + bulk(v))
    # distinct integers of each intset width
    ints16 = [bulk(b"%d" % v) for v in rnd.sample(range(-32768, 32768), 60000)]
    ints32 = [bulk(b"%d" % v) for v in rnd.sample(range(-(1 << 31), 1 << 31), 400000)]
    ints64 = [bulk(b"%d" % v) for v in {rnd.getrandbits(63) - (1 << 62) for _ in range(400000)}]
    words = [rstr(2, 9).lower() for _ in range(400)] + [b"the", b"and", b"of", b"to", b"redis", b"key", b"value"] * 20
    log("pools ready")

    def slice_of(pool, n):
        o = rnd.randrange(0, len(pool) - n)
        return pool[o:o + n]

    def maybe_ttl(key):
        if rnd.random() < 0.10:
            emit(cmd(b"PEXPIRE", key, TTL_MS))

    def fill(cmd_name, key, pool, total, batch=1000, per_item_args=1):
        """Adds `total` distinct pool items to `key`, `batch` per command."""
        o = rnd.randrange(0, len(pool) - total)
        for s in range(0, total, batch):
            part = pool[o + s:o + min(total, s + batch)]
            emit(cmd_with([cmd_name, key], part, len(part) * per_item_args))

    # list-compress-depth 1: big lists get LZF-compressed quicklist nodes in the RDB
    emit(cmd(b"CONFIG", b"SET", b"list-compress-depth", b"1"))

    # ================= db 0: strings, lists, hashes =================
    emit(cmd(b"SELECT", b"0"))

    # plain strings via DEBUG POPULATE ("value:N" zero-padded to 64 bytes: LZF-compressed)
    emit(cmd(b"DEBUG", b"POPULATE", b"%d" % n_of(1_000_000), b"pop", b"64"))

    # int-encoded strings (int8/16/32 encodings in the RDB; >32-bit ones stay plain)
    for i in range(n_of(1_000_000)):
        key = b"int:%d" % i
        if rnd.random() < 0.1:
            emit(cmd(b"SET", key, rint(), b"PX", TTL_MS))
        else:
            emit(cmd(b"SET", key, rint()))
    log("int strings")

    # short random strings, 1..200 bytes (mostly incompressible)
    for i in range(n_of(1_000_000)):
        key = b"str:%d:%s" % (i, rstr(0, 10))
        v = rstr(1, 200)
        if rnd.random() < 0.1:
            emit(cmd(b"SET", key, v, b"PX", TTL_MS))
        else:
            emit(cmd(b"SET", key, v))
    log("short strings")

    # compressible JSON-like documents, ~300..3000 bytes
    for i in range(n_of(150_000)):
        nw = rnd.randint(30, 400)
        doc = b'{"id":%d,"name":"user_%s","email":"%s@example.com","active":%s,"score":%d,"tags":["%s"],"bio":"%s"}' % (
            i, rstr(4, 10), rstr(4, 12), b"true" if i & 1 else b"false", rnd.randint(0, 100000),
            b'","'.join(rnd.choices(words, k=5)), b" ".join(rnd.choices(words, k=nw)))
        key = b"doc:%d" % i
        if rnd.random() < 0.1:
            emit(cmd(b"SET", key, doc, b"PX", TTL_MS))
        else:
            emit(cmd(b"SET", key, doc))
    log("documents")

    # big strings: random (incompressible) 16 KB .. 1 MB, and compressible text 64 KB .. 2 MB
    for i in range(n_of(200)):
        emit(cmd(b"SET", b"blob:%d" % i, rnd.randbytes(rnd.randint(16 << 10, 1 << 20))))
    for i in range(n_of(60)):
        n = rnd.randint(64 << 10, 2 << 20)
        chunk = b" ".join(rnd.choices(words, k=4000))
        emit(cmd(b"SET", b"bigtext:%d" % i, (chunk * (n // len(chunk) + 1))[:n]))
    log("big strings")

    # small lists (one listpack node each), 2..80 elements
    for i in range(n_of(150_000)):
        key = b"list:%d" % i
        n = rnd.randint(2, 80)
        emit(cmd_with([b"RPUSH", key], slice_of(elems, n), n))
        maybe_ttl(key)
    # big lists: quicklists of many nodes
    for i in range(n_of(30)):
        fill(b"RPUSH", b"biglist:%d" % i, elems, rnd.randint(50_000, 150_000))
    log("lists")

    # small hashes (listpack), 2..60 fields
    for i in range(n_of(150_000)):
        key = b"hash:%d" % i
        n = rnd.randint(2, 60)
        emit(cmd_with([b"HSET", key], slice_of(hpairs, n), 2 * n))
        maybe_ttl(key)
    # big hashes (hashtable)
    for i in range(n_of(20)):
        fill(b"HSET", b"bighash:%d" % i, hpairs, rnd.randint(20_000, 80_000), per_item_args=2)
    log("hashes")

    # ================= db 1: sets, sorted sets =================
    emit(cmd(b"SELECT", b"1"))

    # intsets of 16, 32 and 64-bit width, 2..500 members (set-max-intset-entries 512)
    for i in range(n_of(100_000)):
        key = b"intset:%d" % i
        pool = (ints16, ints32, ints64)[i % 3]
        n = rnd.randint(2, 500) if rnd.random() < 0.3 else rnd.randint(2, 60)
        emit(cmd_with([b"SADD", key], slice_of(pool, n), n))
        maybe_ttl(key)
    # big integer sets (too many members for an intset)
    for i in range(n_of(10)):
        fill(b"SADD", b"bigintset:%d" % i, ints32, rnd.randint(20_000, 80_000))
    # small string sets, 2..60 members
    for i in range(n_of(100_000)):
        key = b"set:%d" % i
        n = rnd.randint(2, 60)
        emit(cmd_with([b"SADD", key], slice_of(members, n), n))
        maybe_ttl(key)
    for i in range(n_of(20)):
        fill(b"SADD", b"bigset:%d" % i, members, rnd.randint(20_000, 80_000))
    log("sets")

    # small sorted sets (listpack), 2..60 entries
    for i in range(n_of(100_000)):
        key = b"zset:%d" % i
        n = rnd.randint(2, 60)
        emit(cmd_with([b"ZADD", key], slice_of(zpairs, n), 2 * n))
        maybe_ttl(key)
    # big sorted sets (skiplist; binary double scores in the RDB)
    for i in range(n_of(20)):
        fill(b"ZADD", b"bigzset:%d" % i, zpairs, rnd.randint(20_000, 80_000), per_item_args=2)
    log("sorted sets")

    # ================= db 2: streams =================
    emit(cmd(b"SELECT", b"2"))
    events = [b"click", b"view", b"buy", b"login", b"logout"]

    def stream(key, n_entries, groups):
        ms = 1_700_000_000_000 + rnd.randrange(0, 10_000_000)
        ids = []
        seq = 0
        for j in range(n_entries):
            if rnd.random() < 0.5:
                ms += rnd.randint(1, 50)
                seq = 0
            else:
                seq += 1
            sid = b"%d-%d" % (ms, seq)
            ids.append(sid)
            if rnd.random() < 0.9:  # same fields as the master entry
                emit(cmd(b"XADD", key, sid, b"event", rnd.choice(events), b"user", b"%d" % rnd.randint(1, 10 ** 6),
                         b"value", rstr(1, 24)))
            else:
                emit(cmd(b"XADD", key, sid, b"event", rnd.choice(events), b"extra", rstr(1, 40)))
        for g in range(groups):
            gname = b"group%d" % g
            emit(cmd(b"XGROUP", b"CREATE", key, gname, b"0"))
            for c in range(rnd.randint(1, 3)):
                cnt = rnd.randint(1, max(1, n_entries // 4))
                emit(cmd(b"XREADGROUP", b"GROUP", gname, b"consumer%d" % c, b"COUNT", b"%d" % cnt, b"STREAMS", key, b">"))
            # acknowledge about half of what was delivered
            acked = ids[: rnd.randint(0, max(1, n_entries // 8))]
            if acked:
                emit(cmd(b"XACK", key, gname, *acked))
        # a few deletions (deleted-entry flags inside the listpacks)
        dels = rnd.sample(ids, min(len(ids), rnd.randint(0, 5)))
        if dels:
            emit(cmd(b"XDEL", key, *dels))
        if rnd.random() < 0.1:
            emit(cmd(b"PEXPIRE", key, TTL_MS))

    for i in range(n_of(100)):
        stream(b"bigstream:%d" % i, rnd.randint(5_000, 15_000), rnd.randint(1, 3))
    for i in range(n_of(10_000)):
        stream(b"stream:%d" % i, rnd.randint(1, 12), rnd.randint(0, 2))
    log("streams")

    emit(cmd(b"SELECT", b"0"))
    flush()
    out.flush()
    log("done: %d commands" % n_cmds)


if __name__ == "__main__":
    main()
