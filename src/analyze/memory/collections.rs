//! Lists, sets, sorted sets and hashes: blob encodings by their length, hashtable and
//! skiplist encodings element by element (lengths only; nothing is decompressed).

use super::{size, text_len, Generation, MemoryModel, ValkeyLayout};
use crate::error::{Error, Result};
use crate::rdb::cursor::Cursor;
use crate::rdb::value::Value;
use crate::rdb::RdbStr;

pub(super) fn estimate(m: &MemoryModel, v: &Value<'_>) -> Result<u64> {
    match *v {
        Value::Encoded { type_id, blob, .. } => {
            let len = blob.s.len() as u64;
            Ok(match type_id {
                // 7.4+ hashes with field TTLs in a listpack carry a listpackEx header.
                23 | 25 if m.generation == Generation::Redis82 => size::ROBJ + LISTPACK_EX_82 + len,
                23 | 25 => size::ROBJ + m.usable(size::LISTPACK_EX) + m.usable(len),
                // An old list ziplist is loaded as a one-node quicklist.
                10 => quicklist(m, &[len]),
                _ => size::ROBJ + m.blob(len),
            })
        }
        Value::Quicklist { nodes, items, v2 } => {
            let mut c = items.cursor();
            let mut total = size::ROBJ + m.quicklist();
            let mut packed_single = None;
            for _ in 0..nodes {
                let container = if v2 { c.length()? } else { 2 };
                let len = text_len(&c.string()?) as u64;
                if nodes == 1 && container == 2 {
                    packed_single = Some(len);
                }
                // A plain node holds one big element as raw bytes.
                total += m.quicklist_node()
                    + if container == 1 {
                        m.plain_node(len)
                    } else {
                        m.blob(len)
                    };
            }
            // 7.2+ keeps a list that fits one 8 KiB listpack as that listpack.
            if let (true, Some(len)) = (m.generation >= Generation::Redis72, packed_single) {
                if len <= size::LIST_LISTPACK_BYTES {
                    return Ok(size::ROBJ + m.blob(len));
                }
            }
            Ok(total)
        }
        Value::List { count, items } => {
            // Pre-3.2 linked lists: loaded into listpack/ziplist nodes of ~8 KiB; an
            // entry costs its bytes plus about two bytes of framing.
            let mut c = items.cursor();
            let mut node_bytes = Vec::new();
            let mut cur = 7u64;
            for _ in 0..count {
                let len = text_len(&c.string()?) as u64 + 2;
                if cur + len > size::LIST_LISTPACK_BYTES && cur > 7 {
                    node_bytes.push(cur);
                    cur = 7;
                }
                cur += len;
            }
            node_bytes.push(cur);
            if m.generation >= Generation::Redis72 && node_bytes.len() == 1 {
                return Ok(size::ROBJ + m.blob(node_bytes[0]));
            }
            Ok(quicklist(m, &node_bytes))
        }
        Value::Set { count, items } => {
            let mut c = items.cursor();
            let mut strings = 0u64;
            let mut all_integers = true;
            for _ in 0..count {
                let s = c.string()?;
                all_integers = all_integers && is_integer(&s);
                strings += m.member_sds(text_len(&s));
            }
            let g = Growth::set(m, all_integers);
            let entries = if m.valkey == Some(ValkeyLayout::V80) {
                no_value_entries(count)
            } else {
                count * size::DICT_ENTRY
            };
            Ok(size::ROBJ + dict(m, count, g) + entries + strings)
        }
        Value::Zset {
            count,
            items,
            binary_scores,
        } => {
            let mut c = items.cursor();
            let mut strings = 0u64;
            for _ in 0..count {
                let len = text_len(&c.string()?);
                strings += if m.generation == Generation::Redis82 {
                    embedded_member_node(m, len)
                } else {
                    m.sds(len)
                };
                skip_score(&mut c, binary_scores)?;
            }
            Ok(skiplist(m, count, strings))
        }
        Value::Hash { count, items } => {
            let mut c = items.cursor();
            let mut strings = 0u64;
            for _ in 0..count {
                let f = text_len(&c.string()?);
                strings += hash_entry(m, f, text_len(&c.string()?), false);
            }
            Ok(size::ROBJ + dict(m, count, Growth::hash(m)) + strings)
        }
        Value::HashWithTtl {
            count,
            items,
            layout,
            ..
        } => {
            let strings = super::sum_ttl_hash_entries(items, count, layout, |f, v, ttl| {
                hash_entry(m, f, v, ttl)
            })?;
            Ok(size::ROBJ + dict(m, count, Growth::hash(m)) + strings)
        }
        Value::Stream { version, body } => super::stream::estimate(m, version, body),
        Value::String(_) | Value::Module { .. } => Err(Error::corrupt(
            0,
            "internal: not a collection value".to_string(),
        )),
    }
}

/// Valkey 8.0 keeps a set member that is alone in (or last in) its bucket without an
/// entry; the others take a 16-byte key-and-next entry. Of n members in b buckets about
/// n - b(1 - e^(-n/b)) need one.
fn no_value_entries(n: u64) -> u64 {
    let b = n.max(4).next_power_of_two() as f64;
    let n = n as f64;
    (16.0 * (n - b * (1.0 - (-n / b).exp()))).round() as u64
}

/// A quicklist whose nodes hold blobs of these lengths.
fn quicklist(m: &MemoryModel, node_bytes: &[u64]) -> u64 {
    size::ROBJ
        + m.quicklist()
        + node_bytes
            .iter()
            .map(|&b| m.quicklist_node() + m.blob(b))
            .sum::<u64>()
}

/// How a hashtable-encoded collection's dict grew, which decides whether an incremental
/// rehash is still under way (both tables count in MEMORY USAGE).
#[derive(Clone, Copy)]
struct Growth {
    /// Rehash steps each insert performs (each moves one non-empty bucket): the lookup
    /// and the insert both step for sorted sets, and for hashes except in 7.4.
    steps_per_insert: u64,
    /// Table size the conversion from the small encoding creates: no rehash runs until
    /// the dict outgrows it.
    presized: u64,
}

impl Growth {
    fn set(m: &MemoryModel, all_integers: bool) -> Growth {
        let presized = match (all_integers, m.generation >= Generation::Redis72) {
            // an intset converts at 513 members, pre-sized for all of them
            (true, _) => 1024,
            // 7.2+ converts a 128-member listpack pre-sized for 129
            (false, true) => 256,
            (false, false) => 4,
        };
        Growth {
            steps_per_insert: 1,
            presized,
        }
    }

    fn zset(m: &MemoryModel) -> Growth {
        Growth {
            // 8.2+ inserts without a separate lookup
            steps_per_insert: if m.generation == Generation::Redis82 {
                1
            } else {
                2
            },
            presized: if m.generation >= Generation::Redis72 {
                256
            } else {
                128
            },
        }
    }

    fn hash(m: &MemoryModel) -> Growth {
        Growth {
            steps_per_insert: if m.generation == Generation::Redis74 {
                1
            } else {
                2
            },
            presized: 128,
        }
    }
}

/// A dict's struct and bucket array for `n` entries.
fn dict(m: &MemoryModel, n: u64, g: Growth) -> u64 {
    m.dict_struct() + 8 * buckets(n, g)
}

/// Buckets of a dict grown one insert at a time: a power of two (at least 4) that holds
/// every entry, plus the previous table while the incremental rehash that started when
/// the dict outgrew it is still running. About 1 - 1/e of the old table's buckets hold
/// entries, and each insert moves `steps_per_insert` of them.
fn buckets(n: u64, g: Growth) -> u64 {
    let size = n.max(4).next_power_of_two();
    let old = size / 2;
    if old < g.presized || n <= 4 {
        return size;
    }
    let steps = (n - old - 1) * g.steps_per_insert;
    if (steps as f64) < old as f64 * NON_EMPTY_BUCKETS {
        size + old
    } else {
        size
    }
}

/// Share of a just-outgrown table's buckets that hold entries (1 - 1/e for n keys in n
/// buckets): the rehash steps it takes, per bucket.
const NON_EMPTY_BUCKETS: f64 = 0.632;

/// One hashtable entry of a hash: the dictEntry, the field and the value.
fn hash_entry(m: &MemoryModel, field_len: usize, value_len: usize, has_ttl: bool) -> u64 {
    if m.generation == Generation::Redis82 {
        // 8.2+ counts requested sizes: the field's sds, the value's bytes, a fixed part,
        // and the ExpireMeta of a field with a TTL (measured on 8.6.3)
        let ttl = if has_ttl { size::EXPIRE_META + 2 } else { 0 };
        return HASH_ENTRY_82
            + super::sds_header(field_len)
            + field_len as u64
            + 1
            + value_len as u64
            + ttl;
    }
    size::DICT_ENTRY + field(m, field_len, has_ttl) + m.sds(value_len)
}

/// 8.2+: fixed bytes per hashtable hash entry beyond its field sds and value bytes
/// (measured on 8.6.3).
const HASH_ENTRY_82: u64 = 28;

/// 8.2+: the listpackEx header counted for a small hash with field TTLs (measured on
/// 8.6.3).
const LISTPACK_EX_82: u64 = 24;

/// 8.2+: a skiplist node holds its member's sds after its levels; its size class
/// depends on the random level, so this is the expectation over levels 1-4 (the rest
/// has probability 1/256) plus the dictEntry.
fn embedded_member_node(m: &MemoryModel, len: usize) -> u64 {
    let base = 16 + super::sds_header(len) + len as u64 + 1;
    let weights = [0.75, 0.1875, 0.046875, 0.015625];
    let e: f64 = weights
        .iter()
        .zip(1..)
        .map(|(w, level)| w * m.usable(base + size::ZSKIPLIST_LEVEL * level) as f64)
        .sum();
    size::DICT_ENTRY + e.round() as u64
}

/// A hash field: an sds before 7.4, an mstr (with an ExpireMeta when it has a TTL) after.
fn field(m: &MemoryModel, len: usize, has_ttl: bool) -> u64 {
    if m.generation < Generation::Redis74 {
        return m.sds(len);
    }
    let header = match len {
        0..=31 => 1,
        32..=65535 => 3,
        _ => 9,
    };
    let meta = if has_ttl { size::EXPIRE_META + 2 } else { 0 };
    m.usable(meta + header + len as u64 + 1)
}

/// A skiplist-encoded sorted set of `n` members whose sds cost `strings` in total (8.2+:
/// whose nodes with their embedded members and dictEntries cost `strings`).
fn skiplist(m: &MemoryModel, n: u64, strings: u64) -> u64 {
    let fixed = size::ROBJ + size::ZSET + size::ZSKIPLIST + dict(m, n, Growth::zset(m));
    if m.generation == Generation::Redis82 {
        return fixed + header_node(m) + SKIPLIST_EXTRA_82 + strings;
    }
    fixed + n * size::DICT_ENTRY + skiplist_nodes(m, n, strings)
}

/// The skiplist's header node.
fn header_node(m: &MemoryModel) -> u64 {
    m.usable(size::ZSKIPLIST_NODE + size::ZSKIPLIST_LEVEL * size::ZSKIPLIST_MAXLEVEL)
}

/// A skiplist's nodes (header included) for `n` members whose sds cost `strings`.
pub(super) fn skiplist_nodes(m: &MemoryModel, n: u64, strings: u64) -> u64 {
    header_node(m) + strings + (n as f64 * expected_node(m)).round() as u64
}

/// 8.2+: bytes a skiplist-encoded sorted set counts beyond the 7.x structures (measured on
/// 8.6.3).
const SKIPLIST_EXTRA_82: u64 = 16;

/// Expected allocated size of a skiplist node: levels are random (`zslRandomLevel`,
/// p = 1/4), so the file cannot say; the expectation is exact on average.
fn expected_node(m: &MemoryModel) -> f64 {
    let mut p = 0.75;
    let mut e = 0.0;
    for level in 1..=size::ZSKIPLIST_MAXLEVEL {
        e += p * m.usable(size::ZSKIPLIST_NODE + size::ZSKIPLIST_LEVEL * level) as f64;
        p *= 0.25;
    }
    e
}

/// Whether a set member is one an intset could hold.
fn is_integer(s: &RdbStr<'_>) -> bool {
    match *s {
        RdbStr::Int(_) => true,
        RdbStr::Raw(b) => super::is_canonical_long(b),
        RdbStr::Lzf { .. } => false,
    }
}

pub(super) fn skip_score(c: &mut Cursor<'_>, binary: bool) -> Result<()> {
    if binary {
        c.take(8)?;
    } else {
        let n = c.u8()?;
        if n < 253 {
            c.take(n as usize)?;
        }
    }
    Ok(())
}
