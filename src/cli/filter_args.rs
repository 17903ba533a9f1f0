//! The key-selection flags shared by every command that walks keys, defined once.

use crate::filter::{parse_kinds, Expired, KeyFilter};
use crate::rdb::types::Kind;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct FilterArgs {
    /// Only keys in these dbs (repeat or comma-separate: --db 0,3).
    #[arg(long = "db", value_name = "N", value_delimiter = ',')]
    pub dbs: Vec<u64>,
    /// Only keys of these types: string, list, set, zset, hash, stream, module.
    #[arg(long = "type", value_name = "TYPES", value_parser = parse_kinds)]
    pub kinds: Vec<Vec<Kind>>,
    /// Only keys matching this Redis glob (as KEYS/SCAN MATCH: *, ?, [a-z], \ escapes).
    #[arg(long = "match", value_name = "GLOB")]
    pub glob: Option<String>,
    /// Only keys matching this regular expression (over the key bytes).
    #[arg(long, value_name = "REGEX")]
    pub regex: Option<regex::bytes::Regex>,
    /// Keys whose TTL already passed at the reference time (--now, else the file's
    /// ctime): include or exclude them.
    #[arg(long, value_name = "POLICY", value_parser = parse_expired, default_value = "include")]
    pub expired: Expired,
    /// Reference time for --expired (Unix seconds or RFC 3339); default: the file's
    /// creation time (AUX ctime), else now.
    #[arg(long, value_name = "TIME", value_parser = super::parse_time)]
    pub now: Option<i64>,
    /// Only values taking at least this many bytes in the file.
    #[arg(long, value_name = "BYTES")]
    pub min_size: Option<u64>,
}

fn parse_expired(s: &str) -> Result<Expired, String> {
    match s {
        "include" | "keep" => Ok(Expired::Include),
        "exclude" | "skip" => Ok(Expired::Exclude),
        _ => Err(format!("{s:?}: expected include or exclude")),
    }
}

impl FilterArgs {
    /// The filter, with `ctime_ms` (the file's AUX ctime) as the fallback reference time.
    pub fn to_filter(&self, ctime_ms: Option<i64>) -> KeyFilter {
        let now_ms = self.now.map(|s| s * 1000).or(ctime_ms).or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_millis() as i64)
        });
        KeyFilter {
            dbs: (!self.dbs.is_empty()).then(|| self.dbs.clone()),
            kinds: (!self.kinds.is_empty()).then(|| self.kinds.concat()),
            glob: self.glob.as_ref().map(|g| g.as_bytes().to_vec()),
            regex: self.regex.clone(),
            expired: self.expired,
            now_ms,
            min_size: self.min_size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Probe {
        #[command(flatten)]
        f: FilterArgs,
    }

    #[test]
    fn flags_parse_into_a_filter() {
        let p = Probe::try_parse_from([
            "x",
            "--db",
            "0,3",
            "--type",
            "hash,zset",
            "--type",
            "list",
            "--match",
            "user:*",
            "--expired",
            "exclude",
            "--now",
            "100",
        ])
        .unwrap();
        let f = p.f.to_filter(Some(5));
        assert_eq!(f.dbs, Some(vec![0, 3]));
        assert_eq!(f.kinds, Some(vec![Kind::Hash, Kind::Zset, Kind::List]));
        assert_eq!(f.now_ms, Some(100_000));
        assert!(f.is_expired(Some(100_000)) && !f.is_expired(Some(100_001)));
        assert!(Probe::try_parse_from(["x", "--expired", "maybe"]).is_err());
        assert_eq!(
            Probe::try_parse_from(["x"])
                .unwrap()
                .f
                .to_filter(Some(5))
                .now_ms,
            Some(5)
        );
    }
}
