//! `rdbkit stats` and `rdbkit keys` on files written by real servers: counts per db
//! and type against INFO keyspace / SCAN + TYPE, element counts against
//! STRLEN/LLEN/SCARD/ZCARD/HLEN/XLEN, every output format, filters, several files,
//! damaged files, and the HTML report rendered in headless Chromium.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::server::{not_installed, Reply, Server};
use crate::support::{rdbkit, rdbkit_stdin};

/// A key that breaks naive HTML and CSV writers.
const HOSTILE: &[u8] = b"</script><img src=x onerror=alert(1)>";
/// Not UTF-8, with a comma, a quote, a newline and a NUL.
const BINARY: &[u8] = b"bin,\"\n\xff\x00:tail";

/// What a filled server holds, read back from the server itself after SAVE.
struct Truth {
    /// INFO keyspace before SAVE: db → (keys, expires).
    keyspace: BTreeMap<u64, (u64, u64)>,
    /// SCAN + TYPE after SAVE: (db, type) → keys (lazily expired keys are gone).
    types: BTreeMap<(u64, String), u64>,
    /// (db, key) → (type, elements, OBJECT ENCODING for strings).
    keys: BTreeMap<(u64, Vec<u8>), (String, u64, String)>,
    /// Keys in the file that were already expired (INFO keys before − DBSIZE after SCAN).
    expired: u64,
}

fn cmd(s: &mut Server, args: &[&[u8]]) -> Reply {
    s.ok(args)
}

fn fill(s: &mut Server) {
    let mut p: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut c = |args: Vec<Vec<u8>>| p.push(args);
    let v = |a: &[&str]| a.iter().map(|x| x.as_bytes().to_vec()).collect::<Vec<_>>();
    c(v(&["SELECT", "0"]));
    for i in 0..40 {
        c(v(&[
            "SET",
            &format!("str:int:{i}"),
            &(i * 1000).to_string(),
        ]));
        c(v(&["SET", &format!("str:emb:{i}"), &"e".repeat(30)]));
        c(v(&[
            "SET",
            &format!("str:raw:{i}"),
            &format!("{i}{}", "r".repeat(100)),
        ]));
    }
    c(v(&["SET", "big:string", &"B".repeat(1_100_000)]));
    // big enough to be listed among the top keys (the HTML test looks for it)
    c(vec![b"SET".to_vec(), HOSTILE.to_vec(), vec![b'h'; 5000]]);
    c(vec![b"SET".to_vec(), BINARY.to_vec(), b"v".to_vec()]);
    c(v(&["RPUSH", "list:small", "a", "b", "c", "d", "e"]));
    let items: Vec<String> = (0..3000).map(|i| format!("item-{i}")).collect();
    let mut l = v(&["RPUSH", "list:big"]);
    l.extend(items.iter().map(|x| x.as_bytes().to_vec()));
    c(l);
    for (key, ttl) in [
        ("str:int:1", 100),
        ("str:int:2", 10_000),
        ("str:int:3", 100_000),
        ("str:int:4", 10_000_000),
    ] {
        c(v(&["EXPIRE", key, &ttl.to_string()]));
    }
    c(v(&["SELECT", "1"]));
    let mut ints = v(&["SADD", "set:ints"]);
    ints.extend((0..50).map(|i| i.to_string().into_bytes()));
    c(ints);
    c(v(&["SADD", "set:small", "a", "b", "c"]));
    let mut big = v(&["SADD", "set:big"]);
    big.extend((0..12_000).map(|i| format!("member-{i}").into_bytes()));
    c(big);
    c(v(&["ZADD", "zset:small", "1", "a", "2", "b", "3", "c"]));
    let mut z = v(&["ZADD", "zset:big"]);
    for i in 0..300 {
        z.push(i.to_string().into_bytes());
        z.push(format!("m{i}").into_bytes());
    }
    c(z);
    c(v(&["HSET", "hash:small", "f1", "v1", "f2", "v2"]));
    let mut h = v(&["HSET", "hash:big"]);
    for i in 0..1000 {
        h.push(format!("field{i}").into_bytes());
        h.push(format!("value{i}").into_bytes());
    }
    c(h);
    c(v(&["EXPIRE", "hash:small", "5000"]));
    c(v(&["SELECT", "2"]));
    for i in 0..10 {
        c(v(&["XADD", "stream:1", "*", "n", &i.to_string()]));
    }
    s.pipeline(&p);
    // One key already expired when the snapshot is taken: with active expiry off it
    // stays in the dict and SAVE writes it.
    s.oks(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    s.oks(&["SELECT", "0"]);
    s.oks(&["SET", "gone:1", "x", "PX", "1"]);
    // ctime has whole seconds: let a second boundary pass so the expiry lies before it.
    std::thread::sleep(std::time::Duration::from_millis(1100));
}

fn keyspace(s: &mut Server) -> BTreeMap<u64, (u64, u64)> {
    let info = s.oks(&["INFO", "keyspace"]).text();
    let mut m = BTreeMap::new();
    for line in info.lines() {
        let Some((db, rest)) = line.trim().split_once(':') else {
            continue;
        };
        let Some(db) = db.strip_prefix("db").and_then(|d| d.parse().ok()) else {
            continue;
        };
        let field = |name: &str| {
            rest.split(',')
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
                .unwrap_or(0)
        };
        m.insert(db, (field("keys"), field("expires")));
    }
    m
}

/// Fills a server, saves, and reads the truth back; returns the dump's path.
fn prepare(s: &mut Server) -> (PathBuf, Truth) {
    fill(s);
    let keyspace = keyspace(s);
    s.save();
    let path = s.rdb_path();
    let mut types = BTreeMap::new();
    let mut keys = BTreeMap::new();
    let mut remaining = 0;
    for &db in keyspace.keys() {
        s.oks(&["SELECT", &db.to_string()]);
        let mut cursor = b"0".to_vec();
        loop {
            let r = cmd(s, &[b"SCAN", &cursor, b"COUNT", b"1000"]);
            let parts = r.array();
            cursor = parts[0].bytes();
            for k in parts[1].bulks() {
                let t = cmd(s, &[b"TYPE", &k]).text();
                let (len_cmd, enc): (&[u8], _) = match t.as_str() {
                    "string" => (b"STRLEN", cmd(s, &[b"OBJECT", b"ENCODING", &k]).text()),
                    "list" => (b"LLEN", String::new()),
                    "set" => (b"SCARD", String::new()),
                    "zset" => (b"ZCARD", String::new()),
                    "hash" => (b"HLEN", String::new()),
                    "stream" => (b"XLEN", String::new()),
                    other => panic!("unexpected type {other}"),
                };
                let n = cmd(s, &[len_cmd, &k]).int() as u64;
                *types.entry((db, t.clone())).or_insert(0) += 1;
                keys.insert((db, k), (t, n, enc));
            }
            if cursor == b"0" {
                break;
            }
        }
        remaining += s.oks(&["DBSIZE"]).int() as u64;
    }
    let before: u64 = keyspace.values().map(|v| v.0).sum();
    let truth = Truth {
        keyspace,
        types,
        keys,
        expired: before - remaining,
    };
    (path, truth)
}

fn json_of(args: &[&str]) -> Value {
    let out = rdbkit(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// The key of a JSON row: its bytes (UTF-8 text or base64).
fn key_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Object(o) => decode_base64(o["base64"].as_str().expect("base64")),
        _ => panic!("odd key {v}"),
    }
}

fn decode_base64(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let vals: Vec<u32> = s
        .bytes()
        .filter(|&b| b != b'=')
        .map(|b| A.iter().position(|&a| a == b).expect("base64 char") as u32)
        .collect();
    let mut out = Vec::new();
    for c in vals.chunks(4) {
        let n = c
            .iter()
            .enumerate()
            .fold(0, |n, (i, v)| n | v << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..c.len()]);
    }
    out
}

fn check_against_server(name: &str, path: &Path, t: &Truth) {
    let p = path.display().to_string();
    let doc = json_of(&["stats", "--format", "json", &p]);
    let f = &doc["files"][0];
    assert_eq!(f["status"], "ok", "{name}");
    let s = &f["stats"];
    // per db: keys and expires as INFO keyspace said before SAVE
    let mut dbs = BTreeMap::new();
    for d in s["dbs"].as_array().unwrap() {
        dbs.insert(
            d["db"].as_u64().unwrap(),
            (d["keys"].as_u64().unwrap(), d["expires"].as_u64().unwrap()),
        );
    }
    assert_eq!(dbs, t.keyspace, "{name}: per-db (keys, expires)");
    assert_eq!(
        s["totals"]["already_expired"], t.expired,
        "{name}: already expired"
    );
    assert_eq!(
        t.expired, 1,
        "{name}: the test meant to leave one expired key"
    );
    assert_eq!(s["ttl"]["expired"], t.expired, "{name}: TTL class expired");
    // per (db, type), without the keys the server dropped as expired
    let live = json_of(&["stats", "--format", "json", "--expired", "exclude", &p]);
    let mut types = BTreeMap::new();
    for e in live["files"][0]["stats"]["encodings"].as_array().unwrap() {
        *types
            .entry((
                e["db"].as_u64().unwrap(),
                e["type"].as_str().unwrap().to_string(),
            ))
            .or_insert(0) += e["keys"].as_u64().unwrap();
    }
    assert_eq!(types, t.types, "{name}: keys per (db, type) vs SCAN + TYPE");
    // every key: type, elements, string encoding
    let out = rdbkit(&["keys", "--format", "jsonl", "--expired", "exclude", &p]);
    assert_eq!(out.status.code(), Some(0), "{name}");
    let mut seen = 0;
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        let k = (r["db"].as_u64().unwrap(), key_bytes(&r["key"]));
        let (ty, n, enc) = t
            .keys
            .get(&k)
            .unwrap_or_else(|| panic!("{name}: key {k:?} not on the server"));
        assert_eq!(r["type"], ty.as_str(), "{name}: type of {k:?}");
        assert_eq!(r["elements"], *n, "{name}: elements of {k:?}");
        if ty == "string" {
            assert_eq!(r["encoding"], enc.as_str(), "{name}: encoding of {k:?}");
        }
        assert!(r["memory"].as_u64().unwrap() > 0);
        seen += 1;
    }
    assert_eq!(seen, t.keys.len(), "{name}: keys listed");
    // big keys: the 1.1 MB string and the 12000-member set
    assert_eq!(s["big_keys"]["count"], 2, "{name}: big keys");
    let top = &s["top_by_elements"][0];
    assert_eq!(top["key"], "big:string", "{name}");
    // prefixes: exact, `str` holds 120 keys (+ the str:int TTL ones are the same keys)
    let pre = &s["prefixes"];
    assert_eq!(pre["exact"], true);
    let str_row = pre["top"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["prefix"] == "str")
        .unwrap();
    assert_eq!(str_row["keys"], 120, "{name}: keys under str:");
    assert_eq!(str_row["memory_error"], 0);
}

/// Counts per db and type, elements and string encodings agree with real servers.
#[test]
fn counts_agree_with_real_servers() {
    let names = ["redis-7.0.15", "redis-8.0.2", "valkey-9.1.2"];
    let missing = not_installed(&names);
    crate::require!(missing.is_empty(), "servers not installed: {missing:?}");
    std::thread::scope(|sc| {
        for name in names {
            sc.spawn(move || {
                let mut s =
                    Server::start(name, &["--enable-debug-command", "yes"]).expect("installed");
                let (path, truth) = prepare(&mut s);
                check_against_server(name, &path, &truth);
            });
        }
    });
}

/// One server dump shared by the format, filter, multi-file and HTML tests.
fn dump(dir: &Path, name: &str) -> Option<PathBuf> {
    let mut s = Server::start("redis-7.0.15", &["--enable-debug-command", "yes"])?;
    fill(&mut s);
    s.save();
    let to = dir.join(name);
    std::fs::copy(s.rdb_path(), &to).unwrap();
    Some(to)
}

#[test]
fn formats_filters_and_several_files() {
    let dir = tempfile::tempdir().unwrap();
    let Some(a) = dump(dir.path(), "a.rdb") else {
        crate::require!(false, "redis-7.0.15 is not installed");
        return;
    };
    let b = dir.path().join("b.rdb");
    std::fs::copy(&a, &b).unwrap();
    let (a, b) = (a.display().to_string(), b.display().to_string());

    // table: readable sections
    let out = rdbkit(&["stats", &a]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for section in [
        "Keys per db",
        "Types and encodings",
        "Biggest keys by estimated memory",
        "Top prefixes (exact)",
        "TTL",
        "Elements per key",
        "Big keys",
    ] {
        assert!(text.contains(section), "missing {section}:\n{text}");
    }
    assert!(
        text.contains("warning: string key \"big:string\" (db 0): 1100000 bytes"),
        "{text}"
    );

    // csv: a header and rows of 10 fields that add up to the JSON totals
    let out = rdbkit(&["stats", "--format", "csv", &a]);
    let csv = String::from_utf8(out.stdout).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next().unwrap().split(',').count(), 10);
    let keys: u64 = lines
        .map(|l| l.split(',').nth(4).unwrap().parse::<u64>().unwrap())
        .sum();
    let one = json_of(&["stats", "--format", "json", &a]);
    assert_eq!(
        keys,
        one["files"][0]["stats"]["totals"]["keys"].as_u64().unwrap()
    );
    assert!(one["aggregate"].is_null());

    // several files: per file and aggregated
    let two = json_of(&["stats", "--format", "json", &a, &b]);
    assert_eq!(two["files"].as_array().unwrap().len(), 2);
    let t1 = &one["files"][0]["stats"]["totals"];
    let agg = &two["aggregate"]["stats"]["totals"];
    for field in ["keys", "expires", "elements", "serialized_bytes", "memory"] {
        assert_eq!(
            agg[field].as_u64().unwrap(),
            2 * t1[field].as_u64().unwrap(),
            "{field}"
        );
    }
    let top = &two["aggregate"]["stats"]["top_by_memory"];
    assert_eq!(top[0]["key"], "big:string");
    assert_eq!(top[1]["key"], "big:string", "both files' copies rank first");

    // keys: csv filters and binary-safe fields
    let out = rdbkit(&["keys", "--type", "hash", "--db", "1", &a]);
    let csv = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(rows.iter().all(|r| r.starts_with("1,hash:")), "{csv}");
    let out = rdbkit(&["keys", "--match", "str:int:*", "--min-memory", "1", &a]);
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 41);
    let out = rdbkit(&["keys", "--min-memory", "1000000", &a]);
    let csv = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        csv.lines().nth(1).map(|l| l.split(',').nth(1).unwrap()),
        Some("big:string"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 2, "{csv}");
    let out = rdbkit(&["keys", "--regex", "^bin,", &a]);
    let want = b"0,\"bin,\"\"\n\xff\x00:tail\",string,embstr,".to_vec();
    assert!(
        out.stdout.windows(want.len()).any(|w| w == want.as_slice()),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    // jsonl: binary keys as base64
    let out = rdbkit(&["keys", "--format", "jsonl", "--regex", "^bin,", &a]);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(key_bytes(&r["key"]), BINARY);
    assert!(r["key"]["base64"].is_string());
}

#[test]
fn truncated_file_reports_up_to_the_damage() {
    let dir = tempfile::tempdir().unwrap();
    let Some(a) = dump(dir.path(), "a.rdb") else {
        crate::require!(false, "redis-7.0.15 is not installed");
        return;
    };
    let data = std::fs::read(&a).unwrap();
    let cut = dir.path().join("cut.rdb");
    std::fs::write(&cut, &data[..data.len() * 2 / 3]).unwrap();
    let cut_s = cut.display().to_string();
    let out = rdbkit(&["stats", "--format", "json", &cut_s]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with(&format!("rdbkit: {cut_s}: truncated at byte ")),
        "{err}"
    );
    assert!(err.contains(" key \""), "names the key: {err}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &v["files"][0];
    assert_eq!(f["status"], "truncated");
    // exactly the keys before the damage, as verify counts them
    let verify = rdbkit(&["verify", "--json", &cut_s]);
    let vr: Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert_eq!(f["stats"]["totals"]["keys"], vr["error"]["keys_before"]);
    assert!(f["stats"]["totals"]["keys"].as_u64().unwrap() > 0);
    // keys: rows up to the damage, then exit 1 (JSON lines: one key per line)
    let out = rdbkit(&["keys", "--format", "jsonl", &cut_s]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count() as u64,
        vr["error"]["keys_before"].as_u64().unwrap()
    );
    // a file that is not there: exit 2
    assert_eq!(
        rdbkit(&["stats", "/nonexistent/x.rdb"]).status.code(),
        Some(2)
    );
}

/// `-` reads the file from standard input: the same statistics and rows as from the
/// path, and a cut stream stops at the damage with exit 1.
#[test]
fn standard_input_matches_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let Some(a) = dump(dir.path(), "a.rdb") else {
        crate::require!(false, "redis-7.0.15 is not installed");
        return;
    };
    let data = std::fs::read(&a).unwrap();
    let a_s = a.display().to_string();
    let args = ["stats", "--format", "json", "--now", "1700000000"];
    let from_path = rdbkit(&[&args[..], &[a_s.as_str()]].concat());
    let from_stdin = rdbkit_stdin(&[&args[..], &["-"]].concat(), &data);
    assert_eq!(from_stdin.status.code(), Some(0), "{from_stdin:?}");
    let (mut p, mut s): (Value, Value) = (
        serde_json::from_slice(&from_path.stdout).unwrap(),
        serde_json::from_slice(&from_stdin.stdout).unwrap(),
    );
    assert_eq!(s["files"][0]["path"], "-");
    assert_eq!(s["files"][0]["bytes"], data.len() as u64);
    p["files"][0]["path"] = Value::Null;
    s["files"][0]["path"] = Value::Null;
    assert_eq!(p, s);
    for format in ["csv", "jsonl"] {
        let path_rows = rdbkit(&["keys", "--format", format, &a_s]);
        let stdin_rows = rdbkit_stdin(&["keys", "--format", format, "-"], &data);
        assert_eq!(stdin_rows.status.code(), Some(0));
        assert!(stdin_rows.stdout.len() > 1000);
        assert_eq!(path_rows.stdout, stdin_rows.stdout, "{format}");
    }
    // cut: the keys before the damage, exit 1, the offset in the message
    let cut = &data[..data.len() / 2];
    let out = rdbkit_stdin(&["keys", "--format", "jsonl", "-"], cut);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("rdbkit: -: truncated at byte "), "{err}");
    let path_rows = rdbkit(&["keys", "--format", "jsonl", &a_s]).stdout;
    let got = String::from_utf8_lossy(&out.stdout).lines().count();
    assert!(got > 0 && got < String::from_utf8_lossy(&path_rows).lines().count());
    let out = rdbkit_stdin(&["stats", "-"], cut);
    assert_eq!(out.status.code(), Some(1));
}

/// The HTML report renders in headless Chromium: the page's script marks the body
/// once every chart is drawn, no script error is recorded, and the hostile key is
/// shown as text (no element injected).
#[test]
fn html_report_renders_in_chromium() {
    let chromium = ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    crate::require!(
        chromium.is_some(),
        "chromium is not installed (apt-get install -y chromium)"
    );
    let dir = tempfile::tempdir().unwrap();
    let Some(a) = dump(dir.path(), "a.rdb") else {
        crate::require!(false, "redis-7.0.15 is not installed");
        return;
    };
    let html = dir.path().join("report.html");
    let out = rdbkit(&[
        "stats",
        "--html",
        &html.display().to_string(),
        &a.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let page = std::fs::read_to_string(&html).unwrap();
    for remote in [
        "src=\"http",
        "href=\"http",
        "src='http",
        "@import",
        "url(http",
    ] {
        assert!(!page.contains(remote), "remote load {remote}");
    }
    assert!(
        !page.contains("</script><img"),
        "hostile key left unescaped"
    );
    let out = Command::new(chromium.unwrap())
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("data-rendered=\"ok\""),
        "charts not rendered: {}\n{}",
        &dom[..dom.len().min(3000)],
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !dom.contains("data-render-error=\""),
        "script error in the page"
    );
    assert!(
        dom.contains("&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"),
        "hostile key shown as text"
    );
    assert!(!dom.contains("<img"), "an element was injected");
    for id in ["chart-types", "chart-ttl", "chart-prefixes"] {
        let at = dom.find(&format!("id=\"{id}\"")).unwrap();
        assert!(
            dom[at..]
                .trim_start_matches(|c| c != '>')
                .get(..300)
                .unwrap_or("")
                .contains("<svg"),
            "{id} has no chart"
        );
    }
}
