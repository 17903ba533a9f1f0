//! Which keys a command works on: the filters every command shares (`--db`, `--type`,
//! `--match`, `--regex`, `--expired`, `--min-size`) and db remapping (`--db-map`).
//!
//! `--match` uses Redis's own glob rules (`KEYS`/`SCAN MATCH`: `*`, `?`, `[a-z]`,
//! `[^x]`, `\` escapes) on the raw key bytes, so a pattern selects exactly the keys
//! the server would select.

use std::collections::BTreeMap;

use crate::rdb::types::Kind;
use crate::rdb::KeyRecord;

/// What to do with keys whose expiry is at or before "now".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Expired {
    /// Keep them (the server would drop them when it loads the file).
    #[default]
    Include,
    /// Drop them.
    Exclude,
}

/// A conjunction of key conditions; the default passes every key.
#[derive(Clone, Debug, Default)]
pub struct KeyFilter {
    /// Keep only these dbs (a key before any SELECTDB counts as db 0).
    pub dbs: Option<Vec<u64>>,
    pub kinds: Option<Vec<Kind>>,
    /// Redis glob over the key bytes.
    pub glob: Option<Vec<u8>>,
    pub regex: Option<regex::bytes::Regex>,
    pub expired: Expired,
    /// Reference time for `expired`, ms since the epoch: `--now`, else the file's
    /// `ctime` AUX field, else the wall clock (the caller decides).
    pub now_ms: Option<i64>,
    /// Keep only values that take at least this many bytes in the file.
    pub min_size: Option<u64>,
}

impl KeyFilter {
    /// Whether every key passes (callers can skip decoding key names).
    pub fn is_pass_all(&self) -> bool {
        self.dbs.is_none()
            && self.kinds.is_none()
            && self.glob.is_none()
            && self.regex.is_none()
            && self.expired == Expired::Include
            && self.min_size.is_none()
    }

    /// Whether the key record passes; `key` is its decoded name.
    pub fn matches(&self, k: &KeyRecord<'_>, key: &[u8]) -> bool {
        if let Some(dbs) = &self.dbs {
            if !dbs.contains(&k.db.unwrap_or(0)) {
                return false;
            }
        }
        if let Some(kinds) = &self.kinds {
            if !kinds.contains(&k.info.kind) {
                return false;
            }
        }
        if let Some(min) = self.min_size {
            if k.value_info.stored_bytes < min {
                return false;
            }
        }
        if self.expired == Expired::Exclude && self.is_expired(k.expire_ms) {
            return false;
        }
        if let Some(g) = &self.glob {
            if !glob_match(g, key) {
                return false;
            }
        }
        if let Some(r) = &self.regex {
            if !r.is_match(key) {
                return false;
            }
        }
        true
    }

    /// Whether an expiry time lies at or before the reference time.
    pub fn is_expired(&self, expire_ms: Option<i64>) -> bool {
        match (expire_ms, self.now_ms) {
            (Some(at), Some(now)) => at <= now,
            _ => false,
        }
    }
}

/// Parses a `--type` list (`string,hash` …).
pub fn parse_kinds(s: &str) -> Result<Vec<Kind>, String> {
    s.split(',')
        .map(|name| {
            let name = name.trim();
            Kind::ALL
                .iter()
                .copied()
                .find(|k| k.name().eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    format!("unknown type {name:?} (string, list, set, zset, hash, stream, module)")
                })
        })
        .collect()
}

/// `--db-map 0=3,1=4`: where keys of a source db go; unmapped dbs keep their number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DbMap(pub BTreeMap<u64, u64>);

impl DbMap {
    pub fn parse(s: &str) -> Result<DbMap, String> {
        let mut m = BTreeMap::new();
        for pair in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (from, to) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not FROM=TO (e.g. 0=3)"))?;
            let num = |t: &str| {
                t.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("{t:?} in {pair:?} is not a db number"))
            };
            if m.insert(num(from)?, num(to)?).is_some() {
                return Err(format!("db {} is mapped twice", from.trim()));
            }
        }
        Ok(DbMap(m))
    }

    pub fn target(&self, db: u64) -> u64 {
        self.0.get(&db).copied().unwrap_or(db)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Redis `stringmatchlen` semantics, case-sensitive. Iterative: a `*` only ever
/// backtracks to the latest star, so hostile patterns cost O(pattern × key).
pub fn glob_match(pattern: &[u8], key: &[u8]) -> bool {
    let (mut p, mut k) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while k < key.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    while p < pattern.len() && pattern[p] == b'*' {
                        p += 1;
                    }
                    if p == pattern.len() {
                        return true;
                    }
                    star = Some((p, k));
                    continue;
                }
                b'?' => {
                    p += 1;
                    k += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class_match(pattern, p, key[k]) {
                        if matched {
                            p = next;
                            k += 1;
                            continue;
                        }
                    }
                }
                b'\\' if p + 1 < pattern.len() => {
                    if pattern[p + 1] == key[k] {
                        p += 2;
                        k += 1;
                        continue;
                    }
                }
                c => {
                    if c == key[k] {
                        p += 1;
                        k += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, sk)) => {
                p = sp;
                k = sk + 1;
                star = Some((sp, sk + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class starting at `pattern[at] == b'['`; returns whether it
/// matched and where the pattern continues. An unclosed class runs to the pattern's
/// end, as in Redis.
fn class_match(pattern: &[u8], at: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = at + 1;
    let negate = pattern.get(i) == Some(&b'^');
    if negate {
        i += 1;
    }
    let mut matched = false;
    while i < pattern.len() && pattern[i] != b']' {
        if pattern[i] == b'\\' && i + 1 < pattern.len() {
            matched |= pattern[i + 1] == c;
            i += 2;
        } else if i + 2 < pattern.len() && pattern[i + 1] == b'-' {
            let (lo, hi) = (
                pattern[i].min(pattern[i + 2]),
                pattern[i].max(pattern[i + 2]),
            );
            matched |= (lo..=hi).contains(&c);
            i += 3;
        } else {
            matched |= pattern[i] == c;
            i += 1;
        }
    }
    let next = if i < pattern.len() { i + 1 } else { i };
    Some((matched != negate, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Naive recursive reference of the same rules, to check the iterative matcher.
    fn naive(p: &[u8], k: &[u8]) -> bool {
        match p.first() {
            None => k.is_empty(),
            Some(b'*') => (0..=k.len()).any(|i| naive(&p[1..], &k[i..])),
            Some(b'?') => !k.is_empty() && naive(&p[1..], &k[1..]),
            Some(b'[') => match k.first() {
                Some(&c) => {
                    let (m, next) = class_match(p, 0, c).unwrap();
                    m && naive(&p[next..], &k[1..])
                }
                None => false,
            },
            Some(b'\\') if p.len() > 1 => k.first() == Some(&p[1]) && naive(&p[2..], &k[1..]),
            Some(&c) => k.first() == Some(&c) && naive(&p[1..], &k[1..]),
        }
    }

    #[test]
    fn redis_glob_rules() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("user:*", "user:42", true),
            ("user:*", "users:42", false),
            ("h?llo", "hello", true),
            ("h[ae]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[a-b]llo", "hbllo", true),
            ("h[b-a]llo", "hallo", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "axb", false),
            ("*:*:x", "a:b:c:x", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            ("[abc", "b", true),
        ];
        for &(p, k, want) in cases {
            assert_eq!(glob_match(p.as_bytes(), k.as_bytes()), want, "{p} ~ {k}");
            assert_eq!(naive(p.as_bytes(), k.as_bytes()), want, "naive {p} ~ {k}");
        }
    }

    #[test]
    fn iterative_agrees_with_naive() {
        let alphabet = b"ab*?[]^-\\";
        let mut seed = 0x2545f4914f6cdd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let plen = (next() % 7) as usize;
            let klen = (next() % 7) as usize;
            let p: Vec<u8> = (0..plen)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let k: Vec<u8> = (0..klen).map(|_| b"ab*["[(next() % 4) as usize]).collect();
            assert_eq!(glob_match(&p, &k), naive(&p, &k), "{p:?} ~ {k:?}");
        }
    }

    #[test]
    fn db_map_and_kinds() {
        let m = DbMap::parse("0=3, 1=4").unwrap();
        assert_eq!((m.target(0), m.target(1), m.target(2)), (3, 4, 2));
        assert!(DbMap::parse("0=1,0=2").is_err());
        assert!(DbMap::parse("x").is_err());
        assert_eq!(
            parse_kinds("hash,ZSET").unwrap(),
            vec![Kind::Hash, Kind::Zset]
        );
        assert!(parse_kinds("blob").is_err());
    }
}
