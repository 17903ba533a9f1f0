//! List commands. Blocking pops are logged as the plain pop or move that served them
//! (`LPOP key [count]`, `LMOVE`); the blocking names are accepted too, popping from
//! the first non-empty key as the server would.

use std::collections::VecDeque;

use super::ops::{count, int, is, syntax, typed, typed_or_new, Res};
use super::state::{Dataset, Val};

fn pick(v: &mut Val) -> Option<&mut VecDeque<Vec<u8>>> {
    match v {
        Val::List(l) => Some(l),
        _ => None,
    }
}

fn new() -> Val {
    Val::List(VecDeque::new())
}

/// LPUSH/RPUSH (and the X forms, which need an existing list).
pub fn push(ds: &mut Dataset, db: u64, a: &[&[u8]], left: bool, only_existing: bool) -> Res {
    if a.len() < 3 {
        return syntax();
    }
    let l = if only_existing {
        match typed(ds, db, a[1], pick)? {
            Some(l) => l,
            None => return Ok(()),
        }
    } else {
        typed_or_new(ds, db, a[1], new, pick)?
    };
    for v in &a[2..] {
        if left {
            l.push_front(v.to_vec());
        } else {
            l.push_back(v.to_vec());
        }
    }
    Ok(())
}

/// LPOP/RPOP key [count].
pub fn pop(ds: &mut Dataset, db: u64, a: &[&[u8]], left: bool) -> Res {
    let n = match a.len() {
        2 => 1,
        3 => count(a[2])?,
        _ => return syntax(),
    };
    if let Some(l) = typed(ds, db, a[1], pick)? {
        for _ in 0..n.min(l.len()) {
            if left {
                l.pop_front();
            } else {
                l.pop_back();
            }
        }
    }
    ds.drop_if_empty(db, a[1]);
    Ok(())
}

/// BLPOP/BRPOP key... timeout: one element from the first non-empty list.
pub fn blocking_pop(ds: &mut Dataset, db: u64, a: &[&[u8]], left: bool) -> Res {
    if a.len() < 3 {
        return syntax();
    }
    for k in &a[1..a.len() - 1] {
        if typed(ds, db, k, pick)?.is_some_and(|l| !l.is_empty()) {
            return pop(ds, db, &[a[0], k], left);
        }
    }
    Ok(())
}

fn side(w: &[u8]) -> Result<bool, super::ops::Fail> {
    if is(w, "LEFT") {
        Ok(true)
    } else if is(w, "RIGHT") {
        Ok(false)
    } else {
        syntax()
    }
}

/// LMOVE src dst LEFT|RIGHT LEFT|RIGHT (and RPOPLPUSH = RIGHT LEFT). The destination's
/// type is checked before anything is popped.
pub fn lmove(
    ds: &mut Dataset,
    db: u64,
    src: &[u8],
    dst: &[u8],
    from_left: bool,
    to_left: bool,
) -> Res {
    let Some(l) = typed(ds, db, src, pick)? else {
        return Ok(());
    };
    let v = if from_left {
        l.pop_front()
    } else {
        l.pop_back()
    };
    let Some(v) = v else { return Ok(()) };
    if src != dst {
        // Put it back while the destination is checked, so a refusal changes nothing.
        let check = typed(ds, db, dst, pick).map(|_| ());
        if let Err(e) = check {
            let l = typed(ds, db, src, pick)?.expect("present");
            if from_left {
                l.push_front(v);
            } else {
                l.push_back(v);
            }
            return Err(e);
        }
    }
    let d = typed_or_new(ds, db, dst, new, pick)?;
    if to_left {
        d.push_front(v);
    } else {
        d.push_back(v);
    }
    ds.drop_if_empty(db, src);
    Ok(())
}

pub fn lmove_cmd(ds: &mut Dataset, db: u64, a: &[&[u8]], blocking: bool) -> Res {
    if a.len() != 5 + usize::from(blocking) {
        return syntax();
    }
    lmove(ds, db, a[1], a[2], side(a[3])?, side(a[4])?)
}

pub fn rpoplpush(ds: &mut Dataset, db: u64, a: &[&[u8]], blocking: bool) -> Res {
    if a.len() != 3 + usize::from(blocking) {
        return syntax();
    }
    lmove(ds, db, a[1], a[2], false, true)
}

/// LINSERT key BEFORE|AFTER pivot value.
pub fn linsert(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() != 5 {
        return syntax();
    }
    let after = if is(a[2], "AFTER") {
        true
    } else if is(a[2], "BEFORE") {
        false
    } else {
        return syntax();
    };
    if let Some(l) = typed(ds, db, a[1], pick)? {
        if let Some(i) = l.iter().position(|v| v == a[3]) {
            l.insert(i + usize::from(after), a[4].to_vec());
        }
    }
    Ok(())
}

pub fn lset(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() != 4 {
        return syntax();
    }
    let i = int(a[2])?;
    let Some(l) = typed(ds, db, a[1], pick)? else {
        return syntax();
    };
    let len = l.len() as i64;
    let i = if i < 0 { len + i } else { i };
    if i < 0 || i >= len {
        return syntax();
    }
    l[i as usize] = a[3].to_vec();
    Ok(())
}

/// LREM key count value: count > 0 from the head, < 0 from the tail, 0 all.
pub fn lrem(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() != 4 {
        return syntax();
    }
    let n = int(a[2])?;
    if let Some(l) = typed(ds, db, a[1], pick)? {
        let limit = if n == 0 {
            usize::MAX
        } else {
            n.unsigned_abs() as usize
        };
        let mut removed = 0;
        let mut kept: VecDeque<Vec<u8>> = VecDeque::with_capacity(l.len());
        let from_tail = n < 0;
        let items: Box<dyn Iterator<Item = Vec<u8>>> = if from_tail {
            Box::new(std::mem::take(l).into_iter().rev())
        } else {
            Box::new(std::mem::take(l).into_iter())
        };
        for v in items {
            if removed < limit && v == a[3] {
                removed += 1;
            } else if from_tail {
                kept.push_front(v);
            } else {
                kept.push_back(v);
            }
        }
        *l = kept;
    }
    ds.drop_if_empty(db, a[1]);
    Ok(())
}

/// LTRIM key start stop.
pub fn ltrim(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() != 4 {
        return syntax();
    }
    let (start, stop) = (int(a[2])?, int(a[3])?);
    if let Some(l) = typed(ds, db, a[1], pick)? {
        match super::ops::index_range(start, stop, l.len()) {
            Some((s, e)) => {
                l.truncate(e + 1);
                l.drain(..s);
            }
            None => l.clear(),
        }
    }
    ds.drop_if_empty(db, a[1]);
    Ok(())
}
