//! Commands on whole keys and dbs: DEL, expiries, RENAME, MOVE, COPY, SWAPDB, FLUSH*,
//! RESTORE. Expiry times are kept as written, never applied: a server loading an AOF
//! does not expire keys either, and an RDB keeps expired keys until they are deleted
//! (their deletion is itself logged as a DEL).

use super::ops::{int, is, syntax, unknown, Fail, Res};
use super::state::{Dataset, Obj, Val};

pub fn del(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    for k in &a[1..] {
        ds.remove(db, k);
    }
    Ok(())
}

/// EXPIREAT / PEXPIREAT with NX|XX|GT|LT, as `expireGenericCommand` decides (a missing
/// expiry counts as infinite). Relative forms need the server's clock: a 7.0+ server
/// logs them as PEXPIREAT and 6.x's AOF feed translates them, so they are unknown here.
pub fn expire_at(ds: &mut Dataset, db: u64, a: &[&[u8]], unit_ms: i64) -> Res {
    if a.len() < 3 {
        return syntax();
    }
    let when = int(a[2])?.saturating_mul(unit_ms);
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for o in &a[3..] {
        match () {
            _ if is(o, "NX") => nx = true,
            _ if is(o, "XX") => xx = true,
            _ if is(o, "GT") => gt = true,
            _ if is(o, "LT") => lt = true,
            _ => return syntax(),
        }
    }
    let Some(obj) = existing(ds, db, a[1])? else {
        return Ok(());
    };
    let cur = obj.expire;
    let refused = (nx && cur.is_some())
        || (xx && cur.is_none())
        || (gt && cur.is_none_or(|c| when <= c))
        || (lt && cur.is_some_and(|c| when >= c));
    if !refused {
        obj.expire = Some(when);
    }
    Ok(())
}

pub fn relative_expire(_: &mut Dataset, _: u64, _: &[&[u8]]) -> Res {
    unknown("a relative expiry needs the server's clock (7.0+ logs PEXPIREAT instead)")
}

pub fn persist(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if let Some(obj) = existing(ds, db, a.get(1).copied().unwrap_or_default())? {
        obj.expire = None;
    }
    Ok(())
}

/// A key of any known type; an unknown one fails (its expiry is unknown too).
fn existing<'d>(ds: &'d mut Dataset, db: u64, key: &[u8]) -> Result<Option<&'d mut Obj>, Fail> {
    match ds.get_mut(db, key) {
        Some(Obj {
            val: Val::Unknown(r),
            ..
        }) => Err(Fail::Inherit(r.clone())),
        o => Ok(o),
    }
}

/// RENAME / RENAMENX: the value and its expiry move; the destination is replaced.
pub fn rename(ds: &mut Dataset, db: u64, a: &[&[u8]], nx: bool) -> Res {
    if a.len() != 3 {
        return syntax();
    }
    let (src, dst) = (a[1], a[2]);
    if ds.get(db, src).is_none() {
        return unknown("RENAME of a missing key (the server would refuse it)");
    }
    if src == dst || (nx && exists(ds, db, dst)?) {
        return Ok(());
    }
    let obj = ds.remove(db, src).expect("present");
    ds.insert(db, dst, obj);
    Ok(())
}

/// MOVE key db: nothing happens when the target db already has the key.
pub fn move_key(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() != 3 {
        return syntax();
    }
    let to = u64::try_from(int(a[2])?).map_or_else(|_| syntax(), Ok)?;
    if to == db || !exists(ds, db, a[1])? || exists(ds, to, a[1])? {
        return Ok(());
    }
    let obj = ds.remove(db, a[1]).expect("present");
    ds.insert(to, a[1], obj);
    Ok(())
}

/// COPY src dst [DB n] [REPLACE]: value and expiry are copied.
pub fn copy(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() < 3 {
        return syntax();
    }
    let (mut to, mut replace) = (db, false);
    let mut i = 3;
    while i < a.len() {
        if is(a[i], "REPLACE") {
            replace = true;
        } else if is(a[i], "DB") && i + 1 < a.len() {
            to = u64::try_from(int(a[i + 1])?).map_or_else(|_| syntax(), Ok)?;
            i += 1;
        } else {
            return syntax();
        }
        i += 1;
    }
    if a[1] == a[2] && to == db {
        return unknown("COPY onto itself (the server would refuse it)");
    }
    let Some(obj) = ds.get(db, a[1]).cloned() else {
        return Ok(());
    };
    if !replace && exists(ds, to, a[2])? {
        return Ok(());
    }
    ds.insert(to, a[2], obj);
    Ok(())
}

pub fn swapdb(ds: &mut Dataset, a: &[&[u8]]) -> Res {
    if a.len() != 3 {
        return syntax();
    }
    let x = u64::try_from(int(a[1])?).map_or_else(|_| syntax(), Ok)?;
    let y = u64::try_from(int(a[2])?).map_or_else(|_| syntax(), Ok)?;
    let vx = ds.dbs.remove(&x).unwrap_or_default();
    let vy = ds.dbs.remove(&y).unwrap_or_default();
    ds.dbs.insert(x, vy);
    ds.dbs.insert(y, vx);
    Ok(())
}

pub fn flushdb(ds: &mut Dataset, db: u64) -> Res {
    ds.dbs.remove(&db);
    Ok(())
}

pub fn flushall(ds: &mut Dataset) -> Res {
    ds.dbs.clear();
    Ok(())
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]. A 7.0+ server logs
/// the TTL as ABSTTL; a relative one cannot be resolved offline.
pub fn restore(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() < 4 {
        return syntax();
    }
    let ttl = int(a[2])?;
    let (mut replace, mut absttl) = (false, false);
    let mut i = 4;
    while i < a.len() {
        match () {
            _ if is(a[i], "REPLACE") => replace = true,
            _ if is(a[i], "ABSTTL") => absttl = true,
            _ if (is(a[i], "IDLETIME") || is(a[i], "FREQ")) && i + 1 < a.len() => i += 1,
            _ => return syntax(),
        }
        i += 1;
    }
    if ttl < 0 {
        return syntax();
    }
    if ttl > 0 && !absttl {
        return unknown("a relative RESTORE TTL needs the server's clock");
    }
    if !replace && exists(ds, db, a[1])? {
        return unknown(
            "RESTORE onto an existing key without REPLACE (the server would refuse it)",
        );
    }
    let val = Val::from_payload(a[3]).map_err(|e| Fail::Unknown(format!("payload: {e}")))?;
    ds.insert(
        db,
        a[1],
        Obj {
            val,
            expire: (ttl > 0).then_some(ttl),
        },
    );
    Ok(())
}

/// Whether a key exists; an unknown key may or may not, so a decision on it fails.
pub fn exists(ds: &Dataset, db: u64, key: &[u8]) -> Result<bool, Fail> {
    match ds.get(db, key) {
        Some(Obj {
            val: Val::Unknown(r),
            ..
        }) => Err(Fail::Inherit(r.clone())),
        o => Ok(o.is_some()),
    }
}
