//! A small blocking RESP2 client: plain TCP or TLS (rustls), commands encoded
//! straight into one output buffer so a pipeline is a single `write`, replies parsed
//! from a buffered reader.
//!
//! Credentials never appear in errors or logs: an [`Endpoint`] displays as
//! `host:port` only.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where to connect and how to log in.
#[derive(Clone)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub user: Option<String>,
    pub password: Option<String>,
    /// The db in the URL path (`redis://h:p/3`), if any.
    pub db: Option<u64>,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Endpoint({self}, tls={})", self.tls)
    }
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("bad %-escape in the URL's credentials")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "credentials are not UTF-8".to_string())
}

impl Endpoint {
    /// Parses `redis://[user:pass@]host:port[/db]`, `rediss://...` (TLS) or a bare
    /// `host:port`. Error messages never repeat the credentials.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("rediss://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("redis://") {
            (false, r)
        } else if url.contains("://") {
            return Err("the URL scheme must be redis:// or rediss://".into());
        } else {
            (false, url)
        };
        let (auth, hostpart) = match rest.rsplit_once('@') {
            Some((a, h)) => (Some(a), h),
            None => (None, rest),
        };
        let (user, password) = match auth {
            None => (None, None),
            Some(a) => match a.split_once(':') {
                Some((u, p)) => (
                    (!u.is_empty()).then(|| percent_decode(u)).transpose()?,
                    Some(percent_decode(p)?),
                ),
                None => (None, Some(percent_decode(a)?)),
            },
        };
        let (hostport, db) = match hostpart.split_once('/') {
            Some((hp, d)) if !d.is_empty() => (
                hp,
                Some(
                    d.parse::<u64>()
                        .map_err(|_| format!("{d:?} in the URL path is not a db number"))?,
                ),
            ),
            Some((hp, _)) => (hp, None),
            None => (hostpart, None),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, p) = v6.split_once(']').ok_or("unclosed [ in the URL's host")?;
            (h.to_string(), p.strip_prefix(':').unwrap_or(""))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p),
                None => (hostport.to_string(), ""),
            }
        };
        if host.is_empty() {
            return Err(format!("no host in {hostport:?}"));
        }
        let port = if port.is_empty() {
            6379
        } else {
            port.parse()
                .map_err(|_| format!("{port:?} is not a port number"))?
        };
        Ok(Endpoint {
            host,
            port,
            tls,
            user,
            password,
            db,
        })
    }

    /// The same login on another node (cluster redirections name only host:port).
    pub fn with_addr(&self, host: &str, port: u16) -> Endpoint {
        Endpoint {
            host: host.to_string(),
            port,
            ..self.clone()
        }
    }
}

/// TLS settings shared by every connection.
#[derive(Clone, Debug, Default)]
pub struct TlsFiles {
    /// PEM CA bundle to trust (default: the system's roots).
    pub ca: Option<PathBuf>,
    /// PEM client certificate and key (servers with `tls-auth-clients yes`).
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl TlsFiles {
    pub fn client_config(&self) -> io::Result<Arc<rustls::ClientConfig>> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let pem_err = |p: &PathBuf, e: rustls::pki_types::pem::Error| {
            io::Error::other(format!("{}: {e}", p.display()))
        };
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca {
            Some(ca) => {
                for c in CertificateDer::pem_file_iter(ca).map_err(|e| pem_err(ca, e))? {
                    roots
                        .add(c.map_err(|e| pem_err(ca, e))?)
                        .map_err(|e| io::Error::other(format!("{}: {e}", ca.display())))?;
                }
            }
            None => {
                for c in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(c);
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_root_certificates(roots);
        let config = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                let certs = CertificateDer::pem_file_iter(cert)
                    .map_err(|e| pem_err(cert, e))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| pem_err(cert, e))?;
                let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_err(key, e))?;
                builder
                    .with_client_auth_cert(certs, key_der)
                    .map_err(|e| io::Error::other(format!("client certificate: {e}")))?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => return Err(io::Error::other("--tls-cert and --tls-key go together")),
        };
        Ok(Arc::new(config))
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// A RESP2 reply. Bulk strings above [`MAX_REPLY_BULK`] are refused.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Nil,
    Int(i64),
    Bulk(Vec<u8>),
    Array(Vec<Reply>),
    Status(String),
    Error(String),
}

/// Largest bulk reply read (the client only reads INFO, CLUSTER SLOTS, DUMP...).
pub const MAX_REPLY_BULK: usize = 1 << 30;

impl Reply {
    pub fn as_error(&self) -> Option<&str> {
        match self {
            Reply::Error(e) => Some(e),
            _ => None,
        }
    }
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(b) => Some(b),
            Reply::Status(s) => Some(s.as_bytes()),
            _ => None,
        }
    }
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Reply]> {
        match self {
            Reply::Array(a) => Some(a),
            _ => None,
        }
    }
    /// The reply as text (bulk or status), or an error describing what came instead.
    pub fn text(&self) -> io::Result<String> {
        match self {
            Reply::Error(e) => Err(io::Error::other(e.clone())),
            r => r
                .as_bytes()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .ok_or_else(|| io::Error::other(format!("unexpected reply {r:?}"))),
        }
    }
}

/// Appends one command in RESP multibulk form.
pub fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        bulk_header(out, a.len());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// `$<len>\r\n`: lets callers write a big argument in pieces after it.
pub fn bulk_header(out: &mut Vec<u8>, len: usize) {
    out.push(b'$');
    out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// One connection to one server.
pub struct Conn {
    io: BufReader<Stream>,
    pub endpoint: Endpoint,
}

const TIMEOUT: Duration = Duration::from_secs(60);

impl Conn {
    /// Connects, negotiates TLS when asked, and logs in (`AUTH [user] pass`).
    pub fn connect(ep: &Endpoint, tls: Option<&Arc<rustls::ClientConfig>>) -> io::Result<Conn> {
        let ctx = |e: io::Error| io::Error::new(e.kind(), format!("{ep}: {e}"));
        let tcp = TcpStream::connect((ep.host.as_str(), ep.port)).map_err(ctx)?;
        tcp.set_nodelay(true).map_err(ctx)?;
        tcp.set_read_timeout(Some(TIMEOUT)).map_err(ctx)?;
        tcp.set_write_timeout(Some(TIMEOUT)).map_err(ctx)?;
        let stream = if ep.tls {
            let config =
                tls.ok_or_else(|| io::Error::other(format!("{ep}: TLS not configured")))?;
            let name = rustls::pki_types::ServerName::try_from(ep.host.clone())
                .map_err(|e| io::Error::other(format!("{ep}: {e}")))?;
            let conn = rustls::ClientConnection::new(config.clone(), name)
                .map_err(|e| io::Error::other(format!("{ep}: {e}")))?;
            Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
        } else {
            Stream::Plain(tcp)
        };
        let mut c = Conn {
            io: BufReader::with_capacity(256 << 10, stream),
            endpoint: ep.clone(),
        };
        if let Some(pass) = &ep.password {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(u) = &ep.user {
                args.push(u.as_bytes());
            }
            args.push(pass.as_bytes());
            if let Reply::Error(e) = c.call(&args)? {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("{ep}: AUTH refused: {e}"),
                ));
            }
        }
        Ok(c)
    }

    /// Writes already-encoded commands.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        let s = self.io.get_mut();
        s.write_all(bytes)?;
        s.flush()
    }

    /// One command, one reply.
    pub fn call(&mut self, args: &[&[u8]]) -> io::Result<Reply> {
        let mut out = Vec::new();
        encode(&mut out, args);
        self.send_raw(&out)?;
        self.read_reply()
    }

    /// Like `call`, with text arguments; an error reply becomes an `Err`.
    pub fn call_ok(&mut self, args: &[&str]) -> io::Result<Reply> {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        match self.call(&a)? {
            Reply::Error(e) => Err(io::Error::other(format!(
                "{}: {} failed: {e}",
                self.endpoint,
                args.first().copied().unwrap_or_default()
            ))),
            r => Ok(r),
        }
    }

    pub fn read_reply(&mut self) -> io::Result<Reply> {
        read_reply(&mut self.io, 0)
    }
}

fn line<R: BufRead>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut l = Vec::new();
    // A reply header line is short; cap what a broken peer can make us buffer.
    let n = r.take(64 << 10).read_until(b'\n', &mut l)?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed by the server",
        ));
    }
    if !l.ends_with(b"\r\n") {
        return Err(io::Error::other("malformed reply line"));
    }
    l.truncate(l.len() - 2);
    Ok(l)
}

fn number(b: &[u8]) -> io::Result<i64> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other("malformed number in a reply"))
}

fn read_reply<R: BufRead>(r: &mut R, depth: usize) -> io::Result<Reply> {
    if depth > 16 {
        return Err(io::Error::other("reply nested too deeply"));
    }
    let l = line(r)?;
    let (&kind, rest) = l
        .split_first()
        .ok_or_else(|| io::Error::other("empty reply line"))?;
    Ok(match kind {
        b'+' => Reply::Status(String::from_utf8_lossy(rest).into_owned()),
        b'-' => Reply::Error(String::from_utf8_lossy(rest).into_owned()),
        b':' => Reply::Int(number(rest)?),
        b'$' => {
            let n = number(rest)?;
            if n < 0 {
                return Ok(Reply::Nil);
            }
            let n = n as usize;
            if n > MAX_REPLY_BULK {
                return Err(io::Error::other(format!("{n}-byte reply refused")));
            }
            let mut b = Vec::new();
            r.take(n as u64 + 2).read_to_end(&mut b)?;
            if b.len() != n + 2 || !b.ends_with(b"\r\n") {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed inside a reply",
                ));
            }
            b.truncate(n);
            Reply::Bulk(b)
        }
        b'*' => {
            let n = number(rest)?;
            if n < 0 {
                return Ok(Reply::Nil);
            }
            let mut items = Vec::with_capacity((n as usize).min(1024));
            for _ in 0..n {
                items.push(read_reply(r, depth + 1)?);
            }
            Reply::Array(items)
        }
        other => {
            return Err(io::Error::other(format!(
                "unexpected reply type byte 0x{other:02x}"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let e = Endpoint::parse("rediss://bob:s%40cret@example.com:6380/2").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.tls, e.db),
            ("example.com", 6380, true, Some(2))
        );
        assert_eq!(e.user.as_deref(), Some("bob"));
        assert_eq!(e.password.as_deref(), Some("s@cret"));
        assert_eq!(e.to_string(), "example.com:6380");
        let e = Endpoint::parse("redis://:pw@[::1]:7000").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.user.is_none()),
            ("::1", 7000, true)
        );
        assert_eq!(Endpoint::parse("localhost").unwrap().port, 6379);
        let bad = Endpoint::parse("redis://u:topsecret@h:notaport").unwrap_err();
        assert!(!bad.contains("topsecret"), "{bad}");
        assert!(Endpoint::parse("http://h:1").is_err());
    }

    #[test]
    fn replies() {
        let mut r: &[u8] = b"*3\r\n+OK\r\n$3\r\nabc\r\n*2\r\n:5\r\n$-1\r\n-ERR x\r\n";
        assert_eq!(
            read_reply(&mut r, 0).unwrap(),
            Reply::Array(vec![
                Reply::Status("OK".into()),
                Reply::Bulk(b"abc".to_vec()),
                Reply::Array(vec![Reply::Int(5), Reply::Nil])
            ])
        );
        assert_eq!(read_reply(&mut r, 0).unwrap(), Reply::Error("ERR x".into()));
        let mut short: &[u8] = b"$10\r\nabc";
        assert!(read_reply(&mut short, 0).is_err());
        let mut out = Vec::new();
        encode(&mut out, &[b"SET", b"k", b""]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }
}
