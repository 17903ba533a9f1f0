//! Real servers: every installed Redis/Valkey version writes a dump full of every type and
//! encoding it can produce, and the library must read back exactly what the live server
//! reports (the server is the ground truth, never a hand-written expectation).
//!
//! Needs `../shared/servers/install.sh` (see `../shared/servers/README.md`). A version missing
//! from `servers.tsv` is skipped with a message outside CI and fails in CI.
//!
//! One test per version and mode, so they run in parallel, each on its own server:
//! * `plain`: several dbs, every type and encoding, TTLs, functions; also the real binary
//!   (`rdbkit verify --json`) and truncation of the real dumps at many offsets.
//! * `lfu` / `lru`: `--maxmemory-policy allkeys-lfu|allkeys-lru`, so keys carry FREQ / IDLE.
//! * `cluster` (7.4+ and Valkey 8+): cluster mode with all slots, so the dump has SLOT_INFO
//!   opcodes (Redis) or `slot-info` AUX fields (Valkey), compared with `CLUSTER COUNTKEYSINSLOT`.
//!   Valkey 9 runs it with 16 databases (`--cluster-databases`).
//!
//! Every key the server has (`SCAN` per db) is compared with `read_all`: `TYPE`, the value
//! (`GET`, `LRANGE`, `SMEMBERS`, `ZRANGE WITHSCORES`, `HGETALL`, `XRANGE`, `XINFO`, `XPENDING`),
//! expiry (`PEXPIRETIME`, or `PTTL` before 7.0), hash field TTLs (`HPEXPIRETIME`), and that
//! `OBJECT ENCODING` maps to the RDB type the file has. `verify_bytes` and `verify_reader`
//! must agree with `INFO keyspace`. Discrepancies are collected and reported together, each
//! naming the version, db, key and field.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdbkit::rdb::owned::{read_all, OwnedKey, OwnedValue};
use rdbkit::rdb::stream::StreamId;
use rdbkit::rdb::{Checker, RdbReader, Record};
use rdbkit::verify::{verify_bytes, verify_reader, Report, Status};

use crate::support::rdbkit;
use crate::support::server::{escape, installed_rows, parse_version, Reply, Server};

/// A command as owned byte strings, from anything byte-like.
macro_rules! c {
    ($($x:expr),* $(,)?) => { vec![$(AsRef::<[u8]>::as_ref(&$x).to_vec()),*] };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Plain,
    Lfu,
    Lru,
    Cluster,
}

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

macro_rules! version_tests {
    ($($test:ident => $name:literal, $mode:ident;)*) => {$(
        #[test]
        fn $test() {
            run($name, Mode::$mode);
        }
    )*};
}

version_tests! {
    plain_redis_5_0_10 => "redis-5.0.10", Plain;
    plain_redis_6_0_9 => "redis-6.0.9", Plain;
    plain_redis_6_2_5 => "redis-6.2.5", Plain;
    plain_redis_6_2_14 => "redis-6.2.14", Plain;
    plain_redis_7_0_15 => "redis-7.0.15", Plain;
    plain_redis_7_2_4 => "redis-7.2.4", Plain;
    plain_redis_7_4_1 => "redis-7.4.1", Plain;
    plain_redis_8_0_2 => "redis-8.0.2", Plain;
    plain_redis_8_6_3 => "redis-8.6.3", Plain;
    plain_valkey_8_0_1 => "valkey-8.0.1", Plain;
    plain_valkey_8_1_1 => "valkey-8.1.1", Plain;
    plain_valkey_9_1_2 => "valkey-9.1.2", Plain;

    lfu_redis_5_0_10 => "redis-5.0.10", Lfu;
    lfu_redis_7_4_1 => "redis-7.4.1", Lfu;
    lfu_valkey_9_1_2 => "valkey-9.1.2", Lfu;
    lru_redis_6_2_14 => "redis-6.2.14", Lru;
    lru_redis_8_6_3 => "redis-8.6.3", Lru;
    lru_valkey_8_0_1 => "valkey-8.0.1", Lru;

    cluster_redis_7_4_1 => "redis-7.4.1", Cluster;
    cluster_redis_8_0_2 => "redis-8.0.2", Cluster;
    cluster_redis_8_6_3 => "redis-8.6.3", Cluster;
    cluster_valkey_8_0_1 => "valkey-8.0.1", Cluster;
    cluster_valkey_8_1_1 => "valkey-8.1.1", Cluster;
    cluster_valkey_9_1_2 => "valkey-9.1.2", Cluster;
}

/// The installer's table must list the servers these tests expect (all twelve in CI).
#[test]
fn servers_tsv_lists_installed_versions() {
    let rows = installed_rows();
    crate::require!(
        !rows.is_empty(),
        "no servers installed (run ../shared/servers/install.sh)"
    );
    for r in &rows {
        assert!(
            r.server.exists(),
            "{}: {} does not exist",
            r.name,
            r.server.display()
        );
        assert!(
            parse_version(&r.version) >= (5, 0, 0),
            "{}: odd version {:?}",
            r.name,
            r.version
        );
    }
}

/// Starts `name` for `mode`, or skips (outside CI) / fails (in CI) when it is not installed.
pub(crate) fn launch(name: &str, mode: Mode) -> Option<Server> {
    let row = installed_rows().into_iter().find(|r| r.name == name)?;
    let v = parse_version(&row.version);
    let mut args: Vec<&str> = Vec::new();
    if v >= (7, 0, 0) {
        args.extend(["--enable-debug-command", "yes"]);
    }
    match mode {
        Mode::Plain => {}
        Mode::Lfu => args.extend(["--maxmemory-policy", "allkeys-lfu"]),
        Mode::Lru => args.extend(["--maxmemory-policy", "allkeys-lru"]),
        Mode::Cluster => {
            args.extend([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ]);
            if name.starts_with("valkey") && v >= (9, 0, 0) {
                // Valkey 9 has several databases in cluster mode too
                args.extend(["--cluster-databases", "16"]);
            }
        }
    }
    Server::start(name, &args)
}

fn run(name: &str, mode: Mode) {
    let t0 = Instant::now();
    let installed = installed_rows().iter().any(|r| r.name == name);
    crate::require!(
        installed,
        "{name} is not in servers.tsv (run ../shared/servers/install.sh {name})"
    );
    let mut s = launch(name, mode).expect("installed");
    let row = installed_rows()
        .into_iter()
        .find(|r| r.name == name)
        .expect("row");
    if mode == Mode::Cluster {
        setup_cluster(&mut s);
    }

    let dbs: &[u64] = if mode == Mode::Cluster && !(s.is_valkey() && s.at_least(9, 0)) {
        &[0]
    } else {
        &[0, 1, 5]
    };
    let fill_info = fill(&mut s, dbs, mode);

    let bytes = s.save_and_read();
    let path = s.rdb_path();
    let path_str = path.display().to_string();

    let mut d = Diffs::new(format!("{name} ({mode:?})"));

    let keys = match read_all(&bytes) {
        Ok(k) => k,
        Err(e) => panic!("{name} ({mode:?}): read_all failed on the server's dump: {e}"),
    };
    // LFU/LRU metadata first: every later command may touch the keys
    if matches!(mode, Mode::Lfu | Mode::Lru) {
        check_eviction_metadata(&mut s, &keys, mode, &mut d);
    }

    // verify: ok, checksum, counts per db against INFO keyspace, producer, version
    let report = verify_bytes(&path_str, &bytes);
    check_report(&mut s, &row.rdb_header, &row.version, &report, &mut d);
    // the streaming path (what `rdbkit verify -` uses) says the same
    let streamed = verify_reader(&path_str, &bytes[..]);
    d.check(streamed == report, || {
        format!("verify_reader differs from verify_bytes: {streamed:?} vs {report:?}")
    });

    // functions
    if s.at_least(7, 0) {
        let libs = s.oks(&["FUNCTION", "LIST"]).array().len() as u64;
        d.check(report.functions == libs, || {
            format!(
                "report.functions = {} but FUNCTION LIST has {libs} libraries",
                report.functions
            )
        });
        d.check(libs == fill_info.function_libs, || {
            format!(
                "FUNCTION LIST has {libs} libraries, loaded {}",
                fill_info.function_libs
            )
        });
    }

    // cluster: the slot metadata is there
    if mode == Mode::Cluster {
        check_slot_info(&mut s, &bytes, &keys, &mut d);
    }

    // the dump really holds the layouts this test is about
    check_layout(&s, &bytes, &mut d);

    // every key, value, TTL against the live server
    let stats = compare_all(&mut s, &keys, &mut d);

    // the real binary
    let out = rdbkit(&["verify", "--json", &path_str]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    d.check(out.status.success(), || {
        format!(
            "`rdbkit verify --json {path_str}` exited {}: {stdout} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    match serde_json::from_str::<serde_json::Value>(stdout.trim()) {
        Ok(j) => {
            d.check(j["status"] == "ok", || {
                format!("rdbkit verify --json: status {} in {stdout}", j["status"])
            });
            d.check(j["keys"] == keys.len() as u64, || {
                format!(
                    "rdbkit verify --json: keys {} but {} keys read",
                    j["keys"],
                    keys.len()
                )
            });
        }
        Err(e) => d.fail(format!(
            "rdbkit verify --json printed no JSON ({e}): {stdout:?}"
        )),
    }

    // truncated copies of the real dumps
    let mut cuts = 0;
    if mode == Mode::Plain {
        cuts += check_truncations(&bytes, 50, &mut d, "mixed dump");
        let small = small_dump(&mut s);
        let r = verify_bytes("small.rdb", &small);
        d.check(r.is_ok(), || {
            format!("small dump: status {:?} {:?}", r.status, r.error)
        });
        cuts += check_truncations(&small, usize::MAX, &mut d, "small dump");
    }

    eprintln!(
        "{name} ({mode:?}): {} keys compared in dbs {:?}, {} bytes, RDB {:?}, {} truncations, file encodings {}, {:.2}s",
        stats.keys,
        stats.dbs,
        bytes.len(),
        report.rdb_version,
        cuts,
        stats
            .encodings
            .iter()
            .map(|(t, e)| format!("{t}:{}", e.iter().cloned().collect::<Vec<_>>().join("/")))
            .collect::<Vec<_>>()
            .join(" "),
        t0.elapsed().as_secs_f64()
    );
    d.finish();
}

// ---------------------------------------------------------------------------------------
// Failures are collected, then reported together (version, db, key, what differed)
// ---------------------------------------------------------------------------------------

pub(crate) struct Diffs {
    what: String,
    list: Vec<String>,
}

impl Diffs {
    pub(crate) fn new(what: String) -> Self {
        Diffs {
            what,
            list: Vec::new(),
        }
    }
    pub(crate) fn fail(&mut self, m: String) {
        self.list.push(m);
    }
    pub(crate) fn check(&mut self, ok: bool, m: impl FnOnce() -> String) {
        if !ok {
            self.list.push(m());
        }
    }
    pub(crate) fn finish(self) {
        if !self.list.is_empty() {
            let shown: Vec<&String> = self.list.iter().take(60).collect();
            panic!(
                "{}: {} discrepancies between the server and rdbkit:\n  {}{}",
                self.what,
                self.list.len(),
                shown
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join("\n  "),
                if self.list.len() > shown.len() {
                    "\n  ..."
                } else {
                    ""
                }
            );
        }
    }
}

fn k(key: &[u8]) -> String {
    format!("\"{}\"", escape(key))
}

// ---------------------------------------------------------------------------------------
// Filling the server
// ---------------------------------------------------------------------------------------

pub(crate) struct FillInfo {
    function_libs: u64,
}

/// Deterministic pseudo-random bytes (xorshift), incompressible.
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.extend_from_slice(&seed.to_le_bytes());
    }
    v.truncate(n);
    v
}

/// Does this server know hash field TTLs (HEXPIRE)?
pub(crate) fn has_field_ttl(s: &mut Server) -> bool {
    let r = s.cmds(&["COMMAND", "INFO", "hexpire"]);
    matches!(r.array().first(), Some(Reply::Array(_)))
}

fn setup_cluster(s: &mut Server) {
    s.oks(&["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]);
    let t = Instant::now();
    loop {
        let info = s.oks(&["CLUSTER", "INFO"]).text();
        if info.contains("cluster_state:ok") {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{}: cluster_state never became ok: {info}",
            s.name
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn fill(s: &mut Server, dbs: &[u64], mode: Mode) -> FillInfo {
    let field_ttl = has_field_ttl(s);
    for &db in dbs {
        // SELECT 0 is allowed in cluster mode as well
        s.oks(&["SELECT", &db.to_string()]);
        match db {
            0 => fill_db0(s, field_ttl, mode),
            1 => fill_db1(s),
            _ => fill_db5(s, field_ttl),
        }
    }
    s.oks(&["SELECT", "0"]);
    let mut function_libs = 0;
    if s.at_least(7, 0) {
        s.oks(&[
            "FUNCTION",
            "LOAD",
            "REPLACE",
            "#!lua name=mylib\nredis.register_function('f1', function() return 1 end)",
        ]);
        s.oks(&["FUNCTION", "LOAD", "REPLACE", "#!lua name=otherlib\nredis.register_function('f2', function(keys, args) return #keys end)\nredis.register_function{function_name='f3', callback=function() return 'x' end, flags={'no-writes'}}"]);
        function_libs = 2;
    }
    if mode == Mode::Lru {
        // cold keys get an idle time of a few seconds, the hot ones stay at 0
        std::thread::sleep(Duration::from_millis(2300));
        s.oks(&["GET", "str:raw"]);
        s.oks(&["LRANGE", "list:small", "0", "-1"]);
    }
    if mode == Mode::Lfu {
        let gets: Vec<Vec<Vec<u8>>> = (0..200).map(|_| c!["GET", "str:raw"]).collect();
        s.pipeline(&gets);
        let hits: Vec<Vec<Vec<u8>>> = (0..30)
            .map(|_| c!["SISMEMBER", "set:intset", "1"])
            .collect();
        s.pipeline(&hits);
    }
    FillInfo { function_libs }
}

fn fill_db0(s: &mut Server, field_ttl: bool, mode: Mode) {
    let mut b: Vec<Vec<Vec<u8>>> = Vec::new();

    // strings: raw, integer-like, LZF-compressible, binary, empty, odd key names
    b.push(c!["SET", "str:raw", "hello world"]);
    for (key, v) in [
        ("str:int", "12345"),
        ("str:neg", "-7"),
        ("str:zero", "0"),
        ("str:int8", "-128"),
        ("str:int16", "32767"),
        ("str:int32", "-2147483648"),
        ("str:int32max", "2147483647"),
        ("str:int64", "9223372036854775807"),
        ("str:int64min", "-9223372036854775808"),
        ("str:leading0", "007"),
        ("str:plus", "+5"),
        ("str:float", "3.14"),
        ("str:spaces", " 12 "),
    ] {
        b.push(c!["SET", key, v]);
    }
    b.push(c!["SET", "str:lzf", "a".repeat(200)]);
    b.push(c!["SET", "str:lzf-big", "abcdefgh".repeat(20_000)]);
    b.push(c!["SET", "str:21", "x".repeat(21)]);
    b.push(c!["SET", "str:random", noise(5000, 7)]);
    b.push(c![
        "SET",
        "str:bin",
        b"\x00\xff\x00binary\r\n\xfe\x80".as_slice()
    ]);
    b.push(c!["SET", "str:empty", ""]);
    b.push(c!["SET", "", "value of the empty key"]);
    b.push(c!["SET", "key with spaces", "v1"]);
    b.push(c!["SET", "key\nwith\r\nnewlines", "v2"]);
    b.push(c![
        "SET",
        b"\xff\xfe\x80invalid utf8\x00".as_slice(),
        b"\xc3\x28".as_slice()
    ]);
    b.push(c!["SET", "ключ 🔑", "значение"]);
    b.push(c!["SET", "str:incr", "10"]);
    b.push(c!["INCRBY", "str:incr", "1000000"]);
    b.push(c!["APPEND", "str:appended", "abc"]);
    b.push(c!["APPEND", "str:appended", "def".repeat(30)]);
    b.push(c!["SETRANGE", "str:setrange", "100", "tail"]);

    // lists: small (ziplist/listpack), integers, big (quicklist), one huge element
    b.push(c![
        "RPUSH",
        "list:small",
        "a",
        "b",
        "c",
        "1",
        "2",
        "-3",
        "",
        "hello world"
    ]);
    let mut ints = c!["RPUSH", "list:ints"];
    for v in [
        "0",
        "1",
        "-1",
        "12",
        "127",
        "128",
        "-129",
        "4095",
        "-4096",
        "32767",
        "32768",
        "8388607",
        "-8388608",
        "2147483647",
        "2147483648",
        "-2147483649",
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551615",
        "1e3",
        "0x10",
    ] {
        ints.push(v.as_bytes().to_vec());
    }
    b.push(ints);
    let mut big = c!["RPUSH", "list:big"];
    for i in 0..300 {
        big.push(format!("item-{i:05}-{}", "q".repeat(90 + i % 17)).into_bytes());
    }
    b.push(big);
    b.push(c!["LPUSH", "list:big", "head"]);
    s.pipeline(&b);
    b.clear();

    if s.version >= (7, 0, 0) && s.version < (7, 4, 0) && !s.is_valkey() {
        // Redis 7.0 and 7.2 only make plain nodes above this threshold (1 GB by default);
        // 7.4+ and Valkey 8+ do it for any element larger than the node size limit
        s.oks(&["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "8192"]);
    }
    b.push(c![
        "RPUSH",
        "list:huge-elem",
        "before",
        "x".repeat(10_000),
        "after",
        noise(20_000, 3),
        "end"
    ]);

    // a compressed quicklist (LZF nodes): depth 1 keeps head and tail plain
    s.oks(&["CONFIG", "SET", "list-compress-depth", "1"]);
    let mut comp = c!["RPUSH", "list:compressed"];
    for i in 0..600 {
        comp.push(format!("entry-{i:05}-{}", "z".repeat(70)).into_bytes());
    }
    b.push(comp);
    s.pipeline(&b);
    b.clear();
    s.oks(&["CONFIG", "SET", "list-compress-depth", "0"]);

    // sets: intsets (16/32/64-bit), small strings (listpack on 7.2+), big (hashtable)
    b.push(c!["SADD", "set:intset", "1", "2", "3", "-5", "100"]);
    b.push(c!["SADD", "set:intset32", "1", "70000", "-70000"]);
    b.push(c![
        "SADD",
        "set:intset64",
        "9223372036854775807",
        "-9223372036854775808",
        "1",
        "4294967296"
    ]);
    b.push(c!["SADD", "set:str", "a", "b", "c", "hello world", ""]);
    b.push(c!["SADD", "set:mixed", "1", "2", "x"]);
    let mut mid = c!["SADD", "set:intset-400"];
    for i in 0..400 {
        mid.push((i * 7919 - 1_000_000i64).to_string().into_bytes());
    }
    b.push(mid);
    let mut bigs = c!["SADD", "set:big"];
    for i in 0..600 {
        bigs.push(format!("member:{i}").into_bytes());
    }
    b.push(bigs);
    let mut bigi = c!["SADD", "set:bigint"];
    for i in 0..600 {
        bigi.push(i.to_string().into_bytes());
    }
    b.push(bigi);
    b.push(c!["SADD", "set:longmember", "short", "m".repeat(100)]);

    // zsets: small (ziplist/listpack), big (skiplist), special scores
    let mut zs = c!["ZADD", "zset:small"];
    for (score, m) in [
        ("inf", "a"),
        ("-inf", "b"),
        ("0", "c"),
        ("-1.5", "d"),
        ("0.1", "e"),
        ("1e300", "f"),
        ("-2.5e-300", "g"),
        ("12345678901234567", "h"),
        ("3.141592653589793", "i"),
        ("-0", "j"),
        ("1", "k"),
    ] {
        zs.push(score.as_bytes().to_vec());
        zs.push(m.as_bytes().to_vec());
    }
    b.push(zs);
    let mut bz = c!["ZADD", "zset:big"];
    for i in 0..200 {
        bz.push(format!("{}", i as f64 * 0.37 - 20.0).into_bytes());
        bz.push(format!("zm:{i}").into_bytes());
    }
    for (sc, m) in [
        ("inf", "top"),
        ("-inf", "bottom"),
        ("0", "zero"),
        ("1e308", "huge"),
        ("-1e-308", "tiny"),
    ] {
        bz.push(sc.as_bytes().to_vec());
        bz.push(m.as_bytes().to_vec());
    }
    b.push(bz);
    b.push(c![
        "ZADD",
        "zset:longmember",
        "1",
        "short",
        "2",
        "m".repeat(100)
    ]);
    b.push(c!["ZADD", "zset:same-score", "5", "b", "5", "a", "5", "c"]);
    b.push(c!["ZINCRBY", "zset:incr", "0.1", "x"]);
    b.push(c!["ZINCRBY", "zset:incr", "0.2", "x"]);

    // hashes: small (ziplist/listpack), big (hashtable), long value
    b.push(c![
        "HSET",
        "hash:small",
        "a",
        "1",
        "b",
        "2",
        "c",
        "hello",
        "",
        "empty field",
        "bin\x00",
        b"\xff\x00".as_slice()
    ]);
    let mut bh = c!["HSET", "hash:big"];
    for i in 0..200 {
        bh.push(format!("field:{i}").into_bytes());
        bh.push(format!("value-{}", i * 31).into_bytes());
    }
    b.push(bh);
    b.push(c!["HSET", "hash:longval", "f", "v".repeat(100), "g", "1"]);
    b.push(c![
        "HSET",
        "hash:ints",
        "1",
        "-1",
        "2",
        "9223372036854775807",
        "3",
        "65536"
    ]);
    b.push(c!["HINCRBY", "hash:ints", "counter", "42"]);
    s.pipeline(&b);
    b.clear();

    if field_ttl {
        fill_field_ttls(s, "hash:ttl-small", "hash:ttl-big");
    }

    // streams
    fill_streams(s, "stream:main", "stream:big");

    // TTLs on some keys of each type
    for (cmd, key, t) in [
        ("EXPIRE", "str:raw", "100000"),
        ("PEXPIRE", "str:int", "123456789"),
        ("EXPIRE", "", "5000"),
        ("PEXPIREAT", "str:lzf", "4102444800123"),
        ("EXPIREAT", "str:bin", "4102444800"),
        ("PEXPIRE", "list:small", "7777777"),
        ("EXPIRE", "list:big", "99999"),
        ("EXPIRE", "set:intset", "1000"),
        ("PEXPIRE", "set:big", "86400001"),
        ("EXPIRE", "zset:small", "3600"),
        ("PEXPIRE", "zset:big", "9000001"),
        ("EXPIRE", "hash:small", "100000"),
        ("PEXPIRE", "hash:big", "5555555"),
        ("EXPIRE", "stream:big", "100000"),
    ] {
        b.push(c![cmd, key, t]);
    }
    if mode != Mode::Cluster {
        // only in db 0 of a standalone server, so the cluster dump differs a little
        b.push(c!["SET", "str:px", "px", "PX", "60000000"]);
    }
    s.pipeline(&b);
}

fn fill_field_ttls(s: &mut Server, small: &str, big: &str) {
    let mut b: Vec<Vec<Vec<u8>>> = Vec::new();
    b.push(c![
        "HSET", small, "a", "1", "b", "2", "c", "3", "d", "4", "e", "5"
    ]);
    b.push(c!["HPEXPIRE", small, "100000000", "FIELDS", "2", "a", "b"]);
    b.push(c!["HEXPIRE", small, "5000", "FIELDS", "1", "c"]);
    let mut bh = c!["HSET", big];
    for i in 0..300 {
        bh.push(format!("f{i}").into_bytes());
        bh.push(format!("val-{i}").into_bytes());
    }
    b.push(bh);
    let mut ex = c!["HEXPIRE", big, "86400", "FIELDS", "50"];
    for i in 0..50 {
        ex.push(format!("f{}", i * 3).into_bytes());
    }
    b.push(ex);
    b.push(c![
        "HPEXPIREAT",
        big,
        "4102444800123",
        "FIELDS",
        "1",
        "f299"
    ]);
    b.push(c!["EXPIRE", big, "200000"]);
    let all = format!("{small}:all");
    b.push(c!["HSET", &all, "x", "1", "y", "2"]);
    b.push(c!["HPEXPIRE", &all, "99999999", "FIELDS", "2", "x", "y"]);
    s.pipeline(&b);
}

fn parse_id(b: &[u8]) -> StreamId {
    let t = std::str::from_utf8(b).unwrap_or_else(|_| panic!("stream id {:?}", escape(b)));
    let (ms, seq) = t.split_once('-').unwrap_or((t, "0"));
    StreamId {
        ms: ms.parse().expect("id ms"),
        seq: seq.parse().expect("id seq"),
    }
}

/// The ids an `XREADGROUP ... STREAMS key >` reply delivered.
fn delivered_ids(r: &Reply) -> Vec<Vec<u8>> {
    let mut ids = Vec::new();
    for st in r.array() {
        for e in st.array()[1].array() {
            ids.push(e.array()[0].bytes());
        }
    }
    ids
}

fn fill_streams(s: &mut Server, main: &str, big: &str) {
    let mut b: Vec<Vec<Vec<u8>>> = Vec::new();
    for i in 0..20 {
        let cmd = match i % 4 {
            0 | 1 => c![
                "XADD",
                main,
                "*",
                "temp",
                (20 + i).to_string(),
                "hum",
                (i * 3).to_string()
            ],
            2 => c![
                "XADD",
                main,
                "*",
                "event",
                "door-open",
                "who",
                b"\xff\x00bin".as_slice()
            ],
            _ => c![
                "XADD",
                main,
                "*",
                "a",
                "1",
                "b",
                "",
                "c",
                "x".repeat(100),
                "d",
                "-42",
                "e",
                "e"
            ],
        };
        b.push(cmd);
    }
    let ids: Vec<Vec<u8>> = s.pipeline(&b).iter().map(Reply::bytes).collect();
    b.clear();
    s.ok(&[b"XGROUP", b"CREATE", main.as_bytes(), b"g1", b"0"]);
    s.ok(&[b"XGROUP", b"CREATE", main.as_bytes(), b"g2", b"$"]);
    s.ok(&[b"XGROUP", b"CREATE", main.as_bytes(), b"g3", &ids[10]]);
    for i in 0..10 {
        b.push(c![
            "XADD",
            main,
            "*",
            "temp",
            (40 + i).to_string(),
            "hum",
            "50"
        ]);
    }
    s.pipeline(&b);
    b.clear();
    let r1 = s.ok(&[
        b"XREADGROUP",
        b"GROUP",
        b"g1",
        b"alice",
        b"COUNT",
        b"6",
        b"STREAMS",
        main.as_bytes(),
        b">",
    ]);
    let r2 = s.ok(&[
        b"XREADGROUP",
        b"GROUP",
        b"g1",
        b"bob",
        b"COUNT",
        b"4",
        b"STREAMS",
        main.as_bytes(),
        b">",
    ]);
    let alice = delivered_ids(&r1);
    let bob = delivered_ids(&r2);
    s.ok(&[
        b"XACK",
        main.as_bytes(),
        b"g1",
        &alice[0],
        &alice[1],
        &bob[3],
    ]);
    // re-deliver one of bob's to bob (delivery count 2)
    s.ok(&[b"XCLAIM", main.as_bytes(), b"g1", b"bob", b"0", &bob[0]]);
    s.ok(&[
        b"XREADGROUP",
        b"GROUP",
        b"g2",
        b"carol",
        b"COUNT",
        b"3",
        b"STREAMS",
        main.as_bytes(),
        b">",
    ]);
    s.ok(&[
        b"XREADGROUP",
        b"GROUP",
        b"g3",
        b"dave",
        b"COUNT",
        b"2",
        b"STREAMS",
        main.as_bytes(),
        b">",
    ]);
    if s.at_least(6, 2) {
        s.ok(&[
            b"XGROUP",
            b"CREATECONSUMER",
            main.as_bytes(),
            b"g1",
            b"idle-erin",
        ]);
    }
    // deleted entries, one of them still pending in g1
    s.ok(&[
        b"XDEL",
        main.as_bytes(),
        &ids[3],
        &ids[4],
        &ids[15],
        &alice[3],
    ]);

    // a big stream over several nodes (100 entries per node by default), explicit ids
    for i in 1..=250u64 {
        let id = format!("{}-{}", 1_000_000 + i / 3, i % 3);
        b.push(c![
            "XADD",
            big,
            id,
            "n",
            i.to_string(),
            "sq",
            (i * i).to_string()
        ]);
    }
    b.push(c!["XADD", "stream:empty", "5-1", "f", "v"]);
    b.push(c!["XDEL", "stream:empty", "5-1"]);
    b.push(c![
        "XGROUP",
        "CREATE",
        "stream:mkstream",
        "grp",
        "$",
        "MKSTREAM"
    ]);
    for i in 0..50 {
        b.push(c!["XADD", "stream:trimmed", "*", "i", i.to_string()]);
    }
    b.push(c!["XTRIM", "stream:trimmed", "MAXLEN", "10"]);
    b.push(c![
        "XADD",
        "stream:maxid",
        "18446744073709551615-18446744073709551615",
        "f",
        "v"
    ]);
    s.pipeline(&b);
    b.clear();

    // Redis 8.6+: idempotent producers (stream v4 keeps their tables)
    if matches!(
        s.cmds(&["COMMAND", "INFO", "xcfgset"]).array().first(),
        Some(Reply::Array(_))
    ) {
        let key = format!("{main}:idmp");
        // XCFGSET needs the key, and clears the tables: configure first, then add
        b.push(c!["XADD", &key, "*", "plain", "entry"]);
        b.push(c![
            "XCFGSET",
            &key,
            "IDMP-DURATION",
            "86400",
            "IDMP-MAXSIZE",
            "100"
        ]);
        for (pid, iid) in [
            ("p1", "i1"),
            ("p1", "i2"),
            ("p1", "i1"),
            ("p2", "i1"),
            ("p2", "bin\u{0}iid\u{ff}"),
        ] {
            b.push(c![
                "XADD", &key, "IDMP", pid, iid, "*", "pid", pid, "iid", iid
            ]);
        }
        b.push(c!["XADD", &key, "IDMPAUTO", "p3", "*", "auto", "1"]);
        b.push(c!["XADD", &key, "IDMPAUTO", "p3", "*", "auto", "1"]);
        b.push(c!["XADD", &key, "*", "plain", "entry2"]);
        b.push(c!["XGROUP", "CREATE", &key, "g", "0"]);
        s.pipeline(&b);
        let tracked = s
            .ok(&[b"XINFO", b"STREAM", key.as_bytes()])
            .field("iids-tracked")
            .map(Reply::int);
        assert!(
            tracked.unwrap_or(0) > 0,
            "{}: {key}: no idempotent ids tracked ({tracked:?})",
            s.name
        );
    }
}

fn fill_db1(s: &mut Server) {
    // same names as in db 0, other values
    s.pipeline(&[
        c!["SET", "str:raw", "db1 value"],
        c!["EXPIRE", "str:raw", "2000"],
        c!["SET", "str:int", "-99"],
        c!["RPUSH", "list:small", "x", "y"],
        c!["SADD", "set:intset", "7", "8", "9"],
        c!["PEXPIRE", "set:intset", "1234567"],
        c!["ZADD", "zset:small", "1", "one"],
        c!["HSET", "hash:small", "k", "v"],
        c!["SET", "only:db1", "here"],
    ]);
}

fn fill_db5(s: &mut Server, field_ttl: bool) {
    let mut b = vec![
        c!["HSET", "h5", "f", "v"],
        c!["EXPIRE", "h5", "31536000"],
        c!["SET", "s5", "x".repeat(64)],
        c!["ZADD", "z5", "-1", "m"],
    ];
    b.push(c!["SADD", "set5", "a", "1"]);
    s.pipeline(&b);
    fill_streams(s, "x5", "x5:big");
    if field_ttl {
        fill_field_ttls(s, "ht5", "ht5:big");
    }
}

/// A few small keys (the functions loaded earlier stay), for cutting at every offset.
fn small_dump(s: &mut Server) -> Vec<u8> {
    s.oks(&["FLUSHALL"]);
    s.pipeline(&[
        c!["SET", "k", "v"],
        c!["EXPIRE", "k", "1000"],
        c!["SET", "n", "42"],
        c!["RPUSH", "l", "a", "b"],
        c!["SADD", "s", "1", "2"],
        c!["SADD", "t", "x"],
        c!["HSET", "h", "f", "v"],
        c!["ZADD", "z", "1.5", "m"],
        c!["XADD", "x", "1-1", "f", "v"],
        c!["XGROUP", "CREATE", "x", "g", "0"],
        c!["XREADGROUP", "GROUP", "g", "c", "STREAMS", "x", ">"],
        c!["SELECT", "2"],
        c!["SET", "k2", "a".repeat(40)],
        c!["SELECT", "0"],
    ]);
    s.save_and_read()
}

// ---------------------------------------------------------------------------------------
// Comparing
// ---------------------------------------------------------------------------------------

/// `INFO keyspace` → db → (keys, expires).
pub(crate) fn keyspace(s: &mut Server) -> BTreeMap<u64, (u64, u64)> {
    let info = s.oks(&["INFO", "keyspace"]).text();
    let mut m = BTreeMap::new();
    for line in info.lines() {
        let Some((db, rest)) = line.trim().split_once(':') else {
            continue;
        };
        let Some(n) = db.strip_prefix("db").and_then(|n| n.parse().ok()) else {
            continue;
        };
        let mut keys = 0;
        let mut expires = 0;
        for kv in rest.split(',') {
            match kv.split_once('=') {
                Some(("keys", v)) => keys = v.parse().unwrap_or(0),
                Some(("expires", v)) => expires = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        m.insert(n, (keys, expires));
    }
    m
}

fn check_report(s: &mut Server, rdb_header: &str, version: &str, report: &Report, d: &mut Diffs) {
    d.check(report.is_ok(), || {
        format!(
            "verify_bytes: status {:?}, error {:?}",
            report.status, report.error
        )
    });
    match &report.checksum {
        Some(c) => d.check(c.ok && !c.disabled, || format!("checksum not ok: {c:?}")),
        None => d.fail("verify_bytes reported no checksum".into()),
    }
    d.check(report.trailing_bytes == 0, || {
        format!("{} trailing bytes", report.trailing_bytes)
    });
    let want_ver: Option<u32> = rdb_header
        .get(rdb_header.len().saturating_sub(3)..)
        .and_then(|v| v.parse().ok());
    d.check(report.rdb_version == want_ver, || {
        format!(
            "rdb_version {:?}, the server writes {rdb_header}",
            report.rdb_version
        )
    });
    let family = if s.is_valkey() { "valkey" } else { "redis" };
    let want_producer = format!("{family} {version}");
    d.check(
        report.producer.as_deref() == Some(want_producer.as_str()),
        || format!("producer {:?}, expected {want_producer:?}", report.producer),
    );
    d.check(report.already_expired == 0, || {
        format!("{} keys already expired", report.already_expired)
    });
    d.check(report.warnings_total == 0, || {
        format!(
            "{} warnings on a dump the server wrote: {:?}",
            report.warnings_total, report.warnings
        )
    });

    let ks = keyspace(s);
    let file: BTreeMap<u64, (u64, u64)> = report
        .dbs
        .iter()
        .map(|(k, c)| (k.parse().unwrap_or(u64::MAX), (c.keys, c.expires)))
        .collect();
    d.check(file == ks, || {
        format!("per-db (keys, expires): file {file:?}, INFO keyspace {ks:?}")
    });
    let total: u64 = ks.values().map(|v| v.0).sum();
    let total_exp: u64 = ks.values().map(|v| v.1).sum();
    d.check(report.keys == total && report.expires == total_exp, || {
        format!(
            "report keys/expires {}/{}, server {total}/{total_exp}",
            report.keys, report.expires
        )
    });
}

/// Checks the fill produced what it aims at, in the file itself: LZF-compressed quicklist
/// nodes, plain quicklist nodes (7.0+), LZF and integer-encoded strings.
fn check_layout(s: &Server, bytes: &[u8], d: &mut Diffs) {
    use rdbkit::rdb::{RdbStr, Value};
    let mut r = RdbReader::new(bytes, Checker::default()).expect("header");
    let mut seen = BTreeSet::new();
    while let Some(rec) = r.next_record().expect("record") {
        let Record::Key(kr) = rec else { continue };
        if kr.db != Some(0) {
            continue;
        }
        let name = kr.key.to_vec().expect("key");
        match (name.as_slice(), &kr.value) {
            (b"list:compressed" | b"list:huge-elem", Value::Quicklist { nodes, items, v2 }) => {
                let mut c = items.cursor();
                let mut lzf = 0;
                let mut plain = 0;
                for _ in 0..*nodes {
                    let container = if *v2 {
                        c.length().expect("container")
                    } else {
                        2
                    };
                    if container == 1 {
                        plain += 1;
                    }
                    if matches!(c.string().expect("node"), RdbStr::Lzf { .. }) {
                        lzf += 1;
                    }
                }
                if name == b"list:compressed" {
                    d.check(lzf > 0, || format!("list:compressed: none of its {nodes} quicklist nodes is LZF-compressed"));
                    seen.insert("lzf-node");
                } else if s.at_least(7, 0) {
                    d.check(plain > 0, || {
                        format!(
                            "list:huge-elem: none of its {nodes} quicklist nodes is a plain node"
                        )
                    });
                    seen.insert("plain-node");
                }
            }
            (b"str:lzf" | b"str:lzf-big", v) => {
                d.check(matches!(v, Value::String(RdbStr::Lzf { .. })), || {
                    format!("{}: not LZF-compressed in the file: {v:?}", escape(&name))
                });
                seen.insert("lzf-string");
            }
            (b"str:int" | b"str:int32", v) => {
                d.check(matches!(v, Value::String(RdbStr::Int(_))), || {
                    format!("{}: not int-encoded in the file: {v:?}", escape(&name))
                });
                seen.insert("int-string");
            }
            _ => {}
        }
    }
    let want: &[&str] = if s.at_least(7, 0) {
        &["lzf-node", "plain-node", "lzf-string", "int-string"]
    } else {
        &["lzf-node", "lzf-string", "int-string"]
    };
    for w in want {
        d.check(seen.contains(w), || {
            format!("layout check: no {w} key found in db 0")
        });
    }
}

fn check_slot_info(s: &mut Server, bytes: &[u8], keys: &[OwnedKey], d: &mut Diffs) {
    // (db, slot) → keys per the file's slot metadata
    let mut meta: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    let mut r = RdbReader::new(bytes, Checker::default()).expect("header");
    let mut db = 0;
    let mut records = 0;
    let mut aux_fields = 0;
    while let Some(rec) = r.next_record().expect("record") {
        match rec {
            Record::SelectDb { db: n } => db = n,
            Record::SlotInfo { slot, keys, .. } => {
                records += 1;
                meta.insert((db, slot), keys);
            }
            Record::Aux { key, value } if key.to_string_lossy() == "slot-info" => {
                // Valkey: "slot,keys,expires"
                aux_fields += 1;
                let v = value.to_string_lossy();
                let n: Vec<u64> = v
                    .split(|c: char| !c.is_ascii_digit())
                    .filter(|x| !x.is_empty())
                    .filter_map(|x| x.parse().ok())
                    .collect();
                match n.as_slice() {
                    [slot, keys, ..] => {
                        meta.insert((db, *slot), *keys);
                    }
                    _ => d.fail(format!(
                        "slot-info AUX field {v:?} is not slot,keys,expires"
                    )),
                }
            }
            _ => {}
        }
    }
    eprintln!(
        "{}: cluster dump has {records} SLOT_INFO records, {aux_fields} slot-info AUX fields",
        s.name
    );
    if s.is_valkey() {
        d.check(aux_fields > 0, || {
            "cluster dump without slot-info AUX fields".into()
        });
    } else {
        d.check(records > 0, || {
            "cluster dump without SLOT_INFO records".into()
        });
    }
    // against the server: CLUSTER COUNTKEYSINSLOT for every slot that has keys
    let mut live: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    let dbs: BTreeSet<u64> = keys
        .iter()
        .filter_map(|k| k.db)
        .chain(meta.keys().map(|k| k.0))
        .collect();
    for db in dbs {
        s.oks(&["SELECT", &db.to_string()]);
        let mut slots = BTreeSet::new();
        for key in keys.iter().filter(|k| k.db == Some(db)) {
            slots.insert(s.ok(&[b"CLUSTER", b"KEYSLOT", &key.key]).int() as u64);
        }
        slots.extend(meta.keys().filter(|k| k.0 == db).map(|k| k.1));
        for slot in slots {
            let n = s
                .oks(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()])
                .int() as u64;
            live.insert((db, slot), n);
        }
    }
    s.oks(&["SELECT", "0"]);
    live.retain(|_, n| *n > 0);
    d.check(meta == live, || {
        format!("(db, slot) → keys: file slot metadata {meta:?}, CLUSTER COUNTKEYSINSLOT {live:?}")
    });
}

fn check_eviction_metadata(s: &mut Server, keys: &[OwnedKey], mode: Mode, d: &mut Diffs) {
    let mut max_idle = 0;
    let mut max_freq = 0;
    for key in keys {
        if key.db != Some(0) {
            s.oks(&["SELECT", &key.db.unwrap_or(0).to_string()]);
        }
        let name = k(&key.key);
        match mode {
            Mode::Lfu => {
                let live = s.ok(&[b"OBJECT", b"FREQ", &key.key]).int();
                match key.lfu_freq {
                    Some(f) => {
                        max_freq = max_freq.max(f);
                        // a minute boundary between SAVE and OBJECT FREQ can decay it by one
                        d.check((f as i64 - live).abs() <= 1, || format!("db {:?} key {name}: lfu_freq {f}, OBJECT FREQ {live}", key.db));
                    }
                    None => d.fail(format!("db {:?} key {name}: no lfu_freq in an allkeys-lfu dump (OBJECT FREQ {live})", key.db)),
                }
                d.check(key.idle_seconds.is_none(), || {
                    format!(
                        "key {name}: idle_seconds {:?} in an LFU dump",
                        key.idle_seconds
                    )
                });
            }
            Mode::Lru => {
                let live = s.ok(&[b"OBJECT", b"IDLETIME", &key.key]).int();
                match key.idle_seconds {
                    Some(i) => {
                        max_idle = max_idle.max(i);
                        d.check((i as i64 - live).abs() <= 2, || {
                            format!("db {:?} key {name}: idle_seconds {i}, OBJECT IDLETIME {live}", key.db)
                        });
                    }
                    None => d.fail(format!("db {:?} key {name}: no idle_seconds in an allkeys-lru dump (OBJECT IDLETIME {live})", key.db)),
                }
                d.check(key.lfu_freq.is_none(), || {
                    format!("key {name}: lfu_freq {:?} in an LRU dump", key.lfu_freq)
                });
            }
            _ => {}
        }
        if key.db != Some(0) {
            s.oks(&["SELECT", "0"]);
        }
    }
    match mode {
        Mode::Lfu => d.check(max_freq > 5, || {
            format!("no key with a raised LFU counter (max {max_freq})")
        }),
        Mode::Lru => d.check(max_idle >= 1, || {
            format!("no key with an idle time (max {max_idle})")
        }),
        _ => {}
    }
}

#[derive(Default)]
pub(crate) struct Stats {
    keys: usize,
    dbs: Vec<u64>,
    /// type → RDB encodings seen.
    encodings: BTreeMap<&'static str, BTreeSet<&'static str>>,
    /// type → `OBJECT ENCODING`s seen on the server.
    live_encodings: BTreeMap<&'static str, BTreeSet<String>>,
}

pub(crate) fn scan_all(s: &mut Server) -> BTreeSet<Vec<u8>> {
    let mut out = BTreeSet::new();
    let mut cursor = b"0".to_vec();
    loop {
        let r = s.ok(&[b"SCAN", &cursor, b"COUNT", b"1000"]);
        let a = r.array();
        cursor = a[0].bytes();
        for key in a[1].array() {
            out.insert(key.bytes());
        }
        if cursor == b"0" {
            break;
        }
    }
    out
}

pub(crate) fn server_now_ms(s: &mut Server) -> i64 {
    let t = s.oks(&["TIME"]);
    let a = t.array();
    a[0].int() * 1000 + a[1].int() / 1000
}

pub(crate) fn compare_all(s: &mut Server, keys: &[OwnedKey], d: &mut Diffs) -> Stats {
    let mut stats = Stats::default();
    let mut by_db: BTreeMap<u64, BTreeMap<Vec<u8>, &OwnedKey>> = BTreeMap::new();
    for key in keys {
        let Some(db) = key.db else {
            d.fail(format!(
                "key {} has no db (no SELECTDB before it)",
                k(&key.key)
            ));
            continue;
        };
        if by_db
            .entry(db)
            .or_default()
            .insert(key.key.clone(), key)
            .is_some()
        {
            d.fail(format!(
                "db {db}: key {} appears twice in the file",
                k(&key.key)
            ));
        }
        stats
            .encodings
            .entry(key.type_name)
            .or_default()
            .insert(key.encoding);
    }
    let mut dbs: BTreeSet<u64> = keyspace(s).keys().copied().collect();
    dbs.extend(by_db.keys().copied());
    for db in dbs {
        s.oks(&["SELECT", &db.to_string()]);
        stats.dbs.push(db);
        let live = scan_all(s);
        let empty = BTreeMap::new();
        let file = by_db.get(&db).unwrap_or(&empty);
        for key in live.iter().filter(|key| !file.contains_key(*key)) {
            d.fail(format!(
                "db {db}: key {} is on the server but not in the file",
                k(key)
            ));
        }
        for key in file.keys().filter(|key| !live.contains(*key)) {
            d.fail(format!(
                "db {db}: key {} is in the file but not on the server",
                k(key)
            ));
        }
        for (name, key) in file.iter().filter(|(n, _)| live.contains(*n)) {
            if let Some(enc) = compare_key(s, db, name, key, d) {
                stats
                    .live_encodings
                    .entry(key.type_name)
                    .or_default()
                    .insert(enc);
            }
            stats.keys += 1;
        }
    }
    s.oks(&["SELECT", "0"]);

    // the fill made both the compact and the big encoding of every collection type
    let versioned: &[(&str, (u32, u32, u32))] = &[
        ("string", (0, 0, 0)),
        ("set", (0, 0, 0)),
        ("zset", (0, 0, 0)),
        ("hash", (0, 0, 0)),
        ("list", (7, 2, 0)),
    ];
    for (t, since) in versioned {
        if s.version >= *since {
            let seen = stats.live_encodings.get(t).cloned().unwrap_or_default();
            d.check(seen.len() >= 2, || {
                format!("fill check: only OBJECT ENCODING {seen:?} among the {t} keys")
            });
        }
    }
    stats
}

/// The RDB type a live key must have been written as, from its in-memory encoding.
fn expected_rdb_encoding(
    s: &Server,
    type_name: &str,
    live_enc: &str,
    field_ttls: bool,
) -> Option<&'static str> {
    let v = s.version;
    let valkey = s.is_valkey();
    Some(match (type_name, live_enc) {
        ("string", _) => "string",
        ("list", _) if v < (7, 0, 0) => "quicklist",
        ("list", _) => "quicklist-v2",
        ("set", "intset") => "intset",
        ("set", "listpack") => "listpack",
        ("set", "hashtable") => "hashtable",
        ("zset", "ziplist") => "ziplist",
        ("zset", "listpack") => "listpack",
        ("zset", "skiplist") => "skiplist",
        ("hash", "ziplist") => "ziplist",
        ("hash", "listpack") => "listpack",
        ("hash", "listpackex") => "listpack-ttl",
        ("hash", "hashtable") if field_ttls => "hashtable-ttl",
        ("hash", "hashtable") => "hashtable",
        ("stream", _) if v < (7, 0, 0) => "stream-v1",
        ("stream", _) if v < (7, 2, 0) => "stream-v2",
        ("stream", _) if !valkey && v >= (8, 6, 0) => "stream-v4",
        ("stream", _) => "stream-v3",
        _ => return None,
    })
}

/// Compares one key; returns the server's `OBJECT ENCODING` for it (None on a type mismatch).
fn compare_key(
    s: &mut Server,
    db: u64,
    name: &[u8],
    key: &OwnedKey,
    d: &mut Diffs,
) -> Option<String> {
    let at = format!("db {db} key {}", k(name));
    let live_type = s.ok(&[b"TYPE", name]).text();
    if live_type != key.type_name {
        d.fail(format!(
            "{at}: TYPE {live_type}, file says {} ({})",
            key.type_name, key.encoding
        ));
        return None;
    }
    let live_enc = s.ok(&[b"OBJECT", b"ENCODING", name]).text();

    // expiry
    if s.at_least(7, 0) {
        let t = s.ok(&[b"PEXPIRETIME", name]).int();
        let live = (t >= 0).then_some(t);
        d.check(live == key.expire_ms, || {
            format!("{at}: PEXPIRETIME {t}, file expire_ms {:?}", key.expire_ms)
        });
    } else {
        let ttl = s.ok(&[b"PTTL", name]).int();
        let now = server_now_ms(s);
        match key.expire_ms {
            None => d.check(ttl == -1, || {
                format!("{at}: PTTL {ttl}, file has no expiry")
            }),
            Some(e) => d.check(ttl >= 0 && (e - now - ttl).abs() <= 2000, || {
                format!(
                    "{at}: PTTL {ttl} at {now}, file expire_ms {e} (ttl {})",
                    e - now
                )
            }),
        }
    }

    let mut field_ttls = false;
    match &key.value {
        OwnedValue::String(v) => {
            let live = s.ok(&[b"GET", name]).bytes();
            d.check(&live == v, || {
                format!(
                    "{at}: GET {:?} ({} bytes), file {:?} ({} bytes)",
                    trunc(&live),
                    live.len(),
                    trunc(v),
                    v.len()
                )
            });
        }
        OwnedValue::List(items) => {
            let live = s.ok(&[b"LRANGE", name, b"0", b"-1"]).bulks();
            if &live != items {
                let i = live
                    .iter()
                    .zip(items)
                    .position(|(a, b)| a != b)
                    .unwrap_or(live.len().min(items.len()));
                d.fail(format!(
                    "{at}: LRANGE has {} items, file {}; first difference at {i}: server {:?}, file {:?}",
                    live.len(),
                    items.len(),
                    live.get(i).map(|x| trunc(x)),
                    items.get(i).map(|x| trunc(x))
                ));
            }
        }
        OwnedValue::Set(members) => {
            let live: BTreeSet<Vec<u8>> = s.ok(&[b"SMEMBERS", name]).bulks().into_iter().collect();
            let file: BTreeSet<Vec<u8>> = members.iter().cloned().collect();
            d.check(file.len() == members.len(), || {
                format!(
                    "{at}: the file's set has {} members, {} distinct",
                    members.len(),
                    file.len()
                )
            });
            if live != file {
                let missing: Vec<String> = live.difference(&file).take(5).map(|m| k(m)).collect();
                let extra: Vec<String> = file.difference(&live).take(5).map(|m| k(m)).collect();
                d.fail(format!(
                    "{at}: SMEMBERS has {}, file {}; missing from file {missing:?}, extra in file {extra:?}",
                    live.len(),
                    file.len()
                ));
            }
        }
        OwnedValue::Zset(pairs) => {
            let r = s.ok(&[b"ZRANGE", name, b"0", b"-1", b"WITHSCORES"]).bulks();
            let live: Vec<(Vec<u8>, f64)> = r
                .chunks(2)
                .map(|p| (p[0].clone(), parse_score(&p[1])))
                .collect();
            // skiplists are written tail first; compare in the server's order (score, member)
            let mut file = pairs.clone();
            file.sort_by(|a, b| {
                a.1.partial_cmp(&b.1)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then_with(|| a.0.cmp(&b.0))
            });
            d.check(live.len() == file.len(), || {
                format!(
                    "{at}: ZRANGE has {} members, file {}",
                    live.len(),
                    file.len()
                )
            });
            for ((lm, ls), (fm, fs)) in live.iter().zip(&file) {
                if lm != fm || ls.to_bits() != fs.to_bits() && !(ls == fs) {
                    d.fail(format!(
                        "{at}: ZRANGE member {} score {ls:?}, file member {} score {fs:?}",
                        k(lm),
                        k(fm)
                    ));
                    break;
                }
            }
        }
        OwnedValue::Hash(fields) => {
            let r = s.ok(&[b"HGETALL", name]).bulks();
            let live: BTreeMap<Vec<u8>, Vec<u8>> =
                r.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect();
            let file: BTreeMap<Vec<u8>, Vec<u8>> = fields
                .iter()
                .map(|(f, v, _)| (f.clone(), v.clone()))
                .collect();
            d.check(file.len() == fields.len(), || {
                format!(
                    "{at}: the file's hash has {} fields, {} distinct",
                    fields.len(),
                    file.len()
                )
            });
            if live != file {
                let diff: Vec<String> = live
                    .iter()
                    .filter(|(f, v)| file.get(*f) != Some(v))
                    .take(5)
                    .map(|(f, v)| {
                        format!(
                            "{}: server {}, file {:?}",
                            k(f),
                            k(v),
                            file.get(f).map(|x| k(x))
                        )
                    })
                    .collect();
                d.fail(format!(
                    "{at}: HGETALL has {} fields, file {}; {diff:?}",
                    live.len(),
                    file.len()
                ));
            }
            if has_field_ttl(s) {
                let mut cmd: Vec<&[u8]> = vec![b"HPEXPIRETIME", name, b"FIELDS"];
                let n = fields.len().to_string();
                cmd.push(n.as_bytes());
                for (f, _, _) in fields {
                    cmd.push(f);
                }
                let times = s.ok(&cmd);
                for ((f, _, t), live) in fields.iter().zip(times.array()) {
                    let live = live.int();
                    let live = (live >= 0).then_some(live);
                    field_ttls |= live.is_some();
                    d.check(live == *t, || {
                        format!("{at} field {}: HPEXPIRETIME {live:?}, file {t:?}", k(f))
                    });
                }
            } else {
                d.check(fields.iter().all(|f| f.2.is_none()), || {
                    format!("{at}: field TTLs in the file, but this server has no HEXPIRE")
                });
            }
        }
        OwnedValue::Stream {
            entries,
            length,
            last_id,
            groups,
        } => compare_stream(s, &at, name, entries, *length, *last_id, groups, d),
        OwnedValue::Module { name: m, encver } => d.fail(format!(
            "{at}: a module value ({m} v{encver}) but no modules are loaded"
        )),
    }

    match expected_rdb_encoding(s, key.type_name, &live_enc, field_ttls) {
        Some(e) => d.check(e == key.encoding, || {
            format!(
                "{at}: OBJECT ENCODING {live_enc} should be written as {e}, file says {}",
                key.encoding
            )
        }),
        None => d.fail(format!(
            "{at}: unexpected OBJECT ENCODING {live_enc} for a {}",
            key.type_name
        )),
    }
    Some(live_enc)
}

fn trunc(b: &[u8]) -> String {
    if b.len() > 60 {
        format!("{}...", escape(&b[..60]))
    } else {
        escape(b)
    }
}

fn parse_score(b: &[u8]) -> f64 {
    let t = std::str::from_utf8(b).expect("score text");
    t.parse().unwrap_or_else(|_| panic!("score {t:?}"))
}

type Entries = [(StreamId, Vec<(Vec<u8>, Vec<u8>)>)];

#[allow(clippy::too_many_arguments)]
fn compare_stream(
    s: &mut Server,
    at: &str,
    name: &[u8],
    entries: &Entries,
    length: u64,
    last_id: StreamId,
    groups: &[rdbkit::rdb::owned::OwnedGroup],
    d: &mut Diffs,
) {
    // entries
    let r = s.ok(&[b"XRANGE", name, b"-", b"+"]);
    let live: Box<Entries> = r
        .array()
        .iter()
        .map(|e| {
            let a = e.array();
            let kv = a[1].bulks();
            (
                parse_id(&a[0].bytes()),
                kv.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect(),
            )
        })
        .collect();
    d.check(live.len() == entries.len(), || {
        format!(
            "{at}: XRANGE has {} entries, file {}",
            live.len(),
            entries.len()
        )
    });
    for ((lid, lkv), (fid, fkv)) in live.iter().zip(entries) {
        if lid != fid || lkv != fkv {
            let show = |kv: &[(Vec<u8>, Vec<u8>)]| {
                kv.iter()
                    .map(|(f, v)| format!("{}={}", k(f), k(v)))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            d.fail(format!(
                "{at}: XRANGE entry {lid} {}, file entry {fid} {}",
                show(lkv),
                show(fkv)
            ));
            break;
        }
    }
    let xlen = s.ok(&[b"XLEN", name]).int() as u64;
    d.check(xlen == length, || {
        format!("{at}: XLEN {xlen}, file length {length}")
    });
    let info = s.ok(&[b"XINFO", b"STREAM", name]);
    if let Some(l) = info.field("last-generated-id") {
        let l = parse_id(&l.bytes());
        d.check(l == last_id, || {
            format!("{at}: last-generated-id {l}, file last_id {last_id}")
        });
    }

    // groups
    let now = server_now_ms(s);
    let live_groups = s.ok(&[b"XINFO", b"GROUPS", name]);
    let live_groups = live_groups.array();
    d.check(live_groups.len() == groups.len(), || {
        format!(
            "{at}: XINFO GROUPS has {} groups, file {}",
            live_groups.len(),
            groups.len()
        )
    });
    for lg in live_groups {
        let gname = lg.field("name").expect("group name").bytes();
        let ga = format!("{at} group {}", k(&gname));
        let Some(fg) = groups.iter().find(|g| g.name == gname) else {
            d.fail(format!("{ga}: not in the file"));
            continue;
        };
        let ldi = parse_id(
            &lg.field("last-delivered-id")
                .expect("last-delivered-id")
                .bytes(),
        );
        d.check(ldi == fg.last_id, || {
            format!("{ga}: last-delivered-id {ldi}, file {}", fg.last_id)
        });
        if let Some(er) = lg.field("entries-read") {
            let live = match er {
                Reply::Nil => None,
                r => Some(r.int()),
            };
            d.check(live == fg.entries_read, || {
                format!("{ga}: entries-read {live:?}, file {:?}", fg.entries_read)
            });
        }
        let pending = lg.field("pending").expect("pending").int() as usize;
        d.check(pending == fg.pel.len(), || {
            format!("{ga}: {pending} pending, file PEL has {}", fg.pel.len())
        });
        let nconsumers = lg.field("consumers").expect("consumers").int() as usize;
        d.check(nconsumers == fg.consumers.len(), || {
            format!("{ga}: {nconsumers} consumers, file {}", fg.consumers.len())
        });

        // the group PEL
        let xp = s.ok(&[b"XPENDING", name, &gname, b"-", b"+", b"1000"]);
        let xp = xp.array();
        d.check(xp.len() == fg.pel.len(), || {
            format!(
                "{ga}: XPENDING lists {}, file PEL has {}",
                xp.len(),
                fg.pel.len()
            )
        });
        for (p, (fid, fdelivery, fcount)) in xp.iter().zip(&fg.pel) {
            let a = p.array();
            let id = parse_id(&a[0].bytes());
            let owner = a[1].bytes();
            let idle = a[2].int();
            let count = a[3].int() as u64;
            if id != *fid {
                d.fail(format!("{ga}: XPENDING id {id}, file PEL id {fid}"));
                break;
            }
            d.check(count == *fcount, || {
                format!("{ga} PEL {id}: delivery count {count}, file {fcount}")
            });
            d.check((now - idle - fdelivery).abs() <= 2000, || {
                format!("{ga} PEL {id}: idle {idle} ms at {now}, file delivery time {fdelivery}")
            });
            let fowner: Vec<&[u8]> = fg
                .consumers
                .iter()
                .filter(|c| c.pel.contains(fid))
                .map(|c| c.name.as_slice())
                .collect();
            d.check(fowner == vec![owner.as_slice()], || {
                format!(
                    "{ga} PEL {id}: owner {}, file owners {:?}",
                    k(&owner),
                    fowner.iter().map(|o| k(o)).collect::<Vec<_>>()
                )
            });
        }

        // consumers
        let lc = s.ok(&[b"XINFO", b"CONSUMERS", name, &gname]);
        for c in lc.array() {
            let cname = c.field("name").expect("consumer name").bytes();
            let ca = format!("{ga} consumer {}", k(&cname));
            let Some(fc) = fg.consumers.iter().find(|x| x.name == cname) else {
                d.fail(format!("{ca}: not in the file"));
                continue;
            };
            let pending = c.field("pending").expect("pending").int() as usize;
            d.check(pending == fc.pel.len(), || {
                format!("{ca}: {pending} pending, file {}", fc.pel.len())
            });
            let idle = c.field("idle").expect("idle").int();
            d.check((now - idle - fc.seen_time).abs() <= 2000, || {
                format!(
                    "{ca}: idle {idle} ms at {now}, file seen_time {}",
                    fc.seen_time
                )
            });
            match (c.field("inactive"), fc.active_time) {
                (Some(i), Some(active)) => {
                    let i = i.int();
                    if i == -1 {
                        d.check(active == -1, || {
                            format!("{ca}: inactive -1 (never active), file active_time {active}")
                        });
                    } else {
                        d.check((now - i - active).abs() <= 2000, || {
                            format!("{ca}: inactive {i} ms at {now}, file active_time {active}")
                        });
                    }
                }
                (None, None) => {}
                (l, f) => d.fail(format!("{ca}: inactive {l:?}, file active_time {f:?}")),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Truncation
// ---------------------------------------------------------------------------------------

/// Cuts `bytes` at `n` evenly spaced offsets (every offset when `n` is larger than the file)
/// plus the last few bytes; every cut must be reported as truncated, before the cut.
fn check_truncations(bytes: &[u8], n: usize, d: &mut Diffs, what: &str) -> usize {
    let len = bytes.len();
    let mut cuts: BTreeSet<usize> = if n >= len {
        (0..len).collect()
    } else {
        (0..n).map(|i| i * len / n).collect()
    };
    for back in 1..=10 {
        cuts.insert(len.saturating_sub(back));
    }
    cuts.retain(|&c| c < len);
    let mut bad = 0;
    for &cut in &cuts {
        // the in-memory path and the streaming path (stdin) must agree
        for (how, r) in [
            ("verify_bytes", verify_bytes("cut.rdb", &bytes[..cut])),
            ("verify_reader", verify_reader("cut.rdb", &bytes[..cut])),
        ] {
            let off = r.error.as_ref().map(|e| e.offset);
            let ok =
                !r.is_ok() && r.status == Status::Truncated && off.is_some_and(|o| o <= cut as u64);
            if !ok {
                bad += 1;
                if bad <= 5 {
                    d.fail(format!(
                        "{what} ({len} bytes) cut at {cut}: {how}: status {:?}, error offset {off:?}, {:?}",
                        r.status,
                        r.error.as_ref().map(|e| e.text.as_str())
                    ));
                }
            }
        }
    }
    if bad > 5 {
        d.fail(format!(
            "{what}: {bad} misreported verifications of {} cuts in all",
            cuts.len()
        ));
    }
    cuts.len()
}

/// Redis 8's built-in vector sets are stored as module values (type 7, `vectorset`):
/// the reader walks their opcode stream without the module and names the type.
#[test]
fn vector_sets_are_module_values() {
    use crate::support::server::Server;
    for name in ["redis-8.0.2", "redis-8.6.3"] {
        let installed = crate::support::server::installed();
        crate::require!(
            installed.iter().any(|n| n == name),
            "{name} is not installed"
        );
        let mut s = Server::start(name, &[]).expect("server starts");
        for i in 0..50 {
            let e = format!("e{i}");
            let (a, b, c) = (
                format!("{}", i as f32 * 0.5),
                format!("{}", 1.0 - i as f32 * 0.01),
                format!("{}", (i % 7) as f32),
            );
            s.oks(&["VADD", "vs", "VALUES", "3", &a, &b, &c, &e]);
        }
        s.oks(&["VADD", "vs-small", "VALUES", "2", "1", "2", "only"]);
        s.oks(&["SET", "plain", "x"]);
        let data = s.save_and_read();
        let report = rdbkit::verify::verify_bytes(name, &data);
        assert!(report.is_ok(), "{name}: {}", report.human_line());
        assert_eq!(report.keys, 3, "{name}");
        let keys = rdbkit::rdb::owned::read_all(&data).expect("read_all");
        for k in ["vs", "vs-small"] {
            let key = keys
                .iter()
                .find(|x| x.key == k.as_bytes())
                .expect("vector set key");
            assert_eq!(key.type_name, "module", "{name} {k}");
            match &key.value {
                rdbkit::rdb::owned::OwnedValue::Module { name: m, .. } => {
                    assert_eq!(m, "vectorset", "{name} {k}")
                }
                v => panic!("{name} {k}: {v:?}"),
            }
        }
        // Every truncation of the module value is reported as such.
        for cut in (9..data.len()).step_by(7) {
            let r = rdbkit::verify::verify_bytes(name, &data[..cut]);
            assert_eq!(
                r.status,
                rdbkit::verify::Status::Truncated,
                "{name} cut {cut}: {}",
                r.human_line()
            );
        }
    }
}
