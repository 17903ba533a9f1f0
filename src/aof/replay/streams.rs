//! Stream commands, entries only: consumer groups, pending entries and the last id are
//! not part of the digest, so XGROUP / XCLAIM / XACK / XSETID change nothing here but
//! must find a stream. Since 6.2 a server logs XADD with the id it generated and an
//! approximate trim (`~`) as an exact one (`=` with the resulting length or first id);
//! an `*` id or a `~` trim in the log cannot be replayed exactly and is unknown.

use super::ops::{count, is, syntax, typed, typed_or_new, unknown, Fail, Res};
use super::state::{Dataset, Entries, Val};
use crate::rdb::stream::StreamId;

fn pick(v: &mut Val) -> Option<&mut Entries> {
    match v {
        Val::Stream(s) => Some(s),
        _ => None,
    }
}

fn new() -> Val {
    Val::Stream(Entries::new())
}

/// An explicit id, `ms-seq` (or `ms`, sequence `default_seq`).
fn id(a: &[u8], default_seq: u64) -> Result<StreamId, Fail> {
    let s = std::str::from_utf8(a).map_or_else(|_| syntax(), Ok)?;
    let (ms, seq) = match s.split_once('-') {
        Some((ms, seq)) => (ms, Some(seq)),
        None => (s, None),
    };
    let num = |t: &str| t.parse::<u64>().map_or_else(|_| syntax(), Ok);
    if ms == "*" || seq == Some("*") {
        return unknown("an id the server generated, not logged as it should be");
    }
    Ok(StreamId {
        ms: num(ms)?,
        seq: seq.map_or(Ok(default_seq), num)?,
    })
}

enum Trim {
    MaxLen(usize),
    MinId(StreamId),
}

/// `MAXLEN|MINID [=|~] threshold [LIMIT n]` at `a[*i]`, advancing `i`.
fn trim_spec(a: &[&[u8]], i: &mut usize) -> Result<Trim, Fail> {
    let maxlen = is(a[*i], "MAXLEN");
    *i += 1;
    match a.get(*i) {
        Some(&b"=") => *i += 1,
        Some(&b"~") => return unknown("an approximate trim cannot be replayed exactly"),
        _ => {}
    }
    let t = a.get(*i).copied().map_or_else(syntax, Ok)?;
    *i += 1;
    let spec = if maxlen {
        Trim::MaxLen(count(t)?)
    } else {
        Trim::MinId(id(t, 0)?)
    };
    // A loading server ignores LIMIT (the threshold was rewritten to be exact).
    if a.get(*i).is_some_and(|o| is(o, "LIMIT")) {
        *i += 2;
    }
    Ok(spec)
}

fn trim(s: &mut Entries, t: &Trim) {
    match t {
        Trim::MaxLen(n) => {
            while s.len() > *n {
                s.pop_first();
            }
        }
        Trim::MinId(min) => *s = s.split_off(min),
    }
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=] threshold [LIMIT n]] id field value...
pub fn xadd(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    let mut i = 2;
    let (mut nomk, mut spec) = (false, None);
    while i < a.len() {
        if is(a[i], "NOMKSTREAM") {
            nomk = true;
            i += 1;
        } else if is(a[i], "MAXLEN") || is(a[i], "MINID") {
            spec = Some(trim_spec(a, &mut i)?);
        } else {
            break;
        }
    }
    let rest = &a[i.min(a.len())..];
    if rest.len() < 3 || rest.len() % 2 == 0 {
        return syntax();
    }
    let at = id(rest[0], 0)?;
    if nomk && typed(ds, db, a[1], pick)?.is_none() {
        return Ok(());
    }
    let s = typed_or_new(ds, db, a[1], new, pick)?;
    if s.last_key_value().is_some_and(|(last, _)| *last >= at) {
        return unknown("an id not above the stream's last (the server would refuse it)");
    }
    let fields = rest[1..]
        .chunks(2)
        .map(|p| (p[0].to_vec(), p[1].to_vec()))
        .collect();
    s.insert(at, fields);
    if let Some(t) = spec {
        trim(s, &t);
    }
    Ok(())
}

pub fn xtrim(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() < 4 || !(is(a[2], "MAXLEN") || is(a[2], "MINID")) {
        return syntax();
    }
    let mut i = 2;
    let t = trim_spec(a, &mut i)?;
    if i != a.len() {
        return syntax();
    }
    if let Some(s) = typed(ds, db, a[1], pick)? {
        trim(s, &t);
    }
    Ok(())
}

pub fn xdel(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() < 3 {
        return syntax();
    }
    delete_ids(ds, db, a[1], &a[2..])
}

/// Deletes the entries `ids` (all parsed first: one bad id and nothing is deleted).
fn delete_ids(ds: &mut Dataset, db: u64, key: &[u8], ids: &[&[u8]]) -> Res {
    let ids = ids
        .iter()
        .map(|x| id(x, 0))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(s) = typed(ds, db, key, pick)? {
        for x in ids {
            s.remove(&x);
        }
    }
    Ok(())
}

/// XDELEX key [KEEPREF|DELREF|ACKED] IDS n id... (Redis 8.2+): with KEEPREF (the
/// default) or DELREF the entries are deleted whatever groups hold; ACKED depends on
/// every group's pending entries, which the replay does not keep, so it is unknown (as
/// is XACKDEL, which deletes only the entries its group had pending: checked on 8.6.3).
pub fn xdelex(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    let mut i = 2;
    if a.len() <= i {
        return syntax();
    }
    if is(a[i], "KEEPREF") || is(a[i], "DELREF") {
        i += 1;
    } else if is(a[i], "ACKED") {
        return unknown("ACKED depends on the consumer groups' pending entries");
    }
    if a.len() < i + 3 || !is(a[i], "IDS") {
        return syntax();
    }
    let n = count(a[i + 1])?;
    let list = &a[i + 2..];
    if n == 0 || list.len() != n {
        return syntax();
    }
    delete_ids(ds, db, a[1], list)
}

/// XGROUP CREATE key group id [MKSTREAM] creates an empty stream; every other XGROUP
/// form, XSETID, XCLAIM, XACK and XAUTOCLAIM only need the key to be a stream.
pub fn xgroup(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() < 3 {
        return syntax();
    }
    let mk = is(a[1], "CREATE") && a[3..].iter().any(|o| is(o, "MKSTREAM"));
    if mk {
        typed_or_new(ds, db, a[2], new, pick)?;
    } else if typed(ds, db, a[2], pick)?.is_none() {
        return unknown("a consumer-group command on a missing key (the server would refuse it)");
    }
    Ok(())
}

pub fn metadata_only(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() < 2 {
        return syntax();
    }
    if typed(ds, db, a[1], pick)?.is_none() {
        return unknown("a stream command on a missing key (the server would refuse it)");
    }
    Ok(())
}
