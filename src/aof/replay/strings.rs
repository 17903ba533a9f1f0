//! String commands in the forms a server logs them. Relative expiries (`SET EX`,
//! `SETEX`, `PSETEX`, `GETEX EX`) are logged by 7.0+ as `SET .. PXAT` / `PEXPIREAT`
//! and by 6.x's AOF feed as `SET` + `PEXPIREAT`; they are unknown here. INCRBYFLOAT is
//! logged as `SET .. KEEPTTL` with the server's own formatting of the result, so no
//! long-double arithmetic is needed; an INCRBYFLOAT in the log is unknown.

use super::keyspace::exists;
use super::ops::{absolute_expiry, int, is, syntax, typed, typed_or_new, unknown, Fail, Res};
use super::state::{Dataset, Obj, Val};

/// A string's largest size (`proto-max-bulk-len` default, 512 MB): bigger results are
/// refused by the server, and never allocated here.
const MAX_STRING: usize = 512 << 20;

fn pick(v: &mut Val) -> Option<&mut Vec<u8>> {
    match v {
        Val::Str(s) => Some(s),
        _ => None,
    }
}

fn new() -> Val {
    Val::Str(Vec::new())
}

/// Replaces the key with a string; `expire` is the new expiry.
fn put(ds: &mut Dataset, db: u64, key: &[u8], value: &[u8], expire: Option<i64>) {
    ds.insert(
        db,
        key,
        Obj {
            val: Val::Str(value.to_vec()),
            expire,
        },
    );
}

/// The current expiry of a key (for KEEPTTL), failing on an unknown key.
fn expiry(ds: &Dataset, db: u64, key: &[u8]) -> Result<Option<i64>, Fail> {
    match ds.get(db, key) {
        Some(Obj {
            val: Val::Unknown(r),
            ..
        }) => Err(Fail::Inherit(r.clone())),
        o => Ok(o.and_then(|o| o.expire)),
    }
}

/// SET key value [NX|XX|IFEQ v|IFNE v] [GET] [EXAT s|PXAT ms|KEEPTTL] (EX/PX are
/// unknown: see above; IFEQ sets only over an equal string value, IFNE over anything
/// else or nothing; the digest forms IFDEQ/IFDNE are unknown).
pub fn set(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() < 3 {
        return syntax();
    }
    let (mut nx, mut xx, mut keepttl) = (false, false, false);
    let mut cond: Option<(bool, &[u8])> = None;
    let mut expire = None;
    let mut i = 3;
    while i < a.len() {
        let o = a[i];
        let arg = a.get(i + 1).copied();
        match () {
            _ if is(o, "NX") => nx = true,
            _ if is(o, "XX") => xx = true,
            _ if is(o, "GET") => {}
            _ if is(o, "KEEPTTL") => keepttl = true,
            _ if is(o, "PXAT") || is(o, "EXAT") => {
                let t = int(arg.map_or_else(syntax, Ok)?)?;
                expire = Some(if is(o, "EXAT") {
                    t.saturating_mul(1000)
                } else {
                    t
                });
                i += 1;
            }
            _ if is(o, "EX") || is(o, "PX") => {
                return unknown("a relative expiry needs the server's clock")
            }
            _ if (is(o, "IFEQ") || is(o, "IFNE")) && arg.is_some() => {
                cond = Some((is(o, "IFEQ"), arg.unwrap_or_default()));
                i += 1;
            }
            _ => return unknown("an option the replay does not model"),
        }
        i += 1;
    }
    if nx || xx {
        let found = exists(ds, db, a[1])?;
        if (nx && found) || (xx && !found) {
            return Ok(());
        }
    }
    if let Some((eq, v)) = cond {
        let same = typed(ds, db, a[1], pick)?.is_some_and(|cur| cur.as_slice() == v);
        if same != eq {
            return Ok(());
        }
    }
    if keepttl && expire.is_none() {
        expire = expiry(ds, db, a[1])?;
    }
    put(ds, db, a[1], a[2], expire);
    Ok(())
}

/// MSETEX numkeys key value... [NX|XX] [EXAT s|PXAT ms|KEEPTTL] (Redis 8.4+, Valkey
/// 9.1+; logged with PXAT): NX sets only when no key exists, XX only when all do.
pub fn msetex(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    let n = super::ops::count(a.get(1).copied().unwrap_or_default())?;
    let end = n.checked_mul(2).and_then(|p| p.checked_add(2));
    let Some(end) = end.filter(|&e| n > 0 && e <= a.len()) else {
        return syntax();
    };
    let (mut nx, mut xx, mut keepttl, mut expire) = (false, false, false, None);
    let mut i = end;
    while i < a.len() {
        let o = a[i];
        match () {
            _ if is(o, "NX") => nx = true,
            _ if is(o, "XX") => xx = true,
            _ if is(o, "KEEPTTL") => keepttl = true,
            _ => match absolute_expiry(a, &mut i) {
                Some(at) => expire = Some(at?),
                None => return syntax(),
            },
        }
        i += 1;
    }
    let pairs = &a[2..end];
    if nx || xx {
        for p in pairs.chunks(2) {
            let found = exists(ds, db, p[0])?;
            if (nx && found) || (xx && !found) {
                return Ok(());
            }
        }
    }
    for p in pairs.chunks(2) {
        let e = if keepttl {
            expiry(ds, db, p[0])?
        } else {
            expire
        };
        put(ds, db, p[0], p[1], e);
    }
    Ok(())
}

pub fn setnx(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() != 3 {
        return syntax();
    }
    if !exists(ds, db, a[1])? {
        put(ds, db, a[1], a[2], None);
    }
    Ok(())
}

/// MSET / MSETNX (NX: nothing when any key exists). Expiries are cleared.
pub fn mset(ds: &mut Dataset, db: u64, a: &[&[u8]], nx: bool) -> Res {
    if a.len() < 3 || a.len() % 2 == 0 {
        return syntax();
    }
    if nx {
        for pair in a[1..].chunks(2) {
            if exists(ds, db, pair[0])? {
                return Ok(());
            }
        }
    }
    for pair in a[1..].chunks(2) {
        put(ds, db, pair[0], pair[1], None);
    }
    Ok(())
}

/// GETSET: SET without options (the expiry is cleared).
pub fn getset(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() != 3 {
        return syntax();
    }
    typed(ds, db, a[1], pick)?;
    put(ds, db, a[1], a[2], None);
    Ok(())
}

pub fn append(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() != 3 {
        return syntax();
    }
    let s = typed_or_new(ds, db, a[1], new, pick)?;
    if s.len() + a[2].len() > MAX_STRING {
        return syntax();
    }
    s.extend_from_slice(a[2]);
    Ok(())
}

/// INCR/DECR/INCRBY/DECRBY: the value must be a `string2ll` integer; the expiry stays.
pub fn incr_by(ds: &mut Dataset, db: u64, key: &[u8], by: i64) -> Res {
    let s = typed_or_new(ds, db, key, || Val::Str(b"0".to_vec()), pick)?;
    let cur = super::ops::parse_ll(s).map_or_else(
        || unknown("the value is not an integer (the server would refuse it)"),
        Ok,
    )?;
    let next = cur
        .checked_add(by)
        .map_or_else(|| unknown("increment or decrement would overflow"), Ok)?;
    *s = next.to_string().into_bytes();
    Ok(())
}

pub fn incr_cmd(ds: &mut Dataset, db: u64, a: &[&[u8]], sign: i64, by_arg: bool) -> Res {
    if a.len() != 2 + usize::from(by_arg) {
        return syntax();
    }
    let by = if by_arg { int(a[2])? } else { 1 };
    let by = if sign < 0 {
        by.checked_neg().map_or_else(syntax, Ok)?
    } else {
        by
    };
    incr_by(ds, db, a[1], by)
}

/// SETRANGE: zero-padded; an empty value changes nothing (and creates nothing).
pub fn setrange(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() != 4 {
        return syntax();
    }
    let off = usize::try_from(int(a[2])?).map_or_else(|_| syntax(), Ok)?;
    let v = a[3];
    if v.is_empty() {
        typed(ds, db, a[1], pick)?;
        return Ok(());
    }
    if off.saturating_add(v.len()) > MAX_STRING {
        return syntax();
    }
    let s = typed_or_new(ds, db, a[1], new, pick)?;
    if s.len() < off + v.len() {
        s.resize(off + v.len(), 0);
    }
    s[off..off + v.len()].copy_from_slice(v);
    Ok(())
}

/// SETBIT key offset 0|1: bit 0 is the most significant bit of byte 0.
pub fn setbit(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() != 4 {
        return syntax();
    }
    let off = usize::try_from(int(a[2])?).map_or_else(|_| syntax(), Ok)?;
    let on = match a[3] {
        b"1" => true,
        b"0" => false,
        _ => return syntax(),
    };
    let byte = off >> 3;
    if byte >= MAX_STRING {
        return syntax();
    }
    let s = typed_or_new(ds, db, a[1], new, pick)?;
    if s.len() <= byte {
        s.resize(byte + 1, 0);
    }
    let mask = 1u8 << (7 - (off & 7));
    if on {
        s[byte] |= mask;
    } else {
        s[byte] &= !mask;
    }
    Ok(())
}

/// GETEX key [EXAT s|PXAT ms|PERSIST] (a 7.0+ server logs PEXPIREAT / PERSIST).
pub fn getex(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() < 2 {
        return syntax();
    }
    if typed(ds, db, a[1], pick)?.is_none() {
        return Ok(());
    }
    let expire = match &a[2..] {
        [] => return Ok(()),
        [o] if is(o, "PERSIST") => None,
        [o, t] if is(o, "PXAT") => Some(int(t)?),
        [o, t] if is(o, "EXAT") => Some(int(t)?.saturating_mul(1000)),
        [o, _] if is(o, "EX") || is(o, "PX") => {
            return unknown("a relative expiry needs the server's clock")
        }
        _ => return syntax(),
    };
    if let Some(o) = ds.get_mut(db, a[1]) {
        o.expire = expire;
    }
    Ok(())
}
