//! The shapes `rdbkit stats` prints: a serializable report (the JSON schema in the
//! README), an aligned text table and CSV.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::analyze::keyfmt::JsonKey;
use crate::analyze::scan::{FileInfo, Status};
use crate::analyze::stats::{Counts, Ranked, Stats, FREQ_CLASSES, IDLE_CLASSES, TTL_CLASSES};
use crate::csv;
use crate::rdb::types::Kind;

/// Prefixes listed in reports (the summary itself holds up to its capacity).
pub const PREFIXES_LISTED: usize = 200;

#[derive(Serialize)]
pub struct FileReport {
    pub path: String,
    pub bytes: u64,
    pub rdb_version: Option<u32>,
    pub producer: Option<String>,
    /// AUX ctime (Unix seconds): the reference time for expiry classes.
    pub ctime: Option<i64>,
    pub status: Status,
    /// `rdbkit: PATH: <what> at byte N while reading ...`; statistics cover the keys
    /// before that point.
    pub error: Option<String>,
    pub error_offset: Option<u64>,
    pub stats: StatsReport,
}

impl FileReport {
    pub fn new(
        path: &str,
        bytes: u64,
        info: &FileInfo,
        error: Option<(String, u64, Status)>,
        stats: &Stats,
    ) -> Self {
        let (error, error_offset, status) = match error {
            Some((text, at, status)) => (Some(text), Some(at), status),
            None => (None, None, Status::Ok),
        };
        FileReport {
            path: path.to_string(),
            bytes,
            rdb_version: info.header.map(|h| h.version),
            producer: info.producer.clone(),
            ctime: info.ctime,
            status,
            error,
            error_offset,
            stats: StatsReport::new(stats),
        }
    }
}

#[derive(Serialize)]
pub struct StatsReport {
    pub reference_time_ms: Option<i64>,
    pub totals: Counts,
    pub dbs: Vec<DbRow>,
    pub types: Vec<TypeRow>,
    pub encodings: Vec<EncodingRow>,
    pub top_by_memory: Vec<KeyRow>,
    pub top_by_elements: Vec<KeyRow>,
    pub big_keys: BigKeys,
    pub prefixes: Prefixes,
    pub ttl: BTreeMap<&'static str, u64>,
    pub lfu_freq: Option<BTreeMap<&'static str, u64>>,
    pub lru_idle: Option<BTreeMap<&'static str, u64>>,
    pub element_percentiles: Vec<Percentiles>,
}

#[derive(Serialize)]
pub struct DbRow {
    pub db: u64,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Serialize)]
pub struct TypeRow {
    #[serde(rename = "type")]
    pub kind: Kind,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Serialize)]
pub struct EncodingRow {
    pub db: u64,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub encoding: &'static str,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Serialize)]
pub struct KeyRow {
    pub db: u64,
    pub key: KeyBytes,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub key_truncated: bool,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub encoding: &'static str,
    pub elements: u64,
    pub serialized_bytes: u64,
    pub memory: u64,
    pub expire_at_ms: Option<i64>,
}

/// Owned key bytes serialized like [`JsonKey`].
pub struct KeyBytes(pub Vec<u8>);

impl Serialize for KeyBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        JsonKey(&self.0).serialize(s)
    }
}

impl KeyRow {
    fn new(r: &Ranked) -> Self {
        KeyRow {
            db: r.facts.db,
            key: KeyBytes(r.key.to_vec()),
            key_truncated: r.key_truncated,
            kind: r.facts.kind,
            encoding: r.facts.encoding,
            elements: r.facts.elements,
            serialized_bytes: r.facts.serialized_bytes,
            memory: r.facts.memory,
            expire_at_ms: r.facts.expire_at_ms,
        }
    }
}

#[derive(Serialize)]
pub struct BigKeys {
    pub collection_elements_over: u64,
    pub string_bytes_over: u64,
    pub count: u64,
    /// The largest by estimated memory (at most 100).
    pub listed: Vec<KeyRow>,
}

#[derive(Serialize)]
pub struct Prefixes {
    pub separator: KeyBytes,
    pub max_depth: usize,
    pub capacity: usize,
    /// True while every distinct prefix fitted: all numbers are exact.
    pub exact: bool,
    /// The same per depth (index 0 = depth 1).
    pub exact_by_depth: Vec<bool>,
    pub evictions: u64,
    pub first_eviction_after_keys: Option<u64>,
    pub unprefixed_keys: u64,
    pub unprefixed_memory: u64,
    pub top: Vec<PrefixRow>,
}

#[derive(Serialize)]
pub struct PrefixRow {
    pub prefix: KeyBytes,
    pub depth: u8,
    pub keys: u64,
    pub memory: u64,
    /// Upper bounds on how much of `keys` / `memory` may belong to other prefixes.
    pub keys_error: u64,
    pub memory_error: u64,
}

#[derive(Serialize)]
pub struct Percentiles {
    #[serde(rename = "type")]
    pub kind: Kind,
    pub keys: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

impl StatsReport {
    pub fn new(s: &Stats) -> Self {
        let mut dbs: BTreeMap<u64, Counts> = BTreeMap::new();
        let mut types: BTreeMap<Kind, Counts> = BTreeMap::new();
        let mut encodings = Vec::new();
        for (&(db, kind, encoding), c) in &s.breakdown.sorted() {
            dbs.entry(db).or_default().merge(c);
            types.entry(kind).or_default().merge(c);
            encodings.push(EncodingRow {
                db,
                kind,
                encoding,
                counts: *c,
            });
        }
        let classes = |names: &[&'static str], v: &[u64]| -> BTreeMap<&'static str, u64> {
            names.iter().copied().zip(v.iter().copied()).collect()
        };
        let freq_names: Vec<&str> = FREQ_CLASSES.iter().map(|c| c.0).collect();
        let idle_names: Vec<&str> = IDLE_CLASSES.iter().map(|c| c.0).collect();
        let p = &s.prefixes;
        StatsReport {
            reference_time_ms: s.now_ms,
            totals: s.total,
            dbs: dbs
                .into_iter()
                .map(|(db, counts)| DbRow { db, counts })
                .collect(),
            types: types
                .into_iter()
                .map(|(kind, counts)| TypeRow { kind, counts })
                .collect(),
            encodings,
            top_by_memory: s
                .top_memory
                .clone()
                .into_sorted()
                .iter()
                .map(KeyRow::new)
                .collect(),
            top_by_elements: s
                .top_elements
                .clone()
                .into_sorted()
                .iter()
                .map(KeyRow::new)
                .collect(),
            big_keys: BigKeys {
                collection_elements_over: s.settings.big_elements,
                string_bytes_over: s.settings.big_string_bytes,
                count: s.big_keys_total,
                listed: s
                    .big_keys
                    .clone()
                    .into_sorted()
                    .iter()
                    .map(KeyRow::new)
                    .collect(),
            },
            prefixes: Prefixes {
                separator: KeyBytes(s.settings.separator.clone()),
                max_depth: s.settings.prefix_depth,
                capacity: p.capacity(),
                exact: p.is_exact(),
                exact_by_depth: (1..=s.settings.prefix_depth)
                    .map(|d| p.is_exact_at(d))
                    .collect(),
                evictions: p.evictions(),
                first_eviction_after_keys: p.first_eviction_after_keys(),
                unprefixed_keys: p.unprefixed_keys,
                unprefixed_memory: p.unprefixed_memory,
                top: p
                    .sorted()
                    .into_iter()
                    .take(PREFIXES_LISTED)
                    .map(|s| PrefixRow {
                        prefix: KeyBytes(s.prefix.to_vec()),
                        depth: s.depth,
                        keys: s.keys,
                        memory: s.memory,
                        keys_error: s.keys_error,
                        memory_error: s.memory_error,
                    })
                    .collect(),
            },
            ttl: classes(&TTL_CLASSES, &s.ttl),
            lfu_freq: (s.freq.iter().sum::<u64>() > 0).then(|| classes(&freq_names, &s.freq)),
            lru_idle: (s.idle.iter().sum::<u64>() > 0).then(|| classes(&idle_names, &s.idle)),
            element_percentiles: crate::rdb::types::Kind::ALL
                .iter()
                .zip(&s.elements)
                .filter(|(_, h)| h.total() > 0)
                .map(|(&kind, h)| Percentiles {
                    kind,
                    keys: h.total(),
                    p50: h.quantile(0.5),
                    p90: h.quantile(0.9),
                    p99: h.quantile(0.99),
                    max: h.max(),
                })
                .collect(),
        }
    }
}

/// `1.5 MiB`, `812 B`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A key for a terminal: printable ASCII as is, the rest escaped (as redis-cli).
fn shown(k: &KeyBytes) -> String {
    crate::error::display_key(&k.0)
}

/// Aligned columns: the first left-aligned, the rest right-aligned.
fn table(out: &mut impl Write, title: &str, head: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut w: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    writeln!(out, "\n{title}")?;
    let line = |cells: &[String]| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 0 {
                    format!("{c:<width$}", width = w[i])
                } else {
                    format!("{c:>width$}", width = w[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let head: Vec<String> = head.iter().map(|s| s.to_string()).collect();
    writeln!(out, "  {}", line(&head).trim_end())?;
    for r in rows {
        writeln!(out, "  {}", line(r).trim_end())?;
    }
    Ok(())
}

fn counts_cells(c: &Counts) -> Vec<String> {
    vec![
        c.keys.to_string(),
        c.expires.to_string(),
        c.already_expired.to_string(),
        c.elements.to_string(),
        human_bytes(c.serialized_bytes),
        human_bytes(c.memory),
    ]
}

const COUNT_HEAD: [&str; 6] = [
    "keys",
    "expires",
    "expired",
    "elements",
    "serialized",
    "memory",
];

/// The human-readable report of one file (or of the aggregate, `path` = "all files").
pub fn write_table(out: &mut impl Write, r: &FileReport) -> io::Result<()> {
    let s = &r.stats;
    write!(out, "{}: {} bytes", r.path, r.bytes)?;
    if let Some(v) = r.rdb_version {
        write!(out, ", RDB {v}")?;
    }
    if let Some(p) = &r.producer {
        write!(out, ", {p}")?;
    }
    if let Some(t) = r.ctime {
        write!(out, ", saved {}", crate::time::format_unix(t))?;
    }
    writeln!(out)?;
    if let Some(e) = &r.error {
        writeln!(
            out,
            "  {e}\n  (statistics below cover the keys before the damage)"
        )?;
    }
    let with = |first: String, c: &Counts| {
        let mut v = vec![first];
        v.extend(counts_cells(c));
        v
    };
    let mut head = vec!["db"];
    head.extend(COUNT_HEAD);
    let mut rows: Vec<Vec<String>> = s
        .dbs
        .iter()
        .map(|d| with(d.db.to_string(), &d.counts))
        .collect();
    rows.push(with("total".into(), &s.totals));
    table(out, "Keys per db", &head, &rows)?;
    head[0] = "type / encoding";
    let mut rows = Vec::new();
    for t in &s.types {
        rows.push(with(t.kind.name().to_string(), &t.counts));
        let mut by_enc: BTreeMap<&str, Counts> = BTreeMap::new();
        for e in s.encodings.iter().filter(|e| e.kind == t.kind) {
            by_enc.entry(e.encoding).or_default().merge(&e.counts);
        }
        for (enc, c) in by_enc {
            rows.push(with(format!("  {enc}"), &c));
        }
    }
    table(out, "Types and encodings (all dbs)", &head, &rows)?;
    let key_rows = |v: &[KeyRow]| -> Vec<Vec<String>> {
        v.iter()
            .map(|k| {
                vec![
                    shown(&k.key),
                    k.db.to_string(),
                    k.kind.name().to_string(),
                    k.encoding.to_string(),
                    k.elements.to_string(),
                    human_bytes(k.memory),
                ]
            })
            .collect()
    };
    let kh = ["key", "db", "type", "encoding", "elements", "memory"];
    table(
        out,
        "Biggest keys by estimated memory",
        &kh,
        &key_rows(&s.top_by_memory),
    )?;
    table(
        out,
        "Biggest keys by elements (strings: bytes)",
        &kh,
        &key_rows(&s.top_by_elements),
    )?;
    let p = &s.prefixes;
    let prows: Vec<Vec<String>> = p
        .top
        .iter()
        .take(20)
        .map(|x| {
            vec![
                format!(
                    "{}{}*",
                    shown(&x.prefix),
                    crate::error::display_key(&p.separator.0)
                ),
                x.depth.to_string(),
                x.keys.to_string(),
                human_bytes(x.memory),
                if x.memory_error > 0 {
                    format!("±{}", human_bytes(x.memory_error))
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    let title = if p.exact {
        "Top prefixes (exact)".to_string()
    } else {
        let approx: Vec<String> = (1..=p.max_depth)
            .filter(|d| !p.exact_by_depth[d - 1])
            .map(|d| d.to_string())
            .collect();
        format!(
            "Top prefixes (depth {} approximate: over {} distinct prefixes, first slot reused after {} keys; error = upper bound of the overcount)",
            approx.join(", "),
            p.capacity,
            p.first_eviction_after_keys.unwrap_or(0)
        )
    };
    table(
        out,
        &title,
        &["prefix", "depth", "keys", "memory", "error"],
        &prows,
    )?;
    let dist = |m: &BTreeMap<&str, u64>, order: &[&str]| -> Vec<Vec<String>> {
        order
            .iter()
            .map(|k| vec![k.to_string(), m.get(k).copied().unwrap_or(0).to_string()])
            .collect()
    };
    table(
        out,
        "TTL (relative to the file's ctime)",
        &["class", "keys"],
        &dist(&s.ttl, &TTL_CLASSES),
    )?;
    if let Some(f) = &s.lfu_freq {
        let order: Vec<&str> = FREQ_CLASSES.iter().map(|c| c.0).collect();
        table(
            out,
            "LFU frequency counter",
            &["counter", "keys"],
            &dist(f, &order),
        )?;
    }
    if let Some(f) = &s.lru_idle {
        let order: Vec<&str> = IDLE_CLASSES.iter().map(|c| c.0).collect();
        table(out, "LRU idle time", &["idle", "keys"], &dist(f, &order))?;
    }
    let rows: Vec<Vec<String>> = s
        .element_percentiles
        .iter()
        .map(|p| {
            vec![
                p.kind.name().to_string(),
                p.keys.to_string(),
                p.p50.to_string(),
                p.p90.to_string(),
                p.p99.to_string(),
                p.max.to_string(),
            ]
        })
        .collect();
    table(
        out,
        "Elements per key (strings: bytes; percentiles within 12.5 %)",
        &["type", "keys", "p50", "p90", "p99", "max"],
        &rows,
    )?;
    let b = &s.big_keys;
    writeln!(
        out,
        "\nBig keys (collections over {} elements, strings over {}): {}",
        b.collection_elements_over,
        human_bytes(b.string_bytes_over),
        b.count
    )?;
    for k in b.listed.iter().take(20) {
        writeln!(
            out,
            "  warning: {} key \"{}\" (db {}): {} {}, {}",
            k.kind.name(),
            shown(&k.key),
            k.db,
            k.elements,
            if k.kind == Kind::String {
                "bytes"
            } else {
                "elements"
            },
            human_bytes(k.memory)
        )?;
    }
    Ok(())
}

pub const CSV_HEADER: &str =
    "file,db,type,encoding,keys,expires,already_expired,elements,serialized_bytes,memory";

/// One CSV row per (db, type, encoding) of a file.
pub fn write_csv(out: &mut impl Write, r: &FileReport) -> io::Result<()> {
    for e in &r.stats.encodings {
        csv::write_field(out, r.path.as_bytes())?;
        let c = &e.counts;
        writeln!(
            out,
            ",{},{},{},{},{},{},{},{},{}",
            e.db,
            e.kind.name(),
            e.encoding,
            c.keys,
            c.expires,
            c.already_expired,
            c.elements,
            c.serialized_bytes,
            c.memory
        )?;
    }
    Ok(())
}
