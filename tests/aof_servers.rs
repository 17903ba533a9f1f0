//! Real servers write multi-part AOFs (timestamps on, with and without an RDB preamble,
//! transactions, SELECTs, one BGREWRITEAOF); `rdbkit verify` must agree with the
//! server's own `redis-check-aof` on the intact directory and on the last INCR file cut
//! at many offsets, and every `aof repair` output must load into a fresh server with
//! the same keyspace the server itself keeps when it loads the damaged copy.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rdbkit::aof::verify::verify_multipart;
use rdbkit::verify::Status;

use crate::require;
use crate::support::rdbkit;
use crate::support::server::{is_installed, servers_dir, Server};

fn check_aof_bin(name: &str) -> PathBuf {
    servers_dir().join("bin").join(format!("{name}-check-aof"))
}

/// `redis-check-aof MANIFEST`: (exit code, the last `ok_up_to=` it printed).
fn check_aof(name: &str, manifest: &Path) -> (i32, Option<u64>, String) {
    let out = Command::new(check_aof_bin(name))
        .arg(manifest)
        .output()
        .expect("run check-aof");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let ok = text
        .rsplit("ok_up_to=")
        .next()
        .filter(|_| text.contains("ok_up_to="))
        .and_then(|s| s.split(',').next()?.parse().ok());
    (out.status.code().unwrap_or(-1), ok, text)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Every string key of dbs 0 and 1 with its value, sorted.
fn keyspace(s: &mut Server) -> Vec<(u8, Vec<u8>, Vec<u8>)> {
    let mut all = Vec::new();
    for db in [0u8, 1] {
        s.oks(&["SELECT", &db.to_string()]);
        for k in s.oks(&["KEYS", "*"]).bulks() {
            let v = s.ok(&[b"GET", &k]).bytes();
            all.push((db, k, v));
        }
    }
    s.oks(&["SELECT", "0"]);
    all.sort();
    all
}

/// Starts `name` on a copy of an appendonlydir and returns its keyspace.
fn load(name: &str, dir: &Path) -> Vec<(u8, Vec<u8>, Vec<u8>)> {
    let parent = dir.parent().unwrap().to_str().unwrap();
    let dirname = dir.file_name().unwrap().to_str().unwrap();
    let mut s = Server::start(
        name,
        &[
            "--appendonly",
            "yes",
            "--dir",
            parent,
            "--appenddirname",
            dirname,
        ],
    )
    .unwrap_or_else(|| panic!("{name} not installed"));
    keyspace(&mut s)
}

/// Strings with CRLF inside, a SELECT, a transaction and an MSET, keys prefixed `tag:`.
fn batch(s: &mut Server, tag: &str) {
    for i in 0..20 {
        s.oks(&[
            "SET",
            &format!("{tag}:{i}"),
            &format!("value {i} of {tag}\r\nwith CRLF"),
        ]);
    }
    s.oks(&["SELECT", "1"]);
    s.oks(&["SET", &format!("{tag}:db1"), "x"]);
    s.oks(&["MULTI"]);
    s.cmds(&["SET", &format!("{tag}:tx"), "1"]);
    s.cmds(&["INCR", &format!("{tag}:tx")]);
    s.oks(&["EXEC"]);
    s.oks(&["SELECT", "0"]);
    s.oks(&["MSET", &format!("{tag}:m1"), "a", &format!("{tag}:m2"), "b"]);
}

/// Writes a workload, rewrites once, writes more; returns a copy of the appendonlydir
/// and the server time between the last two batches.
fn workload(name: &str, preamble: bool, tmp: &Path) -> (PathBuf, i64) {
    let pre = if preamble { "yes" } else { "no" };
    let mut s = Server::start(
        name,
        &[
            "--appendonly",
            "yes",
            "--aof-timestamp-enabled",
            "yes",
            "--aof-use-rdb-preamble",
            pre,
            "--appendfsync",
            "always",
        ],
    )
    .unwrap();
    batch(&mut s, "before");
    s.oks(&["BGREWRITEAOF"]);
    s.wait_aof_rewrite();
    batch(&mut s, "after");
    let t = s.oks(&["TIME"]).array()[0].int();
    std::thread::sleep(Duration::from_millis(1200));
    batch(&mut s, "late");
    let copy = tmp.join(format!("{name}-{pre}"));
    copy_dir(&s.dir.join("appendonlydir"), &copy);
    (copy, t)
}

fn last_incr(dir: &Path) -> PathBuf {
    let mc = verify_multipart(dir, None);
    let m = mc.manifest.expect("manifest");
    dir.join(&m.loaded().last().unwrap().file)
}

fn round_trip(name: &str, preamble: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, t_mid) = workload(name, preamble, tmp.path());
    let manifest = verify_multipart(&dir, None).layout.manifest;

    // The intact directory: both ok.
    let out = rdbkit(&["verify", "--json", dir.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "ok", "{name}: {v}");
    assert_eq!(v["format"], "aof-multipart");
    assert_eq!(out.status.code(), Some(0));
    let base_kind = &v["parts"][0];
    assert_eq!(base_kind["type"], "base");
    assert_eq!(base_kind["preamble"].is_null(), !preamble, "{name}: {v}");
    assert!(
        v["histogram"]["MULTI"].as_u64().unwrap() >= 2,
        "{name}: {v}"
    );
    assert!(v["first_ts"].as_i64().is_some() && v["last_ts"].as_i64() > Some(t_mid));
    // Valkey 9.1's valkey-check-aof takes its own VALKEY-magic RDB base for RESP
    // ("format error" at byte 0), so its verdicts are only comparable without a preamble.
    let comparable = !(name.starts_with("valkey") && preamble);
    let check = |m: &Path| comparable.then(|| check_aof(name, m));
    if let Some((code, ok, text)) = check(&manifest) {
        assert_eq!(code, 0, "{name}: {text}");
        let size = std::fs::metadata(last_incr(&dir)).unwrap().len();
        assert_eq!(ok, Some(size), "{name}: {text}");
    }

    // The last INCR cut at many offsets: the same ok_up_to as redis-check-aof.
    let incr = last_incr(&dir);
    let name_of_incr = incr.file_name().unwrap().to_owned();
    let bytes = std::fs::read(&incr).unwrap();
    let mut cuts: Vec<usize> = (1..bytes.len()).step_by(7).collect();
    cuts.extend(bytes.len().saturating_sub(120)..bytes.len());
    let work = tmp.path().join("cut");
    copy_dir(&dir, &work);
    let mut agreed = 0;
    for &cut in &cuts {
        std::fs::write(work.join(&name_of_incr), &bytes[..cut]).unwrap();
        let mc = verify_multipart(&work, None);
        let ours = mc.report.aof.as_ref().unwrap().ok_up_to;
        if let Some((_, theirs, text)) = check(&work.join(manifest.file_name().unwrap())) {
            assert_eq!(Some(ours), theirs, "{name}: cut at {cut}: {text}");
            agreed += 1;
        }
        let expect = if ours == cut as u64 {
            Status::Ok
        } else {
            Status::Truncated
        };
        assert_eq!(mc.report.status, expect, "{name}: cut at {cut}");
    }
    eprintln!(
        "{name} preamble={preamble}: ok_up_to agrees with check-aof on {agreed} of {} cuts",
        cuts.len()
    );

    // Repair of a cut copy loads, with the keyspace the server keeps from the damaged copy.
    let cut = bytes.len() - 5;
    std::fs::write(work.join(&name_of_incr), &bytes[..cut]).unwrap();
    let repaired = tmp.path().join("out").join("repaired");
    std::fs::create_dir(repaired.parent().unwrap()).unwrap();
    let r = rdbkit(&[
        "aof",
        "repair",
        work.to_str().unwrap(),
        "-o",
        repaired.to_str().unwrap(),
    ]);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    if let Some((code, _, text)) = check(&repaired.join(manifest.file_name().unwrap())) {
        assert_eq!(code, 0, "{name}: repaired: {text}");
    }
    let got = load(name, &repaired);
    let server_kept = load(name, &work);
    assert_eq!(got, server_kept, "{name}");
    assert!(got.iter().any(|(_, k, _)| k == b"after:0"));
    assert!(
        !got.iter().any(|(_, k, _)| k == b"late:m2"),
        "the cut MSET is gone"
    );

    // Point in time: everything up to t_mid, nothing of the late batch.
    let pit = tmp.path().join("out").join("pit");
    let r = rdbkit(&[
        "aof",
        "repair",
        dir.to_str().unwrap(),
        "-o",
        pit.to_str().unwrap(),
        "--until",
        &t_mid.to_string(),
    ]);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let got = load(name, &pit);
    assert!(got.iter().any(|(_, k, _)| k == b"after:m2"), "{name}");
    assert!(got.iter().any(|(_, k, _)| k == b"before:tx"), "{name}");
    assert!(
        !got.iter().any(|(_, k, _)| k.starts_with(b"late:")),
        "{name}"
    );
    // The same cut as `redis-check-aof --truncate-to-timestamp` (which cuts in place: a copy).
    if comparable {
        let ttt = tmp.path().join("ttt");
        copy_dir(&dir, &ttt);
        let out = Command::new(check_aof_bin(name))
            .arg("--truncate-to-timestamp")
            .arg(t_mid.to_string())
            .arg(ttt.join(manifest.file_name().unwrap()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert_eq!(
            std::fs::read(ttt.join(&name_of_incr)).unwrap(),
            std::fs::read(pit.join(&name_of_incr)).unwrap(),
            "{name}: --until differs from --truncate-to-timestamp"
        );
    }
    // The intact input was not touched.
    assert_eq!(std::fs::read(&incr).unwrap(), bytes);
}

fn run(name: &str, required: bool) {
    let have = is_installed(name) && check_aof_bin(name).exists();
    if required {
        require!(have, "{name} is not installed");
    } else if !have {
        eprintln!("SKIPPED: {name} is not installed");
        return;
    }
    round_trip(name, true);
    round_trip(name, false);
}

#[test]
fn redis_7_0_multipart_round_trip() {
    run("redis-7.0.15", true);
}

#[test]
fn redis_7_4_multipart_round_trip() {
    run("redis-7.4.1", false);
}

#[test]
fn redis_8_0_multipart_round_trip() {
    run("redis-8.0.2", false);
}

#[test]
fn valkey_9_1_multipart_round_trip() {
    run("valkey-9.1.2", false);
}

/// Redis 6.2 writes one file: RESP, or after a rewrite an RDB preamble and a RESP tail.
/// `rdbkit verify` must match its `redis-check-aof` (ok_up_to and line) on every cut of
/// the RESP part, and a repaired copy must load like the server's own truncation.
fn single_file(name: &str, preamble: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let pre = if preamble { "yes" } else { "no" };
    let mut s = Server::start(
        name,
        &[
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--aof-use-rdb-preamble",
            pre,
        ],
    )
    .unwrap();
    batch(&mut s, "before");
    s.oks(&["BGREWRITEAOF"]);
    s.wait_aof_rewrite();
    batch(&mut s, "after");
    let aof = tmp.path().join("orig.aof");
    std::fs::copy(s.dir.join("appendonly.aof"), &aof).unwrap();
    drop(s);
    let bytes = std::fs::read(&aof).unwrap();

    let out = rdbkit(&["verify", "--json", aof.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["format"].as_str(), v["status"].as_str()),
        (Some("aof"), Some("ok")),
        "{v}"
    );
    assert_eq!(v["preamble"].is_null(), !preamble, "{v}");
    let resp_start = v["preamble"]["bytes"].as_u64().unwrap_or(0) as usize;
    let (code, ok, text) = check_aof(name, &aof);
    assert_eq!((code, ok), (0, Some(bytes.len() as u64)), "{text}");
    assert!(
        text.contains(&format!("ok_up_to_line={}", v["ok_up_to_line"])),
        "{text}"
    );

    let cut_path = tmp.path().join("cut.aof");
    let mut cuts: Vec<usize> = (resp_start + 1..bytes.len()).step_by(5).collect();
    cuts.extend(bytes.len().saturating_sub(100)..bytes.len());
    for &cut in &cuts {
        std::fs::write(&cut_path, &bytes[..cut]).unwrap();
        let r = rdbkit::aof::verify::verify_aof_bytes("cut", &bytes[..cut]);
        let ours = r.aof.as_ref().unwrap().ok_up_to;
        let (_, theirs, text) = check_aof(name, &cut_path);
        assert_eq!(Some(ours), theirs, "{name}: cut at {cut}: {text}");
    }
    eprintln!(
        "{name} single file preamble={preamble}: ok_up_to agrees with check-aof on {} cuts",
        cuts.len()
    );

    let cut = bytes.len() - 5;
    let damaged = tmp.path().join("damaged").join("appendonly.aof");
    std::fs::create_dir(damaged.parent().unwrap()).unwrap();
    std::fs::write(&damaged, &bytes[..cut]).unwrap();
    let fixed = tmp.path().join("fixed").join("appendonly.aof");
    std::fs::create_dir(fixed.parent().unwrap()).unwrap();
    let r = rdbkit(&[
        "aof",
        "repair",
        damaged.to_str().unwrap(),
        "-o",
        fixed.to_str().unwrap(),
    ]);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let load_file = |p: &Path| {
        let dir = p.parent().unwrap().to_str().unwrap();
        let mut s = Server::start(name, &["--appendonly", "yes", "--dir", dir]).unwrap();
        keyspace(&mut s)
    };
    let got = load_file(&fixed);
    assert_eq!(got, load_file(&damaged), "{name}");
    assert!(got.iter().any(|(_, k, _)| k == b"after:tx"));
    assert!(!got.iter().any(|(_, k, _)| k == b"after:m2"));
}

#[test]
fn redis_6_2_single_file_aof() {
    let name = "redis-6.2.14";
    let have = is_installed(name) && check_aof_bin(name).exists();
    require!(have, "{name} is not installed");
    single_file(name, true);
    single_file(name, false);
}
