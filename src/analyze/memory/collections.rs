//! Lists, sets, sorted sets and hashes: blob encodings by their length, hashtable and
//! skiplist encodings element by element (lengths only; nothing is decompressed).

use super::{size, Generation, MemoryModel};
use crate::error::{Error, Result};
use crate::rdb::cursor::Cursor;
use crate::rdb::value::{HashTtlLayout, Value};

pub(super) fn estimate(m: &MemoryModel, v: &Value<'_>) -> Result<u64> {
    match *v {
        Value::Encoded { type_id, blob, .. } => {
            let len = blob.s.len() as u64;
            Ok(match type_id {
                // 7.4+ hashes with field TTLs in a listpack carry a listpackEx header.
                23 | 25 => size::ROBJ + m.usable(size::LISTPACK_EX) + m.usable(len),
                // An old list ziplist is loaded as a one-node quicklist.
                10 => quicklist(m, &[len]),
                _ => size::ROBJ + m.blob(len),
            })
        }
        Value::Quicklist { nodes, items, v2 } => {
            let mut c = items.cursor();
            let mut total = size::ROBJ + size::QUICKLIST;
            let mut packed_single = None;
            for _ in 0..nodes {
                let container = if v2 { c.length()? } else { 2 };
                let len = c.string()?.len() as u64;
                if nodes == 1 && container == 2 {
                    packed_single = Some(len);
                }
                // A plain node holds one big element as raw bytes.
                total += size::QUICKLIST_NODE
                    + if container == 1 {
                        m.usable(len)
                    } else {
                        m.blob(len)
                    };
            }
            // 7.2+ keeps a list that fits one 8 KiB listpack as that listpack.
            if let (true, Some(len)) = (m.generation >= Generation::Redis72, packed_single) {
                if len <= size::LIST_LISTPACK_BYTES {
                    return Ok(size::ROBJ + m.usable(len));
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
                let len = c.string()?.len() as u64 + 2;
                if cur + len > size::LIST_LISTPACK_BYTES && cur > 7 {
                    node_bytes.push(cur);
                    cur = 7;
                }
                cur += len;
            }
            node_bytes.push(cur);
            if m.generation >= Generation::Redis72 && node_bytes.len() == 1 {
                return Ok(size::ROBJ + m.usable(node_bytes[0]));
            }
            Ok(quicklist(m, &node_bytes))
        }
        Value::Set { count, items } => {
            let mut c = items.cursor();
            let mut strings = 0u64;
            for _ in 0..count {
                strings += m.sds(c.string()?.len());
            }
            Ok(size::ROBJ + dict(m, count) + count * size::DICT_ENTRY + strings)
        }
        Value::Zset {
            count,
            items,
            binary_scores,
        } => {
            let mut c = items.cursor();
            let mut strings = 0u64;
            for _ in 0..count {
                strings += m.sds(c.string()?.len());
                skip_score(&mut c, binary_scores)?;
            }
            Ok(skiplist(m, count, strings))
        }
        Value::Hash { count, items } => {
            let mut c = items.cursor();
            let mut strings = 0u64;
            for _ in 0..count {
                strings += field(m, c.string()?.len(), false) + m.sds(c.string()?.len());
            }
            Ok(size::ROBJ + dict(m, count) + count * size::DICT_ENTRY + strings)
        }
        Value::HashWithTtl {
            count,
            items,
            layout,
            ..
        } => {
            let mut c = items.cursor();
            let mut strings = 0u64;
            for _ in 0..count {
                let ttl_before = match layout {
                    HashTtlLayout::Redis | HashTtlLayout::RedisPreGa => c.length()? != 0,
                    HashTtlLayout::Valkey => false,
                };
                let f = c.string()?.len();
                let v = c.string()?.len();
                let has_ttl = match layout {
                    HashTtlLayout::Valkey => c.i64le()? != -1,
                    _ => ttl_before,
                };
                strings += field(m, f, has_ttl) + m.sds(v);
            }
            Ok(size::ROBJ + dict(m, count) + count * size::DICT_ENTRY + strings)
        }
        Value::Stream { version, body } => super::stream::estimate(m, version, body),
        Value::String(_) | Value::Module { .. } => Err(Error::corrupt(
            0,
            "internal: not a collection value".to_string(),
        )),
    }
}

/// A quicklist whose nodes hold blobs of these lengths.
fn quicklist(m: &MemoryModel, node_bytes: &[u64]) -> u64 {
    size::ROBJ
        + size::QUICKLIST
        + node_bytes
            .iter()
            .map(|&b| size::QUICKLIST_NODE + m.blob(b))
            .sum::<u64>()
}

/// A dict's struct and bucket array for `n` entries: a power of two, at least 4, that
/// holds them all (what loading pre-sizes and what growing one insert at a time reaches).
fn dict(m: &MemoryModel, n: u64) -> u64 {
    m.dict_struct() + 8 * buckets(n)
}

fn buckets(n: u64) -> u64 {
    n.max(4).next_power_of_two()
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

/// A skiplist-encoded sorted set of `n` members whose sds cost `strings` in total.
fn skiplist(m: &MemoryModel, n: u64, strings: u64) -> u64 {
    let header_node =
        m.usable(size::ZSKIPLIST_NODE + size::ZSKIPLIST_LEVEL * size::ZSKIPLIST_MAXLEVEL);
    size::ROBJ
        + size::ZSET
        + size::ZSKIPLIST
        + dict(m, n)
        + header_node
        + strings
        + n * size::DICT_ENTRY
        + (n as f64 * expected_node(m)).round() as u64
}

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

fn skip_score(c: &mut Cursor<'_>, binary: bool) -> Result<()> {
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
