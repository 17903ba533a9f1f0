//! RESP commands that rebuild keys and function libraries on a live server
//! (`redis-cli --pipe`, an AOF, or a client's pipeline).
//!
//! One call per key ([`key_commands`]) hands the commands to a callback as argument
//! slices, one command at a time: collections are cut into variadic commands of bounded
//! size, so nothing is materialised and a restore can pipeline them as they come.
//! [`Target`] picks the commands a server version understands; what it cannot express
//! is reported in the [`KeyOutcome`], never silently dropped.
//!
//! Streams are rebuilt exactly, including what `DEBUG DIGEST-VALUE` does not cover:
//! entries with their ids (`XADD`), pending entries whose stream entry was deleted (a
//! placeholder entry is added, claimed, then deleted again), groups with their last id
//! and `ENTRIESREAD`, consumers, the PEL with delivery times and counts (`XCLAIM ...
//! TIME RETRYCOUNT FORCE JUSTID`), and last id / entries-added / max-deleted-id
//! (`XSETID`). Consumers' seen/active times cannot be set by any command: they become
//! the time of the restore.

use std::io::{self, Write};

mod streams;

use super::{each_element, ExportError};
use crate::rdb::items::Element;
use crate::rdb::types::Kind;
use crate::rdb::{dump, KeyRecord, Value};

/// A server family and version that commands are chosen for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub valkey: bool,
    pub major: u32,
    pub minor: u32,
}

impl Target {
    /// Parses `7.4`, `redis-7.4`, `valkey-9.1` (a patch level is allowed and ignored).
    pub fn parse(s: &str) -> Result<Target, String> {
        let (valkey, v) = if let Some(v) = s.strip_prefix("valkey-") {
            (true, v)
        } else {
            (false, s.strip_prefix("redis-").unwrap_or(s))
        };
        let mut parts = v.split('.');
        let num = |p: Option<&str>| p.and_then(|p| p.parse::<u32>().ok());
        match (num(parts.next()), num(parts.next())) {
            (Some(major), Some(minor)) => Ok(Target {
                valkey,
                major,
                minor,
            }),
            _ => Err(format!(
                "{s:?}: expected a server version like 7.4, redis-6.2 or valkey-9.1"
            )),
        }
    }

    fn at_least(&self, redis: (u32, u32), valkey: (u32, u32)) -> bool {
        let need = if self.valkey { valkey } else { redis };
        (self.major, self.minor) >= need
    }

    /// `HPEXPIREAT`: Redis 7.4, Valkey 9.0.
    pub fn has_field_ttl(&self) -> bool {
        self.at_least((7, 4), (9, 0))
    }
    /// `XSETID ... ENTRIESADDED MAXDELETEDID`, `XGROUP CREATE ... ENTRIESREAD`: Redis 7.0.
    pub fn has_stream_counters(&self) -> bool {
        self.at_least((7, 0), (7, 2))
    }
    /// `XGROUP CREATECONSUMER`: Redis 6.2.
    pub fn has_create_consumer(&self) -> bool {
        self.at_least((6, 2), (7, 2))
    }
    /// `FUNCTION LOAD`: Redis 7.0.
    pub fn has_functions(&self) -> bool {
        self.at_least((7, 0), (7, 2))
    }
    /// `XCFGSET` (stream idempotent-producer settings): Redis 8.6.
    pub fn has_stream_idmp(&self) -> bool {
        !self.valkey && (self.major, self.minor) >= (8, 6)
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let family = if self.valkey { "valkey" } else { "redis" };
        write!(f, "{family}-{}.{}", self.major, self.minor)
    }
}

/// How commands are built.
#[derive(Clone, Debug)]
pub struct RespOptions {
    /// The server that will run the commands; `None`: the newest (every command allowed).
    pub target: Option<Target>,
    /// Elements per variadic command (`RPUSH`, `SADD`, `ZADD`, `HSET`, `XDEL`, ...).
    pub max_args: usize,
    /// Payload bytes per variadic command; a single bigger element goes alone.
    pub max_bytes: usize,
    /// `FUNCTION LOAD REPLACE` instead of `FUNCTION LOAD`.
    pub function_replace: bool,
    /// `DEL key` before rebuilding it (the target may hold an older version of the key).
    pub del_first: bool,
    /// RDB version of the source file: stamped on the `DUMP` payloads of module values.
    pub rdb_version: u16,
}

impl Default for RespOptions {
    fn default() -> Self {
        RespOptions {
            target: None,
            max_args: 512,
            max_bytes: 1 << 20,
            function_replace: false,
            del_first: false,
            rdb_version: 12,
        }
    }
}

impl RespOptions {
    fn allows(&self, f: impl Fn(&Target) -> bool) -> bool {
        self.target.as_ref().is_none_or(f)
    }
}

/// Something the target version has no command for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Loss {
    /// Hash field TTLs (the fields are kept, without expiry).
    FieldTtl,
    /// Stream entries-added, max-deleted-id and groups' entries-read.
    StreamCounters,
    /// Consumers that have no pending entries (`XGROUP CREATECONSUMER` is missing).
    IdleConsumer,
    /// Function libraries.
    Function,
    /// A Redis 7.0 release-candidate function (no command loads that format).
    PreGaFunction,
    /// Redis 8.6 idempotent-producer history of a stream (no command sets it; the
    /// settings are kept with `XCFGSET` where the target has it).
    IdmpHistory,
}

impl Loss {
    pub fn describe(self) -> &'static str {
        match self {
            Loss::FieldTtl => "hash field TTLs (need Redis 7.4 / Valkey 9.0)",
            Loss::StreamCounters => {
                "stream entries-added / max-deleted-id / entries-read (need Redis 7.0)"
            }
            Loss::IdleConsumer => {
                "stream consumers without pending entries (need Redis 6.2 for XGROUP CREATECONSUMER)"
            }
            Loss::Function => "function libraries (need Redis 7.0)",
            Loss::PreGaFunction => "Redis 7.0 release-candidate functions",
            Loss::IdmpHistory => {
                "stream idempotent-producer ids (IDMP history: no command restores it)"
            }
        }
    }
}

/// What rebuilding one key produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyOutcome {
    /// Commands emitted.
    pub commands: u64,
    /// What the target could not express (empty when the copy is exact).
    pub lost: Vec<Loss>,
}

impl KeyOutcome {
    fn lose(&mut self, l: Loss) {
        if !self.lost.contains(&l) {
            self.lost.push(l);
        }
    }
}

/// One command handed to an [`Emit`] callback.
#[derive(Clone, Copy, Debug)]
pub enum Command<'a> {
    /// The command as its arguments.
    Args(&'a [&'a [u8]]),
    /// Leading arguments, then `count` more already encoded as RESP bulk strings in
    /// `tail`: variadic commands collect their elements this way, so each element is
    /// copied once into `tail` and `tail` once into the output.
    Tail {
        head: &'a [&'a [u8]],
        count: usize,
        tail: &'a [u8],
    },
}

impl Command<'_> {
    /// Appends the command in RESP (an array of bulk strings) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            Command::Args(args) => encode_command(args, out),
            Command::Tail { head, count, tail } => {
                out.reserve(23 + head.iter().map(|a| a.len() + 25).sum::<usize>() + tail.len());
                header(b'*', head.len() + count, out);
                for a in head {
                    bulk(a, out);
                }
                out.extend_from_slice(tail);
            }
        }
    }
}

/// The callback that receives each command.
pub type Emit<'e> = dyn FnMut(Command<'_>) -> io::Result<()> + 'e;

/// An [`Emit`] callback that counts the commands it passes on.
struct Counted<'f, 'e> {
    emit: &'f mut Emit<'e>,
    commands: u64,
}

impl Counted<'_, '_> {
    fn args(&mut self, args: &[&[u8]]) -> io::Result<()> {
        self.command(Command::Args(args))
    }

    fn command(&mut self, c: Command<'_>) -> io::Result<()> {
        self.commands += 1;
        (self.emit)(c)
    }
}

/// Bytes of `*N\r\n$len\r\n...\r\n` for these arguments.
pub fn encoded_len(args: &[&[u8]]) -> usize {
    let digits = |n: usize| itoa::Buffer::new().format(n).len();
    1 + digits(args.len())
        + 2
        + args
            .iter()
            .map(|a| 1 + digits(a.len()) + 2 + a.len() + 2)
            .sum::<usize>()
}

/// Appends one command in RESP to `out` (exactly [`encoded_len`] bytes), reserving an
/// upper bound of its size first (cheaper than formatting every length twice).
pub fn encode_command(args: &[&[u8]], out: &mut Vec<u8>) {
    // `*`/`$`, at most 20 digits and CRLF per header, CRLF after each argument.
    out.reserve(23 + args.iter().map(|a| a.len() + 25).sum::<usize>());
    header(b'*', args.len(), out);
    for a in args {
        bulk(a, out);
    }
}

/// `$len\r\n<a>\r\n` (space reserved by the caller).
#[inline(always)]
fn bulk(a: &[u8], out: &mut Vec<u8>) {
    header(b'$', a.len(), out);
    out.extend_from_slice(a);
    out.extend_from_slice(b"\r\n");
}

/// `*N\r\n` or `$N\r\n`; short lengths (most of them) without a general formatter.
#[inline(always)]
fn header(prefix: u8, n: usize, out: &mut Vec<u8>) {
    if n < 10 {
        out.extend_from_slice(&[prefix, b'0' + n as u8, b'\r', b'\n']);
    } else if n < 100 {
        out.extend_from_slice(&[
            prefix,
            b'0' + (n / 10) as u8,
            b'0' + (n % 10) as u8,
            b'\r',
            b'\n',
        ]);
    } else {
        out.push(prefix);
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// Writes one command in RESP (an array of bulk strings).
pub fn write_command<W: Write + ?Sized>(w: &mut W, args: &[&[u8]]) -> io::Result<()> {
    let mut n = itoa::Buffer::new();
    let mut head = [0u8; 24];
    let header = |prefix: u8, len: usize, head: &mut [u8; 24], n: &mut itoa::Buffer| {
        let digits = n.format(len).as_bytes();
        head[0] = prefix;
        head[1..1 + digits.len()].copy_from_slice(digits);
        head[1 + digits.len()..3 + digits.len()].copy_from_slice(b"\r\n");
        3 + digits.len()
    };
    let l = header(b'*', args.len(), &mut head, &mut n);
    w.write_all(&head[..l])?;
    for a in args {
        let l = header(b'$', a.len(), &mut head, &mut n);
        w.write_all(&head[..l])?;
        w.write_all(a)?;
        w.write_all(b"\r\n")?;
    }
    Ok(())
}

/// A score as text that `strtod` reads back to the same double (`inf`, `-inf`,
/// shortest round-trip decimal otherwise), replacing what `out` held.
pub fn format_score(score: f64, out: &mut Vec<u8>) {
    out.clear();
    if score == f64::INFINITY {
        out.extend_from_slice(b"inf");
    } else if score == f64::NEG_INFINITY {
        out.extend_from_slice(b"-inf");
    } else {
        super::number::shortest(score, out);
    }
}

thread_local! {
    /// The element buffer of variadic commands, reused from one key to the next.
    static BATCH_BUF: std::cell::Cell<Vec<u8>> = Default::default();
}

/// Commands with at most this many arguments are assembled on the stack.
const STACK_ARGS: usize = 64;

/// A variadic command being filled: fixed leading arguments, then elements encoded
/// into one buffer until `max_args` / `max_bytes` is reached.
struct Batch<'o, 'p> {
    prefix: &'p [&'p [u8]],
    /// The elements' arguments, encoded as RESP bulk strings.
    data: Vec<u8>,
    args: usize,
    /// Payload bytes of those arguments (what `max_bytes` bounds).
    payload: usize,
    /// Elements are groups of `arity` arguments (a score and a member...).
    groups: usize,
    opts: &'o RespOptions,
}

impl Drop for Batch<'_, '_> {
    fn drop(&mut self) {
        let mut data = std::mem::take(&mut self.data);
        data.clear();
        BATCH_BUF.with(|b| b.set(data));
    }
}

impl<'o, 'p> Batch<'o, 'p> {
    fn new(prefix: &'p [&'p [u8]], opts: &'o RespOptions) -> Self {
        Batch {
            prefix,
            data: BATCH_BUF.with(|b| b.take()),
            args: 0,
            payload: 0,
            groups: 0,
            opts,
        }
    }

    /// Adds one argument to the current element (space reserved by the caller).
    #[inline(always)]
    fn add(&mut self, a: &[u8]) {
        bulk(a, &mut self.data);
        self.args += 1;
        self.payload += a.len();
    }

    /// Adds one element: `N` arguments (a member; a score and a member; ...).
    #[inline]
    fn push<const N: usize>(
        &mut self,
        parts: [&[u8]; N],
        emit: &mut Counted<'_, '_>,
    ) -> io::Result<()> {
        let size: usize = parts.iter().map(|p| p.len()).sum();
        if self.groups > 0 && self.payload + size > self.opts.max_bytes {
            self.flush(emit)?;
        }
        // `$`, at most 20 digits, and two CRLFs per argument.
        self.data.reserve(size + 25 * N);
        for p in parts {
            self.add(p);
        }
        self.groups += 1;
        if self.groups >= self.opts.max_args.max(1) || self.payload >= self.opts.max_bytes {
            self.flush(emit)?;
        }
        Ok(())
    }

    /// Emits `head` followed by the collected elements, and empties the batch.
    fn emit_with(&mut self, head: &[&[u8]], emit: &mut Counted<'_, '_>) -> io::Result<()> {
        emit.command(Command::Tail {
            head,
            count: self.args,
            tail: &self.data,
        })?;
        self.data.clear();
        self.args = 0;
        self.payload = 0;
        self.groups = 0;
        Ok(())
    }

    fn flush(&mut self, emit: &mut Counted<'_, '_>) -> io::Result<()> {
        if self.groups == 0 {
            return Ok(());
        }
        let prefix = self.prefix;
        self.emit_with(prefix, emit)
    }
}

/// Emits the commands that rebuild `k` under the name `key` (already renamed by the
/// caller) with expiry `expire_at_ms` (absolute Unix ms, already adjusted by the
/// caller's TTL policy; `None`: no expiry). The current db is the caller's business
/// (`SELECT`).
pub fn key_commands(
    k: &KeyRecord<'_>,
    key: &[u8],
    expire_at_ms: Option<i64>,
    opts: &RespOptions,
    emit: &mut Emit<'_>,
) -> Result<KeyOutcome, ExportError> {
    let mut out = KeyOutcome::default();
    let emit = &mut Counted { emit, commands: 0 };
    if opts.del_first {
        emit.args(&[b"DEL", key])?;
    }
    let mut lost = Vec::new();
    match (k.info.kind, &k.value) {
        (_, Value::Module { .. }) => {
            let payload = dump::key_payload(k, opts.rdb_version);
            emit.args(&[b"RESTORE", key, b"0", &payload])?;
        }
        (Kind::String, _) => {
            each_element(&k.value, |e| {
                if let Element::Member(v) = e {
                    emit.args(&[b"SET", key, v])?;
                }
                Ok(())
            })?;
        }
        (Kind::List | Kind::Set, _) => {
            let cmd: &[u8] = if k.info.kind == Kind::List {
                b"RPUSH"
            } else {
                b"SADD"
            };
            let prefix = [cmd, key];
            let mut b = Batch::new(&prefix, opts);
            each_element(&k.value, |e| {
                if let Element::Member(m) = e {
                    b.push([m], emit)?;
                }
                Ok(())
            })?;
            b.flush(emit)?;
        }
        (Kind::Zset, _) => {
            let prefix: [&[u8]; 2] = [b"ZADD", key];
            let mut b = Batch::new(&prefix, opts);
            let mut score = Vec::new();
            each_element(&k.value, |e| {
                if let Element::Scored(m, s) = e {
                    format_score(s, &mut score);
                    b.push([&score, m], emit)?;
                }
                Ok(())
            })?;
            b.flush(emit)?;
        }
        (Kind::Hash, _) => hash_commands(k, key, opts, emit, &mut lost)?,
        (Kind::Stream, Value::Stream { version, body }) => {
            streams::commands(k, key, *body, *version, opts, emit, &mut lost)?
        }
        // A stream kind always carries a stream value.
        (Kind::Stream | Kind::Module, _) => {}
    }
    if let Some(at) = expire_at_ms {
        emit.args(&[b"PEXPIREAT", key, itoa::Buffer::new().format(at).as_bytes()])?;
    }
    out.commands = emit.commands;
    for l in lost {
        out.lose(l);
    }
    Ok(out)
}

/// `HSET` batches, then `HPEXPIREAT` for fields with a TTL (a second walk over the
/// encoded bytes, runs of equal expiry times in one command).
fn hash_commands(
    k: &KeyRecord<'_>,
    key: &[u8],
    opts: &RespOptions,
    emit: &mut Counted<'_, '_>,
    lost: &mut Vec<Loss>,
) -> Result<(), ExportError> {
    let prefix: [&[u8]; 2] = [b"HSET", key];
    let mut b = Batch::new(&prefix, opts);
    let mut any_ttl = false;
    each_element(&k.value, |e| {
        if let Element::Field(f, v, ttl) = e {
            any_ttl |= ttl.is_some();
            b.push([f, v], emit)?;
        }
        Ok(())
    })?;
    b.flush(emit)?;
    if !any_ttl {
        return Ok(());
    }
    if !opts.allows(Target::has_field_ttl) {
        lost.push(Loss::FieldTtl);
        return Ok(());
    }
    // HPEXPIREAT key ms FIELDS n f1 .. fn: the count sits before the fields, so a run is
    // collected first (bounded like any batch), then emitted.
    let mut run_at: Option<i64> = None;
    let mut run = Batch::new(&[], opts);
    let flush_run =
        |run: &mut Batch<'_, '_>, at: i64, emit: &mut Counted<'_, '_>| -> io::Result<()> {
            if run.groups == 0 {
                return Ok(());
            }
            let mut at_text = itoa::Buffer::new();
            let mut n_text = itoa::Buffer::new();
            let head: [&[u8]; 5] = [
                b"HPEXPIREAT",
                key,
                at_text.format(at).as_bytes(),
                b"FIELDS",
                n_text.format(run.groups).as_bytes(),
            ];
            run.emit_with(&head, emit)
        };
    each_element(&k.value, |e| {
        if let Element::Field(f, _, Some(at)) = e {
            if run_at != Some(at)
                || run.groups >= opts.max_args.max(1)
                || run.payload >= opts.max_bytes
            {
                if let Some(prev) = run_at {
                    flush_run(&mut run, prev, emit)?;
                }
                run_at = Some(at);
            }
            run.data.reserve(f.len() + 25);
            run.add(f);
            run.groups += 1;
        }
        Ok(())
    })?;
    if let Some(prev) = run_at {
        flush_run(&mut run, prev, emit)?;
    }
    Ok(())
}

/// Emits the command that loads a function library (the `FUNCTION2` record's code).
pub fn function_commands(
    code: &[u8],
    opts: &RespOptions,
    emit: &mut Emit<'_>,
) -> Result<KeyOutcome, ExportError> {
    let mut out = KeyOutcome::default();
    if !opts.allows(Target::has_functions) {
        out.lose(Loss::Function);
        return Ok(out);
    }
    if opts.function_replace {
        emit(Command::Args(&[b"FUNCTION", b"LOAD", b"REPLACE", code]))?;
    } else {
        emit(Command::Args(&[b"FUNCTION", b"LOAD", code]))?;
    }
    out.commands = 1;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_exactly_sized() {
        let args: [&[u8]; 3] = [b"SET", b"k", b"hello\r\nworld"];
        let mut v = Vec::new();
        encode_command(&args, &mut v);
        assert_eq!(
            v,
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$12\r\nhello\r\nworld\r\n"
        );
        assert_eq!(encoded_len(&args), v.len());
        let empty: [&[u8]; 1] = [b""];
        assert_eq!(encoded_len(&empty), b"*1\r\n$0\r\n\r\n".len());
    }

    #[test]
    fn scores_round_trip() {
        let mut s = Vec::new();
        for x in [
            0.1,
            -0.0,
            1e300,
            -2.5e-300,
            12345678901234567.0,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
        ] {
            format_score(x, &mut s);
            let text = std::str::from_utf8(&s).unwrap();
            let back: f64 = text.parse().unwrap();
            assert_eq!(back.to_bits(), x.to_bits(), "{text}");
        }
        format_score(f64::INFINITY, &mut s);
        assert_eq!(s, b"inf");
        format_score(f64::NEG_INFINITY, &mut s);
        assert_eq!(s, b"-inf");
    }

    #[test]
    fn targets() {
        let t = Target::parse("7.4").unwrap();
        assert!(t.has_field_ttl() && t.has_stream_counters());
        let t = Target::parse("redis-6.2.14").unwrap();
        assert!(!t.has_stream_counters() && t.has_create_consumer());
        let t = Target::parse("valkey-8.1").unwrap();
        assert!(!t.has_field_ttl() && t.has_functions());
        assert!(Target::parse("valkey-9.1").unwrap().has_field_ttl());
        assert!(Target::parse("seven").is_err());
        assert_eq!(Target::parse("5.0").unwrap().to_string(), "redis-5.0");
    }
}
