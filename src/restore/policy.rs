//! The restore policies: how values are written, what happens to keys that already
//! exist, and what becomes of TTLs.

/// How values are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// RESTORE when the target takes the payload, native commands otherwise.
    #[default]
    Auto,
    /// RESTORE only (a key the target cannot take is a failure).
    Restore,
    /// Native commands only.
    Commands,
}

pub fn parse_mode(s: &str) -> Result<Mode, String> {
    match s {
        "auto" => Ok(Mode::Auto),
        "restore" => Ok(Mode::Restore),
        "commands" => Ok(Mode::Commands),
        _ => Err(format!("{s:?}: expected auto, restore or commands")),
    }
}

/// Keys that already exist on the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Conflict {
    /// Check before writing anything; refuse to start if any selected key exists.
    #[default]
    Fail,
    /// Leave existing keys alone.
    Skip,
    /// Overwrite them.
    Replace,
}

pub fn parse_conflict(s: &str) -> Result<Conflict, String> {
    match s {
        "fail" => Ok(Conflict::Fail),
        "skip" => Ok(Conflict::Skip),
        "replace" => Ok(Conflict::Replace),
        _ => Err(format!("{s:?}: expected fail, skip or replace")),
    }
}

/// What happens to a key's expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Ttl {
    /// The absolute expiry from the file.
    #[default]
    Keep,
    /// No expiry at all.
    Ignore,
    /// The file's expiry moved by this many milliseconds (may be negative).
    Shift(i64),
}

impl Ttl {
    /// The expiry to write, in ms since the epoch.
    pub fn apply(self, expire_ms: Option<i64>) -> Option<i64> {
        match self {
            Ttl::Keep => expire_ms,
            Ttl::Ignore => None,
            Ttl::Shift(d) => expire_ms.map(|e| e.saturating_add(d)),
        }
    }
}

pub fn parse_ttl(s: &str) -> Result<Ttl, String> {
    match s {
        "keep" => Ok(Ttl::Keep),
        "ignore" => Ok(Ttl::Ignore),
        _ => {
            let d = s
                .strip_prefix("shift=")
                .ok_or_else(|| format!("{s:?}: expected keep, ignore or shift=DURATION"))?;
            parse_duration_ms(d).map(Ttl::Shift)
        }
    }
}

/// `90s`, `-2h`, `7d`, `1500ms`, `1h30m`; a bare number is seconds.
pub fn parse_duration_ms(s: &str) -> Result<i64, String> {
    let err = || format!("{s:?} is not a duration (e.g. 90s, -2h, 7d, 1h30m, 1500ms)");
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if body.is_empty() {
        return Err(err());
    }
    if let Ok(secs) = body.parse::<i64>() {
        let ms = secs.checked_mul(1000).ok_or_else(err)?;
        return Ok(if neg { -ms } else { ms });
    }
    let mut total: i64 = 0;
    let mut rest = body;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(err());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(err()),
        };
        rest = &rest[unit_len..];
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(err)?;
    }
    Ok(if neg { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(parse_ttl("keep"), Ok(Ttl::Keep));
        assert_eq!(parse_ttl("shift=1h30m"), Ok(Ttl::Shift(5_400_000)));
        assert_eq!(parse_ttl("shift=-7d"), Ok(Ttl::Shift(-604_800_000)));
        assert_eq!(parse_ttl("shift=15"), Ok(Ttl::Shift(15_000)));
        assert!(parse_ttl("shift=1y").is_err());
        assert!(parse_ttl("shift=").is_err());
        assert_eq!(Ttl::Shift(5).apply(Some(10)), Some(15));
        assert_eq!(Ttl::Ignore.apply(Some(10)), None);
        assert_eq!(parse_conflict("skip"), Ok(Conflict::Skip));
        assert!(parse_mode("fast").is_err());
    }
}
