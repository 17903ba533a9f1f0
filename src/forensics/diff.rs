//! `diff`: compares the datasets of two inputs key by key, in bounded memory. An input
//! is an RDB or an AOF (single file or multi-part); an AOF's dataset is obtained by
//! replaying it offline ([`crate::aof::replay`]), keys untouched by its commands coming
//! straight from its RDB part.
//!
//! Each key becomes a small entry: (db, key) → (type, value digest, expiry). The value
//! digest is computed while walking the encoded elements (`items::for_each`) and does
//! not depend on the encoding: lists hash in order, sets/hashes as an order-independent
//! sum of element hashes, zsets as a sum over (member, score). Two files whose entries
//! fit in memory are compared with one map; bigger ones are first split by a hash of
//! (db, key) into partition files on disk, then compared partition by partition, so
//! memory is bounded by the largest partition, not by the key count.
//!
//! A stream's entries are in its value digest; its metadata (last id, counters,
//! consumer groups, pending entries, consumers) is compared once the entries are equal,
//! read again from both files over the fields both stream versions hold
//! ([`super::stream_diff`]), and reported as its own change with a description. A
//! stream the AOF replay rebuilt from commands has no metadata to compare (only its
//! entries are replayed): its metadata is not compared.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::io::{BufReader, BufWriter, Read, Write};

use super::stream_diff::{self, StreamIn};
use crate::aof::input::Input;
use crate::aof::replay::{self, KeyState, ReplayError};
use crate::rdb::types::Kind;

/// A key as compared: everything but its name and db.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    pub digest: u64,
    pub elements: u64,
    pub expire_ms: Option<i64>,
    /// A stream's version (1-4) and the offset of its value in the file, where its
    /// metadata is read again; version 0: not a stream, or its metadata is not compared.
    pub stream_version: u8,
    pub stream_at: u64,
    /// The AOF replay could not know this key (then the rest is meaningless; why is
    /// handed on beside the entry, and kept only for such keys).
    pub unknown: bool,
}

/// How two entries for the same (db, key) differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    OnlyInA,
    OnlyInB,
    Type,
    Value,
    /// Equal stream entries, different metadata (see [`Difference::detail`]).
    StreamMetadata,
    Ttl,
    /// One side's replay could not know the key: not compared (see `detail`).
    Unknown,
}

/// One difference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    pub db: u64,
    pub key: Vec<u8>,
    pub change: Change,
    pub a: Option<Entry>,
    pub b: Option<Entry>,
    /// [`Change::StreamMetadata`]: what differs, one line each ("consumer group g1:
    /// last-delivered 5-0 -> 7-0"); [`Change::Unknown`]: why, per side ("unknown in A
    /// (PFADD at byte ..)"); empty for other changes.
    pub detail: Vec<String>,
}

/// Counts per db.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DbSummary {
    pub keys_a: u64,
    pub keys_b: u64,
    pub same: u64,
    pub only_in_a: u64,
    pub only_in_b: u64,
    pub type_changed: u64,
    pub value_changed: u64,
    pub stream_metadata_changed: u64,
    pub ttl_changed: u64,
    pub unknown: u64,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Summary {
    pub dbs: BTreeMap<u64, DbSummary>,
    /// Partitions used (1: compared in memory).
    pub partitions: u64,
}

impl Summary {
    /// No difference and no unknown key.
    pub fn identical(&self) -> bool {
        !self.differ() && self.unknown() == 0
    }
    /// At least one key differs (unknown keys aside).
    pub fn differ(&self) -> bool {
        self.dbs.values().any(|d| {
            d.only_in_a
                + d.only_in_b
                + d.type_changed
                + d.value_changed
                + d.stream_metadata_changed
                + d.ttl_changed
                > 0
        })
    }
    pub fn unknown(&self) -> u64 {
        self.dbs.values().map(|d| d.unknown).sum()
    }
}

fn kind_code(k: Kind) -> u8 {
    match k {
        Kind::String => 0,
        Kind::List => 1,
        Kind::Set => 2,
        Kind::Zset => 3,
        Kind::Hash => 4,
        Kind::Stream => 5,
        Kind::Module => 6,
    }
}

fn kind_from(c: u8) -> Kind {
    match c {
        0 => Kind::String,
        1 => Kind::List,
        2 => Kind::Set,
        3 => Kind::Zset,
        4 => Kind::Hash,
        5 => Kind::Stream,
        _ => Kind::Module,
    }
}

/// Calls `f(db, key, entry, why_unknown)` for every key of the input's dataset. Values are read
/// with deep checks and CRC-64s are checked: a damaged file is an error, never
/// "compared".
pub fn for_each_entry(
    input: &Input,
    mut f: impl FnMut(u64, &[u8], Entry, Option<&str>) -> std::io::Result<()>,
) -> Result<(), DiffError> {
    replay::for_each_key(input, true, None, &mut |db, key, state| {
        let e = match state {
            KeyState::Known {
                kind,
                digest,
                elements,
                expire_ms,
                stream,
            } => Entry {
                kind,
                digest,
                elements,
                expire_ms,
                stream_version: stream.map_or(0, |s| s.0),
                stream_at: stream.map_or(0, |s| s.1),
                unknown: false,
            },
            KeyState::Unknown(_) => Entry {
                kind: Kind::String,
                digest: 0,
                elements: 0,
                expire_ms: None,
                stream_version: 0,
                stream_at: 0,
                unknown: true,
            },
        };
        match state {
            KeyState::Unknown(r) => f(db, key, e, Some(&r.to_string())),
            KeyState::Known { .. } => f(db, key, e, None),
        }
    })
    .map(|_| ())
    .map_err(|e| match e {
        ReplayError::Io(e) => DiffError::Io(e),
        e => DiffError::Read(e.to_string()),
    })
}

#[derive(Debug)]
pub enum DiffError {
    /// What went wrong reading or replaying an input (naming the file).
    Read(String),
    Io(std::io::Error),
}

impl std::fmt::Display for DiffError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DiffError::Read(e) => write!(f, "{e}"),
            DiffError::Io(e) => write!(f, "{e}"),
        }
    }
}

fn partition_of(db: u64, key: &[u8], n: u64) -> usize {
    // Fixed keys: both files must put a key in the same partition.
    let mut h = std::hash::DefaultHasher::new();
    h.write_u64(db);
    h.write(key);
    (h.finish() % n) as usize
}

/// Entry encoding in a partition file: db, key length, key, kind, expiry flag, stream
/// version, digest, elements, expiry, stream offset, then the unknown reason's length
/// (0: known) and text.
fn write_entry(
    w: &mut impl Write,
    db: u64,
    key: &[u8],
    e: &Entry,
    why: Option<&str>,
) -> std::io::Result<()> {
    w.write_all(&db.to_le_bytes())?;
    w.write_all(&(key.len() as u64).to_le_bytes())?;
    w.write_all(key)?;
    w.write_all(&[
        kind_code(e.kind),
        e.expire_ms.is_some() as u8,
        e.stream_version,
    ])?;
    w.write_all(&e.digest.to_le_bytes())?;
    w.write_all(&e.elements.to_le_bytes())?;
    w.write_all(&e.expire_ms.unwrap_or(0).to_le_bytes())?;
    w.write_all(&e.stream_at.to_le_bytes())?;
    let why = why.unwrap_or("");
    w.write_all(&(why.len() as u64).to_le_bytes())?;
    w.write_all(why.as_bytes())
}

fn read_u64(r: &mut impl Read) -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// An entry read back: db, key, entry, why it is unknown.
type Read4 = (u64, Vec<u8>, Entry, Option<String>);

/// The next entry of a partition file, `None` at its end.
fn read_entry(r: &mut impl Read) -> std::io::Result<Option<Read4>> {
    let mut b = [0u8; 8];
    match r.read_exact(&mut b) {
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        r => r?,
    }
    let db = u64::from_le_bytes(b);
    let len = read_u64(r)? as usize;
    let mut key = vec![0u8; len];
    r.read_exact(&mut key)?;
    let mut flags = [0u8; 3];
    r.read_exact(&mut flags)?;
    let digest = read_u64(r)?;
    let elements = read_u64(r)?;
    let expire = read_u64(r)? as i64;
    let stream_at = read_u64(r)?;
    let mut why = vec![0u8; read_u64(r)? as usize];
    r.read_exact(&mut why)?;
    Ok(Some((
        db,
        key,
        Entry {
            kind: kind_from(flags[0]),
            digest,
            elements,
            expire_ms: (flags[1] == 1).then_some(expire),
            stream_version: flags[2],
            stream_at,
            unknown: !why.is_empty(),
        },
        (!why.is_empty()).then(|| String::from_utf8_lossy(&why).into_owned()),
    )))
}

type Map = HashMap<(u64, Vec<u8>), Entry>;
/// Receives the entries of one side.
type EntrySink<'s> = dyn FnMut(u64, &[u8], Entry, Option<&str>) + 's;
/// Why each unknown key of side A is unknown.
type Reasons = HashMap<(u64, Vec<u8>), String>;
/// Streams the entries of one side (of one partition) into a sink.
type EntrySource<'s> = dyn FnMut(&mut EntrySink<'_>) -> Result<(), DiffError> + 's;

/// The two inputs' RDB parts, where stream metadata is read again.
#[derive(Clone, Copy)]
struct Files<'f> {
    a: &'f [u8],
    b: &'f [u8],
    /// A's first file, named in an error there.
    a_name: &'f str,
}

/// How two streams with equal entries differ in metadata (`None`: they do not, or it
/// is not compared). Both values were read whole (deep checks) before, so an error
/// here means the file changed under us; it is put on A.
fn stream_metadata(
    files: Files<'_>,
    ea: &Entry,
    eb: &Entry,
) -> Result<Option<Vec<String>>, (char, DiffError)> {
    if ea.stream_version == 0 || eb.stream_version == 0 {
        return Ok(None);
    }
    let side = |data, e: &Entry| StreamIn {
        data,
        at: e.stream_at,
        version: e.stream_version,
    };
    stream_diff::compare(side(files.a, ea), side(files.b, eb))
        .map_err(|e| ('A', DiffError::Read(format!("{}: {e}", files.a_name))))
}

/// Why each side's entry is unknown, one line per side.
fn unknown_detail(a: Option<String>, b: Option<&str>) -> Vec<String> {
    let a = a.map(|w| format!("unknown in A ({w})"));
    let b = b.map(|w| format!("unknown in B ({w})"));
    a.into_iter().chain(b).collect()
}

/// Compares one partition: `a` in memory, `b` streamed.
fn compare(
    mut a: Map,
    mut why_a: Reasons,
    b: &mut EntrySource<'_>,
    files: Files<'_>,
    summary: &mut Summary,
    out: &mut dyn FnMut(&Difference) -> std::io::Result<()>,
) -> Result<(), (char, DiffError)> {
    let mut diffs = Vec::new();
    for (db, _) in a.keys() {
        summary.dbs.entry(*db).or_default().keys_a += 1;
    }
    let mut failed = None;
    b(&mut |db, key, eb, why_b| {
        let d = summary.dbs.entry(db).or_default();
        d.keys_b += 1;
        let ea = a.remove(&(db, key.to_vec()));
        let mut detail = Vec::new();
        let change = match &ea {
            _ if ea.is_some_and(|e| e.unknown) || eb.unknown => {
                detail = unknown_detail(why_a.remove(&(db, key.to_vec())), why_b);
                Some(Change::Unknown)
            }
            None => Some(Change::OnlyInB),
            Some(ea) if ea.kind != eb.kind => Some(Change::Type),
            Some(ea) if ea.digest != eb.digest || ea.elements != eb.elements => Some(Change::Value),
            Some(ea) => match stream_metadata(files, ea, &eb) {
                Ok(Some(lines)) => {
                    detail = lines;
                    Some(Change::StreamMetadata)
                }
                Ok(None) if ea.expire_ms != eb.expire_ms => Some(Change::Ttl),
                Ok(None) => None,
                Err(e) => {
                    failed.get_or_insert(e);
                    None
                }
            },
        };
        match change {
            None => d.same += 1,
            Some(change) => diffs.push(Difference {
                db,
                key: key.to_vec(),
                change,
                a: ea,
                b: Some(eb),
                detail,
            }),
        }
    })
    .map_err(|e| ('B', e))?;
    if let Some(e) = failed {
        return Err(e);
    }
    for ((db, key), ea) in a.drain() {
        let (change, detail) = match ea.unknown {
            true => (
                Change::Unknown,
                unknown_detail(why_a.remove(&(db, key.clone())), None),
            ),
            false => (Change::OnlyInA, Vec::new()),
        };
        diffs.push(Difference {
            db,
            key,
            change,
            a: Some(ea),
            b: None,
            detail,
        });
    }
    diffs.sort_by(|x, y| (x.db, &x.key).cmp(&(y.db, &y.key)));
    for d in &diffs {
        let s = summary.dbs.entry(d.db).or_default();
        match d.change {
            Change::OnlyInA => s.only_in_a += 1,
            Change::OnlyInB => s.only_in_b += 1,
            Change::Type => s.type_changed += 1,
            Change::Value => s.value_changed += 1,
            Change::StreamMetadata => s.stream_metadata_changed += 1,
            Change::Ttl => s.ttl_changed += 1,
            Change::Unknown => s.unknown += 1,
        }
        out(d).map_err(|e| ('B', DiffError::Io(e)))?;
    }
    Ok(())
}

/// Compares the datasets of two inputs. Inputs of more than `partition_bytes` together
/// are split into partition files (in `tmp`) first. `out` receives each difference,
/// ordered by (db, key) within a partition.
pub fn diff(
    a: &Input,
    b: &Input,
    partition_bytes: u64,
    tmp: &std::path::Path,
    out: &mut dyn FnMut(&Difference) -> std::io::Result<()>,
) -> Result<Summary, (char, DiffError)> {
    let size = |i: &Input| {
        i.parts
            .iter()
            .map(|p| p.1.bytes().len() as u64)
            .sum::<u64>()
    };
    let total = size(a) + size(b);
    let n = total / partition_bytes.max(1) + 1;
    let mut summary = Summary {
        partitions: n,
        ..Summary::default()
    };
    let files = Files {
        a: a.rdb(),
        b: b.rdb(),
        a_name: a.parts.first().map_or("", |p| p.0.as_str()),
    };
    if n == 1 {
        let (mut map, mut why) = (Map::new(), Reasons::new());
        for_each_entry(a, |db, key, e, w| {
            map.insert((db, key.to_vec()), e);
            if let Some(w) = w {
                why.insert((db, key.to_vec()), w.to_string());
            }
            Ok(())
        })
        .map_err(|e| ('A', e))?;
        compare(
            map,
            why,
            &mut |f| {
                for_each_entry(b, |db, key, e, w| {
                    f(db, key, e, w);
                    Ok(())
                })
            },
            files,
            &mut summary,
            out,
        )?;
        return Ok(summary);
    }
    let spill = |data: &Input, side: char| -> Result<Vec<std::fs::File>, (char, DiffError)> {
        let io = |e| (side, DiffError::Io(e));
        let mut files = (0..n)
            .map(|_| tempfile::tempfile_in(tmp).map(BufWriter::new))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(io)?;
        for_each_entry(data, |db, key, e, w| {
            write_entry(&mut files[partition_of(db, key, n)], db, key, &e, w)
        })
        .map_err(|e| (side, e))?;
        files
            .into_iter()
            .map(|w| {
                let mut f = w.into_inner().map_err(|e| e.into_error())?;
                std::io::Seek::rewind(&mut f)?;
                Ok(f)
            })
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(io)
    };
    let parts_a = spill(a, 'A')?;
    let parts_b = spill(b, 'B')?;
    for (fa, fb) in parts_a.into_iter().zip(parts_b) {
        let (mut map, mut why) = (Map::new(), Reasons::new());
        let mut ra = BufReader::new(fa);
        while let Some((db, key, e, w)) =
            read_entry(&mut ra).map_err(|e| ('A', DiffError::Io(e)))?
        {
            if let Some(w) = w {
                why.insert((db, key.clone()), w);
            }
            map.insert((db, key), e);
        }
        let mut rb = BufReader::new(fb);
        compare(
            map,
            why,
            &mut |f| {
                while let Some((db, key, e, w)) = read_entry(&mut rb).map_err(DiffError::Io)? {
                    f(db, &key, e, w.as_deref());
                }
                Ok(())
            },
            files,
            &mut summary,
            out,
        )?;
    }
    Ok(summary)
}
