//! What `rdbkit stats` aggregates per key, mergeable across workers and files.

use std::collections::BTreeMap;

use crate::analyze::histogram::LogHistogram;
use crate::analyze::prefix::PrefixCounter;
use crate::analyze::topk::TopK;
use crate::rdb::types::Kind;

/// Everything known about one key after the scan (no element data).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyFacts {
    pub db: u64,
    pub kind: Kind,
    pub encoding: &'static str,
    /// STRLEN for strings, LLEN/SCARD/ZCARD/HLEN/XLEN for collections, 1 for modules.
    pub elements: u64,
    /// Bytes the value takes in the file.
    pub serialized_bytes: u64,
    /// Estimated bytes of server memory (key, value and overheads).
    pub memory: u64,
    pub expire_at_ms: Option<i64>,
    pub idle_seconds: Option<u64>,
    pub lfu_freq: Option<u8>,
}

/// Counters shared by every breakdown (totals, per db, per type, per encoding).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub keys: u64,
    pub expires: u64,
    pub already_expired: u64,
    pub elements: u64,
    pub serialized_bytes: u64,
    pub memory: u64,
}

impl Counts {
    fn add(&mut self, f: &KeyFacts, expired: bool) {
        self.keys += 1;
        self.expires += f.expire_at_ms.is_some() as u64;
        self.already_expired += expired as u64;
        self.elements += f.elements;
        self.serialized_bytes += f.serialized_bytes;
        self.memory += f.memory;
    }
    pub fn merge(&mut self, o: &Counts) {
        self.keys += o.keys;
        self.expires += o.expires;
        self.already_expired += o.already_expired;
        self.elements += o.elements;
        self.serialized_bytes += o.serialized_bytes;
        self.memory += o.memory;
    }
}

/// Longest key name kept in top lists (longer names are cut and flagged).
pub const MAX_KEY_BYTES: usize = 64 << 10;

/// A key in a top list. Ordered by score, then by db and name (smaller first) so ties
/// resolve the same way whatever the thread timing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ranked {
    pub score: u64,
    pub key: Box<[u8]>,
    pub key_truncated: bool,
    pub facts: KeyFacts,
}

impl Ord for Ranked {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.score
            .cmp(&o.score)
            .then_with(|| o.facts.db.cmp(&self.facts.db))
            .then_with(|| o.key.cmp(&self.key))
    }
}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ranked {
    fn new(score: u64, key: &[u8], f: &KeyFacts) -> Self {
        Ranked {
            score,
            key: key[..key.len().min(MAX_KEY_BYTES)].into(),
            key_truncated: key.len() > MAX_KEY_BYTES,
            facts: *f,
        }
    }
}

/// (db, type, encoding).
pub type BreakdownKey = (u64, Kind, &'static str);

/// Counters per (db, type, encoding). A file has a handful of these combinations, so
/// the first ones live in a short list searched linearly (far cheaper per key than a
/// tree ordered by strings); a hostile file with thousands of dbs spills into a map.
#[derive(Clone, Debug, Default)]
pub struct Breakdown {
    listed: Vec<(BreakdownKey, Counts)>,
    rest: BTreeMap<BreakdownKey, Counts>,
}

/// Combinations kept in [`Breakdown`]'s list.
const BREAKDOWN_LISTED: usize = 32;

impl Breakdown {
    fn entry(&mut self, (db, kind, encoding): BreakdownKey) -> &mut Counts {
        // Encodings are static strings: equal addresses settle most comparisons.
        let pos = self.listed.iter().position(|((d, k, e), _)| {
            *d == db && *k == kind && (std::ptr::eq(*e, encoding) || *e == encoding)
        });
        match pos {
            Some(i) => &mut self.listed[i].1,
            None if self.listed.len() < BREAKDOWN_LISTED
                && !self.rest.contains_key(&(db, kind, encoding)) =>
            {
                self.listed.push(((db, kind, encoding), Counts::default()));
                &mut self.listed.last_mut().expect("just pushed").1
            }
            None => self.rest.entry((db, kind, encoding)).or_default(),
        }
    }

    fn merge(&mut self, o: &Breakdown) {
        for (k, c) in o.listed.iter().map(|(k, c)| (k, c)).chain(&o.rest) {
            self.entry(*k).merge(c);
        }
    }

    /// Every combination, in (db, type, encoding) order.
    pub fn sorted(&self) -> BTreeMap<BreakdownKey, Counts> {
        let mut all = self.rest.clone();
        for (k, c) in &self.listed {
            all.entry(*k).or_default().merge(c);
        }
        all
    }
}

/// Settings of one stats run.
#[derive(Clone, Debug)]
pub struct Settings {
    pub top: usize,
    pub separator: Vec<u8>,
    pub prefix_depth: usize,
    pub prefix_capacity: usize,
    /// Collections with more elements than this are big keys.
    pub big_elements: u64,
    /// Strings longer than this (bytes) are big keys.
    pub big_string_bytes: u64,
    /// Big keys listed (all are counted).
    pub big_keys_listed: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            top: 20,
            separator: b":".to_vec(),
            prefix_depth: 2,
            prefix_capacity: 10_000,
            big_elements: 10_000,
            big_string_bytes: 1 << 20,
            big_keys_listed: 100,
        }
    }
}

/// TTL classes relative to the reference time (the file's ctime).
pub const TTL_CLASSES: [&str; 6] = ["no_ttl", "expired", "lt_1h", "lt_1d", "lt_7d", "later"];
/// LFU counter classes (the logarithmic 0-255 counter Redis keeps per key).
pub const FREQ_CLASSES: [(&str, u8); 8] = [
    ("0", 0),
    ("1-4", 4),
    ("5-9", 9),
    ("10-19", 19),
    ("20-49", 49),
    ("50-99", 99),
    ("100-199", 199),
    ("200-255", 255),
];
/// LRU idle-time classes (upper bounds in seconds).
pub const IDLE_CLASSES: [(&str, u64); 7] = [
    ("lt_1m", 60),
    ("lt_10m", 600),
    ("lt_1h", 3600),
    ("lt_1d", 86_400),
    ("lt_7d", 604_800),
    ("lt_30d", 2_592_000),
    ("later", u64::MAX),
];

/// Aggregates of some keys (one worker's share, a file, or several files).
#[derive(Clone, Debug)]
pub struct Stats {
    pub settings: Settings,
    /// Reference time for expiry classes, ms since the epoch.
    pub now_ms: Option<i64>,
    pub total: Counts,
    pub breakdown: Breakdown,
    pub top_memory: TopK<Ranked>,
    pub top_elements: TopK<Ranked>,
    pub big_keys: TopK<Ranked>,
    pub big_keys_total: u64,
    pub prefixes: PrefixCounter,
    pub ttl: [u64; 6],
    pub freq: [u64; 8],
    pub idle: [u64; 7],
    /// Element counts per type, indexed like [`Kind::ALL`].
    pub elements: [LogHistogram; Kind::ALL.len()],
}

impl Stats {
    pub fn new(settings: &Settings, now_ms: Option<i64>) -> Self {
        Stats {
            settings: settings.clone(),
            now_ms,
            total: Counts::default(),
            breakdown: Breakdown::default(),
            top_memory: TopK::new(settings.top),
            top_elements: TopK::new(settings.top),
            big_keys: TopK::new(settings.big_keys_listed),
            big_keys_total: 0,
            prefixes: PrefixCounter::new(
                &settings.separator,
                settings.prefix_depth,
                settings.prefix_capacity,
            ),
            ttl: [0; 6],
            freq: [0; 8],
            idle: [0; 7],
            elements: std::array::from_fn(|_| LogHistogram::default()),
        }
    }

    pub fn add(&mut self, key: &[u8], f: &KeyFacts) {
        let expired = matches!((f.expire_at_ms, self.now_ms), (Some(at), Some(now)) if at <= now);
        self.total.add(f, expired);
        self.breakdown
            .entry((f.db, f.kind, f.encoding))
            .add(f, expired);
        if self.top_memory.admits(|m| f.memory >= m.score) {
            self.top_memory.push(Ranked::new(f.memory, key, f));
        }
        if self.top_elements.admits(|m| f.elements >= m.score) {
            self.top_elements.push(Ranked::new(f.elements, key, f));
        }
        let big = match f.kind {
            Kind::String => f.elements > self.settings.big_string_bytes,
            Kind::Module => false,
            _ => f.elements > self.settings.big_elements,
        };
        if big {
            self.big_keys_total += 1;
            if self.big_keys.admits(|m| f.memory >= m.score) {
                self.big_keys.push(Ranked::new(f.memory, key, f));
            }
        }
        self.prefixes.add(key, f.memory);
        self.ttl[ttl_class(f.expire_at_ms, self.now_ms)] += 1;
        if let Some(q) = f.lfu_freq {
            self.freq[FREQ_CLASSES.iter().position(|c| q <= c.1).unwrap_or(7)] += 1;
        }
        if let Some(s) = f.idle_seconds {
            self.idle[IDLE_CLASSES.iter().position(|c| s < c.1).unwrap_or(6)] += 1;
        }
        self.elements[f.kind as usize].add(f.elements);
    }

    pub fn merge(&mut self, o: Stats) {
        self.total.merge(&o.total);
        self.breakdown.merge(&o.breakdown);
        self.top_memory.merge(o.top_memory);
        self.top_elements.merge(o.top_elements);
        self.big_keys.merge(o.big_keys);
        self.big_keys_total += o.big_keys_total;
        self.prefixes.merge(o.prefixes);
        for (a, b) in self.ttl.iter_mut().zip(o.ttl) {
            *a += b;
        }
        for (a, b) in self.freq.iter_mut().zip(o.freq) {
            *a += b;
        }
        for (a, b) in self.idle.iter_mut().zip(o.idle) {
            *a += b;
        }
        for (mine, theirs) in self.elements.iter_mut().zip(&o.elements) {
            mine.merge(theirs);
        }
    }
}

fn ttl_class(expire_at_ms: Option<i64>, now_ms: Option<i64>) -> usize {
    const H: i64 = 3_600_000;
    let Some(at) = expire_at_ms else { return 0 };
    let left = at.saturating_sub(now_ms.unwrap_or(i64::MIN));
    match left {
        l if l <= 0 => 1,
        l if l < H => 2,
        l if l < 24 * H => 3,
        l if l < 7 * 24 * H => 4,
        _ => 5,
    }
}
