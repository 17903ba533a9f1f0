//! `rdbkit restore` against real servers: a source server is filled and saved, the
//! RDB restored into other servers (several versions, a TLS port, an ACL user, a
//! 3-master cluster with a slot migrating meanwhile), and the targets compared with
//! the source with `DEBUG DIGEST` and per-db key counts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use crate::require;
use crate::support::server::{is_installed, Reply, Server};
use crate::support::{rdbkit, show};

/// Servers 7.0+ need the debug command enabled for DEBUG DIGEST.
fn start(name: &str, extra: &[&str]) -> Option<Server> {
    let mut args: Vec<&str> = Vec::new();
    let v = crate::support::server::parse_version(name.rsplit('-').next().unwrap_or(""));
    if name.starts_with("valkey") || v >= (7, 0, 0) {
        args.extend(["--enable-debug-command", "yes"]);
    }
    args.extend(extra);
    Server::start(name, &args)
}

fn cmd(args: &[&str]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.as_bytes().to_vec()).collect()
}

/// A mixed dataset in dbs 0 and 1: every type, small (listpack/intset) and big
/// (hashtable/quicklist/skiplist) encodings, binary keys, TTLs, a stream with a
/// consumer group, and (7.0+) a function library.
fn fill(s: &mut Server, keys_per_db: usize) {
    for db in [0u64, 1] {
        s.oks(&["SELECT", &db.to_string()]);
        let mut cmds = Vec::new();
        for i in 0..keys_per_db {
            let k = format!("{db}:k:{i}");
            let n = if i % 50 == 0 { 700 } else { 1 + i % 20 };
            match i % 6 {
                0 => cmds.push(cmd(&["SET", &k, &"v".repeat(1 + i % 300)])),
                1 => {
                    let mut c = cmd(&["RPUSH", &k]);
                    c.extend((0..n).map(|j| format!("item{j}").into_bytes()));
                    cmds.push(c)
                }
                2 => {
                    let mut c = cmd(&["SADD", &k]);
                    c.extend((0..n).map(|j| {
                        if i % 4 == 0 {
                            j.to_string()
                        } else {
                            format!("m{j}")
                        }
                        .into_bytes()
                    }));
                    cmds.push(c)
                }
                3 => {
                    let mut c = cmd(&["ZADD", &k]);
                    for j in 0..n {
                        c.push(format!("{}", j as f64 * 1.25 - 3.0).into_bytes());
                        c.push(format!("z{j}").into_bytes());
                    }
                    cmds.push(c)
                }
                4 => {
                    let mut c = cmd(&["HSET", &k]);
                    for j in 0..n {
                        c.push(format!("f{j}").into_bytes());
                        c.push("x".repeat(j % 70).into_bytes());
                    }
                    cmds.push(c)
                }
                _ => {
                    for j in 0..(n % 7 + 1) {
                        cmds.push(cmd(&["XADD", &k, "*", "n", &j.to_string()]));
                    }
                }
            }
            if i % 7 == 0 {
                cmds.push(cmd(&["PEXPIRE", &k, "86400000"]));
            }
        }
        cmds.push(vec![
            b"SET".to_vec(),
            b"bin\x00\xff\r\nkey".to_vec(),
            b"\x00\x01".to_vec(),
        ]);
        cmds.push(cmd(&["SET", "int", "12345"]));
        cmds.push(cmd(&["XADD", "grouped", "*", "a", "1"]));
        cmds.push(cmd(&["XGROUP", "CREATE", "grouped", "g", "0"]));
        s.pipeline(&cmds);
    }
    s.oks(&["SELECT", "0"]);
    if s.at_least(7, 0) {
        s.oks(&[
            "FUNCTION",
            "LOAD",
            "#!lua name=restorelib\nredis.register_function('rk_echo', function(keys, args) return args[1] end)",
        ]);
    }
}

fn digest(s: &mut Server) -> String {
    s.oks(&["DEBUG", "DIGEST"]).text()
}

fn dbsizes(s: &mut Server) -> BTreeMap<u64, u64> {
    let text = s.oks(&["INFO", "keyspace"]).text();
    text.lines()
        .filter_map(|l| {
            let (db, rest) = l.split_once(':')?;
            let keys = rest
                .split(',')
                .next()?
                .strip_prefix("keys=")?
                .parse()
                .ok()?;
            Some((db.strip_prefix("db")?.parse().ok()?, keys))
        })
        .collect()
}

/// Saves the source into `dir/name.rdb`.
fn save_to(s: &mut Server, dir: &Path, name: &str) -> PathBuf {
    let bytes = s.save_and_read();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn restore(file: &Path, url: &str, extra: &[&str]) -> Output {
    let mut args = vec!["restore", file.to_str().unwrap(), "--to", url];
    args.extend(extra);
    rdbkit(&args)
}

fn url(s: &Server) -> String {
    format!("redis://127.0.0.1:{}", s.port)
}

fn assert_ok(o: &Output) {
    assert_eq!(o.status.code(), Some(0), "{}", show(o));
}

#[test]
fn restores_exactly_into_each_version() {
    require!(
        is_installed("redis-7.0.15"),
        "redis-7.0.15 is not installed"
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut src = start("redis-7.0.15", &[]).unwrap();
    fill(&mut src, 600);
    let file = save_to(&mut src, tmp.path(), "src.rdb");
    let want = digest(&mut src);
    let want_sizes = dbsizes(&mut src);
    let targets = [
        "redis-7.0.15",
        "redis-7.4.1",
        "redis-8.6.3",
        "valkey-8.1.1",
        "valkey-9.1.2",
    ];
    std::thread::scope(|sc| {
        for name in targets {
            let (file, want, want_sizes) = (&file, &want, &want_sizes);
            sc.spawn(move || {
                if !is_installed(name) {
                    require!(false, "{name} is not installed");
                }
                let mut t = start(name, &[]).unwrap();
                let o = restore(file, &url(&t), &["--json"]);
                assert_ok(&o);
                let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
                assert_eq!(r["counts"]["0"], "ok", "{name}: {r}");
                assert_eq!(r["functions_loaded"], 1, "{name}: {r}");
                assert_eq!(&digest(&mut t), want, "{name}: DEBUG DIGEST differs");
                assert_eq!(&dbsizes(&mut t), want_sizes, "{name}");
                let libs = t.oks(&["FUNCTION", "LIST"]);
                assert_eq!(libs.array().len(), 1, "{name}: {libs:?}");
                let ttl = t.oks(&["PTTL", "0:k:0"]).int();
                assert!(ttl > 86_000_000, "{name}: PTTL {ttl}");
            });
        }
    });
}

#[test]
fn old_encodings_restore_into_a_new_server() {
    require!(
        is_installed("redis-5.0.10") && is_installed("redis-8.6.3"),
        "redis-5.0.10 / 8.6.3 missing"
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut src = start("redis-5.0.10", &[]).unwrap();
    fill(&mut src, 300);
    let file = save_to(&mut src, tmp.path(), "src.rdb");
    let mut t = start("redis-8.6.3", &[]).unwrap();
    assert_ok(&restore(&file, &url(&t), &[]));
    assert_eq!(digest(&mut src), digest(&mut t));
}

#[test]
fn too_new_payloads_are_refused_per_key_and_listed() {
    // A 7.4 file's listpack sets (RDB type 20, version 11) cannot be RESTOREd into 7.0.
    require!(
        is_installed("redis-7.4.1") && is_installed("redis-7.0.15"),
        "redis-7.4.1 / 7.0.15 missing"
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut src = start("redis-7.4.1", &[]).unwrap();
    src.oks(&["SET", "s", "v"]);
    src.oks(&["SADD", "set", "a", "b"]);
    let file = save_to(&mut src, tmp.path(), "src.rdb");
    let mut t = start("redis-7.0.15", &[]).unwrap();
    let errors = tmp.path().join("errors.jsonl");
    let o = restore(
        &file,
        &url(&t),
        &["--mode", "restore", "--errors-to", errors.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let lines = std::fs::read_to_string(&errors).unwrap();
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(first["key"], "set", "{lines}");
    assert!(
        first["error"].as_str().unwrap().contains("RDB version 11"),
        "{lines}"
    );
    assert_eq!(lines.lines().count(), 1);
    assert_eq!(t.oks(&["GET", "s"]).text(), "v");
    assert_eq!(t.cmds(&["EXISTS", "set"]).int(), 0);
}

#[test]
fn newer_files_fall_back_to_commands_and_commands_mode_is_exact() {
    require!(
        is_installed("redis-7.4.1") && is_installed("redis-7.0.15") && is_installed("valkey-9.1.2"),
        "servers missing"
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut src = start("redis-7.4.1", &[]).unwrap();
    fill(&mut src, 400);
    let file = save_to(&mut src, tmp.path(), "src.rdb");
    let want = digest(&mut src);
    // 7.4 file -> 7.0: listpack sets and stream-v3 are not payloads 7.0 takes.
    let mut t = start("redis-7.0.15", &[]).unwrap();
    let o = restore(&file, &url(&t), &["--json"]);
    assert_ok(&o);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(r["dbs"]["0"]["by_commands"].as_u64().unwrap() > 0, "{r}");
    assert!(r["dbs"]["0"]["by_restore"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["counts"]["0"], "ok", "{r}");
    assert_eq!(digest(&mut t), want, "7.4 file into 7.0");
    // Everything as native commands, into Valkey.
    let mut v = start("valkey-9.1.2", &[]).unwrap();
    v.oks(&["SET", "0:k:0", "mine"]);
    let o = restore(
        &file,
        &url(&v),
        &["--mode", "commands", "--conflict", "skip", "--json"],
    );
    assert_ok(&o);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["dbs"]["0"]["by_restore"], 0, "{r}");
    assert_eq!(r["dbs"]["0"]["skipped"], 1, "{r}");
    assert_eq!(v.oks(&["GET", "0:k:0"]).text(), "mine");
    let o = restore(
        &file,
        &url(&v),
        &["--mode", "commands", "--conflict", "replace"],
    );
    assert_ok(&o);
    assert_eq!(digest(&mut v), want, "commands mode into Valkey 9.1");
    // Hash field TTLs cannot reach 7.0: said, not silently dropped.
    src.oks(&["FLUSHALL"]);
    src.oks(&["HSET", "h", "f", "v", "g", "w"]);
    src.oks(&["HPEXPIRE", "h", "3600000", "FIELDS", "1", "f"]);
    let file = save_to(&mut src, tmp.path(), "hfe.rdb");
    let o = restore(&file, &url(&t), &["--conflict", "replace"]);
    assert_ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("hash field TTLs"),
        "{}",
        show(&o)
    );
    assert_eq!(t.cmds(&["HLEN", "h"]).int(), 2);
}

#[test]
fn multi_part_aof_replays_in_order_up_to_until() {
    require!(is_installed("redis-7.4.1"), "redis-7.4.1 is not installed");
    let mut src = start(
        "redis-7.4.1",
        &[
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--aof-timestamp-enabled",
            "yes",
        ],
    )
    .unwrap();
    fill(&mut src, 200);
    src.oks(&["BGREWRITEAOF"]);
    src.wait_aof_rewrite();
    // INCR part: ordered commands on top of the RDB base, in two dbs.
    src.oks(&["INCRBY", "counter", "5"]);
    src.oks(&["SELECT", "1"]);
    src.oks(&["RPUSH", "1:k:1", "appended"]);
    src.oks(&["SELECT", "0"]);
    src.oks(&["DEL", "0:k:0"]);
    let want_early = digest(&mut src);
    std::thread::sleep(Duration::from_millis(2100));
    let cut = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1;
    src.oks(&["INCRBY", "counter", "100"]);
    let want = digest(&mut src);
    let dir = src.dir.join("appendonlydir");
    let mut t = start("redis-7.4.1", &[]).unwrap();
    let o = restore(&dir, &url(&t), &["--json"]);
    assert_ok(&o);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["aof_commands"], 4, "{r}");
    assert_eq!(digest(&mut t), want, "appendonlydir replayed");
    let mut t2 = start("redis-7.4.1", &[]).unwrap();
    // --verify compares with the AOF replayed offline up to the same point.
    let o = restore(
        &dir,
        &url(&t2),
        &["--until", &cut.to_string(), "--verify", "--json"],
    );
    assert_ok(&o);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let keys = t2.oks(&["DBSIZE"]).int() + {
        t2.oks(&["SELECT", "1"]);
        let n = t2.oks(&["DBSIZE"]).int();
        t2.oks(&["SELECT", "0"]);
        n
    };
    assert_eq!(r["verify"]["verified"], keys, "{r}");
    assert_eq!(r["verify"]["mismatched"], 0, "{r}");
    assert_eq!(t2.oks(&["GET", "counter"]).text(), "5");
    assert_eq!(
        digest(&mut t2),
        want_early,
        "--until stops before the later commands"
    );
    // AOF command offsets are not record offsets.
    let o = restore(&dir, &url(&t2), &["--checkpoint", "/nonexistent/cp"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
}

#[test]
fn conflict_ttl_db_map_filter_and_dry_run_policies() {
    require!(
        is_installed("redis-7.0.15"),
        "redis-7.0.15 is not installed"
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut src = start("redis-7.0.15", &[]).unwrap();
    src.oks(&["SET", "a", "1"]);
    src.oks(&["SET", "b", "2", "PX", "3600000"]);
    src.oks(&["SET", "gone", "x", "PX", "300"]);
    src.oks(&["SELECT", "1"]);
    src.oks(&["SET", "c", "3"]);
    src.oks(&["RPUSH", "user:1", "x"]);
    src.oks(&["SELECT", "0"]);
    let file = save_to(&mut src, tmp.path(), "src.rdb");
    std::thread::sleep(Duration::from_millis(400)); // "gone" has expired now
    let mut t = start("redis-7.0.15", &[]).unwrap();
    t.oks(&["SET", "a", "old"]);

    // Dry run: plans, checks conflicts, writes nothing.
    let o = restore(&file, &url(&t), &["--dry-run", "--conflict", "replace"]);
    assert_ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("would restore"),
        "{}",
        show(&o)
    );
    assert_eq!(t.cmds(&["DBSIZE"]).int(), 1);

    // fail (default): "a" exists, nothing is written.
    let o = restore(&file, &url(&t), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("\"a\""),
        "{}",
        show(&o)
    );
    assert_eq!(t.cmds(&["DBSIZE"]).int(), 1);
    assert_eq!(t.oks(&["GET", "a"]).text(), "old");

    // skip: "a" keeps its value, the rest arrives; expired keys left out on request.
    let o = restore(
        &file,
        &url(&t),
        &["--conflict", "skip", "--expired", "skip", "--json"],
    );
    assert_ok(&o);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["dbs"]["0"]["skipped"], 1, "{r}");
    assert_eq!(r["dbs"]["0"]["expired_skipped"], 1, "{r}");
    assert_eq!(r["counts"]["0"], "ok", "{r}");
    assert_eq!(t.oks(&["GET", "a"]).text(), "old");
    let pttl = t.cmds(&["PTTL", "b"]).int();
    assert!((3_000_000..=3_600_000).contains(&pttl), "PTTL b {pttl}");
    t.oks(&["SELECT", "1"]);
    assert_eq!(t.cmds(&["DBSIZE"]).int(), 2);
    t.oks(&["SELECT", "0"]);

    // replace + ttl ignore + db-map + filters: only "b"-like keys of db 0, into db 5.
    let o = restore(
        &file,
        &url(&t),
        &[
            "--conflict",
            "replace",
            "--ttl",
            "ignore",
            "--db-map",
            "0=5",
            "--db",
            "0",
            "--match",
            "[ab]",
        ],
    );
    assert_ok(&o);
    t.oks(&["SELECT", "5"]);
    assert_eq!(t.cmds(&["DBSIZE"]).int(), 2);
    assert_eq!(t.cmds(&["PTTL", "b"]).int(), -1);
    assert_eq!(t.oks(&["GET", "a"]).text(), "1");

    // shift: TTLs move by the given amount; --type selects lists only, URL db 7.
    let o = restore(
        &file,
        &format!("{}/7", url(&t)),
        &["--ttl", "shift=2h", "--conflict", "replace"],
    );
    assert_ok(&o);
    t.oks(&["SELECT", "7"]);
    let pttl = t.cmds(&["PTTL", "b"]).int();
    assert!(
        (10_000_000..=10_800_000).contains(&pttl),
        "shifted PTTL b {pttl}"
    );
    // dbs 0 and 1 both went to db 7; "gone" lives again two hours later.
    assert_eq!(t.cmds(&["DBSIZE"]).int(), 5);
    let o = restore(&file, &format!("{}/8", url(&t)), &["--type", "list"]);
    assert_ok(&o);
    t.oks(&["SELECT", "8"]);
    assert_eq!(t.cmds(&["DBSIZE"]).int(), 1);
}

#[test]
fn acl_user_failures_are_listed_and_fail_fast_stops() {
    require!(
        is_installed("redis-7.0.15"),
        "redis-7.0.15 is not installed"
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut src = start("redis-7.0.15", &[]).unwrap();
    let mut cmds = Vec::new();
    for i in 0..2000 {
        cmds.push(cmd(&["SET", &format!("ok:{i}"), "v"]));
    }
    cmds.push(cmd(&["SET", "secret:1", "v"]));
    cmds.push(cmd(&["SET", "secret:2", "v"]));
    src.pipeline(&cmds);
    let file = save_to(&mut src, tmp.path(), "src.rdb");
    let mut t = start("redis-7.0.15", &[]).unwrap();
    t.oks(&[
        "ACL",
        "SETUSER",
        "restorer",
        "on",
        ">p@ss:word",
        "~ok:*",
        "+@all",
    ]);

    // Wrong password: refused before anything, and the password is never printed.
    let o = restore(
        &file,
        &format!("redis://restorer:wrong-pw-123@127.0.0.1:{}", t.port),
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(!show(&o).contains("wrong-pw-123"), "{}", show(&o));

    let errors = tmp.path().join("e.jsonl");
    let o = restore(
        &file,
        &format!("redis://restorer:p%40ss:word@127.0.0.1:{}", t.port),
        &["--errors-to", errors.to_str().unwrap(), "--json"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["dbs"]["0"]["written"], 2000, "{r}");
    assert_eq!(r["dbs"]["0"]["failed"], 2, "{r}");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&errors)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut keys: Vec<&str> = lines.iter().map(|l| l["key"].as_str().unwrap()).collect();
    keys.sort();
    assert_eq!(keys, ["secret:1", "secret:2"]);
    assert!(
        lines[0]["error"].as_str().unwrap().contains("NOPERM"),
        "{lines:?}"
    );

    // The password from REDISCLI_AUTH; fail-fast stops at the first failure.
    t.oks(&["FLUSHALL"]);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_rdbkit"))
        .args(["restore", file.to_str().unwrap(), "--to"])
        .arg(format!("redis://127.0.0.1:{}", t.port))
        .args(["--user", "restorer", "--fail-fast", "--match", "secret:*"])
        .env("REDISCLI_AUTH", "p@ss:word")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(show(&o).contains("--fail-fast"), "{}", show(&o));
}

#[test]
fn resumes_from_the_checkpoint_after_a_kill() {
    require!(
        is_installed("redis-7.0.15"),
        "redis-7.0.15 is not installed"
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut src = start("redis-7.0.15", &[]).unwrap();
    fill(&mut src, 1500);
    let file = save_to(&mut src, tmp.path(), "src.rdb");
    let mut t = start("redis-7.0.15", &[]).unwrap();
    let cp = tmp.path().join("cp.json");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rdbkit"))
        .args([
            "restore",
            file.to_str().unwrap(),
            "--to",
            &url(&t),
            "--rate",
            "1000",
        ])
        .args(["--checkpoint", cp.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !cp.exists() && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(600));
    child.kill().unwrap();
    child.wait().unwrap();
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&cp).unwrap()).unwrap();
    assert_eq!(saved["complete"], false, "{saved}");
    let partial: u64 = dbsizes(&mut t).values().sum();
    let total: u64 = dbsizes(&mut src).values().sum();
    assert!(
        partial > 0 && partial < total,
        "{partial} of {total} keys after the kill"
    );
    let o = restore(
        &file,
        &url(&t),
        &["--checkpoint", cp.to_str().unwrap(), "--json"],
    );
    assert_ok(&o);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(r["resumed_from"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(digest(&mut src), digest(&mut t));
    // Finished: a third run has nothing to do.
    let o = restore(&file, &url(&t), &["--checkpoint", cp.to_str().unwrap()]);
    assert_ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("already finished"),
        "{}",
        show(&o)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A CA, and a server and client certificate it signed, made with `openssl`.
fn make_certs(dir: &Path) -> bool {
    let script = r#"
set -e
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=rdbkit-test-ca -keyout ca.key -out ca.crt 2>/dev/null
for n in server client; do
  openssl req -newkey rsa:2048 -nodes -subj /CN=$n -keyout $n.key -out $n.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > $n.ext
  openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile $n.ext -out $n.crt 2>/dev/null
done
"#;
    std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn restores_over_tls_with_client_certificates() {
    require!(
        is_installed("redis-7.0.15"),
        "redis-7.0.15 is not installed"
    );
    let tmp = tempfile::tempdir().unwrap();
    require!(
        make_certs(tmp.path()),
        "openssl could not make test certificates"
    );
    let p = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();
    let tls_port = free_port().to_string();
    let (crt, key, ca) = (p("server.crt"), p("server.key"), p("ca.crt"));
    let t = start(
        "redis-7.0.15",
        &[
            "--tls-port",
            &tls_port,
            "--tls-cert-file",
            &crt,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
        ],
    );
    let mut t = t.unwrap();
    let mut src = start("redis-7.0.15", &[]).unwrap();
    fill(&mut src, 200);
    let file = save_to(&mut src, tmp.path(), "src.rdb");
    let tls_url = format!("rediss://127.0.0.1:{tls_port}");
    // Without a client certificate the server refuses the handshake.
    let o = restore(&file, &tls_url, &["--tls-ca", &ca]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert_eq!(t.cmds(&["DBSIZE"]).int(), 0);
    let o = restore(
        &file,
        &tls_url,
        &[
            "--tls-ca",
            &ca,
            "--tls-cert",
            &p("client.crt"),
            "--tls-key",
            &p("client.key"),
        ],
    );
    assert_ok(&o);
    assert_eq!(digest(&mut src), digest(&mut t));
}

/// Three masters on loopback sharing the slots, made with ADDSLOTSRANGE and MEET.
fn make_cluster(name: &str) -> Vec<Server> {
    let mut nodes: Vec<Server> = (0..3)
        .map(|_| {
            start(
                name,
                &["--cluster-enabled", "yes", "--cluster-node-timeout", "5000"],
            )
            .unwrap()
        })
        .collect();
    let ranges = [("0", "5460"), ("5461", "10922"), ("10923", "16383")];
    for (n, (lo, hi)) in nodes.iter_mut().zip(ranges) {
        n.oks(&["CLUSTER", "ADDSLOTSRANGE", lo, hi]);
    }
    let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();
    for p in &ports[1..] {
        nodes[0].oks(&["CLUSTER", "MEET", "127.0.0.1", &p.to_string()]);
    }
    let t0 = Instant::now();
    for n in nodes.iter_mut() {
        loop {
            let info = n.oks(&["CLUSTER", "INFO"]).text();
            if info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3") {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "cluster never became ok: {info}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    nodes
}

fn node_id(s: &mut Server) -> String {
    s.oks(&["CLUSTER", "MYID"]).text()
}

/// Moves `slot` from `from` to `to` the way redis-cli --cluster reshard does:
/// IMPORTING/MIGRATING, MIGRATE the keys in chunks, then NODE on both.
fn migrate_slot(from: &mut Server, to: &mut Server, slot: u16, pause: Duration) {
    let (from_id, to_id) = (node_id(from), node_id(to));
    let slot_s = slot.to_string();
    to.oks(&["CLUSTER", "SETSLOT", &slot_s, "IMPORTING", &from_id]);
    from.oks(&["CLUSTER", "SETSLOT", &slot_s, "MIGRATING", &to_id]);
    // Keys keep arriving while the slot is migrating: ASK for new keys.
    std::thread::sleep(pause);
    loop {
        let keys = from
            .oks(&["CLUSTER", "GETKEYSINSLOT", &slot_s, "100"])
            .bulks();
        if keys.is_empty() {
            break;
        }
        let port = to.port.to_string();
        let mut args: Vec<&[u8]> = vec![
            b"MIGRATE",
            b"127.0.0.1",
            port.as_bytes(),
            b"",
            b"0",
            b"5000",
            b"REPLACE",
            b"KEYS",
        ];
        args.extend(keys.iter().map(|k| k.as_slice()));
        from.ok(&args);
    }
    to.oks(&["CLUSTER", "SETSLOT", &slot_s, "NODE", &to_id]);
    from.oks(&["CLUSTER", "SETSLOT", &slot_s, "NODE", &to_id]);
}

#[test]
fn restores_into_a_cluster_while_a_slot_migrates() {
    require!(
        is_installed("redis-7.0.15"),
        "redis-7.0.15 is not installed"
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut src = start("redis-7.0.15", &[]).unwrap();
    let mut cmds = Vec::new();
    for i in 0..6000 {
        cmds.push(cmd(&[
            "SET",
            &format!("{{tag{}}}:k{i}", i % 300),
            &i.to_string(),
        ]));
    }
    src.pipeline(&cmds);
    src.oks(&["SELECT", "1"]);
    src.oks(&["SET", "other-db", "x"]);
    let file = save_to(&mut src, tmp.path(), "src.rdb");
    let mut nodes = make_cluster("redis-7.0.15");
    let seeds = format!(
        "redis://127.0.0.1:{},redis://127.0.0.1:{}",
        nodes[1].port, nodes[2].port
    );

    // Two source dbs into a cluster need an explicit mapping.
    let o = restore(&file, &seeds, &["--cluster"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(show(&o).contains("--db-map"), "{}", show(&o));

    // The slot of "{tag7}" moves from node 0 or wherever it lives, mid-restore.
    let slot = nodes[0].cmds(&["CLUSTER", "KEYSLOT", "{tag7}"]).int() as u16;
    let owner = [(0, 5460), (5461, 10922), (10923, 16383)]
        .iter()
        .position(|&(lo, hi)| (lo..=hi).contains(&slot))
        .unwrap();
    let dest = (owner + 1) % 3;
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_rdbkit"))
        .args([
            "restore",
            file.to_str().unwrap(),
            "--to",
            &seeds,
            "--cluster",
            "--db-map",
            "1=0",
        ])
        .args(["--rate", "8000", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    {
        let (a, b) = if owner < dest {
            let (l, r) = nodes.split_at_mut(dest);
            (&mut l[owner], &mut r[0])
        } else {
            let (l, r) = nodes.split_at_mut(owner);
            (&mut r[0], &mut l[dest])
        };
        migrate_slot(a, b, slot, Duration::from_millis(250));
    }
    let o = child.wait_with_output().unwrap();
    assert_ok(&o);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        r["redirects"].as_u64().unwrap() > 0,
        "no MOVED/ASK seen: {r}"
    );
    assert_eq!(r["counts"]["0"], "ok", "{r}");
    let total: i64 = nodes.iter_mut().map(|n| n.cmds(&["DBSIZE"]).int()).sum();
    assert_eq!(total, 6001);
    let tag7: i64 = nodes[dest]
        .cmds(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()])
        .int();
    assert_eq!(tag7, 20, "all {{tag7}} keys on the new owner");
    // Values are right wherever they landed.
    for n in nodes.iter_mut() {
        let keys = n.oks(&["KEYS", "{tag7}:*"]).bulks();
        for k in keys {
            let i: String = String::from_utf8_lossy(&k)
                .rsplit('k')
                .next()
                .unwrap()
                .into();
            assert_eq!(n.ok(&[b"GET", &k]), Reply::Bulk(i.into_bytes()));
        }
    }

    // --verify-only reads every key back from the master of its slot (after the move).
    let verify = |extra: &[&str]| {
        let mut args = vec!["--cluster", "--db-map", "1=0", "--verify-only", "--json"];
        args.extend(extra);
        let o = restore(&file, &seeds, &args);
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        (o, r["verify"].clone())
    };
    let (o, v) = verify(&[]);
    assert_ok(&o);
    assert_eq!(v["verified"], 6001, "{}", show(&o));
    assert_eq!(v["mismatched"], 0, "{}", show(&o));
    nodes[dest].oks(&["SET", "{tag7}:k7", "tampered"]);
    let errors = tmp.path().join("verify.jsonl");
    let (o, v) = verify(&["--errors-to", errors.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert_eq!(v["mismatched"], 1, "{}", show(&o));
    let line: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&errors).unwrap().trim()).unwrap();
    assert_eq!(line["key"], "{tag7}:k7", "{line}");
    assert!(
        line["verify"]
            .as_str()
            .unwrap()
            .starts_with("value differs"),
        "{line}"
    );
}

/// The master of `key` among nodes made by [`make_cluster`].
fn owner_of(nodes: &mut [Server], key: &[u8]) -> usize {
    let slot = nodes[0].ok(&[b"CLUSTER", b"KEYSLOT", key]).int();
    [(0, 5460), (5461, 10922), (10923, 16383)]
        .iter()
        .position(|&(lo, hi)| (lo..=hi).contains(&slot))
        .unwrap()
}

#[test]
fn aof_commands_replay_into_a_cluster_by_slot() {
    require!(
        is_installed("redis-7.0.15"),
        "redis-7.0.15 is not installed"
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut src = start(
        "redis-7.0.15",
        &["--appendonly", "yes", "--appendfsync", "always"],
    )
    .unwrap();
    // RDB preamble: keys in every slot range, then INCR commands of every routing kind.
    let sets: Vec<Vec<Vec<u8>>> = (0..300)
        .map(|i| cmd(&["SET", &format!("base:{i}"), &i.to_string()]))
        .collect();
    src.pipeline(&sets);
    src.oks(&["BGREWRITEAOF"]);
    src.wait_aof_rewrite();
    for c in [
        // one slot per key, keys all over the slots
        vec!["MSET", "a", "1", "b", "2", "c", "3", "{t}x", "4"], // split by slot
        vec!["DEL", "base:1", "base:2", "base:3", "base:4"],      // split by slot
        vec!["MULTI"],
        vec!["INCR", "a"],
        vec!["SET", "{t}y", "5"],
        vec!["LPUSH", "l1", "x", "y"],
        vec!["EXEC"],
        vec![
            "EVAL",
            "redis.call('set', KEYS[1], 'e') redis.call('rpush', KEYS[2], 'f')",
            "2",
            "e1",
            "e2",
        ],
        vec!["XADD", "s", "1-1", "f", "v"],
        vec!["XGROUP", "CREATE", "s", "g", "0"],
        vec!["XREADGROUP", "GROUP", "g", "c1", "COUNT", "1", "STREAMS", "s", ">"],
        vec!["ZADD", "{z}a", "1", "m"],
        vec!["ZADD", "{z}b", "2", "n"],
        vec!["ZUNIONSTORE", "{z}c", "2", "{z}a", "{z}b"], // movable keys: COMMAND GETKEYS
        vec!["SET", "ttl", "1"],
        vec!["EXPIRE", "ttl", "100000"],
        vec!["SET", "r1", "moved"],
        vec!["RENAME", "r1", "r2"], // two slots: a cluster cannot run it
        vec!["HSET", "h", "f", "1"],
        vec![
            "FUNCTION",
            "LOAD",
            "#!lua name=aoflib\nredis.register_function('aof_echo', function(keys, args) return args[1] end)",
        ],
    ] {
        src.oks(&c);
    }
    let dir = src.dir.join("appendonlydir");
    let mut nodes = make_cluster("redis-7.0.15");
    assert_ne!(
        nodes[0].oks(&["CLUSTER", "KEYSLOT", "r1"]).int(),
        nodes[0].oks(&["CLUSTER", "KEYSLOT", "r2"]).int()
    );
    let errors = tmp.path().join("errors.jsonl");
    let o = restore(
        &dir,
        &format!("redis://127.0.0.1:{}", nodes[0].port),
        &[
            "--cluster",
            "--json",
            "--errors-to",
            errors.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "the RENAME fails: {}", show(&o));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&errors)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["key"], "RENAME r1", "{lines:?}");
    assert!(
        lines[0]["error"].as_str().unwrap().contains("CROSSSLOT"),
        "{lines:?}"
    );

    // Every key but the RENAME's two is where its slot is, with the source's value.
    let mut want = src.oks(&["KEYS", "*"]).bulks();
    want.retain(|k| k != b"r2");
    want.push(b"r1".to_vec());
    let total: i64 = nodes.iter_mut().map(|n| n.cmds(&["DBSIZE"]).int()).sum();
    assert_eq!(total as usize, want.len());
    for k in &want {
        let n = owner_of(&mut nodes, k);
        let got = nodes[n].ok(&[b"DEBUG", b"DIGEST-VALUE", k]);
        if k == b"r1" {
            assert_eq!(nodes[n].ok(&[b"GET", k]), Reply::Bulk(b"moved".to_vec()));
            continue;
        }
        assert_eq!(
            got,
            src.ok(&[b"DEBUG", b"DIGEST-VALUE", k]),
            "{}",
            String::from_utf8_lossy(k)
        );
    }
    let n = owner_of(&mut nodes, b"ttl");
    assert!(nodes[n].cmds(&["PTTL", "ttl"]).int() > 90_000);
    let n = owner_of(&mut nodes, b"s");
    let consumers = format!("{:?}", nodes[n].cmds(&["XINFO", "CONSUMERS", "s", "g"]));
    assert!(consumers.contains("c1"), "{consumers}");
    assert_eq!(
        nodes[n].cmds(&["XPENDING", "s", "g"]).array()[0],
        Reply::Int(1),
        "the PEL entry replayed"
    );
    // The function library reached every master.
    for node in nodes.iter_mut() {
        let libs = format!("{:?}", node.oks(&["FUNCTION", "LIST"]));
        assert!(libs.contains("aoflib"), "{libs}");
    }
}

#[test]
fn verify_compares_every_key_and_names_each_difference() {
    require!(
        is_installed("redis-7.4.1") && is_installed("redis-7.0.15"),
        "redis-7.4.1 / 7.0.15 missing"
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut src = start("redis-7.4.1", &[]).unwrap();
    fill(&mut src, 200);
    src.oks(&["HSET", "hfe", "f", "v", "g", "w"]);
    src.oks(&["HPEXPIRE", "hfe", "3600000", "FIELDS", "1", "f"]);
    let file = save_to(&mut src, tmp.path(), "src.rdb");
    let total: u64 = dbsizes(&mut src).values().sum();
    let verify_of = |o: &Output| -> serde_json::Value {
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        r["verify"].clone()
    };
    let mut same = start("redis-7.4.1", &[]).unwrap();
    let mut older = start("redis-7.0.15", &[]).unwrap();
    std::thread::scope(|sc| {
        for t in [&mut same, &mut older] {
            let (file, verify_of) = (&file, &verify_of);
            sc.spawn(move || {
                let o = restore(file, &url(t), &["--verify", "--json"]);
                assert_ok(&o);
                let v = verify_of(&o);
                assert_eq!(v["verified"], total, "{}", show(&o));
                assert_eq!(v["mismatched"], 0, "{}", show(&o));
            });
        }
    });
    // 7.0 got listpack sets and the stream by commands, without field TTLs: equal
    // content still verifies (checked above); now change the target behind its back.
    same.oks(&["SET", "0:k:0", "tampered"]);
    same.cmds(&["DEL", "0:k:1"]);
    same.cmds(&["ZADD", "0:k:3", "99", "z0"]);
    same.cmds(&["DEL", "0:k:4"]);
    same.oks(&["SET", "0:k:4", "now a string"]);
    same.cmds(&["PEXPIRE", "0:k:5", "5000000"]);
    same.cmds(&["HPERSIST", "hfe", "FIELDS", "1", "f"]);
    let errors = tmp.path().join("errors.jsonl");
    let o = restore(
        &file,
        &url(&same),
        &[
            "--verify-only",
            "--json",
            "--errors-to",
            errors.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let v = verify_of(&o);
    assert_eq!(v["mismatched"], 6, "{}", show(&o));
    assert_eq!(v["verified"], total - 6, "{}", show(&o));
    let mut reasons: BTreeMap<String, String> = BTreeMap::new();
    for line in std::fs::read_to_string(&errors).unwrap().lines() {
        let j: serde_json::Value = serde_json::from_str(line).unwrap();
        reasons.insert(
            j["key"].as_str().unwrap().to_string(),
            j["verify"].as_str().unwrap().to_string(),
        );
    }
    let want: BTreeMap<String, String> = [
        ("0:k:0", "value differs"),
        ("0:k:1", "missing"),
        ("0:k:3", "value differs"),
        ("0:k:4", "type differs"),
        ("0:k:5", "ttl differs"),
        ("hfe", "value differs"),
    ]
    .into_iter()
    .map(|(k, r)| (k.to_string(), r.to_string()))
    .collect();
    assert_eq!(reasons, want);
    // Restoring again with --conflict skip leaves the changed keys alone: --verify
    // still sees them (the missing key comes back).
    let o = restore(
        &file,
        &url(&same),
        &["--conflict", "skip", "--verify", "--json"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert_eq!(verify_of(&o)["mismatched"], 5, "{}", show(&o));
}
