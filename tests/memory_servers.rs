//! Memory estimates against the live server: every version builds a varied dataset (each
//! type and encoding, small and large, hash field TTLs on 7.4+, streams with consumer
//! groups), answers `MEMORY USAGE key SAMPLES 0` for every key, saves, and the estimate
//! from the file is compared key by key. Fails when a type's median relative error goes
//! above its bound; prints the per-type and per-encoding error table either way (the
//! README's "Memory estimates" table comes from this output).
//!
//! The allocator is a property of the build, not of the version, so it is read from the
//! server (`INFO` `mem_allocator`, and the size class of a 17-byte allocation to tell
//! jemalloc's 8- and 16-byte quanta apart), as a user would pass `--allocator`.
//!
//! Valkey 8.1+ is measured after `DEBUG RELOAD`: the model prices the presized
//! hashtables and exact-size stream listpacks that loading the file builds.

use std::collections::{BTreeMap, HashMap};

use rdbkit::analyze::memory::{Allocator, MemoryModel};
use rdbkit::rdb::{Checker, RdbReader, Record};

use crate::support::server::{installed, Server};

const VERSIONS: &[&str] = &[
    "redis-6.2.14",
    "redis-7.0.15",
    "redis-7.2.4",
    "redis-7.4.1",
    "redis-8.0.2",
    "redis-8.6.3",
    "valkey-8.0.1",
    "valkey-8.1.1",
    "valkey-9.1.2",
];

/// Versions whose layout is only partly modelled, and the types held to the bounds there
/// (the others are measured and printed, and the README says so).
fn gated(version: &str, kind: &str) -> bool {
    match version {
        "redis-8.6.3" | "valkey-8.1.1" => kind != "stream",
        // 9.x: sorted-set nodes and hash entries are only partly modelled
        "valkey-9.1.2" => !matches!(kind, "stream" | "zset" | "hash"),
        _ => true,
    }
}

/// Highest relative errors accepted (the README documents them): per type, the median
/// and the 90th percentile; per encoding, the median. The issue asks for a 10% median
/// per type; the model does better, and the test holds it to that.
const TYPE_MEDIAN: f64 = 0.02;
const TYPE_P90: f64 = 0.10;
const ENCODING_MEDIAN: f64 = 0.10;

/// One key: what the server says and what the model says.
struct Sample {
    kind: String,
    encoding: String,
    key: Vec<u8>,
    actual: u64,
    estimate: u64,
}

impl Sample {
    fn error(&self) -> f64 {
        (self.estimate as f64 - self.actual as f64).abs() / self.actual as f64
    }
}

/// A command as owned byte strings.
macro_rules! c {
    ($($x:expr),* $(,)?) => { vec![$(AsRef::<[u8]>::as_ref(&$x).to_vec()),*] };
}

/// Deterministic xorshift, so every run builds the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn text(&mut self, len: u64) -> Vec<u8> {
        (0..len).map(|_| b'a' + (self.next() % 26) as u8).collect()
    }
    fn key(&mut self, prefix: &str, i: usize) -> Vec<u8> {
        let mut k = format!("{prefix}:{i}:").into_bytes();
        let extra = self.range(0, 40);
        k.extend(self.text(extra));
        k
    }
}

/// Appends `cmd key <args>` in chunks of at most 500 arguments.
fn chunked(cmds: &mut Vec<Vec<Vec<u8>>>, cmd: &str, key: &[u8], args: Vec<Vec<u8>>, per: usize) {
    for chunk in args.chunks(500 / per * per) {
        let mut c = c![cmd, key];
        c.extend(chunk.iter().cloned());
        cmds.push(c);
    }
}

fn dataset(rng: &mut Rng, hash_ttl: bool) -> Vec<Vec<Vec<u8>>> {
    let mut cmds = Vec::new();
    // strings
    for i in 0..80 {
        let k = rng.key("string", i);
        let v: Vec<u8> = match i % 8 {
            0 => rng.range(0, 9999).to_string().into_bytes(),
            1 => (rng.next() as i64 / 1000).to_string().into_bytes(),
            2 => {
                let n = rng.range(1, 20);
                rng.text(n)
            }
            3 => {
                let n = rng.range(40, 50);
                rng.text(n)
            }
            4 => {
                let n = rng.range(51, 5000);
                rng.text(n)
            }
            5 => {
                let n = rng.range(100, 30000);
                b"ab".repeat(n as usize / 2)
            }
            6 => format!("00{}", rng.range(0, 999)).into_bytes(),
            _ => {
                let n = rng.range(21, 44);
                rng.text(n)
            }
        };
        cmds.push(c![b"SET", k, v]);
    }
    // lists
    for i in 0..40 {
        let k = rng.key("list", i);
        let (n, lo, hi) = match i % 5 {
            0 => (rng.range(1, 60), 1, 30),
            1 => (rng.range(200, 2000), 5, 50),
            2 => (rng.range(5000, 20000), 1, 20),
            3 => (rng.range(2, 8), 9000, 20000),
            _ => (rng.range(100, 400), 0, 0),
        };
        let items: Vec<Vec<u8>> = (0..n)
            .map(|_| {
                if hi == 0 {
                    rng.range(0, 100000).to_string().into_bytes()
                } else {
                    let l = rng.range(lo, hi);
                    rng.text(l)
                }
            })
            .collect();
        chunked(&mut cmds, "RPUSH", &k, items, 1);
    }
    // sets
    for i in 0..50 {
        let k = rng.key("set", i);
        let members: Vec<Vec<u8>> = match i % 5 {
            0 => (0..rng.range(1, 500))
                .map(|_| rng.range(0, 1 << 40).to_string().into_bytes())
                .collect(),
            1 => (0..rng.range(1, 128))
                .map(|_| {
                    let l = rng.range(3, 30);
                    rng.text(l)
                })
                .collect(),
            2 => (0..rng.range(200, 3000))
                .map(|_| {
                    let l = rng.range(3, 40);
                    rng.text(l)
                })
                .collect(),
            3 => (0..rng.range(600, 3000))
                .map(|_| rng.range(0, 1 << 30).to_string().into_bytes())
                .collect(),
            _ => {
                let mut m: Vec<Vec<u8>> = (0..rng.range(5, 20))
                    .map(|_| {
                        let l = rng.range(3, 20);
                        rng.text(l)
                    })
                    .collect();
                m.push(rng.text(70));
                m
            }
        };
        chunked(&mut cmds, "SADD", &k, members, 1);
    }
    // sorted sets
    for i in 0..40 {
        let k = rng.key("zset", i);
        let (n, long) = match i % 3 {
            0 => (rng.range(1, 128), false),
            1 => (rng.range(150, 3000), false),
            _ => (rng.range(2, 30), true),
        };
        let mut args = Vec::new();
        for j in 0..n {
            let l = if long && j == 0 { 80 } else { rng.range(2, 30) };
            args.push(format!("{}", rng.range(0, 1_000_000) as f64 / 7.0).into_bytes());
            args.push(rng.text(l));
        }
        chunked(&mut cmds, "ZADD", &k, args, 2);
    }
    // hashes (with field TTLs on 7.4+)
    let hashes = if hash_ttl { 60 } else { 40 };
    for i in 0..hashes {
        let k = rng.key("hash", i);
        let (n, long) = match i % 3 {
            0 => (rng.range(1, 128), false),
            1 => (rng.range(150, 2000), false),
            _ => (rng.range(2, 20), true),
        };
        let mut args = Vec::new();
        let mut fields = Vec::new();
        for j in 0..n {
            let fl = rng.range(2, 30);
            let vl = if long && j == 0 {
                100
            } else {
                rng.range(0, 40)
            };
            let f = rng.text(fl);
            fields.push(f.clone());
            args.push(f);
            args.push(if vl < 5 {
                rng.range(0, 1000).to_string().into_bytes()
            } else {
                rng.text(vl)
            });
        }
        chunked(&mut cmds, "HSET", &k, args, 2);
        if i >= 40 {
            let with_ttl: Vec<Vec<u8>> = fields
                .iter()
                .filter(|_| rng.range(0, 2) == 0)
                .cloned()
                .collect();
            if !with_ttl.is_empty() {
                let mut c = c![b"HEXPIRE", k, b"100000", b"FIELDS"];
                c.push(with_ttl.len().to_string().into_bytes());
                c.extend(with_ttl);
                cmds.push(c);
            }
        }
    }
    // streams
    for i in 0..20 {
        let k = rng.key("stream", i);
        let n = match i % 4 {
            0 => rng.range(1, 20),
            1 => rng.range(200, 1000),
            2 => rng.range(2000, 5000),
            _ => rng.range(200, 600),
        };
        let fields = rng.range(1, 5);
        for _ in 0..n {
            let mut c = c![b"XADD", k, b"*"];
            for f in 0..fields {
                c.push(format!("field{f}").into_bytes());
                let l = rng.range(1, 30);
                c.push(rng.text(l));
            }
            cmds.push(c);
        }
        if i % 4 == 3 {
            for g in 0..2 {
                let group = format!("group{g}");
                cmds.push(c![b"XGROUP", b"CREATE", k, group, b"0"]);
                for consumer in 0..rng.range(1, 3) {
                    let count = rng.range(10, 80).to_string();
                    cmds.push(c![
                        b"XREADGROUP",
                        b"GROUP",
                        group,
                        format!("consumer{consumer}"),
                        b"COUNT",
                        count,
                        b"STREAMS",
                        k,
                        b">"
                    ]);
                }
            }
        }
    }
    cmds
}

/// The allocator the server was built with, as a user would tell `rdbkit`.
fn allocator(server: &mut Server) -> Allocator {
    let info = server.oks(&["INFO", "memory"]).text();
    if info.contains("mem_allocator:libc") {
        return Allocator::Libc;
    }
    if server.is_valkey() {
        // Valkey counts keys differently; the sds of two raw strings under the same key
        // (54 and 62 bytes) share a size class with a 16-byte quantum only
        let key = "p".repeat(100);
        let mut usage = |len: usize| {
            server.oks(&["SET", &key, &"v".repeat(len)]);
            server.oks(&["MEMORY", "USAGE", &key, "SAMPLES", "0"]).int()
        };
        let (short, long) = (usage(50), usage(58));
        server.oks(&["DEL", &key]);
        return if long == short {
            Allocator::JemallocQuantum16
        } else {
            Allocator::Jemalloc
        };
    }
    // an int value under a 15-byte key: robj + dictEntry + the key's sds (17 bytes), whose
    // size class is 24 with an 8-byte quantum and 32 with a 16-byte one
    server.oks(&["SET", "allocator-probe-k", "1"]);
    let usage = server
        .oks(&["MEMORY", "USAGE", "allocator-probe-k", "SAMPLES", "0"])
        .int();
    server.oks(&["DEL", "allocator-probe-k"]);
    if usage == 16 + 24 + 24 {
        Allocator::Jemalloc
    } else {
        Allocator::JemallocQuantum16
    }
}

fn measure(name: &str) -> Vec<Sample> {
    let valkey = name.starts_with("valkey");
    let args: &[&str] = if valkey {
        &["--enable-debug-command", "yes"]
    } else {
        &[]
    };
    let mut server = Server::start(name, args).expect("installed");
    let alloc = allocator(&mut server);
    let hash_ttl = if server.is_valkey() {
        server.at_least(9, 0)
    } else {
        server.at_least(7, 4)
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let cmds = dataset(&mut rng, hash_ttl);
    for batch in cmds.chunks(2000) {
        server.pipeline(batch);
    }
    if valkey && server.at_least(8, 1) {
        // Valkey 8.1+ hashtables grown insert by insert are often mid-resize; the model
        // prices the presized tables a load of the file builds, so measure those.
        server.oks(&["DEBUG", "RELOAD"]);
    }
    let keys = server.oks(&["KEYS", "*"]).bulks();
    let mut queries = Vec::new();
    for k in &keys {
        queries.push(c![b"MEMORY", b"USAGE", k, b"SAMPLES", b"0"]);
        queries.push(c![b"OBJECT", b"ENCODING", k]);
        queries.push(c![b"TYPE", k]);
    }
    let replies = server.pipeline(&queries);
    let mut live: HashMap<Vec<u8>, (u64, String, String)> = HashMap::new();
    for (k, r) in keys.iter().zip(replies.chunks(3)) {
        live.insert(k.clone(), (r[0].int() as u64, r[1].text(), r[2].text()));
    }
    let file = server.save_and_read();
    let mut reader = RdbReader::new(&file, Checker::new(false)).expect("header");
    let mut model = None;
    let mut samples = Vec::new();
    while let Some(rec) = reader.next_record().expect("record") {
        match rec {
            Record::Aux { key, value } => {
                let v = value.to_string_lossy();
                match key.to_vec().unwrap().as_slice() {
                    b"redis-ver" if model.is_none() => {
                        model = Some(MemoryModel::new(reader.header(), Some(&v)));
                    }
                    b"valkey-ver" => {
                        let v = format!("valkey-{v}");
                        model = Some(MemoryModel::new(reader.header(), Some(&v)));
                    }
                    _ => {}
                }
                model = model.map(|m| m.with_allocator(alloc));
            }
            Record::Key(k) => {
                let key = k.key.to_vec().unwrap();
                let m = model.expect("redis-ver before the first key");
                let estimate = m.estimate(&k, &key).expect("estimate");
                let (actual, encoding, kind) = live.remove(&key).expect("key in the live server");
                samples.push(Sample {
                    kind,
                    encoding,
                    key,
                    actual,
                    estimate,
                });
            }
            _ => {}
        }
    }
    assert!(
        live.is_empty(),
        "{name}: {} keys not in the dump",
        live.len()
    );
    samples
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// (n, median, p90, max) of the samples' relative errors.
fn summary<'a>(samples: impl Iterator<Item = &'a Sample>) -> (usize, f64, f64, f64) {
    let mut e: Vec<f64> = samples.map(Sample::error).collect();
    e.sort_by(f64::total_cmp);
    (
        e.len(),
        quantile(&e, 0.5),
        quantile(&e, 0.9),
        *e.last().unwrap(),
    )
}

#[test]
fn estimates_match_memory_usage() {
    let have = installed();
    for v in VERSIONS {
        crate::require!(
            have.iter().any(|h| h == v),
            "{v} is not installed (bash ../shared/servers/install.sh)"
        );
    }
    let runs: Vec<(&str, Vec<Sample>)> = std::thread::scope(|s| {
        let handles: Vec<_> = VERSIONS
            .iter()
            .map(|v| (*v, s.spawn(move || measure(v))))
            .collect();
        handles
            .into_iter()
            .map(|(v, h)| (v, h.join().expect("measure thread")))
            .collect()
    });
    let mut failures = Vec::new();
    let mut table = String::from(
        "| server | type | encoding | keys | median error | p90 error | max error |\n|---|---|---|---:|---:|---:|---:|\n",
    );
    for (v, samples) in &runs {
        let mut by_kind: BTreeMap<&str, BTreeMap<&str, Vec<&Sample>>> = BTreeMap::new();
        for s in samples {
            by_kind
                .entry(&s.kind)
                .or_default()
                .entry(&s.encoding)
                .or_default()
                .push(s);
        }
        for (kind, encodings) in &by_kind {
            let (n, med, p90, max) = summary(encodings.values().flatten().copied());
            table += &format!(
                "| {v} | {kind} | all | {n} | {:.1}% | {:.1}% | {:.1}% |\n",
                med * 100.0,
                p90 * 100.0,
                max * 100.0
            );
            let gate = gated(v, kind);
            if gate && (med > TYPE_MEDIAN || p90 > TYPE_P90) {
                failures.push(format!(
                    "{v} {kind}: median error {:.1}% (bound {:.0}%), p90 {:.1}% (bound {:.0}%)",
                    med * 100.0,
                    TYPE_MEDIAN * 100.0,
                    p90 * 100.0,
                    TYPE_P90 * 100.0
                ));
            }
            for (enc, ss) in encodings {
                let (n, med, p90, max) = summary(ss.iter().copied());
                if gate && med > ENCODING_MEDIAN {
                    failures.push(format!(
                        "{v} {kind} {enc}: median error {:.1}% (bound {:.0}%)",
                        med * 100.0,
                        ENCODING_MEDIAN * 100.0
                    ));
                }
                table += &format!(
                    "| {v} | {kind} | {enc} | {n} | {:.1}% | {:.1}% | {:.1}% |\n",
                    med * 100.0,
                    p90 * 100.0,
                    max * 100.0
                );
                let mut worst: Vec<&&Sample> = ss.iter().collect();
                worst.sort_by(|a, b| b.error().total_cmp(&a.error()));
                for s in worst.iter().take(2).filter(|s| s.error() > 0.02) {
                    eprintln!(
                        "{v} {kind} {enc} {}: estimate {} actual {} ({:+.1}%)",
                        String::from_utf8_lossy(&s.key[..s.key.len().min(24)]),
                        s.estimate,
                        s.actual,
                        (s.estimate as f64 / s.actual as f64 - 1.0) * 100.0
                    );
                }
            }
        }
    }
    println!("{table}");
    assert!(failures.is_empty(), "{}\n{table}", failures.join("\n"));
}
