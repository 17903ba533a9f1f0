//! One AOF file's verdict: RESP grammar, the MULTI/EXEC rules and `ok_up_to`, exactly
//! as `redis-check-aof` and the server's loader decide them, plus what the log did
//! (commands per name, SELECTed dbs, `#TS` span, key arguments).

use std::collections::BTreeMap;

use super::{timestamp, Command, Item, RespReader};
use crate::error::Error;
use crate::verify::DbCounts;

/// What the complete commands of a log did. Memory is bounded by the number of distinct
/// command names and db numbers, never by the number of keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub commands: u64,
    /// Command name, uppercased → count.
    pub histogram: BTreeMap<String, u64>,
    /// Per db: `keys` = key arguments written there, `expires` = commands setting a TTL.
    pub dbs: BTreeMap<u64, DbCounts>,
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
    pub keys_touched: u64,
    pub annotations: u64,
    /// The db the next command runs in (a log starts in db 0).
    db: u64,
}

impl Stats {
    fn command(&mut self, cmd: &Command<'_>) {
        self.commands += 1;
        let name = String::from_utf8_lossy(cmd.args[0]).to_ascii_uppercase();
        if name == "SELECT" {
            if let Some(db) = cmd
                .args
                .get(1)
                .and_then(|a| std::str::from_utf8(a).ok()?.parse().ok())
            {
                self.db = db;
                self.dbs.entry(db).or_default();
            }
        }
        let keys = key_count(&name, &cmd.args);
        if keys > 0 {
            self.keys_touched += keys;
            let d = self.dbs.entry(self.db).or_default();
            d.keys += keys;
            if sets_ttl(&name, &cmd.args) {
                d.expires += 1;
            }
        }
        // Names come from the file: cap the map so hostile input cannot grow it.
        if self.histogram.len() < 10_000 || self.histogram.contains_key(&name) {
            *self.histogram.entry(name).or_default() += 1;
        }
    }

    fn timestamp(&mut self, ts: i64) {
        self.first_ts.get_or_insert(ts);
        self.last_ts = Some(ts);
    }

    /// Adds a later part's figures (multi-part totals).
    pub fn merge(&mut self, o: &Stats) {
        self.commands += o.commands;
        for (k, v) in &o.histogram {
            *self.histogram.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.dbs {
            let d = self.dbs.entry(*k).or_default();
            d.keys += v.keys;
            d.expires += v.expires;
        }
        if self.first_ts.is_none() {
            self.first_ts = o.first_ts;
        }
        if o.last_ts.is_some() {
            self.last_ts = o.last_ts;
        }
        self.keys_touched += o.keys_touched;
        self.annotations += o.annotations;
    }
}

/// How many arguments of a command are key names. Commands that take no key (SELECT,
/// MULTI, FUNCTION...) count 0; the common multi-key forms are handled; anything
/// else counts its first argument, which is the key for almost every write command.
fn key_count(name: &str, args: &[&[u8]]) -> u64 {
    let n = args.len() as u64;
    let numkeys = |i: usize| -> u64 {
        args.get(i)
            .and_then(|a| std::str::from_utf8(a).ok()?.parse::<u64>().ok())
            .map_or(0, |k| k.min(n.saturating_sub(i as u64 + 1)))
    };
    match name {
        "SELECT" | "MULTI" | "EXEC" | "DISCARD" | "FUNCTION" | "SCRIPT" | "FLUSHALL"
        | "FLUSHDB" | "SWAPDB" | "PING" | "PUBLISH" | "SPUBLISH" => 0,
        "DEL" | "UNLINK" | "EXISTS" | "TOUCH" | "WATCH" => n - 1,
        "MSET" | "MSETNX" => (n - 1) / 2,
        "EVAL" | "EVALSHA" | "EVAL_RO" | "EVALSHA_RO" | "FCALL" | "FCALL_RO" => numkeys(2),
        "RENAME" | "RENAMENX" | "COPY" | "SMOVE" | "LMOVE" | "RPOPLPUSH" => 2.min(n - 1),
        _ => u64::from(n > 1),
    }
}

/// Commands that give a key a TTL (as propagated: absolute forms since Redis 7).
fn sets_ttl(name: &str, args: &[&[u8]]) -> bool {
    match name {
        "EXPIRE" | "PEXPIRE" | "EXPIREAT" | "PEXPIREAT" | "SETEX" | "PSETEX" | "GETEX" => true,
        "SET" => args.iter().skip(3).any(|a| {
            [&b"EX"[..], b"PX", b"EXAT", b"PXAT"]
                .iter()
                .any(|o| a.eq_ignore_ascii_case(o))
        }),
        _ => false,
    }
}

/// How reading a RESP log ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Every command complete and every MULTI closed.
    Clean,
    /// The input ended inside a command.
    Truncated(Error),
    /// Bytes no server writes: broken grammar, nested MULTI, EXEC without MULTI.
    Corrupt(Error),
    /// Every command complete, but the last MULTI (at this offset) has no EXEC.
    OpenMulti(u64),
}

/// The outcome of one RESP log (or the RESP tail after a preamble).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RespOutcome {
    pub end: End,
    /// Offset just after the last complete command outside a MULTI (the loader's
    /// `valid_up_to`, `redis-check-aof`'s `ok_up_to`).
    pub ok_up_to: u64,
    /// `redis-check-aof`'s line number at `ok_up_to`.
    pub ok_up_to_line: u64,
    /// Figures for the commands up to `ok_up_to` (an open MULTI's are not counted).
    pub stats: Stats,
    /// Offset of the first `#TS` annotation later than `until`, if one was given.
    pub until_cut: Option<u64>,
}

/// Checks the RESP log in `data[start..]`. With `until`, also finds where a
/// point-in-time cut goes: the first `#TS` later than it, moved back to the start of an
/// open MULTI so the cut never leaves half a transaction.
pub fn check_resp(data: &[u8], start: usize, until: Option<i64>) -> RespOutcome {
    let mut reader = RespReader::new(data, start);
    let mut ok = (reader.offset(), reader.line());
    let mut stats = Stats::default();
    // Set while inside MULTI: where it started and the figures before it.
    let mut multi: Option<(u64, Stats)> = None;
    let mut until_cut = None;
    let end = loop {
        let item = match reader.next_item() {
            Ok(Some(item)) => item,
            Ok(None) => break End::Clean,
            Err(e) if e.is_truncated() => break End::Truncated(e),
            Err(e) => break End::Corrupt(e),
        };
        match item {
            Item::Annotation { offset, text } => {
                stats.annotations += 1;
                if let Some(ts) = timestamp(text) {
                    if until.is_some_and(|u| ts > u) && until_cut.is_none() {
                        until_cut = Some(multi.as_ref().map_or(offset, |m| m.0));
                    }
                    stats.timestamp(ts);
                }
            }
            Item::Command(cmd) => {
                if cmd.is("MULTI") {
                    if multi.is_some() {
                        break End::Corrupt(Error::corrupt(cmd.offset, "Unexpected MULTI"));
                    }
                    multi = Some((cmd.offset, stats.clone()));
                } else if cmd.is("EXEC") && multi.take().is_none() {
                    break End::Corrupt(Error::corrupt(cmd.offset, "Unexpected EXEC"));
                }
                stats.command(&cmd);
            }
        }
        if multi.is_none() {
            ok = (reader.offset(), reader.line());
        }
    };
    let end = match (end, &multi) {
        (End::Clean, Some((at, _))) => End::OpenMulti(*at),
        (end, _) => end,
    };
    if let Some((_, before)) = multi {
        stats = before;
    }
    RespOutcome {
        end,
        ok_up_to: ok.0,
        ok_up_to_line: ok.1,
        stats,
        until_cut,
    }
}
