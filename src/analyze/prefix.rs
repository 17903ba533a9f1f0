//! Memory and key count per key prefix (`user:42:profile` → `user`, `user:42` at depth
//! 2), in memory bounded by a fixed number of prefixes however many keys there are.
//!
//! Weighted Space-Saving (Metwally et al.), weighted by estimated memory: while the
//! distinct prefixes fit in `capacity` slots every number is exact. Past that, a new
//! prefix takes over the slot with the least memory and inherits its totals as
//! *error*: each reported memory (and key count) is an upper bound, over the truth by
//! at most its `error` field, and that error never exceeds total memory / capacity.
//! Any prefix whose true memory is above total / capacity is guaranteed to be listed.
//! Summaries from parallel workers or several files are merged as in Agarwal et al.'s
//! mergeable summaries: the error bounds add.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use crate::rdb::check::fingerprint;

/// Longest prefix kept; longer ones are cut (and counted together).
pub const MAX_PREFIX_BYTES: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrefixSlot {
    pub prefix: Vec<u8>,
    /// Number of segments (1 = before the first separator).
    pub depth: u8,
    pub keys: u64,
    pub memory: u64,
    /// How much of `keys` / `memory` may belong to other prefixes (0 while exact).
    pub keys_error: u64,
    pub memory_error: u64,
    /// Where the slot sits in the index.
    hash: u64,
}

/// The index is keyed by a 64-bit hash of the prefix already: no second hashing.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | b as u64;
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// One depth's Space-Saving summary.
#[derive(Clone, Debug)]
struct Level {
    capacity: usize,
    /// Prefix hash (plus a probe step on a full 64-bit collision) → slot.
    index: HashMap<u64, usize, BuildHasherDefault<PassThrough>>,
    slots: Vec<PrefixSlot>,
    /// Min-heap on memory; entries go stale when a slot grows and are refreshed lazily.
    by_memory: BinaryHeap<Reverse<(u64, usize)>>,
    evictions: u64,
    first_eviction_after_keys: Option<u64>,
}

impl Level {
    fn new(capacity: usize) -> Self {
        Level {
            capacity,
            index: HashMap::default(),
            slots: Vec::new(),
            by_memory: BinaryHeap::new(),
            evictions: 0,
            first_eviction_after_keys: None,
        }
    }

    /// The slot holding `prefix`, or the index key where it would go.
    fn find(&self, prefix: &[u8]) -> Result<usize, u64> {
        let mut h = fingerprint(prefix);
        loop {
            match self.index.get(&h) {
                Some(&i) if self.slots[i].prefix == prefix => return Ok(i),
                Some(_) => h = h.wrapping_add(1),
                None => return Err(h),
            }
        }
    }

    fn add(&mut self, prefix: &[u8], depth: u8, memory: u64, keys_seen: u64) {
        let hash = match self.find(prefix) {
            Ok(i) => {
                let s = &mut self.slots[i];
                s.keys += 1;
                s.memory += memory;
                return;
            }
            Err(h) => h,
        };
        if self.slots.len() < self.capacity {
            let i = self.slots.len();
            self.index.insert(hash, i);
            self.by_memory.push(Reverse((memory, i)));
            self.slots.push(PrefixSlot {
                prefix: prefix.to_vec(),
                depth,
                keys: 1,
                memory,
                keys_error: 0,
                memory_error: 0,
                hash,
            });
            return;
        }
        // Full: the new prefix takes over the slot with the least memory and inherits
        // its totals as error (the slot's buffer is reused, no allocation).
        let i = self.least();
        self.evictions += 1;
        self.first_eviction_after_keys.get_or_insert(keys_seen);
        let s = &mut self.slots[i];
        self.index.remove(&s.hash);
        s.prefix.clear();
        s.prefix.extend_from_slice(prefix);
        s.keys_error = s.keys;
        s.memory_error = s.memory;
        s.keys += 1;
        s.memory += memory;
        s.hash = hash;
        self.index.insert(hash, i);
        self.by_memory.push(Reverse((s.memory, i)));
    }

    /// The slot with the least memory (refreshing stale heap entries on the way).
    fn least(&mut self) -> usize {
        loop {
            let Reverse((m, i)) = self.by_memory.pop().expect("a full summary has slots");
            if self.slots[i].memory == m {
                return i;
            }
            self.by_memory.push(Reverse((self.slots[i].memory, i)));
        }
    }

    fn is_exact(&self) -> bool {
        self.evictions == 0
    }

    /// The least memory any slot holds once slots have been taken over (what an
    /// unlisted prefix may have had here), else 0.
    fn unseen_bound(&self) -> u64 {
        if self.is_exact() {
            0
        } else {
            self.slots.iter().map(|s| s.memory).min().unwrap_or(0)
        }
    }

    /// Mergeable-summaries merge: matched prefixes add up; a prefix missing on one
    /// side may have had up to that side's unseen bound there (added as error).
    fn merge(&mut self, other: Level, keys_seen: u64) {
        let (mine_bound, theirs_bound) = (self.unseen_bound(), other.unseen_bound());
        let mut merged = std::mem::replace(self, Level::new(self.capacity));
        let mut only_theirs = Vec::new();
        let mut matched = vec![false; merged.slots.len()];
        for mut s in other.slots {
            match merged.find(&s.prefix) {
                Ok(i) => {
                    let m = &mut merged.slots[i];
                    m.keys += s.keys;
                    m.memory += s.memory;
                    m.keys_error += s.keys_error;
                    m.memory_error += s.memory_error;
                    matched[i] = true;
                }
                Err(_) => {
                    s.memory += mine_bound;
                    s.memory_error += mine_bound;
                    only_theirs.push(s);
                }
            }
        }
        let mut all = merged.slots;
        for (s, m) in all.iter_mut().zip(&matched) {
            if !m {
                s.memory += theirs_bound;
                s.memory_error += theirs_bound;
            }
        }
        all.extend(only_theirs);
        let cut = all.len().saturating_sub(self.capacity) as u64;
        if cut > 0 {
            // Keep the `capacity` heaviest (a total order: ties go to the smaller
            // prefix); their order in the slots does not matter.
            all.select_nth_unstable_by(self.capacity - 1, |a, b| {
                b.memory.cmp(&a.memory).then(a.prefix.cmp(&b.prefix))
            });
            all.truncate(self.capacity);
        }
        self.evictions = merged.evictions + other.evictions + cut;
        self.first_eviction_after_keys = [
            merged.first_eviction_after_keys,
            other.first_eviction_after_keys,
            (cut > 0).then_some(keys_seen),
        ]
        .into_iter()
        .flatten()
        .min();
        for (i, mut s) in all.into_iter().enumerate() {
            let hash = self.find(&s.prefix).expect_err("prefixes are distinct");
            s.hash = hash;
            self.index.insert(hash, i);
            self.by_memory.push(Reverse((s.memory, i)));
            self.slots.push(s);
        }
    }
}

/// Prefix totals for every depth, each depth its own bounded summary (so the few
/// top-level prefixes stay exact however many distinct deeper ones churn).
#[derive(Clone, Debug)]
pub struct PrefixCounter {
    separator: Vec<u8>,
    levels: Vec<Level>,
    keys_seen: u64,
    /// Keys without any separator (no prefix), counted exactly.
    pub unprefixed_keys: u64,
    pub unprefixed_memory: u64,
}

impl PrefixCounter {
    /// `capacity` distinct prefixes per depth.
    pub fn new(separator: &[u8], max_depth: usize, capacity: usize) -> Self {
        PrefixCounter {
            separator: separator.to_vec(),
            levels: (0..max_depth.min(255))
                .map(|_| Level::new(capacity.max(1)))
                .collect(),
            keys_seen: 0,
            unprefixed_keys: 0,
            unprefixed_memory: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.levels.first().map_or(0, |l| l.capacity)
    }

    /// Whether every depth's numbers are exact.
    pub fn is_exact(&self) -> bool {
        self.levels.iter().all(Level::is_exact)
    }

    /// Whether the numbers at `depth` (1-based) are exact.
    pub fn is_exact_at(&self, depth: usize) -> bool {
        self.levels
            .get(depth.wrapping_sub(1))
            .is_none_or(Level::is_exact)
    }

    /// Prefix slots taken over so far, all depths.
    pub fn evictions(&self) -> u64 {
        self.levels.iter().map(|l| l.evictions).sum()
    }

    /// Keys this summary had seen when it first had to evict (any depth).
    pub fn first_eviction_after_keys(&self) -> Option<u64> {
        self.levels
            .iter()
            .filter_map(|l| l.first_eviction_after_keys)
            .min()
    }

    /// Counts a key under each of its prefixes (depth 1 up to the maximum depth, only
    /// where the key has more segments than that: a whole key is not its own prefix).
    pub fn add(&mut self, key: &[u8], memory: u64) {
        self.keys_seen += 1;
        let mut found = false;
        if !self.separator.is_empty() {
            let mut from = 0;
            for depth in 0..self.levels.len() {
                let Some(pos) = find(&key[from..], &self.separator) else {
                    break;
                };
                let end = from + pos;
                found = true;
                let prefix = &key[..end.min(MAX_PREFIX_BYTES)];
                self.levels[depth].add(prefix, depth as u8 + 1, memory, self.keys_seen);
                from = end + self.separator.len();
            }
        }
        if !found {
            self.unprefixed_keys += 1;
            self.unprefixed_memory += memory;
        }
    }

    /// Adds another summary (built with the same separator, depth and capacity).
    pub fn merge(&mut self, other: PrefixCounter) {
        let seen = self.keys_seen + other.keys_seen;
        for (mine, theirs) in self.levels.iter_mut().zip(other.levels) {
            mine.merge(theirs, seen);
        }
        self.keys_seen = seen;
        self.unprefixed_keys += other.unprefixed_keys;
        self.unprefixed_memory += other.unprefixed_memory;
    }

    /// All slots of all depths, most memory first.
    pub fn sorted(&self) -> Vec<&PrefixSlot> {
        let mut v: Vec<&PrefixSlot> = self.levels.iter().flat_map(|l| &l.slots).collect();
        v.sort_by(|a, b| b.memory.cmp(&a.memory).then(a.prefix.cmp(&b.prefix)));
        v
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() == 1 {
        return hay.iter().position(|&b| b == needle[0]);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_while_prefixes_fit() {
        let mut p = PrefixCounter::new(b":", 2, 100);
        p.add(b"user:1:name", 10);
        p.add(b"user:2:name", 20);
        p.add(b"user:2", 5);
        p.add(b"plain", 7);
        let got: Vec<(&[u8], u64, u64)> = p
            .sorted()
            .iter()
            .map(|s| (&s.prefix[..], s.keys, s.memory))
            .collect();
        assert_eq!(
            got,
            vec![
                (&b"user"[..], 3, 35),
                (&b"user:2"[..], 1, 20),
                (&b"user:1"[..], 1, 10)
            ]
        );
        assert!(p.is_exact());
        assert_eq!((p.unprefixed_keys, p.unprefixed_memory), (1, 7));
    }

    /// A million distinct prefixes through 1000 slots: the structure stays at its
    /// capacity, heavy prefixes are found with their exact totals inside the error
    /// bound, and the bound holds after merging two summaries.
    #[test]
    fn bounded_on_many_distinct_prefixes() {
        let mut parts = [
            PrefixCounter::new(b":", 1, 1000),
            PrefixCounter::new(b":", 1, 1000),
        ];
        let mut total = 0u64;
        for i in 0..1_000_000u64 {
            let p = &mut parts[(i % 2) as usize];
            let (key, mem) = if i % 10 == 0 {
                (format!("heavy{}:{i}", i % 3), 100)
            } else {
                (format!("u{i}:x"), 1)
            };
            total += mem;
            p.add(key.as_bytes(), mem);
            let l = &p.levels[0];
            assert!(l.slots.len() <= 1000 && l.index.len() <= 1000 && l.by_memory.len() <= 1000);
        }
        let [mut a, b] = parts;
        a.merge(b);
        assert!(!a.is_exact() && a.first_eviction_after_keys().is_some());
        assert_eq!(a.levels[0].slots.len(), 1000);
        let top = a.sorted();
        for (rank, want) in [(0usize, b"heavy0"), (1, b"heavy1"), (2, b"heavy2")] {
            let s = top.iter().find(|s| s.prefix == want).expect("heavy found");
            let truth = if rank == 0 { 3_333_400 } else { 3_333_300 };
            assert!(s.memory >= truth && s.memory - s.memory_error <= truth);
            assert!(
                s.memory_error <= 2 * total / 1000,
                "error {}",
                s.memory_error
            );
        }
    }
}
