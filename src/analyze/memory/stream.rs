//! Streams: the node radix tree, the node listpacks, and each consumer group's and
//! consumer's pending-entry trees, priced as `objectComputeSize` prices them.

use super::{size, text_len, Generation, MemoryModel, ValkeyLayout};
use crate::error::Result;
use crate::rdb::value::Region;

/// The listpack a stream starts each node with (`STREAM_LISTPACK_MAX_PRE_ALLOCATE`); the
/// open (last) node keeps that allocation until it outgrows it.
const NODE_PREALLOC: u64 = 4096;

pub(super) fn estimate(m: &MemoryModel, version: u8, body: Region<'_>) -> Result<u64> {
    let mut c = body.cursor();
    let nodes = c.length()?;
    let mut tree = RaxShape::default();
    let mut listpacks = 0u64;
    for i in 0..nodes {
        let key = c.string()?;
        let mut buf = [0u8; 16];
        if let Some(raw) = key.as_raw().filter(|k| k.len() == 16) {
            buf.copy_from_slice(raw);
        }
        tree.add(&buf);
        let len = text_len(&c.string()?) as u64;
        // Valkey 8.1+ is priced as loaded from the file: each listpack at its length.
        let open_node = i + 1 == nodes && m.valkey < Some(ValkeyLayout::V81);
        listpacks += m.usable(if open_node {
            len.max(NODE_PREALLOC)
        } else {
            len
        });
    }
    c.length()?; // length
    pair(&mut c)?; // last id
    if version >= 2 {
        pair(&mut c)?; // first id
        pair(&mut c)?; // max deleted id
        c.length()?; // entries added
    }
    let (stream_struct, group_struct, consumer_struct) = match m.generation {
        Generation::Redis6 => (40, 32, 24),
        Generation::Redis70 => (80, 40, 24),
        _ => (80, 40, 32),
    };
    let mut total = size::ROBJ + stream_struct + tree.usage() + listpacks;
    let groups = c.length()?;
    for _ in 0..groups {
        c.string()?; // name
        pair(&mut c)?; // last id
        if version >= 2 {
            c.length()?; // entries read
        }
        let pel = c.length()?;
        let mut pel_tree = RaxShape::default();
        for _ in 0..pel {
            let id = c.take(16)?;
            pel_tree.add(id);
            c.take(8)?; // delivery time
            c.length()?; // delivery count
        }
        total += group_struct + pel_tree.usage() + STREAM_NACK * pel;
        let consumers = c.length()?;
        for _ in 0..consumers {
            let name = text_len(&c.string()?) as u64;
            c.take(8)?; // seen time
            if version >= 3 {
                c.take(8)?; // active time
            }
            let n = c.length()?;
            let mut own = RaxShape::default();
            for _ in 0..n {
                own.add(c.take(16)?);
            }
            total += consumer_struct + name + own.usage();
        }
    }
    Ok(total)
}

/// `sizeof(streamNACK)`: delivery time, delivery count, consumer.
const STREAM_NACK: u64 = 24;

fn pair(c: &mut crate::rdb::cursor::Cursor<'_>) -> Result<()> {
    c.length()?;
    c.length()?;
    Ok(())
}

/// Counts the nodes of the radix tree (`rax`) that holds 16-byte stream IDs inserted in
/// any order, fed in sorted order: the compressed tree's shape depends only on the key
/// set. A node starts at the root, at every branching point, at every child of a
/// branching point and at every key's end; runs in between are one compressed node.
#[derive(Default)]
struct RaxShape {
    keys: u64,
    nodes: u64,
    prev: [u8; 16],
    /// Depths where the previous key's path branches, ascending.
    branching: Vec<u8>,
}

impl RaxShape {
    fn add(&mut self, key: &[u8]) {
        let mut k = [0u8; 16];
        let n = key.len().min(16);
        k[..n].copy_from_slice(&key[..n]);
        if self.keys == 0 {
            self.keys = 1;
            self.nodes = 2; // the root (a compressed run of all 16 bytes) and the key's end
            self.prev = k;
            return;
        }
        let lcp = self.prev.iter().zip(&k).take_while(|(a, b)| a == b).count();
        if lcp == 16 {
            return; // the same key again
        }
        let l = lcp as u8;
        let had_child_branch = self.branching.contains(&(l + 1));
        while self.branching.last().is_some_and(|&d| d > l) {
            self.branching.pop();
        }
        // the new key's own run after the branch, then its end node
        let suffix = if lcp + 1 < 16 { 2 } else { 1 };
        if self.branching.last() == Some(&l) {
            self.nodes += suffix;
        } else {
            let starts_node = l == 0 || self.branching.last() == Some(&(l - 1));
            let old_rest_starts_node = lcp + 1 == 16 || had_child_branch;
            self.nodes += suffix + u64::from(!starts_node) + u64::from(!old_rest_starts_node);
            self.branching.push(l);
        }
        self.keys += 1;
        self.prev = k;
    }

    /// `streamRadixTreeMemoryUsage`: 16 bytes per key, a raxNode header plus a fixed
    /// 30 words per node (an empty tree still has its root).
    fn usage(&self) -> u64 {
        self.keys * 16 + self.nodes.max(1) * (4 + 8 * 30)
    }
}

#[cfg(test)]
mod tests {
    use super::RaxShape;

    fn shape(keys: &[[u8; 16]]) -> u64 {
        let mut r = RaxShape::default();
        for k in keys {
            r.add(k);
        }
        r.nodes.max(1)
    }

    fn id(ms: u64, seq: u64) -> [u8; 16] {
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&ms.to_be_bytes());
        k[8..].copy_from_slice(&seq.to_be_bytes());
        k
    }

    #[test]
    fn rax_shapes() {
        assert_eq!(shape(&[]), 1);
        assert_eq!(shape(&[id(1, 0)]), 2);
        // branch on the last byte: root run, branch node, two ends
        assert_eq!(shape(&[id(1, 0), id(1, 1)]), 4);
        assert_eq!(shape(&[id(1, 0), id(1, 1), id(1, 2)]), 5);
        // a branch one byte up: the old branch node becomes a child, the new key gets a
        // one-byte node and its end
        assert_eq!(shape(&[id(1, 0), id(1, 1), id(1, 2), id(1, 256)]), 8);
    }
}
