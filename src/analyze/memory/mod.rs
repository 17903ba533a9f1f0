//! Memory estimate per key: what `MEMORY USAGE key SAMPLES 0` reports in the server that
//! wrote the file.
//!
//! The model mirrors `objectComputeSize` of each Redis generation (the object header, the
//! encoding's own structures, every element's allocations, each rounded the way the
//! allocator rounds it) plus what the `MEMORY` command adds for the key itself (its sds
//! and its dictEntry). Blob encodings (listpack, ziplist, intset) cost their length, known
//! from the file without decoding them; hashtable and skiplist encodings cost a fixed
//! amount per element plus the rounded size of each element's strings, so elements are
//! walked once, reading only their lengths.
//!
//! The file cannot say which allocator the server used (see [`Allocator`]); the default is
//! Redis's bundled jemalloc.

mod alloc;
mod collections;
mod stream;
mod valkey;

pub use alloc::Allocator;
pub use valkey::ValkeyLayout;

use crate::error::Result;
use crate::rdb::header::{Dialect, Header};
use crate::rdb::value::Value;
use crate::rdb::{KeyRecord, RdbStr};

/// Layouts that differ between server releases, oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Generation {
    /// Redis < 7.0: ziplists, exact (unrounded) blob sizes in MEMORY USAGE.
    Redis6,
    /// Redis 7.0-7.1: listpacks, quicklist v2, rounded blob sizes.
    Redis70,
    /// Redis 7.2-7.3 (and Valkey 7.2-9): listpack sets, small lists as one listpack.
    Redis72,
    /// Redis 7.4-7.x: hash field TTLs (mstr fields, listpackEx).
    Redis74,
    /// Redis 8.0-8.1.
    Redis80,
    /// Redis 8.2 and later: the key lives inside its object (kvobj, with the expiry as
    /// metadata), short strings too, no dictEntry per key; blobs and short sds count
    /// their requested size.
    Redis82,
}

/// Which server (and build) wrote the file, to price every key as that server stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryModel {
    pub generation: Generation,
    /// Valkey 8.0+'s own key and hashtable layouts (its other structures are those of
    /// `generation`, Redis 7.2's).
    pub valkey: Option<ValkeyLayout>,
    pub allocator: Allocator,
    /// Whether this layout was calibrated against a live server of this family and
    /// generation (Redis 6.2, 7.0, 7.2, 7.4, 8.0 are; 8.2+ is except streams; Valkey
    /// 8.0, 8.1 and 9.x are, see the README for their errors per type).
    pub validated: bool,
}

/// Fixed sizes of the server's structures on a 64-bit build.
pub(crate) mod size {
    pub const ROBJ: u64 = 16;
    pub const DICT_ENTRY: u64 = 24;
    pub const ZSET: u64 = 16;
    pub const ZSKIPLIST: u64 = 32;
    /// `zskiplistNode` without its levels (ele, score, backward).
    pub const ZSKIPLIST_NODE: u64 = 24;
    pub const ZSKIPLIST_LEVEL: u64 = 16;
    pub const ZSKIPLIST_MAXLEVEL: u64 = 32;
    /// `listpackEx` (7.4+ hashes with field TTLs in a listpack): ExpireMeta, key, lp.
    pub const LISTPACK_EX: u64 = 32;
    /// `ExpireMeta` attached to a 7.4+ hash field that has a TTL.
    pub const EXPIRE_META: u64 = 16;
    /// Largest string kept inside its robj (`OBJ_ENCODING_EMBSTR_SIZE_LIMIT`).
    pub const EMBSTR_LIMIT: usize = 44;
    /// `list-max-listpack-size -2`: 8 KiB per listpack.
    pub const LIST_LISTPACK_BYTES: u64 = 8192;
}

impl MemoryModel {
    /// The model for the server that wrote a file with this header and `redis-ver` (or
    /// `valkey-ver`, prefixed `valkey-` or implied by a `VALKEY` header) AUX field.
    /// Without a version, the RDB version picks the generation.
    pub fn new(header: Header, server_version: Option<&str>) -> Self {
        let (valkey, version) = match server_version {
            Some(v) => match v.strip_prefix("valkey-") {
                Some(rest) => (true, Some(rest)),
                None => (header.dialect == Dialect::Valkey, Some(v)),
            },
            None => (header.dialect == Dialect::Valkey, None),
        };
        let parsed = version.and_then(parse_major_minor);
        let generation = match (valkey, parsed) {
            (true, _) => Generation::Redis72,
            (false, Some(v)) if v < (7, 0) => Generation::Redis6,
            (false, Some(v)) if v < (7, 2) => Generation::Redis70,
            (false, Some(v)) if v < (7, 4) => Generation::Redis72,
            (false, Some(v)) if v < (8, 0) => Generation::Redis74,
            (false, Some(v)) if v < (8, 2) => Generation::Redis80,
            (false, Some(_)) => Generation::Redis82,
            (false, None) => match header.version {
                0..=9 => Generation::Redis6,
                10 => Generation::Redis70,
                11 => Generation::Redis72,
                12 => Generation::Redis74,
                _ => Generation::Redis80,
            },
        };
        let validated = if valkey {
            matches!(parsed, Some((8, 0)) | Some((8, 1)) | Some((9, _)))
        } else {
            matches!(
                parsed,
                Some((6, 2))
                    | Some((7, 0))
                    | Some((7, 2))
                    | Some((7, 4))
                    | Some((8, 0))
                    | Some((8, 6))
            )
        };
        MemoryModel {
            generation,
            valkey: valkey.then(|| ValkeyLayout::for_version(parsed)).flatten(),
            allocator: Allocator::Jemalloc,
            validated,
        }
    }

    /// Whether estimates for values of this type were calibrated against a live server
    /// (streams are not modelled for Redis 8.2+ and Valkey 8.1+, whose stream accounting
    /// changed, nor Valkey 9's sorted sets and hashes, measured 4-5% off).
    pub fn is_calibrated(&self, kind: crate::rdb::types::Kind) -> bool {
        use crate::rdb::types::Kind;
        self.validated
            && match (self.valkey, kind) {
                (Some(ValkeyLayout::V81 | ValkeyLayout::V90), Kind::Stream) => false,
                (Some(ValkeyLayout::V90), Kind::Zset | Kind::Hash) => false,
                (None, Kind::Stream) => self.generation != Generation::Redis82,
                _ => true,
            }
    }

    /// The same model for a server built with another allocator.
    pub fn with_allocator(mut self, allocator: Allocator) -> Self {
        self.allocator = allocator;
        self
    }

    /// Estimated bytes the key would take in the server that wrote the file (as
    /// `MEMORY USAGE key SAMPLES 0` reports it): the value's object and structures plus
    /// the key's own sds and dictEntry.
    pub fn estimate(&self, k: &KeyRecord<'_>, key: &[u8]) -> Result<u64> {
        if let Some(layout) = self.valkey {
            return self.valkey_estimate(layout, k, key.len());
        }
        if self.generation == Generation::Redis82 {
            return self.kvobj_estimate(k, key.len());
        }
        Ok(self.key_overhead(key.len()) + self.value(&k.value)?)
    }

    /// What the keyspace spends on the key itself: its sds and its dictEntry.
    fn key_overhead(&self, key_len: usize) -> u64 {
        self.sds(key_len) + size::DICT_ENTRY
    }

    /// The value's object and everything it owns.
    fn value(&self, v: &Value<'_>) -> Result<u64> {
        match *v {
            Value::String(s) => Ok(self.string_object(&s)),
            Value::Module { .. } => Ok(0),
            _ => collections::estimate(self, v),
        }
    }

    /// 8.2+: one allocation holds the object header, an expiry slot when the key has one,
    /// the key (a one-byte header-size prefix and its sds) and, when all of it fits a
    /// 64-byte line, a short string value.
    fn kvobj_estimate(&self, k: &KeyRecord<'_>, key_len: usize) -> Result<u64> {
        let meta = if k.expire_ms.is_some() { 8 } else { 0 };
        let head = size::ROBJ + 1 + sds_header(key_len) + key_len as u64 + 1;
        let value = match k.value {
            Value::String(s) if looks_like_long(&s) => 0,
            Value::String(s) => {
                let len = text_len(&s) as u64;
                // embedded when key and value fit a 64-byte object with one-byte sds
                // headers (measured on 8.6: key + value <= 41 bytes)
                if key_len as u64 + len <= KVOBJ_EMBED_LIMIT {
                    return Ok(self.usable(head + meta + 3 + len + 1));
                }
                self.sds_alloc(len as usize)
            }
            Value::Module { .. } => 0,
            ref v => collections::estimate(self, v)? - size::ROBJ,
        };
        Ok(self.usable(head + meta) + value)
    }

    #[inline]
    fn usable(&self, n: u64) -> u64 {
        self.allocator.usable(n)
    }

    /// Allocated size of an sds holding `len` bytes (header, bytes, NUL).
    #[inline]
    pub(crate) fn sds(&self, len: usize) -> u64 {
        self.usable(sds_header(len) + len as u64 + 1)
    }

    /// `sdsAllocSize` of an sds of `len` bytes, which 8.2+ counts: an sds5 has no
    /// capacity field, so its requested size; larger ones own their whole size class.
    #[inline]
    pub(crate) fn sds_alloc(&self, len: usize) -> u64 {
        if sds_header(len) == 1 {
            len as u64 + 2
        } else {
            self.sds(len)
        }
    }

    /// A string value: shared/int-encoded integers cost the robj only, short strings
    /// live inside their robj (embstr), longer ones own a separate sds.
    fn string_object(&self, s: &RdbStr<'_>) -> u64 {
        let len = text_len(s);
        if looks_like_long(s) {
            return size::ROBJ;
        }
        if len <= size::EMBSTR_LIMIT {
            return match self.generation {
                // 6.2 counts the embstr as its bytes plus the sds8 header minus one.
                Generation::Redis6 => len as u64 + 2 + size::ROBJ,
                _ => self.usable(size::ROBJ + 3 + len as u64 + 1),
            };
        }
        size::ROBJ + self.sds(len)
    }

    /// A blob kept as one allocation (listpack, ziplist, intset): 6.2 reports its
    /// length, later versions its usable size.
    #[inline]
    pub(crate) fn blob(&self, len: u64) -> u64 {
        match self.generation {
            Generation::Redis6 | Generation::Redis82 => len,
            _ => self.usable(len),
        }
    }

    /// `sizeof(quicklistNode)`: 7.0 widened its `sz` to a size_t; 8.2+ counts 48.
    pub(crate) fn quicklist_node(&self) -> u64 {
        match self.generation {
            Generation::Redis6 => 32,
            Generation::Redis82 => 48,
            _ => 40,
        }
    }

    /// `sizeof(quicklist)` as counted (48 from 8.2).
    pub(crate) fn quicklist(&self) -> u64 {
        match self.generation {
            Generation::Redis82 => 48,
            _ => 40,
        }
    }

    /// A quicklist plain node's raw bytes (8.2+ counts the requested size).
    pub(crate) fn plain_node(&self, len: u64) -> u64 {
        match self.generation {
            Generation::Redis82 => len,
            _ => self.usable(len),
        }
    }

    /// A set member's sds.
    pub(crate) fn member_sds(&self, len: usize) -> u64 {
        match self.generation {
            Generation::Redis82 => self.sds_alloc(len),
            _ => self.sds(len),
        }
    }

    /// `sizeof(dict)`.
    pub(crate) fn dict_struct(&self) -> u64 {
        match self.generation {
            Generation::Redis6 => 96,
            _ => 56,
        }
    }
}

/// Longest key plus string value that 8.2+ keeps in one allocation (64 bytes less the
/// object header, the key's size byte, two sds headers and terminators).
const KVOBJ_EMBED_LIMIT: u64 = 41;

/// `"7.4.1"` → `(7, 4)`.
fn parse_major_minor(v: &str) -> Option<(u32, u32)> {
    let mut it = v.split('.').map(|p| p.trim().parse::<u32>().ok());
    Some((it.next()??, it.next().flatten().unwrap_or(0)))
}

/// sds header bytes for a string of `len` bytes (`sdsReqType`: sds5 below 32 bytes).
#[inline]
pub(crate) fn sds_header(len: usize) -> u64 {
    match len {
        0..=31 => 1,
        32..=255 => 3,
        256..=65535 => 5,
        _ if (len as u64) < (1 << 32) => 9,
        _ => 17,
    }
}

/// Sums `entry(field_len, value_len, has_ttl)` over the fields of a hash stored with
/// field TTLs (plain form: Redis puts each field's TTL before it, Valkey's `HASH_2` after
/// its value, -1 for none).
pub(crate) fn sum_ttl_hash_entries(
    items: crate::rdb::value::Region<'_>,
    count: u64,
    layout: crate::rdb::value::HashTtlLayout,
    mut entry: impl FnMut(usize, usize, bool) -> u64,
) -> crate::Result<u64> {
    use crate::rdb::value::HashTtlLayout;
    let mut c = items.cursor();
    let mut total = 0u64;
    for _ in 0..count {
        let ttl_before = match layout {
            HashTtlLayout::Redis | HashTtlLayout::RedisPreGa => c.length()? != 0,
            HashTtlLayout::Valkey => false,
        };
        let f = text_len(&c.string()?);
        let v = text_len(&c.string()?);
        let has_ttl = match layout {
            HashTtlLayout::Valkey => c.i64le()? != -1,
            _ => ttl_before,
        };
        total += entry(f, v, has_ttl);
    }
    Ok(total)
}

/// Decoded length of an RDB string (an int-encoded one is its decimal text) without
/// decoding it.
#[inline]
pub(crate) fn text_len(s: &RdbStr<'_>) -> usize {
    match *s {
        RdbStr::Raw(b) => b.len(),
        RdbStr::Lzf { len, .. } => len,
        RdbStr::Int(i) => {
            let digits = i
                .unsigned_abs()
                .checked_ilog10()
                .map_or(1, |d| d as usize + 1);
            digits + usize::from(i < 0)
        }
    }
}

/// Whether the server keeps this string as an integer (`string2l` accepts it: at most
/// 20 characters, canonical decimal, fits a long).
fn looks_like_long(s: &RdbStr<'_>) -> bool {
    match *s {
        RdbStr::Int(_) => true,
        RdbStr::Raw(b) => is_canonical_long(b),
        RdbStr::Lzf { .. } => false,
    }
}

pub(crate) fn is_canonical_long(b: &[u8]) -> bool {
    if b.is_empty() || b.len() > 20 {
        return false;
    }
    let digits = if b[0] == b'-' { &b[1..] } else { b };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    if digits[0] == b'0' && (digits.len() > 1 || b[0] == b'-') {
        return false;
    }
    std::str::from_utf8(b)
        .ok()
        .and_then(|t| t.parse::<i64>().ok())
        .is_some()
}

#[cfg(test)]
mod tests;
