//! `rdbkit rewrite` judged by real servers: every written file is loaded by the target
//! server version (as its `dbfilename`), checked by that version's `redis-check-rdb`,
//! and compared with the source server: `DEBUG DIGEST` when every key is expected,
//! otherwise per key `DEBUG DIGEST-VALUE` over exactly the keys the report says were
//! written (and `HGETALL` for hashes whose field TTLs the target cannot hold).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as J;

use crate::servers::{fill, has_field_ttl, launch, scan_all, Mode};
use crate::support::rdbkit;
use crate::support::server::{installed_rows, parse_version, servers_dir, Server};

/// A filled and saved source server and its RDB.
struct Source {
    server: Server,
    rdb: PathBuf,
}

fn installed(names: &[&str]) -> bool {
    let rows = installed_rows();
    names.iter().all(|n| rows.iter().any(|r| r.name == *n))
}

fn source(name: &str, dbs: &[u64]) -> Source {
    let mut server = launch(name, Mode::Plain).expect("installed");
    fill(&mut server, dbs, Mode::Plain);
    server.save();
    let rdb = server.rdb_path();
    Source { server, rdb }
}

/// Starts `name` loading `file`.
fn load(name: &str, file: &Path) -> Server {
    let row = installed_rows().into_iter().find(|r| r.name == name);
    let row = row.unwrap_or_else(|| panic!("{name} is not installed"));
    let dir = file.parent().unwrap().to_str().unwrap();
    let base = file.file_name().unwrap().to_str().unwrap();
    let mut args = vec!["--dir", dir, "--dbfilename", base];
    if parse_version(&row.version) >= (7, 0, 0) {
        args.extend(["--enable-debug-command", "yes"]);
    }
    let mut s = Server::start(name, &args).expect("installed");
    let info = s.oks(&["INFO", "persistence"]).text();
    assert!(info.contains("loading:0"), "{name}: still loading: {info}");
    s
}

fn check_rdb(name: &str, file: &Path) {
    let bin = servers_dir().join("bin").join(format!("{name}-check-rdb"));
    let out = Command::new(&bin)
        .arg(file)
        .output()
        .expect("run check-rdb");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("RDB looks OK"),
        "{name}-check-rdb {}: {text}",
        file.display()
    );
}

fn rewrite(args: &[&str]) -> J {
    let mut all = vec!["rewrite", "--json"];
    all.extend_from_slice(args);
    let out = rdbkit(&all);
    assert!(
        out.status.success(),
        "rdbkit {all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("report JSON")
}

fn digest(s: &mut Server) -> String {
    s.oks(&["DEBUG", "DIGEST"]).text()
}

/// (db, key) → note list, for the keys a report names under `field`.
fn listed(report: &J, field: &str) -> BTreeMap<(u64, Vec<u8>), Vec<String>> {
    report[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let notes = k["notes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_string());
            (
                (
                    k["db"].as_u64().unwrap(),
                    k["key"].as_str().unwrap().as_bytes().to_vec(),
                ),
                notes.collect(),
            )
        })
        .collect()
}

/// Every key of `dbs` on `src` that the report did not skip is on `dst` with the same
/// value, and `dst` has no other key.
fn compare_keys(src: &mut Server, dst: &mut Server, dbs: &[u64], report: &J, what: &str) -> usize {
    let skipped = listed(report, "skipped");
    let converted = listed(report, "converted");
    let mut compared = 0;
    for &db in dbs {
        let d = db.to_string();
        src.oks(&["SELECT", &d]);
        dst.oks(&["SELECT", &d]);
        let want: BTreeSet<Vec<u8>> = scan_all(src)
            .into_iter()
            .filter(|k| !skipped.contains_key(&(db, k.clone())))
            .collect();
        let got = scan_all(dst);
        assert_eq!(got, want, "{what}: db {db} key sets differ");
        for key in &want {
            let ttl_dropped = converted
                .get(&(db, key.clone()))
                .is_some_and(|n| n.iter().any(|n| n.contains("field TTLs dropped")));
            let field_ttls = !ttl_dropped && has_field_ttl(src) && has_field_ttl(dst);
            let exact_expiry = src.at_least(7, 0) && dst.at_least(7, 0);
            let a = value_of(src, key, field_ttls, exact_expiry);
            let b = value_of(dst, key, field_ttls, exact_expiry);
            if a != b {
                let cut = |s: &str| s.chars().take(400).collect::<String>();
                panic!(
                    "{what}: db {db} key {:?}:\n source {}\n target {}",
                    String::from_utf8_lossy(key),
                    cut(&a),
                    cut(&b)
                );
            }
            compared += 1;
        }
    }
    src.oks(&["SELECT", "0"]);
    compared
}

/// A key's value and expiry in a form that does not depend on the server version:
/// `DEBUG DIGEST-VALUE` except for zsets (score formatting in the digest changed in
/// 7.4) and hashes (field TTLs enter the digest differently in Redis and Valkey),
/// which are compared element by element (scores as doubles, field expiry times).
fn value_of(s: &mut Server, key: &[u8], field_ttls: bool, exact_expiry: bool) -> String {
    let expire = if exact_expiry {
        s.ok(&[b"PEXPIRETIME", key]).int()
    } else {
        // PTTL moves with the clock: round to minutes
        let t = s.ok(&[b"PTTL", key]).int();
        if t < 0 {
            t
        } else {
            t / 60_000
        }
    };
    let t = s.ok(&[b"TYPE", key]).text();
    let value = match t.as_str() {
        "zset" => {
            let v = s.ok(&[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"]).bulks();
            let pairs: Vec<(String, f64)> = v
                .chunks(2)
                .map(|c| {
                    (
                        String::from_utf8_lossy(&c[0]).into_owned(),
                        String::from_utf8_lossy(&c[1]).parse().unwrap(),
                    )
                })
                .collect();
            format!("{pairs:?}")
        }
        "hash" => {
            let v = s.ok(&[b"HGETALL", key]).bulks();
            let mut pairs: Vec<(Vec<u8>, Vec<u8>, i64)> = v
                .chunks(2)
                .map(|c| {
                    let ttl = if field_ttls {
                        s.ok(&[b"HPEXPIRETIME", key, b"FIELDS", b"1", &c[0]])
                            .array()[0]
                            .int()
                    } else {
                        0
                    };
                    (c[0].clone(), c[1].clone(), ttl)
                })
                .collect();
            pairs.sort();
            format!("{pairs:?}")
        }
        "stream" => stream_of(s, key),
        _ => s.ok(&[b"DEBUG", b"DIGEST-VALUE", key]).array()[0].text(),
    };
    format!("{t} expire {expire}: {value}")
}

/// A stream's entries (`DEBUG DIGEST-VALUE`), length, last id, and per group its last
/// delivered id, pending entries (id, owner, delivery count) and consumers: what every
/// stream version holds (entries-read, lag and active-time are left out).
fn stream_of(s: &mut Server, key: &[u8]) -> String {
    let entries = s.ok(&[b"DEBUG", b"DIGEST-VALUE", key]).array()[0].text();
    let info = s.ok(&[b"XINFO", b"STREAM", key]);
    let length = info.field("length").unwrap().int();
    let last = info.field("last-generated-id").unwrap().text();
    let mut groups = Vec::new();
    for g in s.ok(&[b"XINFO", b"GROUPS", key]).array().to_vec() {
        let name = g.field("name").unwrap().bytes();
        let delivered = g.field("last-delivered-id").unwrap().text();
        let pending: Vec<(String, String, i64)> = s
            .ok(&[b"XPENDING", key, &name, b"-", b"+", b"1000000"])
            .array()
            .iter()
            .map(|p| {
                let p = p.array();
                (p[0].text(), p[1].text(), p[3].int())
            })
            .collect();
        let consumers: Vec<(String, i64)> = s
            .ok(&[b"XINFO", b"CONSUMERS", key, &name])
            .array()
            .iter()
            .map(|c| {
                (
                    c.field("name").unwrap().text(),
                    c.field("pending").unwrap().int(),
                )
            })
            .collect();
        groups.push(format!(
            "{} at {delivered}: pending {pending:?} consumers {consumers:?}",
            String::from_utf8_lossy(&name)
        ));
    }
    format!("{entries} length {length} last {last} groups {groups:?}")
}

fn tmp(name: &str) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().expect("tempdir");
    let p = d.path().join(name);
    (d, p)
}

#[test]
fn rewrite_redis_7_4_identity_filters_and_split() {
    crate::require!(installed(&["redis-7.4.1"]), "redis-7.4.1 is not installed");
    let mut src = source("redis-7.4.1", &[0, 1, 5]);
    let input = src.rdb.to_str().unwrap().to_string();
    let before = std::fs::read(&src.rdb).unwrap();

    // identity: same version, every key, same digest
    let (_d, out) = tmp("same.rdb");
    let r = rewrite(&[&input, "-o", out.to_str().unwrap()]);
    assert_eq!(r["target"], "REDIS0012");
    assert_eq!(r["keys_written"], r["keys_read"]);
    assert_eq!(r["keys_converted"], 0);
    check_rdb("redis-7.4.1", &out);
    let mut dst = load("redis-7.4.1", &out);
    assert_eq!(digest(&mut dst), digest(&mut src.server), "identity digest");
    drop(dst);
    // refuses to overwrite without --force
    let again = rdbkit(&["rewrite", &input, "-o", out.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    // filters: db 0 hashes and sets matching a glob, moved to db 3
    let (_d, out) = tmp("filtered.rdb");
    let r = rewrite(&[
        &input,
        "-o",
        out.to_str().unwrap(),
        "--db",
        "0",
        "--type",
        "hash,set",
        "--match",
        "*a*",
        "--db-map",
        "0=3",
    ]);
    assert!(r["keys_filtered"].as_u64().unwrap() > 0 && r["keys_written"].as_u64().unwrap() > 3);
    check_rdb("redis-7.4.1", &out);
    let mut dst = load("redis-7.4.1", &out);
    src.server.oks(&["SELECT", "0"]);
    dst.oks(&["SELECT", "3"]);
    let want: BTreeSet<Vec<u8>> = scan_all(&mut src.server)
        .into_iter()
        .filter(|k| {
            let t = src.server.ok(&[b"TYPE", k]).text();
            (t == "hash" || t == "set") && k.contains(&b'a')
        })
        .collect();
    assert_eq!(scan_all(&mut dst), want);
    for k in &want {
        let a = src.server.ok(&[b"DEBUG", b"DIGEST-VALUE", k]).array()[0].text();
        let b = dst.ok(&[b"DEBUG", b"DIGEST-VALUE", k]).array()[0].text();
        assert_eq!(a, b, "filtered key {:?}", String::from_utf8_lossy(k));
    }
    drop(dst);

    // split db 0 into three nodes; every key lands on the node owning its slot
    let (_d, out) = tmp("node.rdb");
    let r = rewrite(&[
        &input,
        "-o",
        out.to_str().unwrap(),
        "--db",
        "0",
        "--split-by-slot",
        "0-5460,5461-10922,10923-16383",
    ]);
    let files = r["outputs"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    let mut union = BTreeSet::new();
    // KEYSLOT needs cluster mode: ask a cluster-enabled server
    let mut cluster = launch("redis-7.4.1", Mode::Cluster).expect("installed");
    for (i, f) in files.iter().enumerate() {
        let path = PathBuf::from(f["path"].as_str().unwrap());
        check_rdb("redis-7.4.1", &path);
        let mut node = load("redis-7.4.1", &path);
        for key in scan_all(&mut node) {
            let slot = cluster.ok(&[b"CLUSTER", b"KEYSLOT", &key]).int();
            let want_node = if slot <= 5460 {
                0
            } else if slot <= 10922 {
                1
            } else {
                2
            };
            assert_eq!(
                want_node,
                i,
                "key {:?} slot {slot}",
                String::from_utf8_lossy(&key)
            );
            let a = src.server.ok(&[b"DEBUG", b"DIGEST-VALUE", &key]).array()[0].text();
            let b = node.ok(&[b"DEBUG", b"DIGEST-VALUE", &key]).array()[0].text();
            assert_eq!(a, b);
            assert!(union.insert(key));
        }
    }
    assert_eq!(union, scan_all(&mut src.server), "split lost or added keys");
    // keys outside db 0 cannot be split without a db map
    let multi = rdbkit(&[
        "rewrite",
        &input,
        "-o",
        out.to_str().unwrap(),
        "--force",
        "--split-by-slot",
        "0-16383",
    ]);
    assert_eq!(multi.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&multi.stderr).contains("--db-map"));

    assert_eq!(
        std::fs::read(&src.rdb).unwrap(),
        before,
        "the input changed"
    );
}

/// Downgrades and dialect changes: (source, its dbs, flags, target server).
fn convert(source_name: &str, dbs: &[u64], flags: &[&str], target: &str) {
    crate::require!(
        installed(&[source_name, target]),
        "{source_name} or {target} is not installed (../shared/servers/install.sh)"
    );
    let mut src = source(source_name, dbs);
    let input = src.rdb.to_str().unwrap().to_string();
    let (_d, out) = tmp("converted.rdb");
    let mut args = vec![input.as_str(), "-o", out.to_str().unwrap()];
    args.extend_from_slice(flags);
    let r = rewrite(&args);
    check_rdb(target, &out);
    let mut dst = load(target, &out);
    let what = format!("{source_name} {flags:?} -> {target}");
    let n = compare_keys(&mut src.server, &mut dst, dbs, &r, &what);
    assert_eq!(n as u64, r["keys_written"].as_u64().unwrap(), "{what}");
    eprintln!("{what}: {n} keys equal, report changes {}", r["changes"]);
}

#[test]
fn rewrite_redis_7_4_for_redis_6_2() {
    convert(
        "redis-7.4.1",
        &[0, 5],
        &["--rdb-version", "9"],
        "redis-6.2.14",
    );
}

#[test]
fn rewrite_redis_7_4_for_redis_7_0() {
    convert(
        "redis-7.4.1",
        &[0, 5],
        &["--rdb-version", "10"],
        "redis-7.0.15",
    );
}

#[test]
fn rewrite_redis_7_4_for_valkey_9() {
    convert(
        "redis-7.4.1",
        &[0, 5],
        &["--magic", "valkey"],
        "valkey-9.1.2",
    );
}

#[test]
fn rewrite_valkey_9_for_redis_8_0() {
    convert(
        "valkey-9.1.2",
        &[0, 5],
        &["--magic", "redis", "--rdb-version", "12"],
        "redis-8.0.2",
    );
}

#[test]
fn rewrite_redis_8_0_for_itself_and_7_0_for_6_2() {
    convert("redis-8.0.2", &[0], &[], "redis-8.0.2");
    convert(
        "redis-7.0.15",
        &[0],
        &["--rdb-version", "9"],
        "redis-6.2.14",
    );
}

#[test]
fn rewrite_redis_8_6_streams_for_redis_8_0_and_6_2() {
    convert("redis-8.6.3", &[0], &["--rdb-version", "12"], "redis-8.0.2");
    convert("redis-8.6.3", &[0], &["--rdb-version", "9"], "redis-6.2.14");
}

#[test]
fn rewrite_reports_a_damaged_input_and_writes_nothing() {
    let (_d, out) = tmp("x.rdb");
    let bad = out.with_file_name("bad.rdb");
    std::fs::write(&bad, b"REDIS0011\xfe\x00\x00\x01k").unwrap();
    let o = rdbkit(&[
        "rewrite",
        bad.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(out.parent().unwrap()).unwrap().count(), 1);
}
