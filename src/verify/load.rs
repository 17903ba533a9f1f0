//! `verify --load`: proof that a backup restores. Starts a throwaway server on a unix
//! socket in a temp dir (no TCP port, persistence off), lets it load the file, compares
//! its keyspace with what the file holds, and reports the server's own error line when it
//! refuses. The user's file is never opened for writing: an RDB is linked read-only into
//! the temp dir, AOF files are copied (a server may truncate or append to an AOF).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::Report;
use crate::rdb::{Checker, RdbReader, Record};

/// Where and how long.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// redis-server / valkey-server; `None` looks for `redis-server`, then `valkey-server`
    /// on PATH.
    pub server: Option<PathBuf>,
    /// Longest wait for the server to finish loading.
    pub timeout: Duration,
}

/// The outcome, added to the file's report as `load`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LoadOutcome {
    /// `loads`, `does_not_load`, `version_mismatch`, `keyspace_differs`, or `error`
    /// (no server, timeout, cannot start).
    pub verdict: &'static str,
    pub ok: bool,
    pub server: String,
    /// `redis 7.0.15` from `--version`.
    pub server_version: Option<String>,
    /// The newest RDB version that server reads, when known from its version.
    pub server_rdb_version: Option<u32>,
    /// The server's own error line from its log, or what went wrong around it.
    pub message: Option<String>,
    /// Start to verdict, milliseconds.
    pub millis: u64,
    /// Keys per db as the loaded server counts them (INFO keyspace).
    pub dbs: BTreeMap<String, u64>,
    /// Keys per type over all dbs (SCAN TYPE; servers 6.0+).
    pub types: Option<BTreeMap<String, u64>>,
    /// `DEBUG DIGEST` of the loaded dataset, for the record.
    pub digest: Option<String>,
    /// How the loaded keyspace differs from the file's (RDB inputs only).
    pub differences: Vec<String>,
}

/// Removes the temp dir and stops the server on every way out (errors, panics).
struct Guard {
    child: Option<Child>,
    socket: PathBuf,
    dir: Option<tempfile::TempDir>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Ok(mut conn) = Conn::open(&self.socket, Duration::from_secs(2)) {
                let _ = conn.send(&[b"SHUTDOWN", b"NOSAVE"]);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(d) = self.dir.take() {
            crate::verify::load::forget_dir(d.path());
            let _ = d.close();
        }
    }
}

/// Temp dirs of servers still running, removed by the Ctrl-C handler.
static LIVE: std::sync::Mutex<Vec<(PathBuf, u32)>> = std::sync::Mutex::new(Vec::new());

fn forget_dir(dir: &Path) {
    if let Ok(mut v) = LIVE.lock() {
        v.retain(|(d, _)| d != dir);
    }
}

/// Installs a Ctrl-C handler that stops running servers and removes their temp dirs
/// before exiting with 130.
pub fn install_interrupt_cleanup() {
    let _ = ctrlc::set_handler(|| {
        if let Ok(v) = LIVE.lock() {
            for (dir, pid) in v.iter() {
                let _ = Command::new("kill").arg(pid.to_string()).status();
                std::thread::sleep(Duration::from_millis(100));
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        std::process::exit(130);
    });
}

/// A blocking RESP2 connection over the unix socket.
struct Conn {
    r: BufReader<UnixStream>,
    w: UnixStream,
}

#[derive(Debug)]
enum Reply {
    Nil,
    Int(i64),
    Text(Vec<u8>),
    Error(String),
    Array(Vec<Reply>),
}

impl Reply {
    fn text(&self) -> String {
        match self {
            Reply::Text(b) => String::from_utf8_lossy(b).into_owned(),
            Reply::Int(i) => i.to_string(),
            Reply::Error(e) => e.clone(),
            _ => String::new(),
        }
    }
}

impl Conn {
    fn open(socket: &Path, timeout: Duration) -> std::io::Result<Conn> {
        let s = UnixStream::connect(socket)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        Ok(Conn {
            w: s.try_clone()?,
            r: BufReader::new(s),
        })
    }

    fn send(&mut self, args: &[&[u8]]) -> std::io::Result<()> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.w.write_all(&out)
    }

    fn cmd(&mut self, args: &[&str]) -> std::io::Result<Reply> {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.send(&a)?;
        self.reply()
    }

    fn reply(&mut self) -> std::io::Result<Reply> {
        let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
        let mut line = Vec::new();
        self.r.read_until(b'\n', &mut line)?;
        if line.len() < 3 {
            return Err(bad("connection closed"));
        }
        let body = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        let num = || body.parse::<i64>().map_err(|_| bad("bad length"));
        Ok(match line[0] {
            b'+' => Reply::Text(body.into_bytes()),
            b'-' => Reply::Error(body),
            b':' => Reply::Int(num()?),
            b'$' => {
                let n = num()?;
                if n < 0 {
                    return Ok(Reply::Nil);
                }
                if n > 512 << 20 {
                    return Err(bad("bulk reply too long"));
                }
                let mut b = vec![0; n as usize + 2];
                self.r.read_exact(&mut b)?;
                b.truncate(n as usize);
                Reply::Text(b)
            }
            b'*' => {
                let n = num()?;
                if n < 0 {
                    return Ok(Reply::Nil);
                }
                let mut v = Vec::with_capacity(n.min(1 << 16) as usize);
                for _ in 0..n {
                    v.push(self.reply()?);
                }
                Reply::Array(v)
            }
            _ => return Err(bad("not a RESP reply")),
        })
    }
}

/// `redis-server` or `valkey-server` on PATH.
fn find_on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["redis-server", "valkey-server"].iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// `("redis", (7, 0, 15))` from `Redis server v=7.0.15 sha=...`.
fn server_version(bin: &Path) -> Option<(String, (u32, u32, u32))> {
    let out = Command::new(bin).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let product = text.split_whitespace().next()?.to_ascii_lowercase();
    let v = text.split_whitespace().find_map(|w| w.strip_prefix("v="))?;
    let mut it = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let ver = (it.next()?, it.next().unwrap_or(0), it.next().unwrap_or(0));
    Some((product, ver))
}

/// The newest RDB version a server release reads (from the servers' `RDB_VERSION`).
pub fn supported_rdb_version(product: &str, (major, minor, _): (u32, u32, u32)) -> Option<u32> {
    Some(match (product, major, minor) {
        ("valkey", 9.., _) => 80,
        ("valkey", 7 | 8, _) => 11,
        ("redis", 2, 6 | 8) => 6,
        ("redis", 3, _) => 7,
        ("redis", 4, _) => 8,
        ("redis", 5 | 6, _) => 9,
        ("redis", 7, 0) => 10,
        ("redis", 7, 2) => 11,
        ("redis", 7, 4) | ("redis", 8, 0..=4) => 12,
        ("redis", 8, 6..) => 13,
        _ => return None,
    })
}

/// What the server found wrong, from its log: the first warning line that names a load
/// failure, else the last warning line.
fn error_line(log: &str) -> Option<String> {
    let warnings: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split_once(" # ").map(|(_, m)| m.trim()))
        .filter(|m| !m.starts_with("WARNING") && !m.contains("oO0OoO0OoO0Oo"))
        .filter(|m| !m.starts_with("Warning: no config file"))
        .collect();
    const FAILURE: &[&str] = &[
        "Can't handle",
        "Short read",
        "Bad file format",
        "Wrong RDB checksum",
        "Internal error",
        "Bad ",
        "Unexpected",
        "corrupt",
        "Unrecoverable",
        "Fatal",
        "error",
        "Error",
    ];
    warnings
        .iter()
        .find(|m| FAILURE.iter().any(|f| m.contains(f)))
        .or(warnings.last())
        .map(|m| m.to_string())
        .or_else(|| {
            log.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim().to_string())
        })
}

/// Key counts of an RDB as a master loading it at `at_ms` keeps them (expired keys are
/// dropped on load): per db and per type.
#[derive(Default, Debug)]
struct Counts {
    dbs: BTreeMap<u64, u64>,
    types: BTreeMap<&'static str, u64>,
}

/// Counts with keys expiring before `at_ms` left out (one fast pass, no deep checks).
fn rdb_counts(data: &[u8], at_ms: i64) -> Option<Counts> {
    let mut r = RdbReader::new(data, Checker::new(false)).ok()?;
    let mut c = Counts::default();
    while let Ok(Some(rec)) = r.next_record() {
        match rec {
            Record::Key(k) if k.expire_ms.is_none_or(|e| e >= at_ms) => {
                *c.dbs.entry(k.db.unwrap_or(0)).or_default() += 1;
                *c.types.entry(k.info.kind.name()).or_default() += 1;
            }
            Record::Eof => return Some(c),
            _ => {}
        }
    }
    None
}

/// `db0:keys=3,expires=1,avg_ttl=0` lines → keys per db.
fn parse_keyspace(info: &str) -> BTreeMap<u64, u64> {
    info.lines()
        .filter_map(|l| {
            let (db, rest) = l.trim().split_once(':')?;
            let db: u64 = db.strip_prefix("db")?.parse().ok()?;
            let keys = rest
                .split(',')
                .find_map(|kv| kv.strip_prefix("keys="))?
                .parse()
                .ok()?;
            Some((db, keys))
        })
        .collect()
}

const TYPES: &[&str] = &["string", "list", "set", "zset", "hash", "stream"];

/// Keys per type over the given dbs, by `SCAN ... TYPE` (6.0+).
fn scan_types(conn: &mut Conn, dbs: &[u64]) -> std::io::Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for db in dbs {
        conn.cmd(&["SELECT", &db.to_string()])?;
        for t in TYPES {
            let mut cursor = "0".to_string();
            loop {
                let r = conn.cmd(&["SCAN", &cursor, "COUNT", "1000", "TYPE", t])?;
                let Reply::Array(parts) = r else {
                    return Err(std::io::Error::other(format!("SCAN: {}", r.text())));
                };
                let (Some(next), Some(Reply::Array(keys))) = (parts.first(), parts.get(1)) else {
                    return Err(std::io::Error::other("SCAN: unexpected reply"));
                };
                if !keys.is_empty() {
                    *out.entry(t.to_string()).or_default() += keys.len() as u64;
                }
                cursor = next.text();
                if cursor == "0" {
                    break;
                }
            }
        }
    }
    Ok(out)
}

/// Where the input goes in the temp dir and which server flags point at it.
fn stage(path: &Path, report: &Report, dir: &Path) -> std::io::Result<Vec<String>> {
    let abs = std::fs::canonicalize(path)?;
    let s = |x: &str| x.to_string();
    match report.format {
        "aof-multipart" => {
            let layout = crate::aof::verify::layout(&abs)?;
            let copy = dir.join("appendonlydir");
            std::fs::create_dir(&copy)?;
            for e in std::fs::read_dir(&layout.dir)? {
                let e = e?;
                if e.file_type()?.is_file() {
                    std::fs::copy(e.path(), copy.join(e.file_name()))?;
                }
            }
            let manifest = layout
                .manifest
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let name = manifest.strip_suffix(".manifest").unwrap_or(&manifest);
            Ok(vec![
                s("--appendonly"),
                s("yes"),
                s("--appenddirname"),
                s("appendonlydir"),
                s("--appendfilename"),
                name.to_string(),
            ])
        }
        "aof" => {
            std::fs::copy(&abs, dir.join("appendonly.aof"))?;
            Ok(vec![
                s("--appendonly"),
                s("yes"),
                s("--appendfilename"),
                s("appendonly.aof"),
            ])
        }
        _ => {
            std::os::unix::fs::symlink(&abs, dir.join("dump.rdb"))?;
            Ok(vec![
                s("--appendonly"),
                s("no"),
                s("--dbfilename"),
                s("dump.rdb"),
            ])
        }
    }
}

/// Loads `path` (already verified into `report`) into a throwaway server.
pub fn load(path: &Path, report: &Report, opts: &LoadOptions) -> LoadOutcome {
    let started = Instant::now();
    let mut out = LoadOutcome {
        verdict: "error",
        ..LoadOutcome::default()
    };
    let result = run(path, report, opts, &mut out);
    if let Err(e) = result {
        out.verdict = "error";
        out.ok = false;
        out.message = Some(e);
    }
    out.millis = started.elapsed().as_millis() as u64;
    out
}

fn run(
    path: &Path,
    report: &Report,
    opts: &LoadOptions,
    out: &mut LoadOutcome,
) -> Result<(), String> {
    let bin = opts
        .server
        .clone()
        .or_else(find_on_path)
        .ok_or("no redis-server or valkey-server on PATH (use --server BINARY)")?;
    out.server = bin.display().to_string();
    let (product, version) = server_version(&bin)
        .ok_or_else(|| format!("{}: cannot read its --version", bin.display()))?;
    out.server_version = Some(format!(
        "{product} {}.{}.{}",
        version.0, version.1, version.2
    ));
    out.server_rdb_version = supported_rdb_version(&product, version);
    if path.as_os_str() == "-" {
        return Err("standard input cannot be loaded (give a file)".into());
    }
    let dir = tempfile::Builder::new()
        .prefix("rdbkit-load-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    let socket = dir.path().join("s.sock");
    let log = dir.path().join("server.log");
    let mut args = stage(path, report, dir.path()).map_err(|e| format!("staging: {e}"))?;
    for a in [
        "--port",
        "0",
        "--save",
        "",
        "--daemonize",
        "no",
        "--aof-load-truncated",
        "no",
    ] {
        args.push(a.to_string());
    }
    args.extend([
        "--dir".to_string(),
        dir.path().display().to_string(),
        "--unixsocket".to_string(),
        socket.display().to_string(),
        "--logfile".to_string(),
        log.display().to_string(),
    ]);
    if product == "valkey" || version.0 >= 7 {
        args.extend(["--enable-debug-command".to_string(), "yes".to_string()]);
    }
    let mut guard = Guard {
        child: None,
        socket: socket.clone(),
        dir: None,
    };
    let child = Command::new(&bin)
        .args(&args)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: cannot start: {e}", bin.display()))?;
    if let Ok(mut v) = LIVE.lock() {
        v.push((dir.path().to_path_buf(), child.id()));
    }
    guard.child = Some(child);
    guard.dir = Some(dir);
    let t0_ms = now_ms();
    let deadline = Instant::now() + opts.timeout;
    let mut conn = loop {
        if let Some(c) = guard.child.as_mut() {
            if let Ok(Some(status)) = c.try_wait() {
                guard.child = None;
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let line = error_line(&text)
                    .unwrap_or_else(|| format!("exited ({status}) without a log line"));
                out.verdict = if line.contains("Can't handle RDB format version") {
                    "version_mismatch"
                } else {
                    "does_not_load"
                };
                if out.verdict == "version_mismatch" {
                    out.message = Some(format!(
                        "{line} (the file is RDB {}, {} reads up to RDB {}): not a broken backup, load it with a newer server",
                        report.rdb_version.map_or("?".into(), |v| v.to_string()),
                        out.server_version.clone().unwrap_or_default(),
                        out.server_rdb_version.map_or("?".into(), |v| v.to_string()),
                    ));
                } else {
                    out.message = Some(line);
                }
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the server did not finish loading within {} s",
                opts.timeout.as_secs()
            ));
        }
        if let Ok(mut c) = Conn::open(&socket, Duration::from_secs(10)) {
            match c.cmd(&["PING"]) {
                Ok(Reply::Text(t)) if t == b"PONG" => break c,
                _ => {}
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let info = conn.cmd(&["INFO", "keyspace"]).map_err(|e| e.to_string())?;
    let dbs = parse_keyspace(&info.text());
    out.dbs = dbs.iter().map(|(d, k)| (d.to_string(), *k)).collect();
    if let Ok(Reply::Text(d)) = conn.cmd(&["DEBUG", "DIGEST"]) {
        out.digest = Some(String::from_utf8_lossy(&d).into_owned());
    }
    if product == "valkey" || version.0 >= 6 {
        let list: Vec<u64> = dbs.keys().copied().collect();
        out.types = Some(scan_types(&mut conn, &list).map_err(|e| e.to_string())?);
    }
    let t1_ms = now_ms();
    out.verdict = "loads";
    out.ok = true;
    if report.format == "rdb" {
        out.differences = compare(path, out, t0_ms, t1_ms);
        if !out.differences.is_empty() {
            out.verdict = "keyspace_differs";
            out.ok = false;
        }
    }
    drop(conn);
    drop(guard);
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The server's counts must lie between the file's counts at the end of the load (more
/// keys expired) and at its start: keys expiring meanwhile may or may not be there.
fn compare(path: &Path, out: &LoadOutcome, t0_ms: i64, t1_ms: i64) -> Vec<String> {
    let Ok(src) = crate::source::Source::open(path, true) else {
        return vec!["cannot re-read the file to compare".into()];
    };
    let (Some(most), Some(least)) = (
        rdb_counts(src.bytes(), t0_ms),
        rdb_counts(src.bytes(), t1_ms),
    ) else {
        return vec!["cannot count the file's keys to compare".into()];
    };
    let mut diffs = Vec::new();
    let mut all_dbs: Vec<u64> = most.dbs.keys().copied().collect();
    all_dbs.extend(out.dbs.keys().filter_map(|d| d.parse::<u64>().ok()));
    all_dbs.sort();
    all_dbs.dedup();
    for db in all_dbs {
        let got = out.dbs.get(&db.to_string()).copied().unwrap_or(0);
        let (lo, hi) = (
            least.dbs.get(&db).copied().unwrap_or(0),
            most.dbs.get(&db).copied().unwrap_or(0),
        );
        if got < lo || got > hi {
            diffs.push(format!(
                "db {db}: the server has {got} keys, the file {}",
                range(lo, hi)
            ));
        }
    }
    if let Some(types) = &out.types {
        for t in TYPES {
            let got = types.get(*t).copied().unwrap_or(0);
            let (lo, hi) = (
                least.types.get(t).copied().unwrap_or(0),
                most.types.get(t).copied().unwrap_or(0),
            );
            if got < lo || got > hi {
                diffs.push(format!(
                    "type {t}: the server has {got} keys, the file {}",
                    range(lo, hi)
                ));
            }
        }
    }
    diffs
}

fn range(lo: u64, hi: u64) -> String {
    if lo == hi {
        format!("{lo} (not yet expired)")
    } else {
        format!("{lo}..{hi} (some expire during the load)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_log_error_lines() {
        let log = "1:C 25 Nov 2026 02:00:00.000 # WARNING overcommit_memory is set to 0!\n\
                   1:M 25 Nov 2026 02:00:00.001 * Server initialized\n\
                   1:M 25 Nov 2026 02:00:00.002 # Can't handle RDB format version 12\n\
                   1:M 25 Nov 2026 02:00:00.002 # Fatal error loading the DB, check server logs. Exiting.\n";
        assert_eq!(
            error_line(log).as_deref(),
            Some("Can't handle RDB format version 12")
        );
        assert_eq!(
            parse_keyspace("# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=0\r\ndb5:keys=1,expires=0,avg_ttl=0\r\n"),
            BTreeMap::from([(0, 3), (5, 1)])
        );
        assert_eq!(supported_rdb_version("redis", (7, 0, 15)), Some(10));
        assert_eq!(supported_rdb_version("valkey", (9, 1, 2)), Some(80));
    }
}
