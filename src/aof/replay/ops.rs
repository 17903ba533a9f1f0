//! What every command family shares: the failure type, typed access to a key's value
//! and the server's argument parsers.

use super::state::{Dataset, Obj, Reason, Val};

/// Why a command could not be applied exactly. Either way the keys it writes become
/// unknown: a server only logs commands that succeeded, so a command that fails here
/// means the replay has lost track of those keys, never that the command did nothing.
#[derive(Debug)]
pub enum Fail {
    /// The command (or this form of it) is not modelled, or would fail on this state.
    Unknown(String),
    /// It read a key whose value is unknown: what it writes inherits that reason.
    Inherit(Box<Reason>),
}

pub type Res = Result<(), Fail>;

pub fn unknown<T>(why: impl Into<String>) -> Result<T, Fail> {
    Err(Fail::Unknown(why.into()))
}

fn wrong_type() -> Fail {
    Fail::Unknown("the key holds another type (the server would refuse it)".into())
}

pub fn syntax<T>() -> Result<T, Fail> {
    unknown("arguments the server would refuse")
}

/// A key's value as one type: `None` when the key is absent.
pub fn typed<'d, T>(
    ds: &'d mut Dataset,
    db: u64,
    key: &[u8],
    pick: fn(&mut Val) -> Option<&mut T>,
) -> Result<Option<&'d mut T>, Fail> {
    match ds.get_mut(db, key) {
        None => Ok(None),
        Some(o) => {
            if let Val::Unknown(r) = &o.val {
                return Err(Fail::Inherit(r.clone()));
            }
            pick(&mut o.val).map(Some).ok_or_else(wrong_type)
        }
    }
}

/// Like [`typed`], creating the key (no expiry) when it is absent.
pub fn typed_or_new<'d, T>(
    ds: &'d mut Dataset,
    db: u64,
    key: &[u8],
    make: fn() -> Val,
    pick: fn(&mut Val) -> Option<&mut T>,
) -> Result<&'d mut T, Fail> {
    if !ds.contains(db, key) {
        // Check the type before creating, so a refused command leaves no empty key.
        let mut probe = make();
        pick(&mut probe).ok_or_else(wrong_type)?;
        ds.insert(
            db,
            key,
            Obj {
                val: probe,
                expire: None,
            },
        );
    }
    Ok(typed(ds, db, key, pick)?.expect("present"))
}

/// An integer argument, parsed as the server's `string2ll`: optional `-`, digits, no
/// leading zeros or `+`, within i64.
pub fn int(a: &[u8]) -> Result<i64, Fail> {
    parse_ll(a).map_or_else(syntax, Ok)
}

pub fn parse_ll(a: &[u8]) -> Option<i64> {
    let digits = a.strip_prefix(b"-").unwrap_or(a);
    if digits.is_empty()
        || digits.len() > 20
        || !digits.iter().all(u8::is_ascii_digit)
        || (digits[0] == b'0' && a.len() > 1)
    {
        return None;
    }
    std::str::from_utf8(a).ok()?.parse().ok()
}

/// A non-negative count or index argument.
pub fn count(a: &[u8]) -> Result<usize, Fail> {
    usize::try_from(int(a)?).map_or_else(|_| syntax(), Ok)
}

/// A double argument as the server reads scores (`strtod`, whole string, not NaN;
/// `inf`, `-inf`, `+inf` accepted).
pub fn double(a: &[u8]) -> Result<f64, Fail> {
    let s = std::str::from_utf8(a).map_or_else(|_| syntax(), Ok)?;
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_whitespace()) {
        return syntax();
    }
    match s.to_ascii_lowercase().parse::<f64>() {
        Ok(v) if !v.is_nan() => Ok(v),
        _ => syntax(),
    }
}

/// True when `a` equals `word` (ASCII case-insensitive), as option names are matched.
pub fn is(a: &[u8], word: &str) -> bool {
    a.eq_ignore_ascii_case(word.as_bytes())
}

/// An expiry option at `a[*i]`: `EXAT s` / `PXAT ms` as milliseconds (`i` steps over
/// the value); `EX` / `PX` are unknown (relative to a clock the replay does not have).
/// `None`: not an expiry option.
pub fn absolute_expiry(a: &[&[u8]], i: &mut usize) -> Option<Result<i64, Fail>> {
    let o = a[*i];
    if (is(o, "PXAT") || is(o, "EXAT")) && *i + 1 < a.len() {
        let unit = if is(o, "EXAT") { 1000 } else { 1 };
        *i += 1;
        return Some(int(a[*i]).map(|at| at.saturating_mul(unit)));
    }
    if is(o, "EX") || is(o, "PX") {
        return Some(unknown("a relative expiry needs the server's clock"));
    }
    None
}

/// Resolves a `start`/`stop` pair (negative from the end) to an inclusive range within
/// `len`, as LRANGE/LTRIM/ZREMRANGEBYRANK do; `None` when it is empty.
pub fn index_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        len + stop
    } else {
        stop.min(len - 1)
    };
    (start <= stop && start < len).then_some((start as usize, stop as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_parse_as_string2ll() {
        assert_eq!(parse_ll(b"-12"), Some(-12));
        assert_eq!(parse_ll(b"0"), Some(0));
        for bad in [
            &b"012"[..],
            b"+1",
            b"",
            b"-",
            b" 1",
            b"1 ",
            b"99999999999999999999",
        ] {
            assert_eq!(parse_ll(bad), None, "{bad:?}");
        }
        assert_eq!(parse_ll(b"-9223372036854775808"), Some(i64::MIN));
    }

    #[test]
    fn ranges_clamp_like_the_server() {
        assert_eq!(index_range(0, -1, 3), Some((0, 2)));
        assert_eq!(index_range(-2, 10, 3), Some((1, 2)));
        assert_eq!(index_range(2, 1, 3), None);
        assert_eq!(index_range(5, 9, 3), None);
        assert_eq!(index_range(-9, -5, 3), None);
        assert!(double(b"nan").is_err());
        assert_eq!(double(b"-inf").unwrap(), f64::NEG_INFINITY);
        assert_eq!(double(b"1.5e3").unwrap(), 1500.0);
    }
}
