//! `rdbkit export` judged by real servers.
//!
//! Per version: a server is filled with every type (the same fill as `servers.rs`:
//! streams with groups, PELs and deleted entries, functions, TTLs, hash field TTLs,
//! binary keys, big and small encodings), saved, and
//! * `--format jsonl` is parsed back and compared key by key with the live server
//!   (the same comparison `servers.rs` makes for the library's reader);
//! * `--format resp` is loaded into a fresh server of the same version with
//!   `redis-cli --pipe`, and the two servers must agree: `DEBUG DIGEST`, per key
//!   `DEBUG DIGEST-VALUE`, `OBJECT ENCODING`, expiry, hash field expiry, stream metadata
//!   the digest does not cover (`XINFO STREAM`/`GROUPS`/`CONSUMERS`, `XPENDING`), functions.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use rdbkit::rdb::owned::{OwnedConsumer, OwnedGroup, OwnedKey, OwnedValue};
use rdbkit::rdb::stream::StreamId;
use serde_json::Value as J;

use crate::servers::{self, compare_all, fill, launch, scan_all, Diffs, Mode};
use crate::support::rdbkit;
use crate::support::server::{escape, installed_rows, servers_dir, Reply, Server};

macro_rules! export_tests {
    ($($test:ident => $name:literal;)*) => {$(
        #[test]
        fn $test() {
            run($name);
        }
    )*};
}

export_tests! {
    export_redis_5_0_10 => "redis-5.0.10";
    export_redis_6_2_14 => "redis-6.2.14";
    export_redis_7_0_15 => "redis-7.0.15";
    export_redis_7_2_4 => "redis-7.2.4";
    export_redis_7_4_1 => "redis-7.4.1";
    export_redis_8_0_2 => "redis-8.0.2";
    export_redis_8_6_3 => "redis-8.6.3";
    export_valkey_8_1_1 => "valkey-8.1.1";
    export_valkey_9_1_2 => "valkey-9.1.2";
}

fn run(name: &str) {
    let installed = installed_rows().iter().any(|r| r.name == name);
    crate::require!(
        installed,
        "{name} is not in servers.tsv (run ../shared/servers/install.sh {name})"
    );
    let mut a = launch(name, Mode::Plain).expect("installed");
    fill(&mut a, &[0, 1, 5], Mode::Plain);
    if !a.is_valkey() && a.at_least(8, 0) {
        // vector sets are module values: exported as RESTORE of their DUMP payload
        for i in 0..40 {
            let (x, y) = (
                format!("{}", i as f32 * 0.25),
                format!("{}", 1.0 - i as f32 * 0.02),
            );
            a.oks(&["VADD", "vset:big", "VALUES", "2", &x, &y, &format!("e{i}")]);
        }
        a.oks(&["VADD", "vset:small", "VALUES", "2", "1", "2", "only"]);
        a.oks(&["PEXPIREAT", "vset:small", "4102444800123"]);
    }
    a.save();
    let path = a.rdb_path();
    let path = path.to_str().expect("utf-8 path");
    let mut d = Diffs::new(format!("{name} export"));

    // jsonl, compared with the live server
    let out = rdbkit(&["export", path]);
    d.check(out.status.success(), || {
        format!(
            "export jsonl exited {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let (keys, functions, modules) = parse_jsonl(&out.stdout, &mut d);
    // module keys: the jsonl `dump` is what DUMP says; they leave the server while
    // compare_all (which knows no module types) runs, and come back from that payload
    let mut expiries = Vec::new();
    for (db, key, dump) in &modules {
        a.oks(&["SELECT", &db.to_string()]);
        let live = a.cmd(&[b"DUMP", key]).bytes();
        d.check(&live == dump, || {
            format!(
                "db {db} module key \"{}\": jsonl dump differs from DUMP",
                escape(key)
            )
        });
        expiries.push(a.cmd(&[b"PEXPIRETIME", key]).int().max(0).to_string());
        a.ok(&[b"DEL", key]);
    }
    a.oks(&["SELECT", "0"]);
    compare_all(&mut a, &keys, &mut d);
    for ((db, key, dump), at) in modules.iter().zip(&expiries) {
        a.oks(&["SELECT", &db.to_string()]);
        a.ok(&[b"RESTORE", key, at.as_bytes(), dump, b"ABSTTL"]);
    }
    a.oks(&["SELECT", "0"]);
    if !a.is_valkey() && a.at_least(8, 0) {
        d.check(modules.len() == 2, || {
            format!("{} module keys in the jsonl", modules.len())
        });
    }
    if a.at_least(7, 0) {
        d.check(functions == 2, || {
            format!("jsonl has {functions} function objects, the server 2")
        });
    }

    // csv: the same keys and elements as the jsonl just checked against the server
    let out = rdbkit(&["export", path, "--format", "csv"]);
    d.check(out.status.success(), || {
        format!("export csv: {}", String::from_utf8_lossy(&out.stderr))
    });
    check_csv(&out.stdout, &keys, &modules, &mut d);
    if a.at_least(7, 0) {
        let said = String::from_utf8_lossy(&out.stderr);
        d.check(said.contains("2 function libraries left out"), || {
            format!("csv stderr: {said}")
        });
    }

    // resp, loaded into a fresh server
    let resp = a.dir.join("export.resp");
    let out = rdbkit(&[
        "export",
        path,
        "--format",
        "resp",
        "-o",
        resp.to_str().unwrap(),
    ]);
    // Redis 8.6's idempotent-producer id tables have no command that restores them.
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let idmp_only = stderr
        .lines()
        .all(|l| l.contains("idempotent-producer") && a.at_least(8, 6));
    d.check(out.status.success() && idmp_only, || {
        format!(
            "export resp exited {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let mut b = launch(name, Mode::Plain).expect("installed");
    let piped = Command::new(servers_dir().join("bin/redis-cli"))
        .args(["-p", &b.port.to_string(), "--pipe"])
        .stdin(Stdio::from(std::fs::File::open(&resp).expect("resp file")))
        .output()
        .expect("run redis-cli --pipe");
    let said = String::from_utf8_lossy(&piped.stdout).into_owned();
    d.check(piped.status.success() && said.contains("errors: 0"), || {
        format!(
            "redis-cli --pipe: {said} {}",
            String::from_utf8_lossy(&piped.stderr)
        )
    });
    let compared = compare_servers(&mut a, &mut b, &mut d);
    eprintln!(
        "{name}: {} jsonl keys checked, {compared} keys rebuilt from RESP compared",
        keys.len()
    );
    d.finish();
}

// ---------------------------------------------------------------------------------------
// JSON lines back into owned keys
// ---------------------------------------------------------------------------------------

fn b64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("bad base64 {c}"),
    };
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let n = chunk.iter().filter(|&&c| c != b'=').count();
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = if c == b'=' { 0 } else { val(c) as u32 };
            acc |= v << (18 - 6 * i);
        }
        out.extend_from_slice(&acc.to_be_bytes()[1..n]);
    }
    out
}

/// A byte string as the export writes it: a JSON string or `{"base64": ...}`.
fn bytes(j: &J) -> Vec<u8> {
    match j {
        J::String(s) => s.as_bytes().to_vec(),
        J::Object(o) => b64_decode(o["base64"].as_str().expect("base64")),
        other => panic!("not a byte string: {other}"),
    }
}

fn id(j: &J) -> StreamId {
    let t = j.as_str().expect("id");
    let (ms, seq) = t.split_once('-').expect("ms-seq");
    StreamId {
        ms: ms.parse().unwrap(),
        seq: seq.parse().unwrap(),
    }
}

fn score(j: &J) -> f64 {
    match j {
        J::String(s) if s == "inf" => f64::INFINITY,
        J::String(s) if s == "-inf" => f64::NEG_INFINITY,
        n => n.as_f64().expect("score"),
    }
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

/// Module keys as (db, key, DUMP payload).
type ModuleKeys = Vec<(u64, Vec<u8>, Vec<u8>)>;

fn parse_jsonl(out: &[u8], d: &mut Diffs) -> (Vec<OwnedKey>, usize, ModuleKeys) {
    let mut keys = Vec::new();
    let mut modules = Vec::new();
    let mut functions = 0;
    for line in out.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
        let j: J = match serde_json::from_slice(line) {
            Ok(j) => j,
            Err(e) => {
                d.fail(format!(
                    "invalid JSON line ({e}): {}",
                    String::from_utf8_lossy(line)
                ));
                continue;
            }
        };
        if j["type"] == "function" {
            functions += 1;
            continue;
        }
        let v = &j["value"];
        if j["type"] == "module" {
            modules.push((
                j["db"].as_u64().unwrap(),
                bytes(&j["key"]),
                bytes(&v["dump"]),
            ));
            continue;
        }
        let arr = || v.as_array().expect("array value");
        let value = match j["type"].as_str().expect("type") {
            "string" => OwnedValue::String(bytes(v)),
            "list" => OwnedValue::List(arr().iter().map(bytes).collect()),
            "set" => OwnedValue::Set(arr().iter().map(bytes).collect()),
            "zset" => {
                OwnedValue::Zset(arr().iter().map(|p| (bytes(&p[0]), score(&p[1]))).collect())
            }
            "hash" => OwnedValue::Hash(
                arr()
                    .iter()
                    .map(|p| (bytes(&p[0]), bytes(&p[1]), p.get(2).and_then(J::as_i64)))
                    .collect(),
            ),
            "stream" => OwnedValue::Stream {
                entries: v["entries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| {
                        (
                            id(&e["id"]),
                            e["fields"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|p| (bytes(&p[0]), bytes(&p[1])))
                                .collect(),
                        )
                    })
                    .collect(),
                length: v["length"].as_u64().unwrap(),
                last_id: id(&v["last_id"]),
                groups: v["groups"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|g| OwnedGroup {
                        name: bytes(&g["name"]),
                        last_id: id(&g["last_delivered_id"]),
                        entries_read: g["entries_read"].as_i64(),
                        pel: g["pending"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|p| {
                                (
                                    id(&p["id"]),
                                    p["delivery_time_ms"].as_i64().unwrap(),
                                    p["delivery_count"].as_u64().unwrap(),
                                )
                            })
                            .collect(),
                        consumers: g["consumers"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|c| OwnedConsumer {
                                name: bytes(&c["name"]),
                                seen_time: c["seen_time_ms"].as_i64().unwrap(),
                                active_time: c["active_time_ms"].as_i64(),
                                pel: c["pending"].as_array().unwrap().iter().map(id).collect(),
                            })
                            .collect(),
                    })
                    .collect(),
            },
            t => {
                d.fail(format!("unexpected type {t}"));
                continue;
            }
        };
        keys.push(OwnedKey {
            db: j["db"].as_u64(),
            key: bytes(&j["key"]),
            type_name: leak(j["type"].as_str().unwrap()),
            encoding: leak(j["encoding"].as_str().unwrap()),
            expire_ms: j["expire_at_ms"].as_i64(),
            idle_seconds: j.get("idle_s").and_then(J::as_u64),
            lfu_freq: j.get("freq").and_then(J::as_u64).map(|f| f as u8),
            value,
        });
    }
    (keys, functions, modules)
}

// ---------------------------------------------------------------------------------------
// CSV rows back into keys
// ---------------------------------------------------------------------------------------

/// One key's CSV rows: db, key, type, expire_at_ms, and per row the last four fields.
type CsvKey = (u64, Vec<u8>, String, Option<i64>, Vec<Vec<Vec<u8>>>);

/// RFC 4180 over bytes: fields split on commas, rows on `\n`, a quoted field runs to
/// its closing quote (`""` inside is one quote) and may hold commas, CR and LF.
fn parse_csv(out: &[u8]) -> Vec<Vec<Vec<u8>>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), Vec::new());
    let mut i = 0;
    while i < out.len() {
        match out[i] {
            b'"' if field.is_empty() => {
                i += 1;
                loop {
                    match (out[i], out.get(i + 1)) {
                        (b'"', Some(b'"')) => {
                            field.push(b'"');
                            i += 2;
                        }
                        (b'"', _) => break,
                        (c, _) => {
                            field.push(c);
                            i += 1;
                        }
                    }
                }
            }
            b',' => row.push(std::mem::take(&mut field)),
            b'\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            c => field.push(c),
        }
        i += 1;
    }
    rows
}

/// Each jsonl key has the same rows in the CSV, in order; module keys carry the
/// jsonl's DUMP payload. Stream groups are not in CSV.
fn check_csv(out: &[u8], keys: &[OwnedKey], modules: &ModuleKeys, d: &mut Diffs) {
    let rows = parse_csv(out);
    let header =
        b"db,key,type,expire_at_ms,index,field,value,field_expire_at_ms".split(|&c| c == b',');
    d.check(
        rows.first().map(|r| r.iter().map(Vec::as_slice).eq(header)) == Some(true),
        || "csv header".into(),
    );
    // Consecutive rows of one key, in file order.
    let mut got: Vec<CsvKey> = Vec::new();
    for r in rows.iter().skip(1) {
        if r.len() != 8 {
            d.fail(format!("csv row with {} fields: {r:?}", r.len()));
            return;
        }
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let db: u64 = text(&r[0]).parse().unwrap();
        let same = got
            .last()
            .is_some_and(|(gdb, gk, _, _, _)| *gdb == db && gk == &r[1]);
        if !same {
            let expire = (!r[3].is_empty()).then(|| text(&r[3]).parse().unwrap());
            got.push((db, r[1].clone(), text(&r[2]), expire, Vec::new()));
        }
        got.last_mut().unwrap().4.push(r[4..].to_vec());
    }
    let want = keys.len() + modules.len();
    d.check(got.len() == want, || {
        format!("csv has {} keys, jsonl {want}", got.len())
    });
    let mut modules = modules.iter();
    let mut keys = keys.iter();
    for (db, key, kind, expire, rows) in &got {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        if kind == "module" {
            let Some((mdb, mkey, dump)) = modules.next() else {
                d.fail("more module keys in csv".into());
                return;
            };
            let ok = mdb == db
                && mkey == key
                && rows.len() == 1
                && b64_decode(&text(&rows[0][2])) == *dump;
            d.check(ok, || format!("csv module key \"{}\" differs", escape(key)));
            continue;
        }
        let Some(k) = keys.next() else {
            d.fail("more keys in csv than in jsonl".into());
            return;
        };
        let value = match kind.as_str() {
            "string" => OwnedValue::String(rows[0][2].clone()),
            "list" => {
                let ordered = rows
                    .iter()
                    .enumerate()
                    .all(|(i, r)| text(&r[0]) == i.to_string());
                d.check(ordered, || {
                    format!("csv list \"{}\" positions", escape(key))
                });
                OwnedValue::List(rows.iter().map(|r| r[2].clone()).collect())
            }
            "set" => OwnedValue::Set(rows.iter().map(|r| r[2].clone()).collect()),
            "zset" => OwnedValue::Zset(
                rows.iter()
                    .map(|r| {
                        let s = match text(&r[2]).as_str() {
                            "inf" => f64::INFINITY,
                            "-inf" => f64::NEG_INFINITY,
                            t => t.parse().unwrap(),
                        };
                        (r[1].clone(), s)
                    })
                    .collect(),
            ),
            "hash" => OwnedValue::Hash(
                rows.iter()
                    .map(|r| {
                        let ttl = (!r[3].is_empty()).then(|| text(&r[3]).parse().unwrap());
                        (r[1].clone(), r[2].clone(), ttl)
                    })
                    .collect(),
            ),
            "stream" => {
                let mut entries: Vec<rdbkit::rdb::owned::OwnedEntry> = Vec::new();
                for r in rows.iter().filter(|r| !r[0].is_empty()) {
                    let t = text(&r[0]);
                    let (ms, seq) = t.split_once('-').unwrap();
                    let i = StreamId {
                        ms: ms.parse().unwrap(),
                        seq: seq.parse().unwrap(),
                    };
                    match entries.last_mut() {
                        Some((last, pairs)) if *last == i => {
                            pairs.push((r[1].clone(), r[2].clone()))
                        }
                        _ => entries.push((i, vec![(r[1].clone(), r[2].clone())])),
                    }
                }
                match &k.value {
                    OwnedValue::Stream {
                        length,
                        last_id,
                        groups,
                        ..
                    } => OwnedValue::Stream {
                        entries,
                        length: *length,
                        last_id: *last_id,
                        groups: groups.clone(),
                    },
                    _ => OwnedValue::String(Vec::new()),
                }
            }
            t => {
                d.fail(format!("csv type {t}"));
                continue;
            }
        };
        let same = k.db == Some(*db)
            && &k.key == key
            && k.type_name == kind
            && k.expire_ms == *expire
            && k.value == value;
        d.check(same, || {
            format!(
                "csv key \"{}\" (db {db}) differs from jsonl: {value:?} vs {:?}",
                escape(key),
                k.value
            )
        });
    }
}

// ---------------------------------------------------------------------------------------
// Two servers, one dataset
// ---------------------------------------------------------------------------------------

/// The `[k1, v1, ...]` reply without the fields named in `skip`.
fn without(r: &Reply, skip: &[&str]) -> Vec<Reply> {
    r.array()
        .chunks(2)
        .filter(|kv| {
            !skip
                .iter()
                .any(|s| kv[0] == Reply::Bulk(s.as_bytes().to_vec()))
        })
        .flat_map(|kv| kv.to_vec())
        .collect()
}

fn compare_servers(a: &mut Server, b: &mut Server, d: &mut Diffs) -> usize {
    let digest = |s: &mut Server| s.oks(&["DEBUG", "DIGEST"]).text();
    let (da, db_) = (digest(a), digest(b));
    d.check(da == db_, || format!("DEBUG DIGEST {da} vs rebuilt {db_}"));
    let field_ttl = servers::has_field_ttl(a);
    let mut dbs: BTreeSet<u64> = servers::keyspace(a).keys().copied().collect();
    dbs.extend(servers::keyspace(b).keys().copied());
    let mut compared = 0;
    for db in dbs {
        let n = db.to_string();
        a.oks(&["SELECT", &n]);
        b.oks(&["SELECT", &n]);
        let (ka, kb) = (scan_all(a), scan_all(b));
        for k in ka.symmetric_difference(&kb) {
            d.fail(format!(
                "db {db}: key \"{}\" only on {}",
                escape(k),
                if ka.contains(k) {
                    "the source"
                } else {
                    "the rebuilt server"
                }
            ));
        }
        for k in ka.intersection(&kb) {
            compared += 1;
            let at = format!("db {db} key \"{}\"", escape(k));
            let mut same = |cmd: &[&[u8]], what: &str| {
                let (ra, rb) = (a.cmd(cmd), b.cmd(cmd));
                d.check(ra == rb, || {
                    format!("{at}: {what}: {ra:?} vs rebuilt {rb:?}")
                });
                ra
            };
            same(&[b"DEBUG", b"DIGEST-VALUE", k], "DEBUG DIGEST-VALUE");
            // raw and embstr are the same bytes; which one depends on how the string was
            // built (APPEND makes raw), not on the data
            let enc = |s: &mut Server| match s.cmd(&[b"OBJECT", b"ENCODING", k]) {
                Reply::Bulk(e) if e == b"embstr" => Reply::Bulk(b"raw".to_vec()),
                r => r,
            };
            let (ea, eb) = (enc(a), enc(b));
            d.check(ea == eb, || {
                format!("{at}: OBJECT ENCODING {ea:?} vs rebuilt {eb:?}")
            });
            if a.at_least(7, 0) {
                let mut same = |cmd: &[&[u8]], what: &str| {
                    let (ra, rb) = (a.cmd(cmd), b.cmd(cmd));
                    d.check(ra == rb, || {
                        format!("{at}: {what}: {ra:?} vs rebuilt {rb:?}")
                    });
                };
                same(&[b"PEXPIRETIME", k], "PEXPIRETIME");
            } else {
                let (ta, tb) = (a.cmd(&[b"PTTL", k]).int(), b.cmd(&[b"PTTL", k]).int());
                d.check((ta == -1) == (tb == -1) && (ta - tb).abs() <= 3000, || {
                    format!("{at}: PTTL {ta} vs rebuilt {tb}")
                });
            }
            let t = a.cmd(&[b"TYPE", k]).text();
            if t == "hash" && field_ttl {
                let fields = a.cmd(&[b"HKEYS", k]).bulks();
                let n = fields.len().to_string();
                let mut cmd: Vec<&[u8]> = vec![b"HPEXPIRETIME", k, b"FIELDS", n.as_bytes()];
                cmd.extend(fields.iter().map(|f| f.as_slice()));
                let (ra, rb) = (a.cmd(&cmd), b.cmd(&cmd));
                d.check(ra == rb, || {
                    format!("{at}: HPEXPIRETIME differs: {ra:?} vs {rb:?}")
                });
            }
            if t == "stream" {
                compare_stream(a, b, k, &at, d);
            }
            if t == "vectorset" {
                // its DUMP is not canonical (graph layout): compare what it holds
                let n = a.cmd(&[b"VCARD", k]).int();
                let members = a
                    .cmd(&[b"VRANDMEMBER", k, n.to_string().as_bytes()])
                    .bulks();
                let mut same = |cmd: &[&[u8]]| {
                    let (ra, rb) = (a.cmd(cmd), b.cmd(cmd));
                    d.check(ra == rb, || {
                        format!("{at}: {cmd:?}: {ra:?} vs rebuilt {rb:?}")
                    });
                };
                same(&[b"VCARD", k]);
                same(&[b"VDIM", k]);
                for m in &members {
                    same(&[b"VEMB", k, m]);
                }
            }
        }
    }
    a.oks(&["SELECT", "0"]);
    b.oks(&["SELECT", "0"]);
    if a.at_least(7, 0) {
        let (fa, fb) = (
            functions(a.oks(&["FUNCTION", "LIST", "WITHCODE"])),
            functions(b.oks(&["FUNCTION", "LIST", "WITHCODE"])),
        );
        d.check(fa == fb, || {
            format!("FUNCTION LIST WITHCODE: {fa:?} vs rebuilt {fb:?}")
        });
    }
    compared
}

/// `FUNCTION LIST` in a canonical order (libraries and their functions come in hash
/// table order).
fn functions(r: Reply) -> Vec<String> {
    let mut libs: Vec<String> = r
        .array()
        .iter()
        .map(|lib| {
            let mut lib = lib.array().to_vec();
            for kv in lib.chunks_mut(2) {
                if kv[0] == Reply::Bulk(b"functions".to_vec()) {
                    if let Reply::Array(f) = &mut kv[1] {
                        f.sort_by_key(|x| format!("{x:?}"));
                    }
                }
            }
            format!("{lib:?}")
        })
        .collect();
    libs.sort();
    libs
}

/// Stream state `DEBUG DIGEST-VALUE` does not cover.
fn compare_stream(a: &mut Server, b: &mut Server, k: &[u8], at: &str, d: &mut Diffs) {
    // (the idempotent-producer tables of Redis 8.6 cannot be rebuilt: reported on stderr)
    let info = |s: &mut Server| {
        without(
            &s.cmd(&[b"XINFO", b"STREAM", k]),
            &[
                "first-entry",
                "last-entry",
                "radix-tree-keys",
                "radix-tree-nodes",
                "pids-tracked",
                "iids-tracked",
                "iids-added",
                "iids-duplicates",
            ],
        )
    };
    let (ia, ib) = (info(a), info(b));
    d.check(ia == ib, || {
        format!("{at}: XINFO STREAM {ia:?} vs rebuilt {ib:?}")
    });
    let (ga, gb) = (
        a.cmd(&[b"XINFO", b"GROUPS", k]),
        b.cmd(&[b"XINFO", b"GROUPS", k]),
    );
    d.check(ga == gb, || {
        format!("{at}: XINFO GROUPS {ga:?} vs rebuilt {gb:?}")
    });
    for g in ga.array() {
        let name = g.field("name").expect("group name").bytes();
        let pel = |s: &mut Server| {
            s.cmd(&[b"XPENDING", k, &name, b"-", b"+", b"100000"])
                .array()
                .iter()
                .map(|e| {
                    let e = e.array();
                    (e[0].bytes(), e[1].bytes(), e[2].int(), e[3].int())
                })
                .collect::<Vec<_>>()
        };
        let (pa, pb) = (pel(a), pel(b));
        let same = pa.len() == pb.len()
            && pa
                .iter()
                .zip(&pb)
                .all(|(x, y)| x.0 == y.0 && x.1 == y.1 && x.3 == y.3 && (x.2 - y.2).abs() <= 3000);
        d.check(same, || {
            format!(
                "{at}: group \"{}\" XPENDING {pa:?} vs rebuilt {pb:?}",
                escape(&name)
            )
        });
        let consumers = |s: &mut Server| {
            s.cmd(&[b"XINFO", b"CONSUMERS", k, &name])
                .array()
                .iter()
                .map(|c| {
                    (
                        c.field("name").expect("name").bytes(),
                        c.field("pending").expect("pending").int(),
                    )
                })
                .collect::<Vec<_>>()
        };
        let (ca, cb) = (consumers(a), consumers(b));
        d.check(ca == cb, || {
            format!(
                "{at}: group \"{}\" consumers {ca:?} vs rebuilt {cb:?}",
                escape(&name)
            )
        });
    }
}

// ---------------------------------------------------------------------------------------
// The command line, on the sample file (no server needed)
// ---------------------------------------------------------------------------------------

fn sample() -> String {
    crate::support::testdata("sample-redis-7.2.rdb")
        .display()
        .to_string()
}

fn lines(out: &[u8]) -> Vec<J> {
    out.split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("a JSON line"))
        .collect()
}

#[test]
fn json_array_equals_jsonl_objects() {
    let jl = rdbkit(&["export", &sample()]);
    let arr = rdbkit(&["export", &sample(), "--format", "json"]);
    assert!(jl.status.success() && arr.status.success());
    let arr: J = serde_json::from_slice(&arr.stdout).expect("one JSON array");
    assert_eq!(arr.as_array().unwrap(), &lines(&jl.stdout));
    assert!(lines(&jl.stdout).len() >= 10);
}

#[test]
fn filters_rename_and_db_map() {
    let out = rdbkit(&[
        "export",
        &sample(),
        "--type",
        "string",
        "--match",
        "[gos]*",
        "--rename-prefix",
        "other=moved",
        "--db-map",
        "2=7",
    ]);
    assert!(out.status.success());
    let objs = lines(&out.stdout);
    let names: Vec<(u64, &str)> = objs
        .iter()
        .filter(|o| o["type"] != "function")
        .map(|o| (o["db"].as_u64().unwrap(), o["key"].as_str().unwrap()))
        .collect();
    assert!(names.contains(&(7, "moved-db")), "{names:?}");
    assert!(names.contains(&(0, "greeting")), "{names:?}");
    assert!(objs
        .iter()
        .filter(|o| o["type"] != "function")
        .all(|o| o["type"] == "string"));
    assert!(!names.iter().any(|(_, n)| *n == "counter"), "{names:?}");
}

#[test]
fn forced_byte_encodings() {
    let out = rdbkit(&["export", &sample(), "--bytes", "hex", "--match", "greeting"]);
    let o = &lines(&out.stdout)[0];
    assert_eq!(o["key"], "6772656574696e67");
    assert_eq!(o["value"], "68656c6c6f20776f726c64");
    let out = rdbkit(&[
        "export",
        &sample(),
        "--bytes",
        "base64",
        "--match",
        "greeting",
    ]);
    assert_eq!(lines(&out.stdout)[0]["key"], "Z3JlZXRpbmc=");
}

#[test]
fn compressed_outputs_decompress_to_the_plain_output() {
    let dir = tempfile::tempdir().unwrap();
    let plain = rdbkit(&["export", &sample(), "--format", "resp"]).stdout;
    for ext in ["gz", "zst"] {
        let p = dir.path().join(format!("out.resp.{ext}"));
        let out = rdbkit(&[
            "export",
            &sample(),
            "--format",
            "resp",
            "-o",
            p.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{ext}: {out:?}");
        let tool = if ext == "gz" { "gzip" } else { "zstd" };
        match Command::new(tool).arg("-dc").arg(&p).output() {
            Ok(d) if d.status.success() => assert_eq!(d.stdout, plain, "{ext}"),
            _ => {
                // zstd's CLI may be missing: check the frame magic at least
                let b = std::fs::read(&p).unwrap();
                let magic: &[u8] = if ext == "gz" {
                    &[0x1f, 0x8b]
                } else {
                    &[0x28, 0xb5, 0x2f, 0xfd]
                };
                assert!(b.starts_with(magic), "{ext}: no {tool} and no magic");
            }
        }
    }
}

#[test]
fn closed_pipe_ends_quietly() {
    use std::io::Read;
    // a dump big enough that the export is still writing when the reader goes away
    let Some(mut s) = Server::start("redis-7.4.1", &[]) else {
        crate::require!(false, "redis-7.4.1 is not installed");
        return;
    };
    let cmds: Vec<Vec<Vec<u8>>> = (0..20_000)
        .map(|i| {
            vec![
                b"SET".to_vec(),
                format!("key:{i}").into_bytes(),
                vec![b'v'; 200],
            ]
        })
        .collect();
    s.pipeline(&cmds);
    s.save();
    let path = s.rdb_path();
    for format in ["jsonl", "resp"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rdbkit"))
            .args(["export", path.to_str().unwrap(), "--format", format])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 4];
        let mut stdout = child.stdout.take().unwrap();
        stdout.read_exact(&mut first).unwrap();
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{format}: {out:?}");
        assert!(
            out.stderr.is_empty(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// An AOF (RDB preamble + commands; multi-part on 7.0+, one file on 6.2) exported as
/// RESP rebuilds the server's dataset; as JSON lines it is the preamble's keys, then the
/// commands.
#[test]
fn aof_inputs_rebuild_the_dataset() {
    for name in ["redis-7.4.1", "redis-6.2.14", "valkey-9.1.2"] {
        let installed = installed_rows().iter().any(|r| r.name == name);
        crate::require!(installed, "{name} is not installed");
        let mut args = vec!["--appendonly", "yes", "--aof-use-rdb-preamble", "yes"];
        if name != "redis-6.2.14" {
            args.extend(["--enable-debug-command", "yes"]);
        }
        let mut a = Server::start(name, &args).expect("installed");
        a.wait_aof_rewrite();
        fill(&mut a, &[0, 1], Mode::Plain);
        a.oks(&["BGREWRITEAOF"]);
        a.wait_aof_rewrite();
        // commands after the rewrite, in two dbs
        a.oks(&["SELECT", "1"]);
        a.oks(&["SET", "after:rewrite", "1"]);
        a.oks(&["RPUSH", "list:small", "appended"]);
        a.oks(&["SELECT", "0"]);
        a.oks(&["INCR", "str:incr"]);
        a.oks(&["DEL", "str:raw"]);
        a.oks(&["XADD", "stream:main", "*", "late", "entry"]);
        std::thread::sleep(std::time::Duration::from_millis(1200)); // appendfsync everysec
        let path = if a.at_least(7, 0) {
            a.dir.join("appendonlydir")
        } else {
            a.dir.join("appendonly.aof")
        };
        let path = path.to_str().unwrap().to_string();
        let mut d = Diffs::new(format!("{name} AOF export"));
        let resp = a.dir.join("aof.resp");
        let out = rdbkit(&[
            "export",
            &path,
            "--format",
            "resp",
            "-o",
            resp.to_str().unwrap(),
        ]);
        d.check(out.status.success(), || format!("export: {out:?}"));
        let mut b = launch(name, Mode::Plain).expect("installed");
        let piped = Command::new(servers_dir().join("bin/redis-cli"))
            .args(["-p", &b.port.to_string(), "--pipe"])
            .stdin(Stdio::from(std::fs::File::open(&resp).expect("resp file")))
            .output()
            .expect("redis-cli --pipe");
        let said = String::from_utf8_lossy(&piped.stdout).into_owned();
        d.check(said.contains("errors: 0"), || {
            format!("redis-cli --pipe: {said}")
        });
        let (da, db_) = (
            a.oks(&["DEBUG", "DIGEST"]).text(),
            b.oks(&["DEBUG", "DIGEST"]).text(),
        );
        d.check(da == db_, || format!("DEBUG DIGEST {da} vs rebuilt {db_}"));
        let out = rdbkit(&["export", &path]);
        let objs = lines(&out.stdout);
        let commands = objs.iter().filter(|o| o.get("command").is_some()).count();
        let keys = objs.iter().filter(|o| o.get("key").is_some()).count();
        d.check(out.status.success() && commands >= 5 && keys > 50, || {
            format!("jsonl of the AOF: {keys} keys, {commands} commands")
        });
        d.finish();
    }
}

#[test]
fn csv_refuses_aof_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let aof = tmp.path().join("a.aof");
    std::fs::write(&aof, b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n").unwrap();
    let out = rdbkit(&["export", aof.to_str().unwrap(), "--format", "csv"]);
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("CSV holds keys") && said.contains("byte 0"),
        "{said}"
    );
}
