//! Hash commands, with Redis 7.4+ field expiries as they are logged: HEXPIRE,
//! HPEXPIRE and HEXPIREAT become `HPEXPIREAT key ms [cond] FIELDS n f..`, a field that
//! expires becomes `HDEL`. HSET replaces a field's expiry (the field loses it), HINCRBY
//! keeps it. HINCRBYFLOAT is logged as HSET with the server's formatting of the result.

use std::collections::HashMap;

use super::ops::{
    absolute_expiry, count, int, is, parse_ll, syntax, typed, typed_or_new, unknown, Res,
};
use super::state::{Dataset, Field, Val};

type Hash = HashMap<Vec<u8>, Field>;

fn pick(v: &mut Val) -> Option<&mut Hash> {
    match v {
        Val::Hash(h) => Some(h),
        _ => None,
    }
}

fn new() -> Val {
    Val::Hash(Hash::new())
}

/// HSET / HMSET key field value...
pub fn hset(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() < 4 || a.len() % 2 != 0 {
        return syntax();
    }
    let h = typed_or_new(ds, db, a[1], new, pick)?;
    for p in a[2..].chunks(2) {
        h.insert(
            p[0].to_vec(),
            Field {
                value: p[1].to_vec(),
                expire: None,
            },
        );
    }
    Ok(())
}

pub fn hsetnx(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() != 4 {
        return syntax();
    }
    let h = typed_or_new(ds, db, a[1], new, pick)?;
    h.entry(a[2].to_vec()).or_insert_with(|| Field {
        value: a[3].to_vec(),
        expire: None,
    });
    Ok(())
}

pub fn hdel(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() < 3 {
        return syntax();
    }
    if let Some(h) = typed(ds, db, a[1], pick)? {
        for f in &a[2..] {
            h.remove(*f);
        }
    }
    ds.drop_if_empty(db, a[1]);
    Ok(())
}

/// HINCRBY key field n: the field must hold a `string2ll` integer; its expiry stays.
pub fn hincrby(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() != 4 {
        return syntax();
    }
    let by = int(a[3])?;
    let h = typed_or_new(ds, db, a[1], new, pick)?;
    let f = h.entry(a[2].to_vec()).or_insert_with(|| Field {
        value: b"0".to_vec(),
        expire: None,
    });
    let next = parse_ll(&f.value)
        .and_then(|cur| cur.checked_add(by))
        .map_or_else(
            || {
                unknown(
                    "the field is not an integer or would overflow (the server would refuse it)",
                )
            },
            Ok,
        )?;
    f.value = next.to_string().into_bytes();
    Ok(())
}

/// The fields after `FIELDS n` at `a[at]`.
fn fields<'a>(a: &'a [&'a [u8]], at: usize) -> Result<&'a [&'a [u8]], super::ops::Fail> {
    if a.len() < at + 2 || !is(a[at], "FIELDS") {
        return syntax();
    }
    let n = count(a[at + 1])?;
    if n == 0 || a.len() - (at + 2) != n {
        return syntax();
    }
    Ok(&a[at + 2..])
}

/// HPEXPIREAT / HEXPIREAT key time [NX|XX|GT|LT] FIELDS n field... (conditions as for
/// key expiries, a field without expiry counting as infinite).
pub fn hexpire_at(ds: &mut Dataset, db: u64, a: &[&[u8]], unit_ms: i64) -> Res {
    if a.len() < 6 {
        return syntax();
    }
    let when = int(a[2])?.saturating_mul(unit_ms);
    let cond = if is(a[3], "FIELDS") { None } else { Some(a[3]) };
    let list = fields(a, 3 + usize::from(cond.is_some()))?;
    let Some(h) = typed(ds, db, a[1], pick)? else {
        return Ok(());
    };
    for f in list {
        let Some(field) = h.get_mut(*f) else { continue };
        let cur = field.expire;
        let refused = match cond {
            None => false,
            Some(c) if is(c, "NX") => cur.is_some(),
            Some(c) if is(c, "XX") => cur.is_none(),
            Some(c) if is(c, "GT") => cur.is_none_or(|c| when <= c),
            Some(c) if is(c, "LT") => cur.is_some_and(|c| when >= c),
            Some(_) => return syntax(),
        };
        if !refused {
            field.expire = Some(when);
        }
    }
    Ok(())
}

/// HGETDEL key FIELDS n field... (Valkey 9 logs it as is, Redis 8 as HDEL).
pub fn hgetdel(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    let list = fields(a, 2)?;
    if let Some(h) = typed(ds, db, a[1], pick)? {
        for f in list {
            h.remove(*f);
        }
    }
    ds.drop_if_empty(db, a[1]);
    Ok(())
}

pub fn hpersist(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    let list = fields(a, 2)?;
    if let Some(h) = typed(ds, db, a[1], pick)? {
        for f in list {
            if let Some(field) = h.get_mut(*f) {
                field.expire = None;
            }
        }
    }
    Ok(())
}

/// HSETEX key [NX|XX] [FNX|FXX] [EXAT s|PXAT ms|KEEPTTL] FIELDS n field value...
/// (Redis 8.0+ without the key-level NX|XX, Valkey 9 with them). Redis 8 logs
/// HINCRBYFLOAT as `HSETEX .. KEEPTTL`; Valkey 9 logs HINCRBY on a field with an
/// expiry as `HSETEX .. PXAT`. Without an expiry option the field loses its expiry.
pub fn hsetex(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    let (mut nx, mut xx, mut fnx, mut fxx, mut keep) = (false, false, false, false, false);
    let mut expire = None;
    let mut i = 2;
    while i < a.len() && !is(a[i], "FIELDS") {
        let o = a[i];
        match () {
            _ if is(o, "NX") => nx = true,
            _ if is(o, "XX") => xx = true,
            _ if is(o, "FNX") => fnx = true,
            _ if is(o, "FXX") => fxx = true,
            _ if is(o, "KEEPTTL") => keep = true,
            _ => match absolute_expiry(a, &mut i) {
                Some(at) => expire = Some(at?),
                None => return syntax(),
            },
        }
        i += 1;
    }
    if a.len() < i + 2 {
        return syntax();
    }
    let n = count(a[i + 1])?;
    let pairs = &a[i + 2..];
    if n == 0 || pairs.len() % 2 != 0 || pairs.len() / 2 != n {
        return syntax();
    }
    let found = typed(ds, db, a[1], pick)?.is_some();
    if (nx && found) || (xx && !found) {
        return Ok(());
    }
    let h = typed_or_new(ds, db, a[1], new, pick)?;
    let present = pairs.chunks(2).filter(|p| h.contains_key(p[0])).count();
    if (fnx && present > 0) || (fxx && present < n) {
        ds.drop_if_empty(db, a[1]);
        return Ok(());
    }
    for p in pairs.chunks(2) {
        let old = h.get(p[0]).and_then(|f| f.expire);
        h.insert(
            p[0].to_vec(),
            Field {
                value: p[1].to_vec(),
                expire: if keep { old } else { expire },
            },
        );
    }
    Ok(())
}
