//! Value payloads by type id (FORMAT.md §4, §5): `read` finds where a value ends,
//! checks it (deeply when `Checker::deep`), and returns a borrowed view of it.
//!
//! The view keeps the value's bytes and file offsets, so callers can iterate the
//! collection straight from the encoded bytes later (`crate::rdb::items`) instead of
//! materialising it.

use crate::error::{Error, Result};
use crate::rdb::check::{has_exact_duplicate, Checker, Depth};
use crate::rdb::cursor::Cursor;
use crate::rdb::encoding::intset::Intset;
use crate::rdb::encoding::listpack::Listpack;
use crate::rdb::encoding::ziplist::Ziplist;
use crate::rdb::encoding::zipmap::Zipmap;
use crate::rdb::encoding::{BlobError, Elem};
use crate::rdb::header::Dialect;
use crate::rdb::module;
use crate::rdb::stream;
use crate::rdb::string::RdbStr;
use crate::rdb::types::TypeInfo;

/// Hash field expiry times above this are invalid (`EB_EXPIRE_TIME_MAX`, 2^48 - 1).
pub const MAX_FIELD_EXPIRE_MS: u64 = (1 << 48) - 1;

/// A span of the file: bytes plus the absolute offset of the first one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region<'a> {
    pub bytes: &'a [u8],
    pub at: u64,
}

impl<'a> Region<'a> {
    pub fn cursor(&self) -> Cursor<'a> {
        Cursor::new(self.bytes, self.at)
    }
}

/// A blob-encoded collection (`STR` holding a ziplist, listpack, intset or zipmap).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blob<'a> {
    pub s: RdbStr<'a>,
    /// File offset of the blob's first byte (of the compressed bytes when LZF).
    pub at: u64,
}

/// Which layout a hash with per-field TTLs uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashTtlLayout {
    /// Redis 7.4+ type 24: TTLs relative to `min_expire`.
    Redis,
    /// Redis 7.4 RC type 22: absolute TTLs.
    RedisPreGa,
    /// Valkey 9 type 22 (HASH_2): field, value, absolute expiry (-1 none).
    Valkey,
}

/// A value, borrowed from the file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    String(RdbStr<'a>),
    /// Type 1: `count` strings, head to tail.
    List {
        count: u64,
        items: Region<'a>,
    },
    /// Type 2: `count` strings.
    Set {
        count: u64,
        items: Region<'a>,
    },
    /// Types 3 and 5: `count` (member, score) pairs.
    Zset {
        count: u64,
        items: Region<'a>,
        binary_scores: bool,
    },
    /// Type 4: `count` (field, value) pairs.
    Hash {
        count: u64,
        items: Region<'a>,
    },
    /// Types 22/24 and Valkey's 22: `count` fields with TTLs.
    HashWithTtl {
        count: u64,
        items: Region<'a>,
        layout: HashTtlLayout,
        min_expire: Option<u64>,
    },
    /// Types 9-13, 16, 17, 20, 23, 25: one blob (`min_expire` for type 25).
    Encoded {
        type_id: u8,
        blob: Blob<'a>,
        min_expire: Option<u64>,
    },
    /// Types 14 and 18: `nodes` nodes.
    Quicklist {
        nodes: u64,
        items: Region<'a>,
        v2: bool,
    },
    /// Types 15, 19, 21, 26 (`version` 1-4).
    Stream {
        version: u8,
        body: Region<'a>,
    },
    /// Type 7: module type id and its opcode stream (ending with the EOF opcode).
    Module {
        module_id: u64,
        body: Region<'a>,
    },
}

/// What reading a value learnt about it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ValueInfo {
    /// Elements: list items, set/zset members, hash fields, stream entries; 1 for a
    /// string or module value.
    pub elements: u64,
    /// Bytes the value occupies in the file.
    pub stored_bytes: u64,
    /// Offset of the value's first byte.
    pub offset: u64,
}

fn blob_error(e: BlobError, blob: &Blob<'_>, what: &str) -> Error {
    match blob.s {
        RdbStr::Lzf { .. } => Error::corrupt(
            blob.at,
            format!(
                "{what} integrity check failed: {} at byte {} of the decompressed blob",
                e.reason, e.at
            ),
        ),
        _ => Error::corrupt(
            blob.at + e.at as u64,
            format!("{what} integrity check failed: {}", e.reason),
        ),
    }
}

fn read_blob<'a>(cur: &mut Cursor<'a>) -> Result<Blob<'a>> {
    let start = cur.offset();
    let s = cur.string()?;
    let at = match s {
        RdbStr::Lzf { at, .. } => at,
        RdbStr::Raw(b) => cur.offset() - b.len() as u64,
        RdbStr::Int(_) => start,
    };
    Ok(Blob { s, at })
}

/// Which container a blob holds, to pick the checks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Container {
    ListZiplist,
    ZsetZiplist,
    HashZiplist,
    Zipmap,
    Intset,
    SetListpack,
    HashListpack,
    ZsetListpack,
    HashListpackTtl,
    QuicklistZiplist,
    QuicklistListpack,
}

/// Counts the `T`-tuples of a ziplist or listpack (members, pairs, field-value-TTL
/// triples), fingerprinting each tuple's first entry and checking hash field TTLs.
struct Tuples<'c, const T: usize> {
    chk: &'c mut Checker,
    entries: usize,
    ints: itoa::Buffer,
    /// The previous field's TTL in a hash with field TTLs (-1 before the first): the
    /// server keeps fields with a TTL first, by TTL, then those without (0).
    last_ttl: i64,
    /// Whether the second entry of each pair is a zset score.
    scores: bool,
}

impl<'c, const T: usize> Tuples<'c, T> {
    fn new(chk: &'c mut Checker, scores: bool) -> Self {
        chk.start_unique(0);
        Tuples {
            chk,
            entries: 0,
            ints: itoa::Buffer::new(),
            last_ttl: -1,
            scores,
        }
    }

    #[inline(always)]
    fn entry(&mut self, e: Elem<'_>) -> std::result::Result<(), BlobError> {
        let pos = self.entries % T;
        if pos == 0 {
            self.chk.add_member(e.bytes(&mut self.ints));
        }
        if T == 2 && pos == 1 && self.scores {
            if let Elem::Str(s) = e {
                if reads_as_nan(s) {
                    return Err(BlobError::new(0, "zset with NaN score"));
                }
            }
        }
        if T == 3 && pos == 2 {
            match e {
                Elem::Int(t) if (0..=MAX_FIELD_EXPIRE_MS as i64).contains(&t) => {
                    // As `_lpEntryValidation` (deep sanitization) requires.
                    if t != 0 && (self.last_ttl == 0 || t < self.last_ttl) {
                        return Err(BlobError::new(
                            0,
                            "hash field TTLs out of order (fields with a TTL come first, by TTL)",
                        ));
                    }
                    self.last_ttl = t;
                }
                _ => {
                    return Err(BlobError::new(
                        0,
                        "hash field TTL is not a valid expiry time",
                    ))
                }
            }
        }
        self.entries += 1;
        Ok(())
    }

    /// (tuples, whether two first entries may be equal)
    fn finish(self) -> std::result::Result<(u64, bool), BlobError> {
        let n = self.entries;
        if n % T != 0 {
            return Err(BlobError::new(
                0,
                format!("{n} entries do not form {T}-tuples"),
            ));
        }
        Ok(((n / T) as u64, self.chk.maybe_duplicates()))
    }

    fn listpack(
        chk: &'c mut Checker,
        bytes: &[u8],
        scores: bool,
    ) -> std::result::Result<(u64, bool), BlobError> {
        let lp = Listpack::parse(bytes)?;
        let mut t = Self::new(chk, scores);
        lp.for_each(|e| t.entry(e))?;
        t.finish()
    }

    fn ziplist(
        chk: &'c mut Checker,
        bytes: &[u8],
        scores: bool,
    ) -> std::result::Result<(u64, bool), BlobError> {
        let zl = Ziplist::parse(bytes)?;
        let mut t = Self::new(chk, scores);
        for e in zl.iter() {
            t.entry(e?)?;
        }
        t.finish()
    }
}

/// Whether a zset score stored as text reads as NaN where the server parses it
/// (`zzlStrtod`: `strtod`, which skips leading spaces, takes a sign and stops after
/// `nan`): a NaN score trips an assertion when the zset is converted to a skiplist.
fn reads_as_nan(s: &[u8]) -> bool {
    let s = s.trim_ascii_start();
    let s = s.strip_prefix(b"-").or(s.strip_prefix(b"+")).unwrap_or(s);
    s.get(..3).is_some_and(|p| p.eq_ignore_ascii_case(b"nan"))
}

/// Checks a decoded blob; returns its element count (pairs count as one element).
fn check_blob(
    bytes: &[u8],
    c: Container,
    chk: &mut Checker,
) -> std::result::Result<u64, BlobError> {
    let (count, suspicious) = match c {
        Container::ListZiplist | Container::QuicklistZiplist => {
            (Ziplist::parse(bytes)?.validate()? as u64, false)
        }
        Container::ZsetZiplist => Tuples::<2>::ziplist(chk, bytes, true)?,
        Container::HashZiplist => Tuples::<2>::ziplist(chk, bytes, false)?,
        Container::SetListpack => Tuples::<1>::listpack(chk, bytes, false)?,
        Container::ZsetListpack => Tuples::<2>::listpack(chk, bytes, true)?,
        Container::HashListpack => Tuples::<2>::listpack(chk, bytes, false)?,
        Container::HashListpackTtl => Tuples::<3>::listpack(chk, bytes, false)?,
        Container::QuicklistListpack => (Listpack::parse(bytes)?.validate()? as u64, false),
        Container::Intset => (Intset::parse(bytes)?.validate()? as u64, false),
        Container::Zipmap => {
            let zm = Zipmap::parse(bytes)?;
            chk.start_unique(0);
            let mut n = 0u64;
            for p in zm.iter() {
                let (k, _) = p?;
                chk.add_member(k);
                n += 1;
            }
            (n, chk.maybe_duplicates())
        }
    };
    if suspicious {
        let step = match c {
            Container::SetListpack => 1,
            Container::HashListpackTtl => 3,
            _ => 2,
        };
        let dup = match c {
            Container::Zipmap => has_exact_duplicate(
                &chk.repeated(),
                Zipmap::parse(bytes)?
                    .iter()
                    .filter_map(|p| p.ok())
                    .map(|(k, _)| k.to_vec()),
            ),
            Container::ZsetZiplist | Container::HashZiplist => has_exact_duplicate(
                &chk.repeated(),
                Ziplist::parse(bytes)?
                    .iter()
                    .filter_map(|e| e.ok())
                    .step_by(step)
                    .map(|e| e.to_vec()),
            ),
            _ => has_exact_duplicate(
                &chk.repeated(),
                Listpack::parse(bytes)?
                    .iter()
                    .filter_map(|e| e.ok())
                    .step_by(step)
                    .map(|e| e.to_vec()),
            ),
        };
        if dup {
            return Err(BlobError::new(0, "duplicate members or fields"));
        }
    }
    Ok(count)
}

/// Decodes a blob into the checker's buffer and checks it.
fn check_encoded(blob: &Blob<'_>, c: Container, what: &str, chk: &mut Checker) -> Result<u64> {
    if blob.s.len() > MAX_BLOB {
        return Err(Error::corrupt(
            blob.at,
            format!(
                "{what} of {} bytes exceeds the 1 GiB any server writes",
                blob.s.len()
            ),
        ));
    }
    let mut buf = std::mem::take(&mut chk.buf2);
    let r = match blob.s.decode(&mut buf) {
        Ok(bytes) => check_blob(bytes, c, chk).map_err(|e| blob_error(e, blob, what)),
        Err(e) => Err(e),
    };
    chk.buf2 = buf;
    r
}

/// The element layout of a plain collection (types 1-5, 22, 24, Valkey 22).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Plain {
    /// A string (list item, set member).
    Item,
    /// Member, then a score (ASCII or binary double).
    Scored { binary: bool },
    /// Field and value, with per-field TTLs in the given layout (`None`: type 4).
    Field(Option<HashTtlLayout>),
}

/// One element: the string that must be unique (where it must) and the other one.
struct Element<'a> {
    name: RdbStr<'a>,
    value: Option<RdbStr<'a>>,
}

/// Reads one element, checking what can be checked element by element (scores,
/// field expiry times).
fn read_element<'a>(
    cur: &mut Cursor<'a>,
    kind: Plain,
    min_expire: Option<u64>,
) -> Result<Element<'a>> {
    match kind {
        Plain::Item => Ok(Element {
            name: cur.string()?,
            value: None,
        }),
        Plain::Scored { binary } => {
            let name = cur.string()?;
            let at = cur.offset();
            let score = if binary {
                cur.binary_double()?
            } else {
                cur.ascii_double()?
            };
            if score.is_nan() {
                return Err(Error::corrupt(at, "zset with NaN score"));
            }
            Ok(Element { name, value: None })
        }
        Plain::Field(layout) => {
            let at = cur.offset();
            let expire = match layout {
                Some(HashTtlLayout::Redis) => match cur.length()? {
                    0 => 0,
                    ttl => ttl.wrapping_add(min_expire.unwrap_or(0)).wrapping_sub(1),
                },
                Some(HashTtlLayout::RedisPreGa) => cur.length()?,
                Some(HashTtlLayout::Valkey) | None => 0,
            };
            if expire > MAX_FIELD_EXPIRE_MS {
                return Err(Error::corrupt(
                    at,
                    format!("invalid hash field expiry time {expire}"),
                ));
            }
            let name = cur.string()?;
            let value = Some(cur.string()?);
            if layout == Some(HashTtlLayout::Valkey) {
                let at = cur.offset();
                let e = cur.i64le()?;
                if e < -1 || e > MAX_FIELD_EXPIRE_MS as i64 {
                    return Err(Error::corrupt(
                        at,
                        format!("invalid hash field expiry time {e}"),
                    ));
                }
            }
            Ok(Element { name, value })
        }
    }
}

/// Reads `count` elements of a plain collection; with deep checks, every string's
/// LZF framing and (where `unique`) duplicate names.
fn read_plain(
    cur: &mut Cursor<'_>,
    count: u64,
    kind: Plain,
    unique: bool,
    min_expire: Option<u64>,
    chk: &mut Checker,
) -> Result<()> {
    let start = *cur;
    let deep = chk.deep;
    if unique && deep {
        chk.start_unique(count);
    }
    for _ in 0..count {
        let e = read_element(cur, kind, min_expire)?;
        if deep {
            if unique {
                add_member(&e.name, chk)?;
            } else {
                e.name.check()?;
            }
            if let Some(v) = e.value {
                v.check()?;
            }
        }
    }
    if unique && deep && chk.maybe_duplicates() {
        // Fingerprints repeated: settle it on the real bytes, keeping only suspects.
        let mut c = start;
        let names = (0..count)
            .filter_map(|_| read_element(&mut c, kind, min_expire).ok())
            .filter_map(|e| e.name.to_vec().ok());
        if has_exact_duplicate(&chk.repeated(), names) {
            let what = if matches!(kind, Plain::Field(_)) {
                "duplicate hash fields"
            } else {
                "duplicate members"
            };
            return Err(Error::corrupt(start.offset(), what));
        }
    }
    Ok(())
}

/// Fingerprints a member string (decoding LZF / integers as needed), checking it.
#[inline]
fn add_member(s: &RdbStr<'_>, chk: &mut Checker) -> Result<()> {
    match *s {
        RdbStr::Raw(b) => chk.add_member(b),
        RdbStr::Int(i) => chk.add_member(itoa::Buffer::new().format(i).as_bytes()),
        RdbStr::Lzf { len, .. } if len <= BIG_MEMBER => {
            let mut buf = std::mem::take(&mut chk.buf);
            let r = s.decode(&mut buf).map(|b| chk.add_member(b));
            chk.buf = buf;
            r?
        }
        RdbStr::Lzf { data, len, at } => {
            // Too big to hold: fingerprint it as it decompresses.
            let mut f = crate::rdb::check::Fingerprinter::new(len);
            crate::rdb::lzf::decompress_streaming(data, len, &mut |piece| f.update(piece))
                .map_err(|e| Error::corrupt(at, e.to_string()))?;
            chk.add_fingerprint(f.finish());
        }
    }
    Ok(())
}

/// Members longer than this are fingerprinted while decompressing, never held whole.
const BIG_MEMBER: usize = 1 << 20;

/// No server writes a ziplist, listpack, intset or zipmap over 1 GiB
/// (`SIZE_SAFETY_LIMIT` / `LISTPACK_MAX_SAFETY_SIZE`); a larger declared blob is not
/// decompressed.
const MAX_BLOB: usize = 1 << 30;

fn empty(chk: &mut Checker, what: &str) {
    chk.warn(format!("empty {what}: the server skips this key on load"));
}

/// Plain collections: a count then strings, walked element by element by any reader.
pub fn is_plain(type_id: u8) -> bool {
    matches!(type_id, 1..=5 | 22 | 24)
}

/// Reads one value of type `info` at `cur`. `what` names the structure being read in
/// errors. Deep checks run when `chk.deep`.
pub fn read<'a>(
    cur: &mut Cursor<'a>,
    info: &TypeInfo,
    dialect: Dialect,
    chk: &mut Checker,
) -> Result<(Value<'a>, ValueInfo)> {
    let start = cur.offset();
    chk.deep = match chk.depth {
        Depth::Full => true,
        Depth::Plain => is_plain(info.id),
        Depth::Skim => false,
    };
    let region_from = |cur: &Cursor<'a>, pos: usize, at: u64| Region {
        bytes: cur.since(pos),
        at,
    };
    let (value, elements) = match info.id {
        0 => {
            let s = cur.string()?;
            if chk.deep {
                s.check()?;
            }
            (Value::String(s), 1)
        }
        1 | 2 => {
            let count = cur.count(1)?;
            let (pos, at) = (cur.pos(), cur.offset());
            read_plain(cur, count, Plain::Item, info.id == 2, None, chk)?;
            if count == 0 {
                empty(chk, info.check_name);
            }
            let items = region_from(cur, pos, at);
            (
                if info.id == 1 {
                    Value::List { count, items }
                } else {
                    Value::Set { count, items }
                },
                count,
            )
        }
        3 | 5 => {
            let count = cur.count(2)?;
            let (pos, at) = (cur.pos(), cur.offset());
            let binary = info.id == 5;
            read_plain(cur, count, Plain::Scored { binary }, true, None, chk)?;
            if count == 0 {
                empty(chk, info.check_name);
            }
            (
                Value::Zset {
                    count,
                    items: region_from(cur, pos, at),
                    binary_scores: binary,
                },
                count,
            )
        }
        4 => {
            let count = cur.count(2)?;
            let (pos, at) = (cur.pos(), cur.offset());
            read_plain(cur, count, Plain::Field(None), true, None, chk)?;
            if count == 0 {
                empty(chk, info.check_name);
            }
            (
                Value::Hash {
                    count,
                    items: region_from(cur, pos, at),
                },
                count,
            )
        }
        7 => {
            let module_id = cur.length()?;
            let (pos, at) = (cur.pos(), cur.offset());
            module::skip_opcodes(cur).map_err(|e| {
                let (name, _) = module::type_name(module_id);
                e.reading(if name.is_empty() {
                    "a module value"
                } else {
                    "a module value's opcode stream"
                })
            })?;
            (
                Value::Module {
                    module_id,
                    body: region_from(cur, pos, at),
                },
                1,
            )
        }
        9..=13 | 16 | 17 | 20 | 23 | 25 => {
            let min_expire = if info.id == 25 {
                Some(cur.i64le()? as u64)
            } else {
                None
            };
            let blob = read_blob(cur)?;
            let (c, what) = match info.id {
                9 => (Container::Zipmap, "zipmap"),
                10 => (Container::ListZiplist, "list ziplist"),
                11 => (Container::Intset, "intset"),
                12 => (Container::ZsetZiplist, "zset ziplist"),
                13 => (Container::HashZiplist, "hash ziplist"),
                16 => (Container::HashListpack, "hash listpack"),
                17 => (Container::ZsetListpack, "zset listpack"),
                20 => (Container::SetListpack, "set listpack"),
                _ => (Container::HashListpackTtl, "hash listpack-ex"),
            };
            let n = if chk.deep {
                check_encoded(&blob, c, what, chk)?
            } else {
                0
            };
            if chk.deep && n == 0 {
                empty(chk, info.check_name);
            }
            (
                Value::Encoded {
                    type_id: info.id,
                    blob,
                    min_expire,
                },
                n,
            )
        }
        14 | 18 => {
            let v2 = info.id == 18;
            let nodes = cur.count(if v2 { 2 } else { 1 })?;
            let (pos, at) = (cur.pos(), cur.offset());
            let mut total = 0u64;
            for _ in 0..nodes {
                let container_at = cur.offset();
                let container = if v2 { cur.length()? } else { 2 };
                if container != 1 && container != 2 {
                    return Err(Error::corrupt(
                        container_at,
                        format!(
                            "quicklist node container {container} (expected 1 plain or 2 packed)"
                        ),
                    ));
                }
                let blob = read_blob(cur)?;
                if blob.s.is_empty() {
                    return Err(Error::corrupt(blob.at, "quicklist node of zero length"));
                }
                if container == 1 {
                    if chk.deep {
                        blob.s.check()?;
                    }
                    total += 1;
                } else if chk.deep {
                    let c = if v2 {
                        Container::QuicklistListpack
                    } else {
                        Container::QuicklistZiplist
                    };
                    total += check_encoded(
                        &blob,
                        c,
                        if v2 {
                            "quicklist listpack"
                        } else {
                            "quicklist ziplist"
                        },
                        chk,
                    )?;
                }
            }
            if chk.deep && total == 0 {
                empty(chk, info.check_name);
            }
            (
                Value::Quicklist {
                    nodes,
                    items: region_from(cur, pos, at),
                    v2,
                },
                total,
            )
        }
        15 | 19 | 21 | 26 => {
            let version = match info.id {
                15 => 1,
                19 => 2,
                21 => 3,
                _ => 4,
            };
            let (pos, at) = (cur.pos(), cur.offset());
            let summary = stream::read(cur, version, chk)?;
            let n = summary.length;
            (
                Value::Stream {
                    version,
                    body: region_from(cur, pos, at),
                },
                n,
            )
        }
        22 | 24 => {
            let layout = match (dialect, info.id) {
                (Dialect::Valkey, _) => HashTtlLayout::Valkey,
                (_, 22) => HashTtlLayout::RedisPreGa,
                _ => HashTtlLayout::Redis,
            };
            let min_expire = if layout == HashTtlLayout::Redis {
                let at = cur.offset();
                let m = cur.i64le()? as u64;
                if m > MAX_FIELD_EXPIRE_MS + 1 {
                    let _ = at;
                    chk.warn(format!(
                        "hash min-expire {m} is out of range (the server logs and ignores it)"
                    ));
                }
                Some(m)
            } else {
                None
            };
            let count = cur.count(if layout == HashTtlLayout::Valkey {
                10
            } else {
                3
            })?;
            let (pos, at) = (cur.pos(), cur.offset());
            read_plain(
                cur,
                count,
                Plain::Field(Some(layout)),
                true,
                min_expire,
                chk,
            )?;
            if count == 0 {
                empty(chk, info.check_name);
            }
            (
                Value::HashWithTtl {
                    count,
                    items: region_from(cur, pos, at),
                    layout,
                    min_expire,
                },
                count,
            )
        }
        id => {
            return Err(Error::unsupported(
                start,
                format!("value type {id} has no reader"),
            ))
        }
    };
    Ok((
        value,
        ValueInfo {
            elements,
            stored_bytes: cur.offset() - start,
            offset: start,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listpack of strings and integers (small ones as 7-bit, others as 64-bit).
    fn listpack(entries: &[Result<&[u8], i64>]) -> Vec<u8> {
        let mut body = Vec::new();
        for e in entries {
            let start = body.len();
            match *e {
                Ok(s) => {
                    body.push(0x80 | s.len() as u8);
                    body.extend_from_slice(s);
                }
                Err(i) if (0..128).contains(&i) => body.push(i as u8),
                Err(i) => {
                    body.push(0xf4);
                    body.extend_from_slice(&i.to_le_bytes());
                }
            }
            body.push((body.len() - start) as u8);
        }
        let mut lp = ((body.len() + 7) as u32).to_le_bytes().to_vec();
        lp.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        lp.extend_from_slice(&body);
        lp.push(0xff);
        lp
    }

    /// Fields with a TTL come first, ordered by TTL, then those without (as the
    /// server's deep sanitizer requires of a hash listpack with field TTLs).
    #[test]
    fn hash_field_ttls_must_be_ordered() {
        let check = |ttls: &[i64]| {
            let names: Vec<String> = (0..ttls.len()).map(|i| format!("f{i}")).collect();
            let mut entries = Vec::new();
            for (n, &t) in names.iter().zip(ttls) {
                entries.extend([Ok(n.as_bytes()), Ok(&b"v"[..]), Err(t)]);
            }
            check_blob(
                &listpack(&entries),
                Container::HashListpackTtl,
                &mut Checker::new(true),
            )
        };
        let t = 1_800_000_000_000;
        assert_eq!(check(&[t, t + 1, 0, 0]).unwrap(), 4);
        assert_eq!(check(&[t, t]).unwrap(), 2);
        assert_eq!(check(&[0, 0]).unwrap(), 2);
        assert!(check(&[t + 1, t]).is_err());
        assert!(check(&[0, t]).is_err());
        assert!(check(&[t, 0, t]).is_err());
    }

    /// A listpack zset with a score that reads as NaN where the server parses it.
    #[test]
    fn listpack_zset_scores_that_read_as_nan_are_refused() {
        let check = |score: &[u8]| {
            let lp = listpack(&[Ok(b"a"), Ok(score), Ok(b"b"), Err(2)]);
            check_blob(&lp, Container::ZsetListpack, &mut Checker::new(true))
        };
        assert_eq!(check(b"1.5").unwrap(), 2);
        assert_eq!(check(b"inf").unwrap(), 2);
        assert_eq!(check(b"banana").unwrap(), 2);
        for nan in [&b"nan"[..], b"NaN", b"-nan", b" +NAN(1)"] {
            assert!(check(nan).is_err(), "{:?}", String::from_utf8_lossy(nan));
        }
        // Hash values are not scores.
        let lp = listpack(&[Ok(b"f"), Ok(b"nan")]);
        assert!(check_blob(&lp, Container::HashListpack, &mut Checker::new(true)).is_ok());
    }

    /// Records are moved by value on the hot path: keep them small (248 = 232 plus
    /// the value-bytes slice that DUMP payloads need).
    #[test]
    fn records_stay_small() {
        let r = std::mem::size_of::<crate::rdb::Record<'static>>();
        assert!(r <= 248, "Record is {r} bytes");
    }
}
