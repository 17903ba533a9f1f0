//! Stream metadata (last id, counters, consumer groups, pending entries, consumers) in
//! `rdbkit diff` and `rdbkit restore --verify`, against real servers: streams whose
//! entries stay the same while their group state changes must be reported, exactly
//! those; the same data written as stream v1 and v3 must compare equal; a restore
//! verifies clean whatever the method, and a group changed afterwards is found.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::require;
use crate::support::server::{is_installed, Server};
use crate::support::{rdbkit, show};

/// Streams named after what will change in them, each with 5 entries, groups g1
/// (alice owns 1-0 and 2-0, bob 3-0; from 6.2 an idle consumer) and g2 (carol owns
/// all), plus a few other keys.
fn fill(s: &mut Server, names: &[&str]) {
    for name in names {
        for i in 1..=5 {
            s.oks(&["XADD", name, &format!("{i}-0"), "f", &format!("v{i}")]);
        }
        s.oks(&["XGROUP", "CREATE", name, "g1", "0"]);
        s.oks(&["XGROUP", "CREATE", name, "g2", "0"]);
        s.oks(&[
            "XREADGROUP",
            "GROUP",
            "g1",
            "alice",
            "COUNT",
            "2",
            "STREAMS",
            name,
            ">",
        ]);
        s.oks(&[
            "XREADGROUP",
            "GROUP",
            "g1",
            "bob",
            "COUNT",
            "1",
            "STREAMS",
            name,
            ">",
        ]);
        s.oks(&["XREADGROUP", "GROUP", "g2", "carol", "STREAMS", name, ">"]);
        if s.at_least(6, 2) || s.is_valkey() {
            s.oks(&["XGROUP", "CREATECONSUMER", name, "g1", "idle"]);
        }
    }
    s.oks(&["SET", "plain", "v"]);
    s.oks(&["HSET", "h", "f", "v"]);
}

/// The group-state changes (none touches an entry), by stream, and text one line of
/// its description must hold.
fn changes(s: &Server) -> Vec<(&'static str, Vec<&'static str>, &'static str)> {
    let mut c = vec![
        (
            "ack",
            vec!["XACK", "ack", "g1", "1-0"],
            "consumer group g1: pending 1-0 only in A",
        ),
        (
            "claim",
            vec!["XCLAIM", "claim", "g1", "bob", "0", "1-0"],
            "consumer group g1: pending 1-0 delivery count 1 -> 2",
        ),
        (
            "setid",
            vec!["XGROUP", "SETID", "setid", "g2", "2-0"],
            "consumer group g2: last-delivered 5-0 -> 2-0",
        ),
        (
            "delconsumer",
            vec!["XGROUP", "DELCONSUMER", "delconsumer", "g1", "bob"],
            "consumer group g1: consumer bob only in A",
        ),
        (
            "lastid",
            vec!["XSETID", "lastid", "9-0"],
            "last id 5-0 -> 9-0",
        ),
    ];
    if s.at_least(6, 2) || s.is_valkey() {
        c.push((
            "newconsumer",
            vec!["XGROUP", "CREATECONSUMER", "newconsumer", "g1", "dave"],
            "consumer group g1: consumer dave only in B",
        ));
    }
    if s.at_least(8, 6) && !s.is_valkey() {
        c.push((
            "idmp",
            vec!["XCFGSET", "idmp", "IDMP-DURATION", "321"],
            "-> 321",
        ));
    }
    if s.at_least(7, 0) || s.is_valkey() {
        c.push((
            "counters",
            vec![
                "XSETID",
                "counters",
                "5-0",
                "ENTRIESADDED",
                "50",
                "MAXDELETEDID",
                "3-0",
            ],
            "entries-added 5 -> 50",
        ));
    }
    c
}

/// `diff --format jsonl`: stream_metadata changes by key (their descriptions), and
/// every other difference.
fn diff(a: &Path, b: &Path) -> (Output, BTreeMap<String, Vec<String>>, Vec<String>) {
    diff_with(a, b, &[])
}

fn diff_with(
    a: &Path,
    b: &Path,
    extra: &[&str],
) -> (Output, BTreeMap<String, Vec<String>>, Vec<String>) {
    let mut args = vec!["diff", a.to_str().unwrap(), b.to_str().unwrap()];
    args.extend(["--format", "jsonl"]);
    args.extend(extra);
    let o = rdbkit(&args);
    let mut meta = BTreeMap::new();
    let mut other = Vec::new();
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let j: serde_json::Value = serde_json::from_str(line).expect("jsonl");
        if j.get("summary").is_some() {
            continue;
        }
        if j["change"] == "stream_metadata" {
            let detail = j["detail"].as_array().expect("detail").iter();
            let detail = detail.map(|d| d.as_str().unwrap().to_string()).collect();
            meta.insert(j["key"].as_str().unwrap().to_string(), detail);
        } else {
            other.push(line.to_string());
        }
    }
    (o, meta, other)
}

/// One server: save, change group state only, save again; diff names exactly the
/// changed streams, each with what changed. On v3 files, the same data rewritten as
/// RDB 9 (stream v1) compares equal, and the changes v1 cannot hold drop out.
fn diff_on(name: &str, dir: &Path) {
    let mut s = Server::start(name, &[]).expect("installed");
    let all = changes(&s);
    let mut names: Vec<&str> = all.iter().map(|c| c.0).collect();
    names.push("untouched");
    fill(&mut s, &names);
    let a = dir.join(format!("{name}-a.rdb"));
    std::fs::write(&a, s.save_and_read()).unwrap();
    for (_, cmd, _) in &all {
        s.oks(cmd);
    }
    let b = dir.join(format!("{name}-b.rdb"));
    std::fs::write(&b, s.save_and_read()).unwrap();

    let (o, meta, other) = diff(&a, &b);
    assert_eq!(o.status.code(), Some(1), "{name}: {}", show(&o));
    assert!(other.is_empty(), "{name}: {other:?}");
    let want: BTreeSet<&str> = all.iter().map(|c| c.0).collect();
    let got: BTreeSet<&str> = meta.keys().map(|k| k.as_str()).collect();
    assert_eq!(got, want, "{name}: {}", show(&o));
    for (key, _, line) in &all {
        assert!(
            meta[*key].iter().any(|l| l.contains(line)),
            "{name} {key}: {:?} lacks {line:?}",
            meta[*key]
        );
    }
    // Through partition files (metadata read again from both files): the same.
    let (_, spilled, other) = diff_with(&a, &b, &["--partition-bytes", "200"]);
    assert_eq!(spilled, meta, "{name}: partitioned");
    assert!(other.is_empty(), "{name}: {other:?}");
    let text = rdbkit(&["diff", a.to_str().unwrap(), b.to_str().unwrap()]);
    let text_out = String::from_utf8_lossy(&text.stdout);
    assert!(
        text_out.contains(
            "db 0 \"ack\": stream metadata changed: consumer group g1: pending 1-0 only in A"
        ) && text_out.contains(&format!("{} stream metadata changed", want.len())),
        "{name}: {text_out}"
    );
    let same = rdbkit(&["diff", a.to_str().unwrap(), a.to_str().unwrap()]);
    assert_eq!(same.status.code(), Some(0), "{name}: {}", show(&same));

    if !(s.at_least(7, 2) || s.is_valkey()) {
        return;
    }
    // The same data as stream v1 (RDB 9): equal to its v3 original; against A, only
    // what v1 holds can differ, so the counters change is gone.
    let b9 = dir.join(format!("{name}-b9.rdb"));
    let mut args = vec!["rewrite", b.to_str().unwrap(), "-o", b9.to_str().unwrap()];
    args.extend(["--rdb-version", "9", "--magic", "redis"]);
    let w = rdbkit(&args);
    assert_eq!(w.status.code(), Some(0), "{name}: {}", show(&w));
    assert_eq!(&std::fs::read(&b9).unwrap()[..9], b"REDIS0009");
    let (o, meta, other) = diff(&b, &b9);
    assert_eq!(o.status.code(), Some(0), "{name} v3 vs v1: {}", show(&o));
    assert!(
        meta.is_empty() && other.is_empty(),
        "{name}: {meta:?} {other:?}"
    );
    let (o, meta, other) = diff(&b9, &b);
    assert_eq!(o.status.code(), Some(0), "{name} v1 vs v3: {}", show(&o));
    assert!(
        meta.is_empty() && other.is_empty(),
        "{name}: {meta:?} {other:?}"
    );
    let (_, meta, other) = diff(&a, &b9);
    assert!(other.is_empty(), "{name}: {other:?}");
    let mut want_v1 = want.clone();
    want_v1.remove("counters");
    want_v1.remove("idmp");
    let got: BTreeSet<&str> = meta.keys().map(|k| k.as_str()).collect();
    assert_eq!(got, want_v1, "{name}: A vs B as RDB 9");
}

#[test]
fn diff_reports_exactly_the_streams_whose_group_state_changed() {
    let servers = ["redis-6.2.14", "redis-7.4.1", "redis-8.6.3", "valkey-9.1.2"];
    for s in servers {
        require!(is_installed(s), "{s} is not installed");
    }
    let tmp = tempfile::tempdir().unwrap();
    std::thread::scope(|sc| {
        for s in servers {
            let dir = tmp.path();
            sc.spawn(move || diff_on(s, dir));
        }
    });
}

fn restore(file: &Path, s: &Server, extra: &[&str]) -> (Output, serde_json::Value) {
    let url = format!("redis://127.0.0.1:{}", s.port);
    let mut args = vec!["restore", file.to_str().unwrap(), "--to", &url, "--json"];
    args.extend(extra);
    let o = rdbkit(&args);
    let j = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
    (o, j["verify"].clone())
}

/// Restores `file` into each target (name, extra restore flags) with `--verify`: every
/// key must verify; then `change` on the target must make `--verify-only` name `key`,
/// and only it, as a stream metadata difference.
fn verify_restores(file: &Path, total: u64, targets: &[(&str, &[&str], &[&str], &str)]) {
    std::thread::scope(|sc| {
        for (i, &(t, extra, change, key)) in targets.iter().enumerate() {
            sc.spawn(move || {
                let mut s = Server::start(t, &[]).expect("installed");
                let (o, v) = restore(file, &s, &[&["--verify"], extra].concat());
                assert_eq!(o.status.code(), Some(0), "{t} {extra:?}: {}", show(&o));
                assert_eq!(v["verified"], total, "{t} {extra:?}: {}", show(&o));
                assert_eq!(v["mismatched"], 0, "{t} {extra:?}: {}", show(&o));
                s.oks(change);
                let errors = file.with_file_name(format!("{t}-{i}.jsonl"));
                let mut args = vec!["--verify-only", "--errors-to", errors.to_str().unwrap()];
                args.extend(extra);
                let (o, v) = restore(file, &s, &args);
                assert_eq!(o.status.code(), Some(1), "{t} {extra:?}: {}", show(&o));
                assert_eq!(v["mismatched"], 1, "{t} {extra:?}: {}", show(&o));
                let log = std::fs::read_to_string(&errors).unwrap();
                let j: serde_json::Value = serde_json::from_str(log.trim()).expect("one line");
                assert_eq!(j["key"], key, "{t}: {log}");
                assert_eq!(j["verify"], "value differs", "{t}: {log}");
                let why = j["error"].as_str().unwrap_or_default();
                assert!(
                    why.starts_with(
                        "verify: value differs: same stream entries, different metadata"
                    ),
                    "{t}: {log}"
                );
            });
        }
    });
}

const SETID: &[&str] = &["XGROUP", "SETID", "s1", "g2", "3-0"];

/// A 7.4 file with streams restored by RESTORE (7.4, Valkey 9.1), by commands (7.0:
/// stream v2; 6.0: v1, no XGROUP CREATECONSUMER; 7.4 with --mode commands) verifies
/// clean; a group changed afterwards is named, and only that stream.
#[test]
fn restore_verify_compares_what_each_target_holds() {
    let targets: [(&str, &[&str], &[&str], &str); 5] = [
        ("redis-7.4.1", &[], SETID, "s1"),
        ("valkey-9.1.2", &[], SETID, "s1"),
        ("redis-7.0.15", &[], SETID, "s1"),
        ("redis-6.0.9", &[], SETID, "s1"),
        ("redis-7.4.1", &["--mode", "commands"], SETID, "s1"),
    ];
    for (t, ..) in targets {
        require!(is_installed(t), "{t} is not installed");
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut src = Server::start("redis-7.4.1", &[]).expect("installed");
    fill(&mut src, &["s1", "s2", "s3"]);
    // A pending entry whose stream entry is gone, a second delivery, counters, an
    // entries-read the server no longer knows (-1 after SETID).
    src.oks(&["XDEL", "s2", "2-0"]);
    src.oks(&["XGROUP", "SETID", "s2", "g2", "4-0"]);
    src.oks(&["XCLAIM", "s3", "g1", "bob", "0", "1-0"]);
    src.oks(&[
        "XSETID",
        "s3",
        "7-0",
        "ENTRIESADDED",
        "9",
        "MAXDELETEDID",
        "6-0",
    ]);
    let file: PathBuf = tmp.path().join("src.rdb");
    std::fs::write(&file, src.save_and_read()).unwrap();
    verify_restores(&file, 5, &targets); // 3 streams + 2 other keys
}

/// A Redis 8.6 file (stream v4) with idempotent-producer state: RESTORE into 8.6 keeps
/// all of it; commands into 8.6 keep the settings, not the ids (a listed loss), and
/// into 7.4 the v3 fields. A settings change, or a group change, is found.
#[test]
fn restore_verify_of_v4_streams() {
    let targets: [(&str, &[&str], &[&str], &str); 3] = [
        (
            "redis-8.6.3",
            &[],
            &["XCFGSET", "p", "IDMP-DURATION", "77"],
            "p",
        ),
        (
            "redis-8.6.3",
            &["--mode", "commands"],
            &["XCFGSET", "p", "IDMP-MAXSIZE", "77"],
            "p",
        ),
        ("redis-7.4.1", &[], SETID, "s1"),
    ];
    for (t, ..) in targets {
        require!(is_installed(t), "{t} is not installed");
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut src = Server::start("redis-8.6.3", &[]).expect("installed");
    fill(&mut src, &["s1", "p"]);
    src.oks(&["XCFGSET", "p", "IDMP-DURATION", "100", "IDMP-MAXSIZE", "50"]);
    src.oks(&["XADD", "p", "IDMP", "prod1", "iid1", "*", "f", "v"]);
    src.oks(&["XADD", "p", "IDMP", "prod2", "iid1", "*", "f", "v"]);
    let file: PathBuf = tmp.path().join("src.rdb");
    std::fs::write(&file, src.save_and_read()).unwrap();
    verify_restores(&file, 4, &targets); // 2 streams + 2 other keys
}
