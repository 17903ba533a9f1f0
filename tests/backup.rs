//! Backups as a workflow: sidecar manifests, `--load` into a real server, whole
//! backup directories. Files come from real servers.

use std::path::{Path, PathBuf};

use crate::require;
use crate::support::rdbkit;
use crate::support::server::{installed, is_installed, Server};

/// A small dataset of every basic type in two dbs, some keys with a TTL, saved by `name`;
/// the RDB is copied to `out`.
fn make_rdb(name: &str, extra: &[&str], out: &Path) {
    let mut s = Server::start(name, extra).unwrap_or_else(|| panic!("{name} not installed"));
    for i in 0..30 {
        s.oks(&["SET", &format!("s:{i}"), &format!("value {i}")]);
    }
    s.oks(&["RPUSH", "list", "a", "b", "c"]);
    s.oks(&["SADD", "set", "x", "y"]);
    s.oks(&["ZADD", "zset", "1", "m1", "2", "m2"]);
    s.oks(&["HSET", "hash", "f1", "v1", "f2", "v2"]);
    s.oks(&["EXPIRE", "s:1", "100000"]);
    s.oks(&["SELECT", "3"]);
    s.oks(&["SET", "other", "db"]);
    s.oks(&["EXPIRE", "other", "100000"]);
    if s.at_least(5, 0) {
        s.oks(&["XADD", "stream", "1-1", "f", "v"]);
    }
    let data = s.save_and_read();
    std::fs::write(out, data).unwrap();
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn json(o: &std::process::Output) -> serde_json::Value {
    let out = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(out.lines().next().unwrap_or(""))
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn sidecar_round_trip_catches_a_flipped_byte_and_a_truncated_copy() {
    require!(is_installed("redis-7.2.4"), "redis-7.2.4 not installed");
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("dump.rdb");
    make_rdb("redis-7.2.4", &["--rdbchecksum", "no"], &good);

    let o = rdbkit(&["verify", "--sidecar", "--json", p(&good)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(json(&o)["sidecar"]["action"], "written");
    let side: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("dump.rdb.rdbkit.json")).unwrap())
            .unwrap();
    assert_eq!(side["schema"], 1);
    assert_eq!(side["keys"], 36);
    assert_eq!(side["expires"], 2);
    assert_eq!(side["dbs"]["3"]["keys"], 2);
    assert_eq!(side["types"]["string"], 31);
    assert_eq!(side["types"]["stream"], 1);
    assert_eq!(side["checksum"], "disabled");
    assert_eq!(side["producer"], "redis 7.2.4");
    assert_eq!(side["size"], std::fs::metadata(&good).unwrap().len());
    let sha = side["sha256"].as_str().unwrap();
    assert_eq!(sha.len(), 64);

    // Never replaced without --force.
    let o = rdbkit(&["verify", "--sidecar", p(&good)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--force"), "{}", text(&o));
    let o = rdbkit(&["verify", "--sidecar", "--force", p(&good)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let o = rdbkit(&["verify", "--check-sidecar", p(&good)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("sidecar ok"), "{}", text(&o));

    // A flipped byte inside a string value: with the checksum disabled the file still
    // verifies ok on its own, the sidecar catches it.
    let data = std::fs::read(&good).unwrap();
    let at = data
        .windows(8)
        .position(|w| w == b"value 17")
        .expect("value in file")
        + 7;
    let mut flipped = data.clone();
    flipped[at] ^= 0x01;
    std::fs::write(&good, &flipped).unwrap();
    let o = rdbkit(&["verify", p(&good)]);
    assert_eq!(o.status.code(), Some(0), "still valid alone: {}", text(&o));
    let o = rdbkit(&["verify", "--check-sidecar", "--json", p(&good)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let j = json(&o);
    assert_eq!(j["status"], "ok");
    assert_eq!(j["sidecar"]["ok"], false);
    assert!(
        j["sidecar"]["problems"][0]
            .as_str()
            .unwrap()
            .starts_with("sha256 changed"),
        "{j}"
    );

    // A truncated copy next to the original's sidecar.
    let cut = tmp.path().join("cut.rdb");
    std::fs::write(&cut, &data[..data.len() / 2]).unwrap();
    std::fs::copy(
        tmp.path().join("dump.rdb.rdbkit.json"),
        tmp.path().join("cut.rdb.rdbkit.json"),
    )
    .unwrap();
    let o = rdbkit(&["verify", "--check-sidecar", p(&cut)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("partial copy"), "{t}");
    assert!(t.contains("verdict was ok, now truncated"), "{t}");

    // No sidecar at all is a failure, not a pass.
    let lone = tmp.path().join("lone.rdb");
    std::fs::write(&lone, &data).unwrap();
    let o = rdbkit(&["verify", "--check-sidecar", p(&lone)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("no sidecar"), "{}", text(&o));

    // A damaged file gets no sidecar.
    let o = rdbkit(&["verify", "--sidecar", p(&cut)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("not written"), "{}", text(&o));
}

#[test]
fn sidecar_of_an_appendonlydir_names_the_changed_part() {
    require!(is_installed("redis-7.0.15"), "redis-7.0.15 not installed");
    let tmp = tempfile::tempdir().unwrap();
    let aofdir = aof_dir("redis-7.0.15", tmp.path());
    let o = rdbkit(&["verify", "--sidecar", p(&aofdir)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = rdbkit(&["verify", "--check-sidecar", p(&aofdir)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let incr = std::fs::read_dir(&aofdir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".incr.aof"))
        .unwrap();
    let mut data = std::fs::read(&incr).unwrap();
    data.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
    std::fs::write(&incr, data).unwrap();
    let o = rdbkit(&["verify", "--check-sidecar", p(&aofdir)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let name = incr.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        text(&o).contains(&format!("part {name} changed")),
        "{}",
        text(&o)
    );
}

/// A multi-part AOF (RDB preamble base plus an incr part) written by `name`, copied
/// under `tmp`.
fn aof_dir(name: &str, tmp: &Path) -> PathBuf {
    let mut s = Server::start(name, &["--appendonly", "yes", "--appendfsync", "always"])
        .unwrap_or_else(|| panic!("{name} not installed"));
    for i in 0..20 {
        s.oks(&["SET", &format!("k:{i}"), "v"]);
    }
    s.oks(&["RPUSH", "list", "a", "b"]);
    s.oks(&["SELECT", "2"]);
    s.oks(&["SADD", "set", "m"]);
    let src = s.dir.join("appendonlydir");
    let dst = tmp.join("appendonlydir");
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
    dst
}

fn bin(name: &str) -> String {
    crate::support::server::servers_dir()
        .join("bin")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn load_proves_good_files_restore_and_names_the_servers_refusal() {
    let names = [
        "redis-6.2.14",
        "redis-7.4.1",
        "valkey-9.1.2",
        "redis-8.0.2",
        "redis-7.0.15",
    ];
    let have = installed();
    require!(
        names.iter().all(|n| have.iter().any(|h| h == n)),
        "needs {names:?} installed"
    );
    let tmp = tempfile::tempdir().unwrap();
    // Good RDBs load into the server that wrote them, with equal key counts.
    let handles: Vec<_> = names[..4]
        .iter()
        .map(|name| {
            let file = tmp.path().join(format!("{name}.rdb"));
            let name = name.to_string();
            std::thread::spawn(move || {
                make_rdb(&name, &[], &file);
                let o = rdbkit(&[
                    "verify",
                    "--load",
                    "--json",
                    "--server",
                    &bin(&name),
                    p(&file),
                ]);
                assert_eq!(o.status.code(), Some(0), "{name}: {}", text(&o));
                let j = json(&o);
                assert_eq!(j["load"]["verdict"], "loads", "{name}: {j}");
                assert_eq!(j["load"]["dbs"]["0"], 34, "{name}: {j}");
                assert_eq!(j["load"]["dbs"]["3"], 2, "{name}: {j}");
                assert_eq!(j["load"]["types"]["string"], 31, "{name}: {j}");
                assert_eq!(
                    j["load"]["digest"].as_str().map(str::len),
                    Some(40),
                    "{name}: {j}"
                );
                (name, file)
            })
        })
        .collect();
    let files: Vec<(String, PathBuf)> = handles.into_iter().map(|h| h.join().unwrap()).collect();

    // A too-new file is a version mismatch, not a broken backup.
    let new = &files.iter().find(|(n, _)| n == "redis-8.0.2").unwrap().1;
    let o = rdbkit(&[
        "verify",
        "--load",
        "--json",
        "--server",
        &bin("redis-7.0.15"),
        p(new),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let j = json(&o);
    assert_eq!(j["status"], "ok");
    assert_eq!(j["load"]["verdict"], "version_mismatch", "{j}");
    assert!(
        j["load"]["message"]
            .as_str()
            .unwrap()
            .contains("Can't handle RDB format version 12"),
        "{j}"
    );

    // A damaged file does not load, with the server's own words.
    let data = std::fs::read(&files[1].1).unwrap();
    let cut = tmp.path().join("cut.rdb");
    std::fs::write(&cut, &data[..data.len() - 30]).unwrap();
    let o = rdbkit(&[
        "verify",
        "--load",
        "--json",
        "--server",
        &bin("redis-7.4.1"),
        p(&cut),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let j = json(&o);
    assert_eq!(j["status"], "truncated");
    assert_eq!(j["load"]["verdict"], "does_not_load", "{j}");
    assert!(
        // The server's own line (7.4.1: "Internal error in RDB reading offset 0, function
        // at rdb.c:2816 -> Stream listpacks loading failed.").
        ["Short read", "Internal error in RDB reading"]
            .iter()
            .any(|m| j["load"]["message"].as_str().unwrap().contains(m)),
        "{j}"
    );
    assert_eq!(std::fs::read(&files[1].1).unwrap(), data, "input untouched");

    // An appendonlydir (RDB preamble base + incr part), copied, never touched.
    let aofdir = aof_dir("redis-7.0.15", tmp.path());
    let before: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&aofdir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let d = std::fs::read(&p).unwrap();
            (p, d)
        })
        .collect();
    let o = rdbkit(&[
        "verify",
        "--load",
        "--json",
        "--server",
        &bin("redis-7.0.15"),
        p(&aofdir),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let j = json(&o);
    assert_eq!(j["load"]["verdict"], "loads", "{j}");
    assert_eq!(j["load"]["dbs"]["0"], 21, "{j}");
    assert_eq!(j["load"]["dbs"]["2"], 1, "{j}");
    for (p, d) in before {
        assert_eq!(std::fs::read(&p).unwrap(), d, "{} untouched", p.display());
    }
    assert_eq!(
        std::fs::read_dir(&aofdir).unwrap().count(),
        2 + 1,
        "no new parts"
    );
}

/// The rows of `verify DIR`'s table as (file name, format, verdict), header left out.
fn table_rows(o: &std::process::Output, dir: &Path) -> Vec<(String, String, String)> {
    let prefix = format!("{}/", dir.display());
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            let path = cols.next()?.strip_prefix(&prefix)?.to_string();
            Some((path, cols.next()?.to_string(), cols.next()?.to_string()))
        })
        .collect()
}

fn row(path: &str, format: &str, verdict: &str) -> (String, String, String) {
    (path.into(), format.into(), verdict.into())
}

fn set_mtime(path: &Path, ago: std::time::Duration) {
    let t = std::time::SystemTime::now() - ago;
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(t).unwrap();
}

#[test]
fn verify_dir_lists_every_backup_and_judges_the_newest_good_one() {
    require!(
        ["redis-7.2.4", "redis-7.0.15"]
            .iter()
            .all(|n| is_installed(n)),
        "redis-7.2.4 and redis-7.0.15 not installed"
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backups");
    std::fs::create_dir(&dir).unwrap();
    let good = dir.join("dump.rdb");
    // The two servers run side by side.
    std::thread::scope(|s| {
        s.spawn(|| make_rdb("redis-7.2.4", &[], &good));
        s.spawn(|| aof_dir("redis-7.0.15", &dir));
    });
    let data = std::fs::read(&good).unwrap();
    std::fs::write(dir.join("cut.rdb"), &data[..data.len() - 40]).unwrap();
    std::fs::write(dir.join("notes.txt"), "restore with care\n").unwrap();
    // A SAVE that never wrote a byte: a broken backup, not a stray file.
    std::fs::write(dir.join("failed.rdb"), "").unwrap();
    let o = rdbkit(&["verify", "--sidecar", p(&good)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(dir.join("dump.rdb.rdbkit.json").is_file());
    let sub = dir.join("weekly");
    std::fs::create_dir(&sub).unwrap();
    std::fs::copy(&good, sub.join("monday.bak")).unwrap();

    // Without --recursive: the subdirectory is left out, and said so.
    let o = rdbkit(&["verify", p(&dir)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        table_rows(&o, &dir),
        [
            row("appendonlydir", "aof-multipart", "ok"),
            row("cut.rdb", "rdb", "truncated"),
            row("dump.rdb", "rdb", "ok"),
            row("failed.rdb", "rdb", "truncated"),
            row("notes.txt", "unknown", "unrecognised"),
        ],
        "{}",
        text(&o)
    );
    let out = text(&o);
    assert!(
        out.contains("1 subdirectory not searched (use --recursive)"),
        "{out}"
    );
    assert!(out.contains("redis 7.2.4"), "{out}");
    assert!(
        out.contains("5 files: 2 ok, 2 not ok, 1 unrecognised, 0 unreadable"),
        "{out}"
    );
    assert!(out.contains("cut.rdb: truncated at byte"), "{out}");

    // --recursive --json: one object per file, then the summary.
    let o = rdbkit(&["verify", "--recursive", "--json", p(&dir)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 7, "{}", text(&o));
    let monday = &lines[5];
    assert!(monday["path"]
        .as_str()
        .unwrap()
        .ends_with("weekly/monday.bak"));
    assert_eq!(monday["status"], "ok");
    assert_eq!(monday["keys"], 36);
    assert_eq!(lines[3]["status"], "truncated");
    assert_eq!(lines[3]["error"]["offset"], 0);
    assert_eq!(lines[4]["status"], "unrecognised");
    let sum = &lines[6]["summary"];
    assert_eq!(sum["files"], 6, "{sum}");
    assert_eq!(sum["ok"], 3, "{sum}");
    assert_eq!(sum["not_ok"], 2, "{sum}");
    assert_eq!(sum["unrecognised"], 1, "{sum}");
    assert_eq!(sum["skipped_dirs"], 0, "{sum}");

    // Only good backups left: fresh by 1h; the RDB's ctime counts, not its mtime.
    std::fs::remove_file(dir.join("cut.rdb")).unwrap();
    std::fs::remove_file(dir.join("notes.txt")).unwrap();
    std::fs::remove_file(dir.join("failed.rdb")).unwrap();
    let day = std::time::Duration::from_secs(86400);
    set_mtime(&good, 3 * day);
    set_mtime(&sub.join("monday.bak"), 3 * day);
    for e in std::fs::read_dir(dir.join("appendonlydir")).unwrap() {
        set_mtime(&e.unwrap().path(), 3 * day);
    }
    let o = rdbkit(&["verify", "-r", "--newest-within", "1h", "--json", p(&dir)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let last = String::from_utf8_lossy(&o.stdout)
        .lines()
        .last()
        .unwrap()
        .to_string();
    let sum: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(sum["summary"]["newest_ok"]["source"], "ctime", "{sum}");
    assert_eq!(sum["summary"]["newest_within"]["ok"], true, "{sum}");

    // An appendonlydir is judged by its newest part's mtime: 3 days is stale for 26h.
    let o = rdbkit(&[
        "verify",
        "--newest-within",
        "26h",
        p(&dir.join("appendonlydir")),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("newest good backup is 3d 0h old (created "),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("older than 26h"), "{}", text(&o));

    // The RDB's ctime (set at SAVE) ages too.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let o = rdbkit(&["verify", "--newest-within", "1s", p(&dir)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("older than 1s"), "{}", text(&o));

    // A bad duration is a usage error.
    let o = rdbkit(&["verify", "--newest-within", "3y", p(&dir)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
