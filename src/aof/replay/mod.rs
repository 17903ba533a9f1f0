//! Offline replay of an AOF into its dataset, key by key, so it can be compared with
//! an RDB (`rdbkit diff`) without a server.
//!
//! The input is what the server loads ([`crate::aof::input::Input`]): an RDB part (a
//! preamble, or the BASE of a multi-part AOF) and RESP commands after it. Memory
//! follows the commands, not the file, in three passes:
//!
//! 1. the commands are read once for the keys they touch (with their db; FLUSHDB and
//!    SWAPDB mark whole dbs, FLUSHALL makes the RDB part irrelevant);
//! 2. the RDB part is walked with deep checks and its CRC: an untouched key is handed
//!    on at once with the digest of its encoded bytes, a touched one is loaded into a
//!    [`state::Dataset`];
//! 3. the commands are applied to that dataset, with the server's semantics for the
//!    forms it logs ([`commands`]), and its keys are handed on.
//!
//! So memory is proportional to the keys the commands touch. An AOF without an RDB part
//! (`aof-use-rdb-preamble no`, or a RESP BASE) is all commands: its whole dataset is
//! held in memory.
//!
//! Keys are never expired by the replay: a loading server does not expire keys either,
//! and an RDB keeps an expired key until its deletion (logged as a DEL) happens.
//!
//! A command the replay cannot apply exactly (not modelled, relative to the server's
//! clock, or one that would fail on the replayed state) makes the keys it writes
//! *unknown*, with the command, file and offset as the reason; a later command that
//! replaces such a key (SET, DEL, RESTORE, ...) makes it known again. A command that is
//! not in the table at all stops the replay with an error, since the keys it may have
//! written cannot even be named.

mod commands;
mod hashes;
mod keyspace;
mod lists;
mod ops;
mod sets;
pub mod state;
mod streams;
mod strings;
mod zsets;

use std::collections::{HashMap, HashSet};

use self::commands::{lookup, touched, Touch};
use self::ops::Fail;
use self::state::{Dataset, Obj, Reason, Val};
use crate::aof::input::Input;
use crate::aof::{Command, Item, RespReader};
use crate::rdb::types::Kind;
use crate::rdb::{Checker, RdbReader, Record};

/// A key as the replay knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState<'r> {
    Known {
        kind: Kind,
        digest: u64,
        elements: u64,
        expire_ms: Option<i64>,
        /// A stream of the RDB part: its version and the offset of its value there,
        /// where its metadata can be read again. `None` for a replayed stream, whose
        /// metadata (groups, last id) the replay does not keep.
        stream: Option<(u8, u64)>,
    },
    Unknown(&'r Reason),
}

/// Why a replay stopped.
#[derive(Debug)]
pub enum ReplayError {
    /// A file that cannot be read or replayed: its name and what is wrong.
    Input { file: String, error: String },
    /// The callback's own failure.
    Io(std::io::Error),
}

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplayError::Input { file, error } => write!(f, "{file}: {error}"),
            ReplayError::Io(e) => write!(f, "{e}"),
        }
    }
}

fn input_error(file: &str, error: impl std::fmt::Display) -> ReplayError {
    ReplayError::Input {
        file: file.to_string(),
        error: error.to_string(),
    }
}

/// What a replay did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Commands applied (SELECT, MULTI and EXEC not counted).
    pub commands: u64,
    /// Keys of the RDB part loaded into memory because commands touch them.
    pub loaded_keys: u64,
    /// Keys handed on as unknown.
    pub unknown_keys: u64,
}

/// What the commands touch (pass 1).
#[derive(Default)]
struct Plan {
    /// Per db, so a lookup borrows the key instead of building a tuple.
    keys: HashMap<u64, HashSet<Vec<u8>>>,
    dbs: HashSet<u64>,
    rdb_dropped: bool,
}

impl Plan {
    fn add(&mut self, t: Touch<'_>) {
        match t {
            Touch::Keys(ks) => {
                for (db, k) in ks {
                    self.keys.entry(db).or_default().insert(k.to_vec());
                }
            }
            Touch::Db(d) => {
                self.dbs.insert(d);
            }
            Touch::Dbs(a, b) => {
                self.dbs.extend([a, b]);
            }
            Touch::All => self.rdb_dropped = true,
        }
    }
    fn touches(&self, db: u64, key: &[u8]) -> bool {
        self.dbs.contains(&db) || self.keys.get(&db).is_some_and(|ks| ks.contains(key))
    }
}

/// The command name, upper-cased (names are matched case-insensitively).
fn name_of(c: &Command<'_>) -> String {
    String::from_utf8_lossy(c.args[0]).to_ascii_uppercase()
}

fn selected(c: &Command<'_>, file: &str) -> Result<u64, ReplayError> {
    c.args
        .get(1)
        .and_then(|a| std::str::from_utf8(a).ok()?.parse().ok())
        .filter(|_| c.args.len() == 2)
        .ok_or_else(|| input_error(file, format!("malformed SELECT at byte {}", c.offset)))
}

fn not_in_table(file: &str, c: &Command<'_>, name: &str) -> ReplayError {
    input_error(
        file,
        format!(
            "{name} at byte {} is not a command the offline replay knows, so the keys it writes cannot be named; the dataset cannot be compared",
            c.offset
        ),
    )
}

/// Receives each key of the dataset.
pub type Emit<'e> = dyn FnMut(u64, &[u8], KeyState<'_>) -> std::io::Result<()> + 'e;
/// Receives each command: its file, the command, its upper-cased name and the db.
type EachCommand<'e, 'a> =
    dyn FnMut(&str, &Command<'a>, &str, &mut u64) -> Result<(), ReplayError> + 'e;

/// Calls `each` for every command of the input, in load order, with the file it is in
/// and its db. A MULTI block is handed on at its EXEC; one the file ends inside is
/// dropped, as a loading server drops it. `until` (Unix seconds) stops before the first
/// `#TS:` annotation later than it, as `restore --until` and `redis-check-aof
/// --truncate-to-timestamp` do.
fn for_each_command<'a>(
    input: &'a Input,
    until: Option<i64>,
    each: &mut EachCommand<'_, 'a>,
) -> Result<(), ReplayError> {
    for &(part, start) in &input.segments {
        let (file, src) = &input.parts[part];
        let mut r = RespReader::new(src.bytes(), start);
        let mut db = 0u64;
        let mut block: Option<Vec<(String, Command<'a>)>> = None;
        while let Some(item) = r.next_item().map_err(|e| input_error(file, e))? {
            let c = match item {
                Item::Annotation { text, .. } => {
                    let ts = crate::aof::timestamp(text);
                    if ts.zip(until).is_some_and(|(ts, until)| ts > until) {
                        return Ok(());
                    }
                    continue;
                }
                Item::Command(c) => c,
            };
            let name = name_of(&c);
            match (name.as_str(), &mut block) {
                ("MULTI", _) => block = Some(Vec::new()),
                ("EXEC", Some(_)) => {
                    for (name, c) in block.take().expect("open block") {
                        each(file, &c, &name, &mut db)?;
                    }
                }
                (_, Some(b)) => b.push((name, c)),
                _ => each(file, &c, &name, &mut db)?,
            }
        }
    }
    Ok(())
}

/// Pass 1: the keys and dbs the commands touch.
fn plan(input: &Input, until: Option<i64>) -> Result<Plan, ReplayError> {
    let mut plan = Plan::default();
    for_each_command(input, until, &mut |file, c, name, db| {
        if name == "SELECT" {
            *db = selected(c, file)?;
            return Ok(());
        }
        let def = lookup(name).ok_or_else(|| not_in_table(file, c, name))?;
        let t = touched(def.keys, *db, &c.args)
            .ok_or_else(|| input_error(file, format!("malformed {name} at byte {}", c.offset)))?;
        plan.add(t);
        Ok(())
    })?;
    Ok(plan)
}

/// Pass 2: the RDB part. Untouched keys go to `emit`, touched ones into `ds`.
fn load_rdb(
    input: &Input,
    field_ttls: bool,
    plan: &Plan,
    ds: &mut Dataset,
    stats: &mut Stats,
    emit: &mut Emit<'_>,
) -> Result<(), ReplayError> {
    let file = input.parts.first().map_or("", |p| p.0.as_str());
    let err = |e: crate::Error| input_error(file, e);
    let mut r = RdbReader::new(input.rdb(), Checker::new(true)).map_err(err)?;
    while let Some(rec) = r.next_record().map_err(err)? {
        let Record::Key(k) = rec else { continue };
        let ctx = |e: crate::Error| {
            err(e
                .with_type(k.info.check_name)
                .with_key(k.db, k.key.to_vec().ok(), r.keys_read())
                .at_record(k.offset))
        };
        let key = k.key.to_vec().map_err(ctx)?;
        let db = k.db.unwrap_or(0);
        if plan.rdb_dropped {
            // FLUSHALL comes later: still read (and checked), never kept.
            crate::rdb::digest::value_digest(k.info.kind, &k.value, k.value_bytes, field_ttls)
                .map_err(ctx)?;
        } else if plan.touches(db, &key) {
            let val = Val::from_encoded(k.info.kind, &k.value, k.value_bytes).map_err(ctx)?;
            ds.insert(
                db,
                &key,
                Obj {
                    val,
                    expire: k.expire_ms,
                },
            );
            stats.loaded_keys += 1;
        } else {
            let (digest, elements) =
                crate::rdb::digest::value_digest(k.info.kind, &k.value, k.value_bytes, field_ttls)
                    .map_err(ctx)?;
            let stream = match k.value {
                crate::rdb::Value::Stream { version, body } => Some((version, body.at)),
                _ => None,
            };
            let state = KeyState::Known {
                kind: k.info.kind,
                digest,
                elements,
                expire_ms: k.expire_ms,
                stream,
            };
            emit(db, &key, state).map_err(ReplayError::Io)?;
        }
    }
    let t = r.trailer().map_err(err)?;
    if let (Some(stored), Some(computed)) = (t.stored_checksum, r.computed_checksum()) {
        if stored != 0 && stored != computed {
            return Err(err(crate::Error::corrupt(
                t.eof_offset + 1,
                format!("CRC-64 mismatch: stored {stored:016x}, computed {computed:016x}"),
            )));
        }
    }
    Ok(())
}

/// Pass 3: applies the commands to `ds`.
fn apply(
    input: &Input,
    until: Option<i64>,
    ds: &mut Dataset,
    stats: &mut Stats,
) -> Result<(), ReplayError> {
    for_each_command(input, until, &mut |file, c, name, db| {
        if name == "SELECT" {
            *db = selected(c, file)?;
            return Ok(());
        }
        let def = lookup(name).ok_or_else(|| not_in_table(file, c, name))?;
        stats.commands += 1;
        let Err(fail) = commands::run(&def, ds, *db, &c.args) else {
            return Ok(());
        };
        let reason = match fail {
            Fail::Inherit(r) => r,
            Fail::Unknown(why) => Box::new(Reason {
                command: name.to_string(),
                file: file.to_string(),
                offset: c.offset,
                why,
            }),
        };
        match touched(def.keys, *db, &c.args) {
            Some(Touch::Keys(ks)) => {
                for (kdb, k) in ks {
                    let val = Val::Unknown(reason.clone());
                    ds.insert(kdb, k, Obj { val, expire: None });
                }
                Ok(())
            }
            _ => Err(input_error(file, reason)),
        }
    })
}

/// Replays `input` and calls `emit` once for every key of its dataset (untouched keys
/// of the RDB part first, in file order, then the replayed ones in no set order).
/// `field_ttls`: whether hash field expiries take part in the digests (see
/// [`crate::rdb::digest::value_digest`]); `until`: replay only up to that time (see
/// [`for_each_command`]).
pub fn for_each_key(
    input: &Input,
    field_ttls: bool,
    until: Option<i64>,
    emit: &mut Emit<'_>,
) -> Result<Stats, ReplayError> {
    let plan = plan(input, until)?;
    let mut ds = Dataset::default();
    let mut stats = Stats::default();
    load_rdb(input, field_ttls, &plan, &mut ds, &mut stats, emit)?;
    drop(plan);
    apply(input, until, &mut ds, &mut stats)?;
    for (db, keys) in &ds.dbs {
        for (key, obj) in keys {
            let state = match (&obj.val, obj.val.digest(field_ttls)) {
                (Val::Unknown(r), _) => {
                    stats.unknown_keys += 1;
                    KeyState::Unknown(r)
                }
                (v, Some((digest, elements))) => KeyState::Known {
                    kind: v.kind().expect("a known value has a kind"),
                    digest,
                    elements,
                    expire_ms: obj.expire,
                    stream: None,
                },
                (_, None) => unreachable!("only unknown values have no digest"),
            };
            emit(*db, key, state).map_err(ReplayError::Io)?;
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests;
