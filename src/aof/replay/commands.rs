//! The command table: for each command a server writes to its AOF, where its keys are
//! (to know what the log touches before replaying it, and which keys become unknown
//! when it cannot be applied) and how it changes the dataset. Commands whose keys are
//! known but whose effect is not modelled (HyperLogLog, BITFIELD, SORT .. STORE, ...)
//! make those keys unknown; a command that is not in the table at all stops the replay,
//! since the keys it may write cannot even be named.

use super::keyspace as ks;
use super::ops::{unknown, Res};
use super::sets::SetOp;
use super::state::Dataset;
use super::{hashes as h, lists as l, sets as s, streams as x, strings as st, zsets as z};

/// Where a command's keys are.
#[derive(Clone, Copy, Debug)]
pub enum Spec {
    /// No key (FUNCTION, SCRIPT).
    None,
    /// Arguments `first..=last` every `step`, as the server's command table says
    /// (a negative `last` counts from the end: -1 is the last argument).
    Range {
        first: usize,
        last: i64,
        step: usize,
    },
    /// Destination at 1, `numkeys` at 2, then that many keys (Z*STORE).
    DestNumkeys,
    /// `numkeys` at `at`, then that many keys (LMPOP, ZMPOP and blocking forms).
    Numkeys { at: usize },
    /// `numkeys` at 1, then that many key-value pairs (MSETEX).
    NumkeysPairs,
    /// MOVE key db: the key in both dbs.
    Move,
    /// COPY src dst [DB n]: src here, dst in the named db.
    Copy,
    /// SORT key ... [STORE dst].
    Sort,
    /// The current db as a whole.
    Db,
    /// SWAPDB a b.
    TwoDbs,
    /// Every db.
    All,
}

type Handler = fn(&mut Dataset, u64, &[&[u8]]) -> Res;

pub struct Def {
    pub keys: Spec,
    /// `None`: the keys are known, the effect is not modelled.
    pub run: Option<Handler>,
}

const fn range(first: usize, last: i64, step: usize) -> Spec {
    Spec::Range { first, last, step }
}

/// The key at `at`.
const fn key(at: usize) -> Spec {
    range(at, at as i64, 1)
}

const ALL_KEYS: Spec = range(1, -1, 1);
const TWO_KEYS: Spec = range(1, 2, 1);
/// BLPOP-style: every argument but the last (the timeout).
const BLOCKING: Spec = range(1, -2, 1);

fn def(keys: Spec, run: Handler) -> Option<Def> {
    Some(Def {
        keys,
        run: Some(run),
    })
}

fn not_modelled(keys: Spec) -> Option<Def> {
    Some(Def { keys, run: None })
}

/// The definition of an (upper-case) command name; `None` for one not in the table.
pub fn lookup(name: &str) -> Option<Def> {
    match name {
        // Keyspace.
        "DEL" | "UNLINK" | "GETDEL" => def(ALL_KEYS, ks::del),
        "PEXPIREAT" => def(key(1), |d, db, a| ks::expire_at(d, db, a, 1)),
        "EXPIREAT" => def(key(1), |d, db, a| ks::expire_at(d, db, a, 1000)),
        "EXPIRE" | "PEXPIRE" => def(key(1), ks::relative_expire),
        "PERSIST" => def(key(1), ks::persist),
        "RENAME" => def(TWO_KEYS, |d, db, a| ks::rename(d, db, a, false)),
        "RENAMENX" => def(TWO_KEYS, |d, db, a| ks::rename(d, db, a, true)),
        "MOVE" => def(Spec::Move, ks::move_key),
        "COPY" => def(Spec::Copy, ks::copy),
        "SWAPDB" => def(Spec::TwoDbs, |d, _, a| ks::swapdb(d, a)),
        "FLUSHDB" => def(Spec::Db, |d, db, _| ks::flushdb(d, db)),
        "FLUSHALL" => def(Spec::All, |d, _, _| ks::flushall(d)),
        "RESTORE" | "RESTORE-ASKING" => def(key(1), ks::restore),
        // Not keys: function libraries and scripts are not part of the diff.
        "FUNCTION" | "SCRIPT" => def(Spec::None, |_, _, _| Ok(())),
        // Strings.
        "SET" => def(key(1), st::set),
        "SETNX" => def(key(1), st::setnx),
        "SETEX" | "PSETEX" => def(key(1), ks::relative_expire),
        "MSET" => def(range(1, -1, 2), |d, db, a| st::mset(d, db, a, false)),
        "MSETNX" => def(range(1, -1, 2), |d, db, a| st::mset(d, db, a, true)),
        "MSETEX" => def(Spec::NumkeysPairs, st::msetex),
        "DELEX" => not_modelled(key(1)),
        "GETSET" => def(key(1), st::getset),
        "APPEND" => def(key(1), st::append),
        "INCR" => def(key(1), |d, db, a| st::incr_cmd(d, db, a, 1, false)),
        "DECR" => def(key(1), |d, db, a| st::incr_cmd(d, db, a, -1, false)),
        "INCRBY" => def(key(1), |d, db, a| st::incr_cmd(d, db, a, 1, true)),
        "DECRBY" => def(key(1), |d, db, a| st::incr_cmd(d, db, a, -1, true)),
        "SETRANGE" => def(key(1), st::setrange),
        "SETBIT" => def(key(1), st::setbit),
        "GETEX" => def(key(1), st::getex),
        "INCRBYFLOAT" | "BITFIELD" | "PFADD" | "PFCOUNT" | "PFDEBUG" => not_modelled(key(1)),
        "PFMERGE" => not_modelled(ALL_KEYS),
        "BITOP" => not_modelled(range(2, -1, 1)),
        // Lists.
        "LPUSH" => def(key(1), |d, db, a| l::push(d, db, a, true, false)),
        "RPUSH" => def(key(1), |d, db, a| l::push(d, db, a, false, false)),
        "LPUSHX" => def(key(1), |d, db, a| l::push(d, db, a, true, true)),
        "RPUSHX" => def(key(1), |d, db, a| l::push(d, db, a, false, true)),
        "LPOP" => def(key(1), |d, db, a| l::pop(d, db, a, true)),
        "RPOP" => def(key(1), |d, db, a| l::pop(d, db, a, false)),
        "BLPOP" => def(BLOCKING, |d, db, a| l::blocking_pop(d, db, a, true)),
        "BRPOP" => def(BLOCKING, |d, db, a| l::blocking_pop(d, db, a, false)),
        "LMOVE" => def(TWO_KEYS, |d, db, a| l::lmove_cmd(d, db, a, false)),
        "BLMOVE" => def(TWO_KEYS, |d, db, a| l::lmove_cmd(d, db, a, true)),
        "RPOPLPUSH" => def(TWO_KEYS, |d, db, a| l::rpoplpush(d, db, a, false)),
        "BRPOPLPUSH" => def(TWO_KEYS, |d, db, a| l::rpoplpush(d, db, a, true)),
        "LINSERT" => def(key(1), l::linsert),
        "LSET" => def(key(1), l::lset),
        "LREM" => def(key(1), l::lrem),
        "LTRIM" => def(key(1), l::ltrim),
        "LMPOP" | "ZMPOP" => not_modelled(Spec::Numkeys { at: 1 }),
        "BLMPOP" | "BZMPOP" => not_modelled(Spec::Numkeys { at: 2 }),
        // Sets.
        "SADD" => def(key(1), s::sadd),
        "SREM" => def(key(1), s::srem),
        "SMOVE" => def(TWO_KEYS, s::smove),
        "SUNIONSTORE" => def(ALL_KEYS, |d, db, a| s::store(d, db, a, SetOp::Union)),
        "SINTERSTORE" => def(ALL_KEYS, |d, db, a| s::store(d, db, a, SetOp::Inter)),
        "SDIFFSTORE" => def(ALL_KEYS, |d, db, a| s::store(d, db, a, SetOp::Diff)),
        "SPOP" => not_modelled(key(1)),
        // Sorted sets (GEOADD is logged as ZADD).
        "ZADD" => def(key(1), z::zadd),
        "ZINCRBY" => def(key(1), z::zincrby),
        "ZREM" => def(key(1), z::zrem),
        "ZREMRANGEBYSCORE" => def(key(1), |d, db, a| z::zremrange(d, db, a, "SCORE")),
        "ZREMRANGEBYLEX" => def(key(1), |d, db, a| z::zremrange(d, db, a, "LEX")),
        "ZREMRANGEBYRANK" => def(key(1), |d, db, a| z::zremrange(d, db, a, "RANK")),
        "ZPOPMIN" => def(key(1), |d, db, a| z::zpop(d, db, a, false)),
        "ZPOPMAX" => def(key(1), |d, db, a| z::zpop(d, db, a, true)),
        "BZPOPMIN" => def(BLOCKING, |d, db, a| z::bzpop(d, db, a, false)),
        "BZPOPMAX" => def(BLOCKING, |d, db, a| z::bzpop(d, db, a, true)),
        "ZUNIONSTORE" => def(Spec::DestNumkeys, |d, db, a| {
            z::zstore(d, db, a, z::ZOp::Union)
        }),
        "ZINTERSTORE" => def(Spec::DestNumkeys, |d, db, a| {
            z::zstore(d, db, a, z::ZOp::Inter)
        }),
        "ZDIFFSTORE" => def(Spec::DestNumkeys, |d, db, a| {
            z::zstore(d, db, a, z::ZOp::Diff)
        }),
        "ZRANGESTORE" => not_modelled(TWO_KEYS),
        "GEOADD" | "GEORADIUS" | "GEORADIUSBYMEMBER" => not_modelled(key(1)),
        "GEOSEARCHSTORE" => not_modelled(TWO_KEYS),
        "SORT" => not_modelled(Spec::Sort),
        // Hashes.
        "HSET" | "HMSET" => def(key(1), h::hset),
        "HSETNX" => def(key(1), h::hsetnx),
        "HDEL" => def(key(1), h::hdel),
        "HINCRBY" => def(key(1), h::hincrby),
        "HPEXPIREAT" => def(key(1), |d, db, a| h::hexpire_at(d, db, a, 1)),
        "HEXPIREAT" => def(key(1), |d, db, a| h::hexpire_at(d, db, a, 1000)),
        "HPERSIST" => def(key(1), h::hpersist),
        "HGETDEL" => def(key(1), h::hgetdel),
        "HSETEX" => def(key(1), h::hsetex),
        "HINCRBYFLOAT" | "HEXPIRE" | "HPEXPIRE" | "HGETEX" => not_modelled(key(1)),
        // Streams.
        "XADD" => def(key(1), x::xadd),
        "XTRIM" => def(key(1), x::xtrim),
        "XDEL" => def(key(1), x::xdel),
        "XGROUP" => def(key(2), x::xgroup),
        "XSETID" | "XCLAIM" | "XAUTOCLAIM" | "XACK" => def(key(1), x::metadata_only),
        "XDELEX" => def(key(1), x::xdelex),
        // XACKDEL deletes only entries the group had pending (not kept here).
        "XACKDEL" => not_modelled(key(1)),
        _ => None,
    }
}

/// What a command touches, in the db it runs in.
pub enum Touch<'a> {
    Keys(Vec<(u64, &'a [u8])>),
    Db(u64),
    Dbs(u64, u64),
    All,
}

fn db_arg(a: &[u8]) -> Option<u64> {
    std::str::from_utf8(a).ok()?.parse().ok()
}

/// The keys (or dbs) a command touches; `None` when its arguments do not say (a
/// malformed SWAPDB, say), which the replay treats like an unknown command.
pub fn touched<'a>(spec: Spec, db: u64, a: &[&'a [u8]]) -> Option<Touch<'a>> {
    let here = |ks: &[&'a [u8]]| Touch::Keys(ks.iter().map(|k| (db, *k)).collect());
    Some(match spec {
        Spec::None => Touch::Keys(Vec::new()),
        Spec::Range { first, last, step } => {
            let end = if last < 0 {
                a.len() as i64 + last + 1
            } else {
                (last + 1).min(a.len() as i64)
            };
            let end = usize::try_from(end).unwrap_or(0).max(first);
            let ks: Vec<&[u8]> = a
                .get(first..end)
                .unwrap_or_default()
                .iter()
                .step_by(step)
                .copied()
                .collect();
            here(&ks)
        }
        Spec::DestNumkeys => {
            let n: usize = db_arg(a.get(2)?)?.try_into().ok()?;
            let mut ks = vec![*a.get(1)?];
            ks.extend(a.get(3..3usize.checked_add(n)?)?);
            here(&ks)
        }
        Spec::Numkeys { at } => {
            let n: usize = db_arg(a.get(at)?)?.try_into().ok()?;
            here(a.get(at + 1..(at + 1).checked_add(n)?)?)
        }
        Spec::NumkeysPairs => {
            let n: usize = db_arg(a.get(1)?)?.try_into().ok()?;
            let pairs = a.get(2..2usize.checked_add(n.checked_mul(2)?)?)?;
            here(&pairs.iter().step_by(2).copied().collect::<Vec<_>>())
        }
        Spec::Move => Touch::Keys(vec![(db, *a.get(1)?), (db_arg(a.get(2)?)?, a[1])]),
        Spec::Copy => {
            let to = match a.iter().position(|o| o.eq_ignore_ascii_case(b"DB")) {
                Some(i) if i >= 3 => db_arg(a.get(i + 1)?)?,
                _ => db,
            };
            Touch::Keys(vec![(db, *a.get(1)?), (to, *a.get(2)?)])
        }
        Spec::Sort => {
            let mut ks = vec![(db, *a.get(1)?)];
            if let Some(i) = a.iter().position(|o| o.eq_ignore_ascii_case(b"STORE")) {
                ks.push((db, *a.get(i + 1)?));
            }
            Touch::Keys(ks)
        }
        Spec::Db => Touch::Db(db),
        Spec::TwoDbs => Touch::Dbs(db_arg(a.get(1)?)?, db_arg(a.get(2)?)?),
        Spec::All => Touch::All,
    })
}

/// Runs a command the table knows; the not-modelled ones fail (their keys become unknown).
pub fn run(d: &Def, ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    match d.run {
        Some(f) => f(ds, db, a),
        None => unknown("not modelled by the offline replay"),
    }
}
