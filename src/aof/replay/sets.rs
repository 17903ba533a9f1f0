//! Set commands. SPOP is random and is logged as the SREM (or DEL) of what it popped,
//! so an SPOP in the log is unknown.

use std::collections::HashSet;

use super::ops::{syntax, typed, typed_or_new, Fail, Res};
use super::state::{Dataset, Val};

fn pick(v: &mut Val) -> Option<&mut HashSet<Vec<u8>>> {
    match v {
        Val::Set(s) => Some(s),
        _ => None,
    }
}

pub fn sadd(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() < 3 {
        return syntax();
    }
    let s = typed_or_new(ds, db, a[1], || Val::Set(HashSet::new()), pick)?;
    for m in &a[2..] {
        s.insert(m.to_vec());
    }
    Ok(())
}

pub fn srem(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() < 3 {
        return syntax();
    }
    if let Some(s) = typed(ds, db, a[1], pick)? {
        for m in &a[2..] {
            s.remove(*m);
        }
    }
    ds.drop_if_empty(db, a[1]);
    Ok(())
}

/// SMOVE src dst member (the destination's type is checked first).
pub fn smove(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() != 4 {
        return syntax();
    }
    let present = typed(ds, db, a[1], pick)?.is_some_and(|s| s.contains(a[3]));
    typed(ds, db, a[2], pick)?;
    if !present || a[1] == a[2] {
        return Ok(());
    }
    typed(ds, db, a[1], pick)?.expect("present").remove(a[3]);
    ds.drop_if_empty(db, a[1]);
    typed_or_new(ds, db, a[2], || Val::Set(HashSet::new()), pick)?.insert(a[3].to_vec());
    Ok(())
}

#[derive(Clone, Copy)]
pub enum SetOp {
    Union,
    Inter,
    Diff,
}

/// SUNIONSTORE / SINTERSTORE / SDIFFSTORE dst key...: the result replaces dst (no
/// expiry); an empty result deletes it.
pub fn store(ds: &mut Dataset, db: u64, a: &[&[u8]], op: SetOp) -> Res {
    if a.len() < 3 {
        return syntax();
    }
    let mut sources: Vec<Option<HashSet<Vec<u8>>>> = Vec::new();
    for k in &a[2..] {
        sources.push(typed(ds, db, k, pick)?.map(|s| s.clone()));
    }
    let mut it = sources.into_iter();
    let first = it.next().flatten().unwrap_or_default();
    let result = match op {
        SetOp::Union => it.flatten().fold(first, |mut acc, s| {
            acc.extend(s);
            acc
        }),
        SetOp::Inter => it.fold(first, |acc, s| match s {
            None => HashSet::new(),
            Some(s) => acc.into_iter().filter(|m| s.contains(m)).collect(),
        }),
        SetOp::Diff => it.flatten().fold(first, |acc, s| {
            acc.into_iter().filter(|m| !s.contains(m)).collect()
        }),
    };
    ds.store(db, a[1], Val::Set(result));
    Ok::<(), Fail>(())
}
