//! `salvage`, `inspect` and `diff` against real servers.
//!
//! Each server version writes a dump of a few hundred keys of every type in two dbs;
//! the dump is then damaged in many ways (truncations, single-bit flips in a key name,
//! a length, an LZF payload, a listpack and the checksum, a zero-filled 4 KiB page,
//! inserted and deleted byte runs). For each damaged copy, salvage must report the
//! damage and recover every key whose record lies outside the damaged bytes: the
//! recovered keys are loaded into a fresh server of the same version and compared with
//! the original server by `DEBUG DIGEST-VALUE`, and nothing that was not in the
//! original may appear.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};

use rdbkit::forensics::inspect::{self, RecordLine};
use serde_json::Value as J;

use crate::servers::{keyspace, launch, Mode};
use crate::support::server::{not_installed, servers_dir, Server};
use crate::support::{panic_message, rdbkit};

const VERSIONS: &[&str] = &["redis-6.2.14", "redis-7.2.4", "redis-8.0.2", "valkey-9.1.2"];
/// Absolute expiry used for the keys with a TTL (2100-01-01), so dumps of the same
/// data from different servers are byte-for-byte comparable in their expiries.
const EXPIRE_AT_MS: i64 = 4_102_444_800_000;

fn cmd(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

/// A few hundred keys of every type and encoding in dbs 0 and 2.
pub(crate) fn fill(s: &mut Server) {
    let mut cmds: Vec<Vec<Vec<u8>>> = vec![cmd(&["SELECT", "0"])];
    for i in 0..80 {
        let k = format!("str:{i}");
        let v = match i % 4 {
            0 => i.to_string(),
            1 => format!("value-{i}"),
            // compressible: written LZF-compressed
            2 => format!("{}{i}", "abcdefgh".repeat(40)),
            _ => format!("{i}-{}", "z".repeat(i * 3)),
        };
        cmds.push(cmd(&["SET", &k, &v]));
        if i % 5 == 0 {
            cmds.push(cmd(&[
                "PEXPIREAT",
                &k,
                &(EXPIRE_AT_MS + i as i64).to_string(),
            ]));
        }
    }
    for i in 0..20 {
        let k = format!("list:{i}");
        let n = if i < 2 { 400 } else { 6 };
        let mut c = cmd(&["RPUSH", &k]);
        c.extend((0..n).map(|j| format!("item-{i}-{j}").into_bytes()));
        cmds.push(c);
    }
    for i in 0..20 {
        let k = format!("set:{i}");
        let mut c = cmd(&["SADD", &k]);
        match i % 3 {
            0 => c.extend((0..8).map(|j| (j * 7 + i).to_string().into_bytes())),
            1 => c.extend((0..8).map(|j| format!("m-{j}").into_bytes())),
            _ => c.extend((0..300).map(|j| format!("member-{i}-{j}").into_bytes())),
        }
        cmds.push(c);
    }
    for i in 0..20 {
        let k = format!("zset:{i}");
        let n = if i < 3 { 200 } else { 5 };
        let mut c = cmd(&["ZADD", &k]);
        for j in 0..n {
            c.push(format!("{}.5", j * 3 - 7).into_bytes());
            c.push(format!("zm-{i}-{j}").into_bytes());
        }
        cmds.push(c);
    }
    for i in 0..20 {
        let k = format!("hash:{i}");
        let n = if i < 3 { 300 } else { 6 };
        let mut c = cmd(&["HSET", &k]);
        for j in 0..n {
            c.push(format!("f{j}").into_bytes());
            c.push(format!("v-{i}-{j}").into_bytes());
        }
        cmds.push(c);
        if i % 4 == 1 {
            cmds.push(cmd(&[
                "PEXPIREAT",
                &k,
                &(EXPIRE_AT_MS - i as i64).to_string(),
            ]));
        }
    }
    for i in 0..2 {
        let k = format!("stream:{i}");
        for j in 1..=30 {
            cmds.push(cmd(&[
                "XADD",
                &k,
                &format!("{j}-1"),
                "field",
                &format!("v{j}"),
                "n",
                &j.to_string(),
            ]));
        }
        cmds.push(cmd(&["XGROUP", "CREATE", &k, "g1", "0"]));
    }
    cmds.push(cmd(&["SELECT", "2"]));
    for i in 0..30 {
        cmds.push(cmd(&["SET", &format!("db2:{i}"), &format!("two-{i}")]));
    }
    for i in 0..5 {
        cmds.push(cmd(&["HSET", &format!("db2h:{i}"), "a", "1", "b", "2"]));
    }
    cmds.push(cmd(&["SELECT", "0"]));
    s.pipeline(&cmds);
}

fn records(data: &[u8]) -> Vec<RecordLine> {
    let mut v = Vec::new();
    inspect::records(data, |l| {
        v.push(l);
        Ok(())
    })
    .expect("header")
    .expect("collect");
    v
}

/// `DEBUG DIGEST-VALUE` of every key of `keys` ((db, name)), on server `s`.
fn digests(s: &mut Server, keys: &BTreeSet<(u64, String)>) -> BTreeMap<(u64, String), Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut by_db: BTreeMap<u64, Vec<&String>> = BTreeMap::new();
    for (db, k) in keys {
        by_db.entry(*db).or_default().push(k);
    }
    for (db, ks) in by_db {
        s.oks(&["SELECT", &db.to_string()]);
        let cmds: Vec<Vec<Vec<u8>>> = ks
            .iter()
            .map(|k| cmd(&["DEBUG", "DIGEST-VALUE", k]))
            .collect();
        for (k, r) in ks.iter().zip(s.pipeline(&cmds)) {
            out.insert(
                (db, (*k).clone()),
                r.array().first().map(|r| r.bytes()).unwrap_or_default(),
            );
        }
    }
    s.oks(&["SELECT", "0"]);
    out
}

/// Every key on `s`, as (db, name).
fn all_keys(s: &mut Server) -> BTreeSet<(u64, String)> {
    let mut set = BTreeSet::new();
    for db in keyspace(s).keys() {
        s.oks(&["SELECT", &db.to_string()]);
        for k in s.oks(&["KEYS", "*"]).bulks() {
            set.insert((*db, String::from_utf8_lossy(&k).into_owned()));
        }
    }
    s.oks(&["SELECT", "0"]);
    set
}

/// A damaged copy: its bytes and the span of the original it damaged
/// (`start..end`; an insertion is `p..p`; a truncation is `p..len`).
struct Damage {
    what: String,
    bytes: Vec<u8>,
    start: u64,
    end: u64,
    /// Bytes inserted at `start` (lost spans are offsets in the damaged copy, where
    /// everything after the insertion sits this much further on).
    inserted: u64,
    /// Damage the format cannot see (only the checksum does).
    silent_ok: bool,
}

fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

fn damages(orig: &[u8]) -> Vec<Damage> {
    let n = orig.len();
    let mut v = Vec::new();
    for frac in [0.1, 0.33, 0.5, 0.77, 0.95] {
        let p = (n as f64 * frac) as usize;
        v.push(Damage {
            what: format!("truncated at {p}"),
            bytes: orig[..p].to_vec(),
            start: p as u64,
            end: n as u64,
            inserted: 0,
            silent_ok: false,
        });
    }
    for cut in [n - 9, n - 4] {
        v.push(Damage {
            what: format!("truncated at {cut} (in the trailer)"),
            bytes: orig[..cut].to_vec(),
            start: cut as u64,
            end: n as u64,
            inserted: 0,
            silent_ok: true,
        });
    }
    // Bit flips at structures found by annotating the original.
    let recs = records(orig);
    let flip = |label: &str, pick: usize| {
        let mut found = Vec::new();
        for r in recs.iter().filter(|r| r.record == "key") {
            let spans = inspect::annotate(orig, r.offset).expect("annotate");
            for s in spans {
                if s.label.starts_with(label) && s.end > s.start {
                    found.push(s);
                }
            }
        }
        let s = found.get(pick.min(found.len().saturating_sub(1)))?.clone();
        let at = ((s.start + s.end) / 2) as usize;
        let mut b = orig.to_vec();
        b[at] ^= 0x04;
        Some(Damage {
            what: format!("bit flip at {at} in {}", s.label),
            bytes: b,
            start: at as u64,
            end: at as u64 + 1,
            inserted: 0,
            silent_ok: true,
        })
    };
    v.extend(flip("key name: ", 7));
    v.extend(flip("value: length", 3));
    v.extend(flip("encoded value: length", 2));
    v.extend(flip("value: LZF compressed blob", 1));
    v.extend(flip("encoded value: LZF compressed blob", 0));
    v.extend(flip("listpack entry", 5));
    let mut c = orig.to_vec();
    c[n - 3] ^= 0x20;
    v.push(Damage {
        what: "bit flip in the checksum".into(),
        bytes: c,
        start: n as u64 - 3,
        end: n as u64 - 2,
        inserted: 0,
        silent_ok: true,
    });
    let page = (n / 2) & !4095;
    let mut z = orig.to_vec();
    z[page..page + 4096].fill(0);
    v.push(Damage {
        what: format!("zero page at {page}"),
        bytes: z,
        start: page as u64,
        end: page as u64 + 4096,
        inserted: 0,
        silent_ok: false,
    });
    let p = n * 3 / 5;
    let mut ins = orig[..p].to_vec();
    ins.extend(noise(333, 0x9e3779b97f4a7c15));
    ins.extend_from_slice(&orig[p..]);
    v.push(Damage {
        what: format!("333 bytes inserted at {p}"),
        bytes: ins,
        start: p as u64,
        end: p as u64,
        inserted: 333,
        silent_ok: false,
    });
    let p = n * 2 / 5;
    let mut del = orig[..p].to_vec();
    del.extend_from_slice(&orig[p + 211..]);
    v.push(Damage {
        what: format!("211 bytes deleted at {p}"),
        bytes: del,
        start: p as u64,
        end: p as u64 + 211,
        inserted: 0,
        silent_ok: false,
    });
    v
}

/// `rdbkit salvage INPUT -o OUT --json`: the process's output and its report (`None`
/// when standard output is not JSON).
pub(crate) fn salvage_json(input: &Path, out: &Path) -> (std::process::Output, Option<J>) {
    let o = rdbkit(&[
        "salvage",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--json",
    ]);
    let report = serde_json::from_slice(&o.stdout).ok();
    (o, report)
}

/// Whether the real server loads `bytes` once its checksum is zeroed (not computed):
/// damage that left every record readable, which no reader can see but the checksum.
fn invisible_to_the_format(name: &str, bytes: &[u8], dir: &Path) -> bool {
    let path = dir.join("unchecked.rdb");
    let mut unchecked = bytes.to_vec();
    let n = unchecked.len();
    unchecked[n.saturating_sub(8)..].fill(0);
    std::fs::write(&path, &unchecked).expect("write");
    let args = [
        "--dir",
        dir.to_str().expect("utf-8"),
        "--dbfilename",
        "unchecked.rdb",
    ];
    matches!(Server::try_start(name, &args), Some(Ok(_)))
}

/// A fresh server of version `name` that loaded `rdb` at startup.
fn load_rdb(name: &str, rdb: &Path) -> Server {
    let dir = rdb
        .parent()
        .expect("dir")
        .to_str()
        .expect("utf-8")
        .to_string();
    let file = rdb
        .file_name()
        .expect("file")
        .to_str()
        .expect("utf-8")
        .to_string();
    let mut args = vec!["--dir", &dir, "--dbfilename", &file];
    let debug = !name.starts_with("redis-6");
    if debug {
        args.extend(["--enable-debug-command", "yes"]);
    }
    Server::start(name, &args).expect("installed")
}

fn load_resp(b: &mut Server, resp: &Path) -> String {
    b.oks(&["FLUSHALL"]);
    let piped = Command::new(servers_dir().join("bin/redis-cli"))
        .args(["-p", &b.port.to_string(), "--pipe"])
        .stdin(Stdio::from(std::fs::File::open(resp).expect("resp file")))
        .output()
        .expect("run redis-cli --pipe");
    String::from_utf8_lossy(&piped.stdout).into_owned()
}

fn salvage_version(name: &str) {
    let Some(mut a) = launch(name, Mode::Plain) else {
        panic!("{name} is not installed");
    };
    fill(&mut a);
    let orig = a.save_and_read();
    if let Some(d) = std::env::var_os("RDBKIT_KEEP_DUMPS") {
        std::fs::write(Path::new(&d).join(format!("{name}.rdb")), &orig).expect("keep dump");
    }
    let keys_orig = all_keys(&mut a);
    let digest_orig = digests(&mut a, &keys_orig);
    let recs = records(&orig);
    assert!(
        recs.iter().all(|r| r.record != "lost"),
        "{name}: intact dump reads clean"
    );
    let mut b = launch(name, Mode::Plain).expect("installed");
    let tmp = tempfile::tempdir().expect("tmp");
    let mut failures = Vec::new();
    let variants = damages(&orig);
    assert!(
        variants.len() >= 16,
        "{name}: only {} damage variants",
        variants.len()
    );
    for (i, d) in variants.into_iter().enumerate() {
        let input = tmp.path().join("damaged.rdb");
        std::fs::write(&input, &d.bytes).expect("write");
        // Even variants: RDB output loaded by a fresh server; odd ones: RESP output piped
        // into a running one.
        let rdb_out = i % 2 == 0;
        let out = tmp
            .path()
            .join(if rdb_out { "out.rdb" } else { "out.resp" });
        let _ = std::fs::remove_file(&out);
        let (o, report) = salvage_json(&input, &out);
        let Some(report) = report else {
            failures.push(format!(
                "{}: no JSON report: {}",
                d.what,
                String::from_utf8_lossy(&o.stderr)
            ));
            continue;
        };
        assert_eq!(
            std::fs::read(&input).expect("read"),
            d.bytes,
            "{name}: {}: input modified",
            d.what
        );
        if o.status.code() != Some(1) {
            failures.push(format!(
                "{}: exit {:?}, expected 1",
                d.what,
                o.status.code()
            ));
        }
        let lost = report["lost"].as_array().cloned().unwrap_or_default();
        // Damage can leave a file whose every record reads: 211 bytes deleted from the
        // last byte of one record through the end of another, or from inside a
        // hashtable set whose member count then swallows whole records as members and
        // ends on a record boundary. The real server loads such a file (checksum
        // zeroed) as readily as salvage reads it; only the checksum can tell, and the
        // report must say it does not match. Keys swallowed that way are not owed.
        let invisible =
            !d.silent_ok && lost.is_empty() && invisible_to_the_format(name, &d.bytes, tmp.path());
        if invisible {
            if report["checksum"] != "mismatch" {
                failures.push(format!(
                    "{}: damage invisible to the format, but checksum {}",
                    d.what, report["checksum"]
                ));
            }
        } else if d.silent_ok && lost.is_empty() {
            if report["checksum"] != "mismatch" && report["checksum"] != "truncated" {
                failures.push(format!(
                    "{}: nothing lost and checksum {}",
                    d.what, report["checksum"]
                ));
            }
        } else {
            // Some reported span must touch the damaged records (a span may start right
            // after a record whose damaged length made it end early).
            let zone = recs
                .iter()
                .filter(|r| r.offset < d.end.max(d.start + 1) && d.start < r.offset + r.length)
                .fold((d.start, d.end), |(a, b), r| {
                    (a.min(r.offset), b.max(r.offset + r.length))
                });
            let zone = (zone.0, zone.1 + d.inserted);
            let touches = lost.iter().any(|l| {
                let (s, e) = (l["start"].as_u64().unwrap(), l["end"].as_u64().unwrap());
                s <= zone.1.min(d.bytes.len() as u64) && e >= zone.0.min(d.bytes.len() as u64)
            });
            if !touches {
                failures.push(format!(
                    "{}: no lost span near {}..{}: {lost:?}",
                    d.what, d.start, d.end
                ));
            }
        }
        // Keys whose records do not overlap the damage must come back identical.
        let damaged = |r: &RecordLine| {
            let (s, e) = (r.offset, r.offset + r.length);
            if d.start == d.end {
                s < d.start && d.start < e
            } else {
                s < d.end && d.start < e
            }
        };
        let must: BTreeSet<(u64, String)> = recs
            .iter()
            .filter(|r| r.record == "key" && !damaged(r))
            .map(|r| (r.db.unwrap_or(0), r.key.clone().unwrap_or_default()))
            .collect();
        let mut loaded;
        let b = if rdb_out {
            loaded = load_rdb(name, &out);
            &mut loaded
        } else {
            let said = load_resp(&mut b, &out);
            if !said.contains("errors: 0") {
                failures.push(format!("{}: redis-cli --pipe: {said}", d.what));
                continue;
            }
            &mut b
        };
        let got = all_keys(b);
        let digest_got = digests(b, &must);
        // Every recovered key from outside the damage must be identical.
        let altered: Vec<_> = must
            .iter()
            .filter(|k| got.contains(*k) && digest_got.get(*k) != digest_orig.get(*k))
            .collect();
        if !altered.is_empty() {
            failures.push(format!(
                "{}: {} keys outside the damage recovered altered, e.g. {:?}",
                d.what,
                altered.len(),
                &altered[..altered.len().min(3)]
            ));
        }
        let missing: Vec<_> = must.iter().filter(|k| !got.contains(*k)).collect();
        if !missing.is_empty() && !invisible {
            failures.push(format!(
                "{}: {} of {} keys outside the damage not recovered, e.g. {:?}",
                d.what,
                missing.len(),
                must.len(),
                &missing[..missing.len().min(3)]
            ));
        }
        let strangers: Vec<_> = got.difference(&keys_orig).collect();
        // A damaged record that still parses comes back altered (a flipped key name is
        // a renamed key; a record cut by a zero page may read a zero as part of its
        // name): at most one altered key per damaged record.
        let allowed = recs
            .iter()
            .filter(|r| r.record == "key" && damaged(r))
            .count();
        if strangers.len() > allowed {
            failures.push(format!(
                "{}: keys that were never in the original: {strangers:?}",
                d.what
            ));
        }
        let recovered = report["keys_recovered"].as_u64().unwrap_or(0);
        if (recovered < must.len() as u64 && !invisible) || recovered > got.len() as u64 + 1 {
            failures.push(format!(
                "{}: report says {recovered} keys; {} must be recovered, the server has {}",
                d.what,
                must.len(),
                got.len()
            ));
        }
        eprintln!(
            "{name}: {}: {} of {} keys recovered, lost {:?}",
            d.what,
            recovered,
            keys_orig.len(),
            lost.iter()
                .map(|l| (l["start"].as_u64(), l["end"].as_u64()))
                .collect::<Vec<_>>()
        );
    }
    assert!(failures.is_empty(), "{name}:\n{}", failures.join("\n"));
}

#[test]
fn salvage_recovers_everything_outside_the_damage() {
    let missing = not_installed(VERSIONS);
    crate::require!(missing.is_empty(), "servers not installed: {missing:?}");
    let handles: Vec<_> = VERSIONS
        .iter()
        .map(|v| std::thread::spawn(move || salvage_version(v)))
        .collect();
    let errors: Vec<String> = handles
        .into_iter()
        .filter_map(|h| h.join().err())
        .map(|e| panic_message(&*e))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// A damaged byte that reads as the EOF opcode at a record boundary, with the real
/// records after it: salvage must not stop there when the checksum after it does not
/// match, but report the byte and read on (a deletion in a real 6.2.14 dump produced
/// this: 127 keys were lost behind a false EOF).
#[test]
fn a_false_eof_does_not_end_the_salvage() {
    let orig = std::fs::read(crate::support::testdata("sample-redis-7.2.rdb")).unwrap();
    let recs = records(&orig);
    let keys = recs.iter().filter(|r| r.record == "key").count();
    let at = recs
        .iter()
        .filter(|r| r.record == "key")
        .nth(keys / 2)
        .expect("a key in the middle")
        .offset as usize;
    let mut damaged = orig[..at].to_vec();
    damaged.push(0xff);
    damaged.extend_from_slice(&orig[at..]);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("false-eof.rdb");
    std::fs::write(&input, &damaged).unwrap();
    let out = dir.path().join("out.rdb");
    let (o, report) = salvage_json(&input, &out);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let report = report.expect("JSON report");
    assert_eq!(report["keys_recovered"], keys as u64, "{report}");
    let lost = report["lost"].as_array().expect("lost");
    assert_eq!(lost.len(), 1, "{report}");
    assert_eq!(lost[0]["start"], at as u64);
    assert_eq!(lost[0]["end"], at as u64 + 1);
    assert_eq!(report["eof_found"], true);
}

/// `rdbkit diff` on a real Redis 7.2.4 dump: identical → 0; one value byte changed
/// with the checksum disabled (stored 0) → exactly one value change, 1; the same
/// change with the stored checksum kept → the CRC mismatch is an error, 2.
#[test]
fn diff_names_a_changed_value_and_refuses_a_damaged_file() {
    let orig_path = crate::support::testdata("sample-redis-7.2.rdb");
    let orig = std::fs::read(&orig_path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let at = orig
        .windows(3)
        .position(|w| w == b"Ann")
        .expect("the sample holds the value \"Ann\"");
    let mut changed = orig.clone();
    changed[at] = b'B';
    let damaged = dir.path().join("damaged.rdb");
    std::fs::write(&damaged, &changed).unwrap();
    let n = changed.len();
    changed[n - 8..].fill(0);
    let unchecked = dir.path().join("unchecked.rdb");
    std::fs::write(&unchecked, &changed).unwrap();
    let a = orig_path.to_str().unwrap();

    let same = rdbkit(&["diff", a, a]);
    assert_eq!(same.status.code(), Some(0), "{same:?}");

    let out = rdbkit(&["diff", a, unchecked.to_str().unwrap(), "--format", "jsonl"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let changes: Vec<J> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<J>(l).ok())
        .filter(|j| j.get("key").is_some())
        .collect();
    assert_eq!(changes.len(), 1, "{text}");

    let bad = rdbkit(&["diff", a, damaged.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("CRC-64 mismatch"));
}
