//! Real Redis/Valkey servers for the integration tests, started with
//! `../shared/servers/start.sh` (see `../shared/servers/README.md`), and a tiny blocking
//! RESP2 client to talk to them.
//!
//! Every server runs on a free loopback port picked by `start.sh`, in its own temp dir, so
//! tests can run in parallel. `Drop` shuts the server down (`SHUTDOWN NOSAVE`, then a
//! kill if it lingers), waits for the process to exit and removes the dir.
#![allow(dead_code)]

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::shared_dir;

/// Where `install.sh` put the servers.
pub fn servers_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("RDBKIT_SERVERS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").unwrap_or_default();
    Path::new(&home).join(".cache/rdbkit-servers")
}

/// One row of `servers.tsv`.
#[derive(Clone, Debug)]
pub struct Installed {
    pub name: String,
    pub version: String,
    pub rdb_header: String,
    pub server: PathBuf,
}

/// The rows of `servers.tsv` (empty when nothing is installed).
pub fn installed_rows() -> Vec<Installed> {
    let Ok(text) = std::fs::read_to_string(servers_dir().join("servers.tsv")) else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (c.len() >= 4).then(|| Installed {
                name: c[0].to_string(),
                version: c[1].to_string(),
                rdb_header: c[2].to_string(),
                server: PathBuf::from(c[3]),
            })
        })
        .collect()
}

/// Names of the installed server versions (`redis-7.0.15`, `valkey-9.1.2`, ...).
pub fn installed() -> Vec<String> {
    installed_rows().into_iter().map(|r| r.name).collect()
}

/// Whether the server `name` (e.g. `redis-7.4.1`) is installed.
pub fn is_installed(name: &str) -> bool {
    installed().iter().any(|n| n == name)
}

/// Those of `names` that are not installed.
pub fn not_installed<'a>(names: &[&'a str]) -> Vec<&'a str> {
    let have = installed();
    names
        .iter()
        .copied()
        .filter(|n| !have.iter().any(|h| h == n))
        .collect()
}

/// `"7.2.4"` → `(7, 2, 4)`; missing or odd parts are 0.
pub fn parse_version(v: &str) -> (u32, u32, u32) {
    let mut it = v
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap_or(0));
    (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    )
}

/// A RESP2 reply.
#[derive(Clone, PartialEq)]
pub enum Reply {
    Nil,
    Int(i64),
    Bulk(Vec<u8>),
    Array(Vec<Reply>),
    Status(String),
    Error(String),
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Nil => write!(f, "nil"),
            Reply::Int(i) => write!(f, "(integer) {i}"),
            Reply::Bulk(b) => write!(f, "\"{}\"", escape(b)),
            Reply::Array(a) => f.debug_list().entries(a).finish(),
            Reply::Status(s) => write!(f, "+{s}"),
            Reply::Error(e) => write!(f, "-{e}"),
        }
    }
}

impl Reply {
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
    /// Bulk or status bytes; panics otherwise.
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Reply::Bulk(b) => b.clone(),
            Reply::Status(s) => s.as_bytes().to_vec(),
            other => panic!("expected a bulk string, got {other:?}"),
        }
    }
    /// Bulk or status as (lossy) text; panics otherwise.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }
    /// An integer reply, or a bulk string holding an integer.
    pub fn int(&self) -> i64 {
        match self {
            Reply::Int(i) => *i,
            Reply::Bulk(b) => std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("not an integer: {self:?}")),
            other => panic!("expected an integer, got {other:?}"),
        }
    }
    /// The array's items; `Nil` is an empty array; panics otherwise.
    pub fn array(&self) -> &[Reply] {
        match self {
            Reply::Array(a) => a,
            Reply::Nil => &[],
            other => panic!("expected an array, got {other:?}"),
        }
    }
    /// A flat array of bulk strings.
    pub fn bulks(&self) -> Vec<Vec<u8>> {
        self.array().iter().map(Reply::bytes).collect()
    }
    /// A flat `[k1, v1, k2, v2, ...]` array (XINFO in RESP2) looked up by key.
    pub fn field(&self, name: &str) -> Option<&Reply> {
        let a = self.array();
        a.chunks(2)
            .find(|kv| kv.len() == 2 && matches!(&kv[0], Reply::Bulk(k) if k == name.as_bytes()))
            .map(|kv| &kv[1])
    }
}

/// Escapes bytes like redis-cli does, for messages.
pub fn escape(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

/// A blocking RESP2 connection.
pub struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    pub fn connect(port: u16) -> std::io::Result<Client> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        let w = s.try_clone()?;
        Ok(Client {
            r: BufReader::with_capacity(1 << 16, s),
            w,
        })
    }

    fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// Sends one command and reads its reply (error replies are `Reply::Error`, not `Err`).
    pub fn cmd(&mut self, args: &[&[u8]]) -> std::io::Result<Reply> {
        let mut out = Vec::new();
        Self::encode(&mut out, args);
        self.w.write_all(&out)?;
        self.read_reply()
    }

    /// Sends several commands at once and reads their replies in order.
    pub fn pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) -> std::io::Result<Vec<Reply>> {
        let mut out = Vec::new();
        for c in cmds {
            let args: Vec<&[u8]> = c.iter().map(|a| a.as_slice()).collect();
            Self::encode(&mut out, &args);
        }
        self.w.write_all(&out)?;
        cmds.iter().map(|_| self.read_reply()).collect()
    }

    fn line(&mut self) -> std::io::Result<Vec<u8>> {
        let mut l = Vec::new();
        self.r.read_until(b'\n', &mut l)?;
        if !l.ends_with(b"\r\n") {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("bad RESP line {:?}", escape(&l)),
            ));
        }
        l.truncate(l.len() - 2);
        Ok(l)
    }

    fn num(l: &[u8]) -> std::io::Result<i64> {
        std::str::from_utf8(l)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("bad RESP number {:?}", escape(l)),
                )
            })
    }

    pub fn read_reply(&mut self) -> std::io::Result<Reply> {
        let l = self.line()?;
        let (&t, rest) = l.split_first().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "empty RESP line")
        })?;
        Ok(match t {
            b'+' => Reply::Status(String::from_utf8_lossy(rest).into_owned()),
            b'-' => Reply::Error(String::from_utf8_lossy(rest).into_owned()),
            b':' => Reply::Int(Self::num(rest)?),
            b'$' => {
                let n = Self::num(rest)?;
                if n < 0 {
                    Reply::Nil
                } else {
                    let mut b = vec![0u8; n as usize + 2];
                    self.r.read_exact(&mut b)?;
                    if &b[n as usize..] != b"\r\n" {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            "bulk string without CRLF",
                        ));
                    }
                    b.truncate(n as usize);
                    Reply::Bulk(b)
                }
            }
            b'*' => {
                let n = Self::num(rest)?;
                if n < 0 {
                    Reply::Nil
                } else {
                    let mut a = Vec::with_capacity(n as usize);
                    for _ in 0..n {
                        a.push(self.read_reply()?);
                    }
                    Reply::Array(a)
                }
            }
            _ => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("unknown RESP type {:?}", escape(&l)),
                ))
            }
        })
    }
}

/// A running server started by `start.sh`; stopped and cleaned up on drop.
pub struct Server {
    pub port: u16,
    pub pid: u32,
    pub dir: PathBuf,
    pub name: String,
    pub version: (u32, u32, u32),
    client: Option<Client>,
}

impl Server {
    /// Starts `name` with extra server arguments. `None` if `name` is not in `servers.tsv`;
    /// panics if it is installed but does not start.
    pub fn start(name: &str, extra_args: &[&str]) -> Option<Server> {
        Server::try_start(name, extra_args).map(|r| r.unwrap_or_else(|e| panic!("{e}")))
    }

    /// [`Server::start`], with a server that does not start (e.g. refuses the RDB it
    /// was given) as an error carrying start.sh's message and the log's last lines.
    pub fn try_start(name: &str, extra_args: &[&str]) -> Option<Result<Server, String>> {
        let row = installed_rows().into_iter().find(|r| r.name == name)?;
        let script = shared_dir().join("servers/start.sh");
        let launch = || {
            Command::new("bash")
                .arg(&script)
                .arg(name)
                .args(extra_args)
                .env("RDBKIT_SERVERS_DIR", servers_dir())
                .output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()))
        };
        // start.sh retries a taken client port itself, but a cluster node also binds port+10000,
        // and when that one is taken the server's "aborting" can reach the log before start.sh
        // looks for "Address already in use"; another random port is all it needs.
        let mut out = launch();
        for _ in 0..5 {
            let taken = String::from_utf8_lossy(&out.stderr).contains("Address already in use");
            if out.status.success() || !taken {
                break;
            }
            out = launch();
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout.lines().last().unwrap_or("");
        let parts: Vec<&str> = line.split_whitespace().collect();
        if !out.status.success() || parts.len() != 3 {
            return Some(Err(format!(
                "start.sh {name} {extra_args:?} failed ({}): stdout {stdout:?} stderr {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let mut s = Server {
            port: parts[0].parse().expect("port"),
            pid: parts[1].parse().expect("pid"),
            dir: PathBuf::from(parts[2]),
            name: name.to_string(),
            version: parse_version(&row.version),
            client: None,
        };
        s.client = Some(
            Client::connect(s.port)
                .unwrap_or_else(|e| panic!("{name}: connect to port {}: {e}", s.port)),
        );
        Some(Ok(s))
    }

    pub fn is_valkey(&self) -> bool {
        self.name.starts_with("valkey")
    }

    /// At least this version (of whichever server family it is).
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        self.version >= (major, minor, 0)
    }

    /// A new, separate connection.
    pub fn connect(&self) -> Client {
        Client::connect(self.port).unwrap_or_else(|e| panic!("{}: connect: {e}", self.name))
    }

    /// One command on the server's own connection; panics on I/O errors only.
    pub fn cmd(&mut self, args: &[&[u8]]) -> Reply {
        let name = self.name.clone();
        self.client
            .as_mut()
            .expect("connected")
            .cmd(args)
            .unwrap_or_else(|e| {
                panic!(
                    "{name}: {:?}: {e}",
                    args.iter().map(|a| escape(a)).collect::<Vec<_>>()
                )
            })
    }

    /// Like `cmd` with text arguments.
    pub fn cmds(&mut self, args: &[&str]) -> Reply {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.cmd(&a)
    }

    /// A command that must not fail (error replies panic, naming the server and command).
    pub fn ok(&mut self, args: &[&[u8]]) -> Reply {
        let r = self.cmd(args);
        if let Reply::Error(e) = &r {
            panic!(
                "{}: {:?} failed: {e}",
                self.name,
                args.iter().map(|a| escape(a)).collect::<Vec<_>>()
            );
        }
        r
    }

    /// Waits (up to 30 s) until no AOF rewrite is running or scheduled.
    pub fn wait_aof_rewrite(&mut self) {
        let t0 = std::time::Instant::now();
        loop {
            let info = self.oks(&["INFO", "persistence"]).text();
            if info.contains("aof_rewrite_in_progress:0")
                && info.contains("aof_rewrite_scheduled:0")
            {
                return;
            }
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(30),
                "{}: AOF rewrite never ended",
                self.name
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Like `ok` with text arguments.
    pub fn oks(&mut self, args: &[&str]) -> Reply {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.ok(&a)
    }

    /// Several commands in one round trip; error replies panic.
    pub fn pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) -> Vec<Reply> {
        let name = self.name.clone();
        let replies = self
            .client
            .as_mut()
            .expect("connected")
            .pipeline(cmds)
            .unwrap_or_else(|e| panic!("{name}: pipeline: {e}"));
        for (c, r) in cmds.iter().zip(&replies) {
            if let Reply::Error(e) = r {
                panic!(
                    "{name}: {:?} failed: {e}",
                    c.iter().map(|a| escape(a)).collect::<Vec<_>>()
                );
            }
        }
        replies
    }

    /// `SAVE` (synchronous); panics unless the server says OK.
    pub fn save(&mut self) {
        let r = self.cmds(&["SAVE"]);
        assert_eq!(r, Reply::Status("OK".into()), "{}: SAVE", self.name);
    }

    /// Where the server writes its RDB (`CONFIG GET dir` + `dbfilename`); checked to be
    /// `DIR/dump.rdb`.
    pub fn rdb_path(&mut self) -> PathBuf {
        let dir = self.oks(&["CONFIG", "GET", "dir"]).array()[1].text();
        let file = self.oks(&["CONFIG", "GET", "dbfilename"]).array()[1].text();
        let p = Path::new(&dir).join(file);
        let expected = self.dir.join("dump.rdb");
        let canon = |p: &Path| {
            p.parent()
                .and_then(|d| d.canonicalize().ok())
                .map(|d| d.join(p.file_name().unwrap_or_default()))
        };
        assert_eq!(
            canon(&p),
            canon(&expected),
            "{}: the RDB is not DIR/dump.rdb",
            self.name
        );
        expected
    }

    /// `SAVE`, then the bytes of the dump.
    pub fn save_and_read(&mut self) -> Vec<u8> {
        self.save();
        let p = self.rdb_path();
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: read {}: {e}", self.name, p.display()))
    }

    fn alive(&self) -> bool {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid));
        match stat {
            // a zombie has exited; its parent just has not reaped it yet
            Ok(s) => s
                .rsplit(')')
                .next()
                .map(|r| !r.trim_start().starts_with('Z'))
                .unwrap_or(true),
            Err(_) => false,
        }
    }

    fn wait_exit(&self, timeout: Duration) -> bool {
        let t = Instant::now();
        while self.alive() {
            if t.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // our own connection first, so the server does not wait for it
        if let Some(mut c) = self.client.take() {
            let _ = c.cmd(&[b"SHUTDOWN", b"NOSAVE"]);
        } else if let Ok(mut c) = Client::connect(self.port) {
            let _ = c.cmd(&[b"SHUTDOWN", b"NOSAVE"]);
        }
        if !self.wait_exit(Duration::from_secs(10)) {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(self.pid.to_string())
                .status();
            self.wait_exit(Duration::from_secs(5));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
