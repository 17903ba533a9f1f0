//! Sorted-set commands. Scores are doubles, as the server keeps them (the digest takes
//! their bits, so no formatting is involved); order for ranks and pops is (score,
//! member bytes), the skiplist's order.

use std::collections::HashMap;

use super::ops::{count, double, index_range, int, is, syntax, typed, typed_or_new, unknown, Res};
use super::state::{Dataset, Val};

type Zset = HashMap<Vec<u8>, f64>;

fn pick(v: &mut Val) -> Option<&mut Zset> {
    match v {
        Val::Zset(z) => Some(z),
        _ => None,
    }
}

/// Members in rank order.
fn ranked(z: &Zset) -> Vec<(Vec<u8>, f64)> {
    let mut v: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.clone(), *s)).collect();
    v.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    v
}

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member... with `zsetAdd`'s rules.
pub fn zadd(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    let (mut nx, mut xx, mut gt, mut lt, mut incr) = (false, false, false, false, false);
    let mut i = 2;
    while i < a.len() {
        let o = a[i];
        match () {
            _ if is(o, "NX") => nx = true,
            _ if is(o, "XX") => xx = true,
            _ if is(o, "GT") => gt = true,
            _ if is(o, "LT") => lt = true,
            _ if is(o, "CH") => {}
            _ if is(o, "INCR") => incr = true,
            _ => break,
        }
        i += 1;
    }
    let pairs = &a[i.min(a.len())..];
    if pairs.is_empty() || pairs.len() % 2 != 0 || (incr && pairs.len() != 2) {
        return syntax();
    }
    let scores = pairs
        .chunks(2)
        .map(|p| double(p[0]))
        .collect::<Result<Vec<f64>, _>>()?;
    if xx && typed(ds, db, a[1], pick)?.is_none() {
        return Ok(());
    }
    let z = typed_or_new(ds, db, a[1], || Val::Zset(Zset::new()), pick)?;
    for (p, score) in pairs.chunks(2).zip(scores) {
        let m = p[1];
        match z.get(m).copied() {
            Some(cur) => {
                if nx {
                    continue;
                }
                let new = if incr { cur + score } else { score };
                if new.is_nan() {
                    return unknown(
                        "the increment makes the score NaN (the server would refuse it)",
                    );
                }
                if (gt && new <= cur) || (lt && new >= cur) {
                    continue;
                }
                z.insert(m.to_vec(), new);
            }
            None if xx => {}
            None => {
                z.insert(m.to_vec(), score);
            }
        }
    }
    ds.drop_if_empty(db, a[1]);
    Ok(())
}

pub fn zincrby(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() != 4 {
        return syntax();
    }
    zadd(ds, db, &[a[0], a[1], b"INCR", a[2], a[3]])
}

pub fn zrem(ds: &mut Dataset, db: u64, a: &[&[u8]]) -> Res {
    if a.len() < 3 {
        return syntax();
    }
    if let Some(z) = typed(ds, db, a[1], pick)? {
        for m in &a[2..] {
            z.remove(*m);
        }
    }
    ds.drop_if_empty(db, a[1]);
    Ok(())
}

/// A score bound: `(x` exclusive, `-inf`/`+inf` accepted.
fn score_bound(b: &[u8]) -> Result<(f64, bool), super::ops::Fail> {
    match b.strip_prefix(b"(") {
        Some(rest) => Ok((double(rest)?, true)),
        None => Ok((double(b)?, false)),
    }
}

/// A lex bound: `-`, `+`, `[x` inclusive, `(x` exclusive.
enum Lex<'a> {
    Min,
    Max,
    At(&'a [u8], bool),
}

fn lex_bound(b: &[u8]) -> Result<Lex<'_>, super::ops::Fail> {
    match b {
        b"-" => Ok(Lex::Min),
        b"+" => Ok(Lex::Max),
        [b'[', rest @ ..] => Ok(Lex::At(rest, false)),
        [b'(', rest @ ..] => Ok(Lex::At(rest, true)),
        _ => syntax(),
    }
}

fn above(m: &[u8], min: &Lex) -> bool {
    match min {
        Lex::Min => true,
        Lex::Max => false,
        Lex::At(x, excl) => m > *x || (!excl && m == *x),
    }
}

fn below(m: &[u8], max: &Lex) -> bool {
    match max {
        Lex::Min => false,
        Lex::Max => true,
        Lex::At(x, excl) => m < *x || (!excl && m == *x),
    }
}

/// Whether a member (with its score and rank) stays.
type Keep = dyn Fn(&[u8], f64, usize) -> bool;

/// ZREMRANGEBYSCORE / ZREMRANGEBYLEX / ZREMRANGEBYRANK key min max.
pub fn zremrange(ds: &mut Dataset, db: u64, a: &[&[u8]], by: &str) -> Res {
    if a.len() != 4 {
        return syntax();
    }
    let keep: Box<Keep> = match by {
        "SCORE" => {
            let ((min, minx), (max, maxx)) = (score_bound(a[2])?, score_bound(a[3])?);
            Box::new(move |_, s, _| {
                let ge = if minx { s > min } else { s >= min };
                let le = if maxx { s < max } else { s <= max };
                !(ge && le)
            })
        }
        "LEX" => {
            let (min, max) = (lex_bound(a[2])?, lex_bound(a[3])?);
            let (min, max) = (owned(min), owned(max));
            Box::new(move |m, _, _| !(above(m, &min.as_lex()) && below(m, &max.as_lex())))
        }
        _ => {
            let (start, stop) = (int(a[2])?, int(a[3])?);
            let len = typed(ds, db, a[1], pick)?.map_or(0, |z| z.len());
            let range = index_range(start, stop, len);
            Box::new(move |_, _, rank| !range.is_some_and(|(s, e)| rank >= s && rank <= e))
        }
    };
    if let Some(z) = typed(ds, db, a[1], pick)? {
        let kept: Zset = ranked(z)
            .into_iter()
            .enumerate()
            .filter(|(rank, (m, s))| keep(m, *s, *rank))
            .map(|(_, ms)| ms)
            .collect();
        *z = kept;
    }
    ds.drop_if_empty(db, a[1]);
    Ok(())
}

/// A lex bound that owns its bytes (the filter outlives the arguments' borrow).
struct OwnedLex(u8, Vec<u8>);

fn owned(l: Lex) -> OwnedLex {
    match l {
        Lex::Min => OwnedLex(0, Vec::new()),
        Lex::Max => OwnedLex(1, Vec::new()),
        Lex::At(x, excl) => OwnedLex(2 + u8::from(excl), x.to_vec()),
    }
}

impl OwnedLex {
    fn as_lex(&self) -> Lex<'_> {
        match self.0 {
            0 => Lex::Min,
            1 => Lex::Max,
            n => Lex::At(&self.1, n == 3),
        }
    }
}

/// ZPOPMIN / ZPOPMAX key [count].
pub fn zpop(ds: &mut Dataset, db: u64, a: &[&[u8]], max: bool) -> Res {
    let n = match a.len() {
        2 => 1,
        3 => count(a[2])?,
        _ => return syntax(),
    };
    pop_n(ds, db, a[1], n, max)
}

fn pop_n(ds: &mut Dataset, db: u64, key: &[u8], n: usize, max: bool) -> Res {
    if let Some(z) = typed(ds, db, key, pick)? {
        let mut order = ranked(z);
        if max {
            order.reverse();
        }
        for (m, _) in order.into_iter().take(n) {
            z.remove(&m);
        }
    }
    ds.drop_if_empty(db, key);
    Ok(())
}

/// BZPOPMIN / BZPOPMAX key... timeout: one member from the first non-empty key.
pub fn bzpop(ds: &mut Dataset, db: u64, a: &[&[u8]], max: bool) -> Res {
    if a.len() < 3 {
        return syntax();
    }
    for k in &a[1..a.len() - 1] {
        if typed(ds, db, k, pick)?.is_some_and(|z| !z.is_empty()) {
            return pop_n(ds, db, k, 1, max);
        }
    }
    Ok(())
}
