//! One pipelined writer per connection. The reading thread fills [`Batch`]es
//! (encoded commands plus what each one is for) and hands them over a bounded
//! channel; the worker writes each batch in one go and reads replies only when more
//! than `window` batches are in flight, so the server always has queued work while
//! memory stays bounded (window × batch size per connection).
//!
//! Replies are matched to their commands in order. `MOVED`/`ASK` redirections (a
//! slot migrating during the restore) are followed on side connections, `TRYAGAIN`
//! and `LOADING` are retried; every other error is reported per key and the restore
//! goes on (or stops with `--fail-fast`).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

use super::cluster::{parse_redirect, Redirect};
use super::conn::{encode, Conn, Endpoint, Reply};
use crate::rdb::digest::{payload_digest, PayloadDigest, StreamMetaFields};
use crate::rdb::types::Kind;

/// What a command in a batch is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Writes (part of) a key; `last` marks the key's final command.
    Write { last: bool },
    /// `EXISTS key` of the conflict check.
    Exists,
    /// `SELECT db` the worker needs before the following commands.
    Select,
    /// `DUMP key` of `--verify`: the value the file holds, as a digest.
    VerifyValue {
        kind: Kind,
        digest: u64,
        elements: u64,
        /// A stream's metadata digest over the fields the target holds after this
        /// restore ([`super::verify::stream_fields`]).
        stream_meta: Option<(StreamMetaFields, u64)>,
        /// The key expires within a minute of the check: missing is not a mismatch.
        may_be_gone: bool,
    },
    /// `PEXPIRETIME key` (or `PTTL key` before 7.0), the key's final command.
    VerifyTtl { expire: Option<i64>, pttl: bool },
}

#[derive(Clone, Debug)]
pub struct Item {
    /// Offset of the key's record in the source (for errors and checkpoints).
    pub offset: u64,
    pub key: Range<usize>,
    pub cmd: Range<usize>,
    pub purpose: Purpose,
}

/// Commands for one connection, all for one db.
#[derive(Debug, Default)]
pub struct Batch {
    pub seq: u64,
    pub db: u64,
    pub buf: Vec<u8>,
    pub keys: Vec<u8>,
    pub items: Vec<Item>,
}

impl Batch {
    /// Starts a key's entry; returns its key range for the following commands.
    pub fn add_key(&mut self, key: &[u8]) -> Range<usize> {
        let start = self.keys.len();
        self.keys.extend_from_slice(key);
        start..self.keys.len()
    }

    /// Appends one encoded command.
    pub fn push(&mut self, offset: u64, key: Range<usize>, purpose: Purpose, args: &[&[u8]]) {
        let start = self.buf.len();
        encode(&mut self.buf, args);
        self.items.push(Item {
            offset,
            key,
            cmd: start..self.buf.len(),
            purpose,
        });
    }

    /// Appends a command the caller already encoded at `self.buf[start..]`.
    pub fn push_encoded(&mut self, offset: u64, key: Range<usize>, purpose: Purpose, start: usize) {
        self.items.push(Item {
            offset,
            key,
            cmd: start..self.buf.len(),
            purpose,
        });
    }
}

/// A key the server refused.
#[derive(Clone, Debug)]
pub struct Failure {
    pub db: u64,
    pub key: Vec<u8>,
    pub offset: u64,
    pub error: String,
}

/// Per-batch outcome.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub seq: u64,
    pub db: u64,
    pub written: u64,
    /// Keys that existed (RESTORE without REPLACE said BUSYKEY under `--conflict skip`).
    pub skipped: u64,
    pub failed: u64,
    pub redirects: u64,
}

pub enum Event {
    Done(Outcome),
    Failed(Failure),
    /// The conflict check found this key on the target.
    Exists {
        db: u64,
        key: Vec<u8>,
    },
    /// The worker cannot go on (connection lost).
    Fatal(String),
}

/// Settings shared by all workers.
#[derive(Clone)]
pub struct Shared {
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// BUSYKEY counts as "skipped" rather than failed.
    pub busy_is_skip: bool,
    /// Set when a MOVED reply shows the slot map changed.
    pub stale_topology: Arc<AtomicBool>,
    /// Set to stop every worker (fail-fast, fatal errors).
    pub stop: Arc<AtomicBool>,
    /// Batches in flight per connection before replies are read.
    pub window: usize,
    /// `--verify`: hash field expiries take part in value comparisons.
    pub verify_field_ttls: bool,
}

/// Tolerance of a `PTTL`-based expiry check (the reply is relative to when the
/// server answered).
const PTTL_TOLERANCE_MS: i64 = 2_000;

pub struct Worker {
    conn: Conn,
    shared: Shared,
    events: Sender<Event>,
    /// Connections to other nodes for redirected commands, with their selected db.
    side: HashMap<(String, u16), (Conn, u64)>,
    key_failed: bool,
    /// `--verify`: the key is missing but was about to expire (its TTL is not checked).
    key_gone: bool,
}

const MAX_HOPS: usize = 5;
const MAX_RETRIES: usize = 50;

impl Worker {
    pub fn new(conn: Conn, shared: Shared, events: Sender<Event>) -> Worker {
        Worker {
            conn,
            shared,
            events,
            side: HashMap::new(),
            key_failed: false,
            key_gone: false,
        }
    }

    /// Runs until the batch channel closes; reports through `events`.
    pub fn run(mut self, batches: Receiver<Batch>) {
        if let Err(e) = self.serve(batches) {
            self.shared.stop.store(true, Ordering::Relaxed);
            let _ = self
                .events
                .send(Event::Fatal(format!("{}: {e}", self.conn.endpoint)));
        }
    }

    fn serve(&mut self, batches: Receiver<Batch>) -> io::Result<()> {
        let mut inflight: VecDeque<Batch> = VecDeque::new();
        loop {
            let next = if inflight.is_empty() {
                batches.recv().ok()
            } else {
                match batches.try_recv() {
                    Ok(b) => Some(b),
                    Err(TryRecvError::Empty) => {
                        // Nothing new to send: collect replies meanwhile.
                        let b = inflight.pop_front().expect("non-empty");
                        self.settle(b)?;
                        continue;
                    }
                    Err(TryRecvError::Disconnected) => None,
                }
            };
            let Some(batch) = next else { break };
            if self.shared.stop.load(Ordering::Relaxed) {
                continue;
            }
            self.conn.send_raw(&batch.buf)?;
            inflight.push_back(batch);
            while inflight.len() > self.shared.window {
                let b = inflight.pop_front().expect("non-empty");
                self.settle(b)?;
            }
        }
        while let Some(b) = inflight.pop_front() {
            self.settle(b)?;
        }
        Ok(())
    }

    /// Reads the replies of one batch and reports its outcome.
    fn settle(&mut self, batch: Batch) -> io::Result<()> {
        let mut out = Outcome {
            seq: batch.seq,
            db: batch.db,
            ..Outcome::default()
        };
        for item in &batch.items {
            let mut reply = self.conn.read_reply()?;
            let cmd = &batch.buf[item.cmd.clone()];
            let mut tries = 0;
            while let Reply::Error(e) = &reply {
                if let Some(r) = parse_redirect(e) {
                    out.redirects += 1;
                    reply = self.redirected(r, cmd, batch.db)?;
                } else if (e.starts_with("TRYAGAIN") || e.starts_with("LOADING"))
                    && tries < MAX_RETRIES
                {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(20 * tries as u64));
                    let here = Redirect {
                        ask: false,
                        host: self.conn.endpoint.host.clone(),
                        port: self.conn.endpoint.port,
                    };
                    reply = self.redirected(here, cmd, batch.db)?;
                } else {
                    break;
                }
            }
            let key = &batch.keys[item.key.clone()];
            let verdict = match item.purpose {
                Purpose::VerifyValue { .. } | Purpose::VerifyTtl { .. } => {
                    Some(self.check(item.purpose, &reply))
                }
                _ => None,
            };
            match (item.purpose, &reply) {
                (Purpose::Select, Reply::Error(e)) => {
                    return Err(io::Error::other(format!("SELECT {}: {e}", batch.db)))
                }
                (Purpose::Select, _) => {}
                (Purpose::Exists, Reply::Int(n)) => {
                    if *n > 0 {
                        let _ = self.events.send(Event::Exists {
                            db: batch.db,
                            key: key.to_vec(),
                        });
                    }
                }
                (Purpose::Exists, other) => {
                    return Err(io::Error::other(format!("EXISTS replied {other:?}")))
                }
                (Purpose::VerifyValue { .. } | Purpose::VerifyTtl { .. }, _) => {
                    if let Some(Some(reason)) = verdict {
                        if !self.key_failed {
                            self.key_failed = true;
                            let _ = self.events.send(Event::Failed(Failure {
                                db: batch.db,
                                key: key.to_vec(),
                                offset: item.offset,
                                error: reason,
                            }));
                        }
                    }
                    if matches!(item.purpose, Purpose::VerifyTtl { .. }) {
                        if self.key_failed {
                            out.failed += 1;
                        } else {
                            out.written += 1;
                        }
                        self.key_failed = false;
                        self.key_gone = false;
                    }
                }
                (Purpose::Write { last }, r) => {
                    if let Reply::Error(e) = r {
                        if self.shared.busy_is_skip && e.starts_with("BUSYKEY") {
                            out.skipped += 1;
                            // a skipped key has no further commands in RESTORE mode
                            continue;
                        }
                        if !self.key_failed {
                            self.key_failed = true;
                            let _ = self.events.send(Event::Failed(Failure {
                                db: batch.db,
                                key: key.to_vec(),
                                offset: item.offset,
                                error: e.clone(),
                            }));
                        }
                    }
                    if last {
                        if self.key_failed {
                            out.failed += 1;
                        } else {
                            out.written += 1;
                        }
                        self.key_failed = false;
                    }
                }
            }
        }
        let _ = self.events.send(Event::Done(out));
        Ok(())
    }

    /// `--verify`: why the reply does not match what the file holds (`None` when it
    /// does). Reasons start with missing / type differs / value differs / ttl differs.
    fn check(&mut self, purpose: Purpose, reply: &Reply) -> Option<String> {
        match (purpose, reply) {
            (_, Reply::Error(e)) => Some(format!("error: {e}")),
            (Purpose::VerifyValue { may_be_gone, .. }, Reply::Nil) => {
                self.key_gone = may_be_gone;
                (!may_be_gone).then(|| "missing".to_string())
            }
            (
                Purpose::VerifyValue {
                    kind,
                    digest,
                    elements,
                    stream_meta,
                    ..
                },
                Reply::Bulk(payload),
            ) => match payload_digest(
                payload,
                self.shared.verify_field_ttls,
                stream_meta.map(|m| m.0),
            ) {
                Err(e) => Some(format!("value differs: the target's DUMP payload: {e}")),
                Ok(PayloadDigest { kind: k, .. }) if k != kind => Some(format!(
                    "type differs: {} in the file, {} on the target",
                    kind.name(),
                    k.name()
                )),
                Ok(PayloadDigest { elements: n, .. }) if n != elements => Some(format!(
                    "value differs: {elements} elements in the file, {n} on the target"
                )),
                Ok(PayloadDigest { digest: d, .. }) if d != digest => {
                    Some("value differs: same element count, different content".into())
                }
                Ok(PayloadDigest { stream_meta: m, .. }) if m != stream_meta.map(|m| m.1) => {
                    Some(format!(
                        "value differs: same stream entries, different metadata ({})",
                        super::verify::describe_fields(stream_meta.map(|m| m.0))
                    ))
                }
                Ok(_) => None,
            },
            (Purpose::VerifyTtl { .. }, _) if self.key_gone => None,
            (Purpose::VerifyTtl { expire, pttl }, Reply::Int(n)) => {
                let got = match (*n, pttl) {
                    (-2, _) => return Some("missing (expired during the check)".into()),
                    (-1, _) => None,
                    (n, false) => Some(n),
                    (n, true) => Some(super::now_ms() + n),
                };
                let tolerance = if pttl { PTTL_TOLERANCE_MS } else { 0 };
                let same = match (expire, got) {
                    (None, None) => true,
                    (Some(e), Some(g)) => (e - g).abs() <= tolerance,
                    _ => false,
                };
                let show = |t: Option<i64>| t.map_or("none".to_string(), |t| format!("{t} ms"));
                (!same).then(|| {
                    format!(
                        "ttl differs: expiry {} in the file (after --ttl), {} on the target",
                        show(expire),
                        show(got)
                    )
                })
            }
            (_, other) => Some(format!("error: unexpected reply {other:?}")),
        }
    }

    /// Sends one command to the node a redirection names (ASKING first for ASK).
    fn redirected(&mut self, mut r: Redirect, cmd: &[u8], db: u64) -> io::Result<Reply> {
        for _ in 0..MAX_HOPS {
            if !r.ask {
                self.shared.stale_topology.store(true, Ordering::Relaxed);
            }
            let key = (r.host.clone(), r.port);
            if !self.side.contains_key(&key) {
                let ep: Endpoint = self.conn.endpoint.with_addr(&r.host, r.port);
                let c = Conn::connect(&ep, self.shared.tls.as_ref())?;
                self.side.insert(key.clone(), (c, 0));
            }
            let (conn, selected) = self.side.get_mut(&key).expect("inserted");
            if *selected != db {
                conn.call_ok(&["SELECT", &db.to_string()])?;
                *selected = db;
            }
            let mut out = Vec::new();
            if r.ask {
                encode(&mut out, &[b"ASKING"]);
            }
            out.extend_from_slice(cmd);
            conn.send_raw(&out)?;
            if r.ask {
                conn.read_reply()?;
            }
            let reply = conn.read_reply()?;
            match &reply {
                Reply::Error(e) => match parse_redirect(e) {
                    Some(next) => r = next,
                    None => return Ok(reply),
                },
                _ => return Ok(reply),
            }
        }
        Ok(Reply::Error(format!(
            "more than {MAX_HOPS} cluster redirections"
        )))
    }
}
