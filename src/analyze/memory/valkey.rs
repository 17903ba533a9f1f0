//! Valkey 8.0 and later, whose key and collection layouts left Redis's behind (their
//! listpacks, intsets, quicklists and streams still cost what Redis 7.2's do):
//!
//! * 8.0 embeds the key in its dictEntry, and `MEMORY USAGE` counts that entry but no
//!   separate key sds;
//! * 8.1 embeds the key (and an expiry slot) in the value's object, replaces dict with an
//!   open-addressing hashtable of 64-byte buckets of 7 entries for sets, hashes and
//!   sorted sets, and `MEMORY USAGE` counts only the value (16 bytes for the object);
//! * 9.0 counts the whole object with its embedded key, and its embedded strings drop
//!   the object's pointer (an 8-byte header).
//!
//! Modelled on Valkey's `objectComputeSize`, `createStringObjectWithKeyAndExpire`,
//! `hashTypeCreateEntry` and `hashtableMemUsage`, and calibrated against 8.0.1, 8.1.1 and
//! 9.1.2 (tests/memory_servers.rs). Hashtables are priced as a load from the file
//! presizes them (see [`buckets`]); a live table grown one insert at a time may be in
//! the middle of a resize and differ.

use super::{collections, looks_like_long, sds_header, size, text_len, MemoryModel};
use crate::error::Result;
use crate::rdb::value::Value;
use crate::rdb::KeyRecord;

/// Which Valkey layout wrote the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ValkeyLayout {
    /// 8.0: key embedded in the dictEntry.
    V80,
    /// 8.1: key embedded in the object; hashtables.
    V81,
    /// 9.0 and later.
    V90,
}

/// `sizeof(hashtable)` as `hashtableMemUsage` counts it (fitted: 72 bytes on 8.1.1 and
/// 9.1.2).
const HASHTABLE: u64 = 72;
/// A hashtable bucket: 64 bytes, 7 entries.
const BUCKET: u64 = 64;
/// 9.0+: a hash's hashtable carries 8 more bytes of metadata than a set's (fitted).
const HASH_META_90: u64 = 8;
/// Largest field-plus-value allocation a hash entry keeps in one piece.
const EMBED_VALUE_MAX: u64 = 128;

impl ValkeyLayout {
    /// The layout of a Valkey `major.minor` (none before 8.0: those are Redis 7.2's).
    /// Without a version (a `VALKEY` header only), the newest.
    pub fn for_version(v: Option<(u32, u32)>) -> Option<ValkeyLayout> {
        match v {
            Some(v) if v < (8, 0) => None,
            Some(v) if v < (8, 1) => Some(ValkeyLayout::V80),
            Some(v) if v < (9, 0) => Some(ValkeyLayout::V81),
            _ => Some(ValkeyLayout::V90),
        }
    }

    /// Whether a string value lives inside its object (`embstr`) in this layout: 8.0
    /// keeps Redis's 44-byte rule; 8.1 embeds when object, expiry, key and value fit 64
    /// bytes, counting the key's sds header as one byte whatever its length (so key +
    /// value <= 41 bytes without an expiry); 9.0 when they fit 128 with an 8-byte
    /// header and the key's real sds header (checked against OBJECT ENCODING of 8.1.1
    /// and 9.1.2 for keys of 1 to 100 bytes).
    pub fn embeds(self, key_len: usize, value_len: usize, has_expire: bool) -> bool {
        let expire = if has_expire { 8 } else { 0 };
        let value = 3 + value_len as u64 + 1;
        match self {
            ValkeyLayout::V80 => value_len <= size::EMBSTR_LIMIT,
            ValkeyLayout::V81 => size::ROBJ + expire + 1 + 1 + key_len as u64 + 1 + value <= 64,
            ValkeyLayout::V90 => 8 + expire + embedded_key(key_len) + value <= 128,
        }
    }
}

/// An embedded key: a byte giving its sds header size, then the sds.
fn embedded_key(key_len: usize) -> u64 {
    1 + sds_header(key_len) + key_len as u64 + 1
}

impl MemoryModel {
    pub(super) fn valkey_estimate(
        &self,
        layout: ValkeyLayout,
        k: &KeyRecord<'_>,
        key_len: usize,
    ) -> Result<u64> {
        let has_expire = k.expire_ms.is_some();
        if layout == ValkeyLayout::V80 {
            // dictEntry {value, next, header-size byte} + the key's sds (an sds8 at least:
            // keys arrive as the argument's embedded string)
            let entry = self.usable(17 + sds_header(key_len).max(3) + key_len as u64 + 1);
            return Ok(entry + self.value(&k.value)?);
        }
        let expire = if has_expire { 8 } else { 0 };
        let object = match layout {
            ValkeyLayout::V90 => self.usable(size::ROBJ + expire + embedded_key(key_len)),
            _ => size::ROBJ,
        };
        Ok(match k.value {
            Value::String(s) => {
                let len = text_len(&s);
                if looks_like_long(&s) {
                    object
                } else if layout.embeds(key_len, len, has_expire) {
                    let header = if layout == ValkeyLayout::V90 {
                        8
                    } else {
                        size::ROBJ
                    };
                    self.usable(header + expire + embedded_key(key_len) + 3 + len as u64 + 1)
                } else {
                    object + self.sds(len)
                }
            }
            Value::Module { .. } => 0,
            Value::Set { count, items } => {
                let mut c = items.cursor();
                let mut members = 0;
                for _ in 0..count {
                    members += self.sds(text_len(&c.string()?));
                }
                object + self.hashtable(count) + members
            }
            Value::Hash { count, items } => {
                let mut c = items.cursor();
                let mut entries = 0;
                for _ in 0..count {
                    let f = text_len(&c.string()?);
                    entries += self.hash_entry(f, text_len(&c.string()?), false);
                }
                object + self.hash_table(layout, count) + entries
            }
            Value::HashWithTtl {
                count,
                items,
                layout: ttl_layout,
                ..
            } => {
                let entries =
                    super::sum_ttl_hash_entries(items, count, ttl_layout, |f, v, ttl| {
                        self.hash_entry(f, v, ttl)
                    })?;
                object + self.hash_table(layout, count) + entries
            }
            Value::Zset {
                count,
                items,
                binary_scores,
            } => {
                let mut c = items.cursor();
                let mut members = 0;
                let mut nodes = 0;
                for _ in 0..count {
                    let len = text_len(&c.string()?);
                    if layout == ValkeyLayout::V90 {
                        // 9.0 keeps the member's sds inside its skiplist node
                        nodes += self.embedded_node(len);
                    } else {
                        members += self.sds(len);
                    }
                    collections::skip_score(&mut c, binary_scores)?;
                }
                let skiplist = if layout == ValkeyLayout::V90 {
                    collections::skiplist_nodes(self, 0, nodes)
                } else {
                    collections::skiplist_nodes(self, count, members)
                };
                object + size::ZSET + size::ZSKIPLIST + self.hashtable(count) + skiplist
            }
            ref v => object + collections::estimate(self, v)? - size::ROBJ,
        })
    }

    /// A presized hashtable for `n` entries: its struct and buckets.
    fn hashtable(&self, n: u64) -> u64 {
        HASHTABLE + self.usable(BUCKET * buckets(n))
    }

    fn hash_table(&self, layout: ValkeyLayout, n: u64) -> u64 {
        let meta = if layout == ValkeyLayout::V90 {
            HASH_META_90
        } else {
            0
        };
        meta + self.hashtable(n)
    }

    /// 9.0: a skiplist node with its member embedded, its size class expected over the
    /// random levels (1 to 4; the rest has probability 1/256).
    fn embedded_node(&self, len: usize) -> u64 {
        let base = size::ZSKIPLIST_NODE + sds_header(len) + len as u64 + 1;
        let weights = [0.75, 0.1875, 0.046875, 0.015625];
        let e: f64 = weights
            .iter()
            .zip(1..)
            .map(|(w, level)| w * self.usable(base + size::ZSKIPLIST_LEVEL * level) as f64)
            .sum();
        e.round() as u64
    }

    /// A hash entry (`hashTypeEntryMemUsage`): field and value in one allocation while
    /// they fit 128 bytes, else the field after a value pointer plus the value's sds.
    fn hash_entry(&self, field_len: usize, value_len: usize, has_ttl: bool) -> u64 {
        let ttl = if has_ttl { 8 } else { 0 };
        let field = sds_header(field_len) + field_len as u64 + 1;
        let value = 3 + value_len as u64 + 1;
        if field + value <= EMBED_VALUE_MAX {
            return self.usable(ttl + field + value);
        }
        let field = sds_header(field_len).max(3) + field_len as u64 + 1;
        self.usable(ttl + 8 + field) + self.sds(value_len)
    }
}

/// Buckets a load presizes for `n` entries (`hashtableExpand`): `n * 5 / 32` rounded up
/// to a power of two, which keeps a table at most 91% full (fitted on 8.1.1 after
/// DEBUG RELOAD for 1 to 2000 entries; overflow buckets, about 1-2% more, are not
/// counted).
fn buckets(n: u64) -> u64 {
    n.saturating_mul(5).div_ceil(32).max(1).next_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presized_buckets_match_valkey_81() {
        // (entries, buckets) read off MEMORY USAGE of sets after DEBUG RELOAD on 8.1.1
        for (n, b) in [
            (1, 1),
            (6, 1),
            (7, 2),
            (12, 2),
            (13, 4),
            (27, 8),
            (56, 16),
            (1000, 256),
        ] {
            assert_eq!(buckets(n), b, "{n} entries");
        }
    }

    #[test]
    fn embedding_rules() {
        // 8.1.1: a 12-byte key embeds a 28-byte value, not a 32-byte one; key + value
        // up to 41 bytes, long keys too
        assert!(ValkeyLayout::V81.embeds(12, 28, false));
        assert!(!ValkeyLayout::V81.embeds(12, 32, false));
        for (key, max) in [(1, 40), (31, 10), (32, 9), (36, 5), (40, 1)] {
            assert!(ValkeyLayout::V81.embeds(key, max, false), "{key}");
            assert!(!ValkeyLayout::V81.embeds(key, max + 1, false), "{key}");
        }
        // 9.1.2 counts the key's real header: 31 -> 82, 32 -> 79
        assert!(ValkeyLayout::V90.embeds(31, 82, false));
        assert!(!ValkeyLayout::V90.embeds(31, 83, false));
        assert!(ValkeyLayout::V90.embeds(32, 79, false));
        assert!(!ValkeyLayout::V90.embeds(32, 80, false));
        // 9.1.2: a 10-byte key embeds up to 103 bytes
        assert!(ValkeyLayout::V90.embeds(10, 103, false));
        assert!(!ValkeyLayout::V90.embeds(10, 104, false));
        assert!(ValkeyLayout::V80.embeds(100, 44, false));
        assert!(!ValkeyLayout::V80.embeds(1, 45, false));
    }

    #[test]
    fn layout_by_version() {
        assert_eq!(ValkeyLayout::for_version(Some((7, 2))), None);
        assert_eq!(
            ValkeyLayout::for_version(Some((8, 0))),
            Some(ValkeyLayout::V80)
        );
        assert_eq!(
            ValkeyLayout::for_version(Some((8, 1))),
            Some(ValkeyLayout::V81)
        );
        assert_eq!(
            ValkeyLayout::for_version(Some((9, 1))),
            Some(ValkeyLayout::V90)
        );
        assert_eq!(ValkeyLayout::for_version(None), Some(ValkeyLayout::V90));
    }
}
