//! Sorted-set commands. Scores are doubles, as the server keeps them (the digest takes
//! their bits, so no formatting is involved); order for ranks and pops is (score,
//! member bytes), the skiplist's order.

use super::ops::{count, double, index_range, int, is, syntax, typed, typed_or_new, unknown, Res};
use super::state::{Dataset, Val, Zset};

fn pick(v: &mut Val) -> Option<&mut Zset> {
    match v {
        Val::Zset(z) => Some(z),
        _ => None,
    }
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
    let z = typed_or_new(ds, db, a[1], || Val::Zset(Zset::default()), pick)?;
    for (p, score) in pairs.chunks(2).zip(scores) {
        let m = p[1];
        match z.get(m) {
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
                z.insert(m, new);
            }
            None if xx => {}
            None => z.insert(m, score),
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
            z.remove(m);
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

/// ZREMRANGEBYSCORE / ZREMRANGEBYLEX / ZREMRANGEBYRANK key min max.
pub fn zremrange(ds: &mut Dataset, db: u64, a: &[&[u8]], by: &str) -> Res {
    if a.len() != 4 {
        return syntax();
    }
    let doomed: Vec<Vec<u8>> = match by {
        "SCORE" => {
            let ((min, minx), (max, maxx)) = (score_bound(a[2])?, score_bound(a[3])?);
            let Some(z) = typed(ds, db, a[1], pick)? else {
                return Ok(());
            };
            z.ranked()
                .skip_while(|(_, s)| if minx { *s <= min } else { *s < min })
                .take_while(|(_, s)| if maxx { *s < max } else { *s <= max })
                .map(|(m, _)| m.to_vec())
                .collect()
        }
        "LEX" => {
            let (min, max) = (lex_bound(a[2])?, lex_bound(a[3])?);
            let Some(z) = typed(ds, db, a[1], pick)? else {
                return Ok(());
            };
            z.ranked()
                .filter(|(m, _)| above(m, &min) && below(m, &max))
                .map(|(m, _)| m.to_vec())
                .collect()
        }
        _ => {
            let (start, stop) = (int(a[2])?, int(a[3])?);
            let Some(z) = typed(ds, db, a[1], pick)? else {
                return Ok(());
            };
            match index_range(start, stop, z.len()) {
                Some((s, e)) => z
                    .ranked()
                    .skip(s)
                    .take(e - s + 1)
                    .map(|(m, _)| m.to_vec())
                    .collect(),
                None => Vec::new(),
            }
        }
    };
    if let Some(z) = typed(ds, db, a[1], pick)? {
        for m in doomed {
            z.remove(&m);
        }
    }
    ds.drop_if_empty(db, a[1]);
    Ok(())
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
        let doomed: Vec<Vec<u8>> = if max {
            z.ranked().rev().take(n).map(|(m, _)| m.to_vec()).collect()
        } else {
            z.ranked().take(n).map(|(m, _)| m.to_vec()).collect()
        };
        for m in doomed {
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

#[derive(Clone, Copy, PartialEq)]
pub enum ZOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// `zunionInterAggregate`: a NaN sum becomes 0.
fn aggregate(target: &mut f64, v: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += v;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => *target = if v < *target { v } else { *target },
        Aggregate::Max => *target = if v > *target { v } else { *target },
    }
}

/// A source of Z*STORE as (member, score) pairs: a sorted set, or a set (scores 1).
fn zsource(ds: &mut Dataset, db: u64, key: &[u8]) -> Result<Vec<(Vec<u8>, f64)>, super::ops::Fail> {
    fn any(v: &mut Val) -> Option<&mut Val> {
        matches!(v, Val::Zset(_) | Val::Set(_)).then_some(v)
    }
    Ok(match typed(ds, db, key, any)? {
        None => Vec::new(),
        Some(Val::Zset(z)) => z.ranked().map(|(m, s)| (m.to_vec(), s)).collect(),
        Some(Val::Set(s)) => s.iter().map(|m| (m.clone(), 1.0)).collect(),
        Some(_) => unreachable!("picked a zset or a set"),
    })
}

/// ZUNIONSTORE / ZINTERSTORE dst numkeys key... [WEIGHTS w...] [AGGREGATE SUM|MIN|MAX]
/// and ZDIFFSTORE dst numkeys key..., as `zunionInterDiffGenericCommand`: sources
/// (sorted sets or sets) are taken smallest first, a NaN weighted score is 0. The
/// destination is replaced (no expiry); an empty result deletes it. The server orders
/// sources of equal size with qsort, so a SUM over three or more sources with
/// non-integer scores could round differently: that case is unknown.
pub fn zstore(ds: &mut Dataset, db: u64, a: &[&[u8]], op: ZOp) -> Res {
    if a.len() < 4 {
        return syntax();
    }
    let n = count(a[2])?;
    if n == 0 || a.len().saturating_sub(3) < n {
        return syntax();
    }
    let mut weights = vec![1.0; n];
    let mut how = Aggregate::Sum;
    let mut i = 3 + n;
    while i < a.len() {
        if op != ZOp::Diff && is(a[i], "WEIGHTS") && i + n < a.len() {
            for (j, w) in weights.iter_mut().enumerate() {
                *w = double(a[i + 1 + j])?;
            }
            i += n + 1;
        } else if op != ZOp::Diff && is(a[i], "AGGREGATE") && i + 1 < a.len() {
            how = match () {
                _ if is(a[i + 1], "SUM") => Aggregate::Sum,
                _ if is(a[i + 1], "MIN") => Aggregate::Min,
                _ if is(a[i + 1], "MAX") => Aggregate::Max,
                _ => return syntax(),
            };
            i += 2;
        } else {
            return syntax();
        }
    }
    let mut sources = Vec::with_capacity(n);
    for (k, w) in a[3..3 + n].iter().zip(&weights) {
        sources.push((zsource(ds, db, k)?, *w));
    }
    let result = match op {
        ZOp::Diff => {
            let mut it = sources.into_iter().map(|(s, _)| s);
            let mut first: Zset = Zset::default();
            for (m, s) in it.next().unwrap_or_default() {
                first.insert(&m, s);
            }
            for other in it {
                for (m, _) in other {
                    first.remove(&m);
                }
            }
            first
        }
        _ => {
            sources.sort_by_key(|(s, _)| s.len());
            let weighted = |s: f64, w: f64| {
                let v = s * w;
                if v.is_nan() {
                    0.0
                } else {
                    v
                }
            };
            let non_empty = sources.iter().filter(|(s, _)| !s.is_empty()).count();
            let inexact = sources
                .iter()
                .flat_map(|(s, w)| s.iter().map(move |(_, sc)| weighted(*sc, *w)))
                .any(|v| v.fract() != 0.0 || v.abs() >= 9.0e15);
            if matches!(how, Aggregate::Sum) && non_empty >= 3 && inexact {
                return unknown("a SUM over three or more sources with non-integer scores depends on the server's qsort order");
            }
            let mut acc: std::collections::HashMap<Vec<u8>, f64> = std::collections::HashMap::new();
            if op == ZOp::Union {
                for (s, w) in &sources {
                    for (m, sc) in s {
                        let v = weighted(*sc, *w);
                        match acc.get_mut(m) {
                            Some(t) => aggregate(t, v, how),
                            None => {
                                acc.insert(m.clone(), v);
                            }
                        }
                    }
                }
            } else if let Some(((first, w0), rest)) = sources.split_first() {
                let lookup: Vec<std::collections::HashMap<&[u8], f64>> = rest
                    .iter()
                    .map(|(s, _)| s.iter().map(|(m, sc)| (m.as_slice(), *sc)).collect())
                    .collect();
                'members: for (m, sc) in first {
                    let mut t = weighted(*sc, *w0);
                    for (j, (_, w)) in rest.iter().enumerate() {
                        match lookup[j].get(m.as_slice()) {
                            Some(v) => aggregate(&mut t, v * w, how),
                            None => continue 'members,
                        }
                    }
                    acc.insert(m.clone(), t);
                }
            }
            let mut z = Zset::default();
            for (m, s) in acc {
                z.insert(&m, s);
            }
            z
        }
    };
    ds.store(db, a[1], Val::Zset(result));
    Ok(())
}
