//! Scratch state for deep checks: reusable buffers, the duplicate detector, warnings.
//!
//! Duplicate members are found by fingerprinting every member (8 bytes each, a
//! vector reused between keys; beyond 4 Mi members, sorted runs in temp files),
//! sorting, and looking for equal neighbours: faster
//! than a hash set for the small collections that dominate real files. A repeated
//! fingerprint is only a suspicion: the caller then re-walks the collection and
//! compares the real bytes, so the verdict is exact while memory stays independent of
//! member sizes.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};

use super::fingerprint_runs::FingerprintRuns;

/// Hash sets of stream IDs (node keys, PEL entries): one folded multiply per ID
/// instead of SipHash, keyed randomly per checker so a crafted file cannot aim for
/// collisions it does not know the key of.
pub type IdSet = HashSet<u128, IdHash>;
/// A map from stream ID, hashed like [`IdSet`].
pub type IdMap<V> = std::collections::HashMap<u128, V, IdHash>;

/// Builds [`IdHasher`]s with this checker's random key.
#[derive(Clone, Copy, Debug)]
pub struct IdHash(u64, u64);

impl Default for IdHash {
    fn default() -> Self {
        let s = std::collections::hash_map::RandomState::new();
        IdHash(s.hash_one(0x5eed_u64) | 1, s.hash_one(0xfeed_u64))
    }
}

impl BuildHasher for IdHash {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher {
            h: self.1,
            k: self.0,
        }
    }
}

pub struct IdHasher {
    h: u64,
    k: u64,
}

#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = (a as u128) * (b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

impl Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.h = fold_mul(self.h ^ v, self.k);
    }
    #[inline]
    fn write_u128(&mut self, v: u128) {
        self.h = fold_mul(self.h ^ v as u64, self.k ^ (v >> 64) as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        fold_mul(self.h, self.k)
    }
}

/// [`fingerprint`] computed over pieces (for members decoded piece by piece).
pub struct Fingerprinter {
    h: u64,
    word: [u8; 8],
    filled: usize,
}

const K: u64 = 0x9e37_79b9_7f4a_7c15;

impl Fingerprinter {
    pub fn new(total_len: usize) -> Self {
        Fingerprinter {
            h: (total_len as u64) ^ 0x243f_6a88_85a3_08d3,
            word: [0; 8],
            filled: 0,
        }
    }
    pub fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let take = (8 - self.filled).min(bytes.len());
            self.word[self.filled..self.filled + take].copy_from_slice(&bytes[..take]);
            self.filled += take;
            bytes = &bytes[take..];
            if self.filled == 8 {
                self.h = (self.h ^ u64::from_le_bytes(self.word)).wrapping_mul(K);
                self.h ^= self.h >> 29;
                self.filled = 0;
            }
        }
    }
    pub fn finish(mut self) -> u64 {
        if self.filled > 0 {
            self.word[self.filled..].fill(0);
            self.h = (self.h ^ u64::from_le_bytes(self.word)).wrapping_mul(K);
        }
        finalize(self.h)
    }
}

#[inline]
fn finalize(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Fast 64-bit fingerprint of a byte string (multiply-xorshift over 8-byte words,
/// murmur3's finaliser). Collisions only cost an exact re-check.
#[inline]
pub fn fingerprint(b: &[u8]) -> u64 {
    let mut h = (b.len() as u64) ^ 0x243f_6a88_85a3_08d3;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let v = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h ^ v).wrapping_mul(K);
        h ^= h >> 29;
    }
    let r = chunks.remainder();
    if !r.is_empty() {
        h = (h ^ tail_word(r)).wrapping_mul(K);
    }
    finalize(h)
}

/// The 1-7 bytes of `r` as a little-endian word padded with zeros, from a few
/// overlapping loads (copying them into a padded array costs a `memcpy` call).
#[inline(always)]
fn tail_word(r: &[u8]) -> u64 {
    let n = r.len();
    if n >= 4 {
        let lo = u32::from_le_bytes(r[..4].try_into().unwrap_or([0; 4])) as u64;
        let hi = u32::from_le_bytes(r[n - 4..].try_into().unwrap_or([0; 4])) as u64;
        lo | hi << (8 * (n - 4))
    } else {
        r[0] as u64 | (r[n / 2] as u64) << (8 * (n / 2)) | (r[n - 1] as u64) << (8 * (n - 1))
    }
}

/// Which values get the deep checks (every entry, duplicates) while reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    /// Only what is needed to find where each value ends.
    Skim,
    /// Deep checks for plain collections (types 1-5, 22, 24), which must be walked
    /// element by element anyway; encoded blobs, strings and streams are skimmed.
    Plain,
    /// Deep checks for everything.
    Full,
}

/// Collections up to this many members are checked with a hash table, larger ones by
/// sorting (which needs no memory beyond the 8-byte fingerprints).
const TABLE_MAX_MEMBERS: usize = 1 << 20;

/// Collections with more members than this keep their fingerprints on disk in sorted
/// runs of this many (32 MiB each), so heap does not grow with a huge collection.
const SPILL_AT: usize = 1 << 22;

/// Options and reusable state for reading values.
pub struct Checker {
    pub depth: Depth,
    /// Whether the value being read gets deep checks (set from `depth` per value).
    pub(crate) deep: bool,
    pub(crate) prints: Vec<u64>,
    /// Open-addressing table for `maybe_duplicates` (reused between keys).
    table: Vec<u64>,
    /// Fingerprints found more than once in the current collection.
    repeated: Vec<u64>,
    pub(crate) buf: Vec<u8>,
    pub(crate) buf2: Vec<u8>,
    pub(crate) ids: IdSet,
    pub(crate) owned: IdMap<bool>,
    /// Fingerprints of the current collection already written to disk.
    runs: FingerprintRuns,
    /// Fingerprints kept in memory before a run is written (0: never).
    spill_at: usize,
    /// Warnings raised while reading the current record (drained by the reader).
    pub(crate) warnings: Vec<String>,
}

impl Default for Checker {
    fn default() -> Self {
        Checker::new(true)
    }
}

impl Checker {
    /// `deep`: `Depth::Full` or `Depth::Skim`.
    pub fn new(deep: bool) -> Self {
        Checker::with_depth(if deep { Depth::Full } else { Depth::Skim })
    }

    pub fn with_depth(depth: Depth) -> Self {
        Checker {
            depth,
            deep: depth == Depth::Full,
            prints: Vec::new(),
            table: Vec::new(),
            repeated: Vec::new(),
            buf: Vec::new(),
            buf2: Vec::new(),
            ids: IdSet::default(),
            owned: IdMap::default(),
            runs: FingerprintRuns::default(),
            spill_at: SPILL_AT,
            warnings: Vec::new(),
        }
    }

    /// Starts a new collection for duplicate detection.
    pub(crate) fn start_unique(&mut self, expected: u64) {
        // Keep memory bounded between keys: drop a huge vector after use.
        if self.prints.capacity() > (1 << 20) {
            self.prints = Vec::new();
        }
        self.prints.clear();
        self.prints.reserve(expected.min(1 << 16) as usize);
        self.runs.clear();
        self.spill_at = SPILL_AT;
    }

    /// Records a member of the current collection.
    #[inline]
    pub(crate) fn add_member(&mut self, member: &[u8]) {
        self.add_fingerprint(fingerprint(member));
    }

    /// Records a member by its fingerprint.
    #[inline]
    pub(crate) fn add_fingerprint(&mut self, print: u64) {
        self.prints.push(print);
        if self.prints.len() == self.spill_at {
            self.spill();
        }
    }

    /// Writes the fingerprints held so far to disk as a sorted run; when that is not
    /// possible they stay in memory (with a warning), as without runs.
    #[cold]
    fn spill(&mut self) {
        if let Err(e) = self.runs.spill(&mut self.prints) {
            self.spill_at = 0;
            self.warn(format!(
                "could not write member fingerprints to a temporary file ({e}): \
                 this collection's duplicate check holds them in memory"
            ));
        }
    }

    /// Whether two members of the current collection may be equal. Small and medium
    /// collections go through an open-addressing table (linear in the member count);
    /// huge ones are sorted, which needs no memory beyond the fingerprints.
    pub(crate) fn maybe_duplicates(&mut self) -> bool {
        self.repeated.clear();
        if !self.runs.is_empty() {
            if let Err(e) = self
                .runs
                .merge_repeats(&mut self.prints, &mut self.repeated)
            {
                self.warn(format!(
                    "duplicate check incomplete: reading back member fingerprints failed ({e})"
                ));
            }
            return !self.repeated.is_empty();
        }
        let n = self.prints.len();
        if n < 2 {
            return false;
        }
        if n > TABLE_MAX_MEMBERS {
            self.prints.sort_unstable();
            for w in self.prints.windows(2) {
                if w[0] == w[1] && self.repeated.last() != Some(&w[0].max(1)) {
                    self.repeated.push(w[0].max(1));
                }
            }
        } else {
            let size = (2 * n).next_power_of_two().max(16);
            let mask = size - 1;
            self.table.clear();
            self.table.resize(size, 0);
            for &p in &self.prints {
                // 0 marks an empty slot; a zero fingerprint takes another value (a
                // false suspicion at worst, settled by the exact re-check).
                let p = p.max(1);
                let mut i = (p as usize) & mask;
                loop {
                    match self.table[i] {
                        0 => {
                            self.table[i] = p;
                            break;
                        }
                        q if q == p => {
                            self.repeated.push(p);
                            break;
                        }
                        _ => i = (i + 1) & mask,
                    }
                }
            }
            if self.table.capacity() > 4 * TABLE_MAX_MEMBERS {
                self.table = Vec::new();
            }
        }
        !self.repeated.is_empty()
    }

    /// The fingerprints seen more than once (sorted), after `maybe_duplicates`.
    pub(crate) fn repeated(&self) -> Vec<u64> {
        let mut r = self.repeated.clone();
        r.sort_unstable();
        r.dedup();
        r
    }

    pub(crate) fn warn(&mut self, w: String) {
        self.warnings.push(w);
    }
}

/// Exact duplicate search for the rare case a fingerprint repeated: re-walks the
/// members and keeps only those whose fingerprint is one of the repeated ones, so
/// memory is bounded by the suspects, not the collection.
pub(crate) fn has_exact_duplicate(
    repeated: &[u64],
    members: impl Iterator<Item = Vec<u8>>,
) -> bool {
    let mut suspects = HashSet::new();
    for m in members {
        // `.max(1)`: how `maybe_duplicates` records a zero fingerprint.
        if repeated.binary_search(&fingerprint(&m).max(1)).is_ok() && !suspects.insert(m) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_word_is_the_zero_padded_word() {
        for n in 1..8 {
            for seed in 0..64u8 {
                let r: Vec<u8> = (0..n as u8)
                    .map(|i| seed.wrapping_mul(37) ^ i.wrapping_mul(91))
                    .collect();
                let mut w = [0u8; 8];
                w[..n].copy_from_slice(&r);
                assert_eq!(tail_word(&r), u64::from_le_bytes(w), "{r:?}");
            }
        }
    }

    #[test]
    fn piecewise_fingerprint_equals_whole() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
            let mut f = Fingerprinter::new(data.len());
            f.update(&data[..split]);
            f.update(&data[split..]);
            assert_eq!(f.finish(), fingerprint(&data), "split at {split}");
        }
    }

    #[test]
    fn runs_on_disk_find_what_memory_finds() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for round in 0..200 {
            let n = 1 + (round * 37) % 3000;
            let prints: Vec<u64> = (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    // Few distinct values in some rounds, so repeats happen; no 0,
                    // which the table takes as 1 (a harmless false suspicion).
                    if round % 3 == 0 {
                        1 + seed % 5000
                    } else {
                        seed.max(1)
                    }
                })
                .collect();
            let mut found = Vec::new();
            for spill_at in [0, 1 + round % 700] {
                let mut chk = Checker::new(true);
                chk.start_unique(0);
                chk.spill_at = spill_at;
                for &p in &prints {
                    chk.add_fingerprint(p);
                }
                assert_eq!(chk.runs.is_empty(), spill_at == 0 || n < spill_at);
                let maybe = chk.maybe_duplicates();
                assert_eq!(maybe, !chk.repeated().is_empty());
                found.push(chk.repeated());
            }
            assert_eq!(found[0], found[1], "round {round}");
        }
    }

    #[test]
    fn table_and_sort_paths_agree() {
        for n in [3usize, 1000, TABLE_MAX_MEMBERS + 5] {
            let mut c = Checker::default();
            c.start_unique(n as u64);
            for i in 0..n {
                c.add_member(&(i as u64).to_le_bytes());
            }
            assert!(!c.maybe_duplicates(), "n={n}");
            c.add_member(&7u64.to_le_bytes());
            c.add_member(&7u64.to_le_bytes());
            assert!(c.maybe_duplicates(), "n={n}");
            assert_eq!(
                c.repeated(),
                vec![fingerprint(&7u64.to_le_bytes()).max(1)],
                "n={n}"
            );
        }
    }

    #[test]
    fn id_sets_find_repeats() {
        let mut s = IdSet::default();
        for i in 1..10_000u128 {
            assert!(s.insert((i << 64) | (i % 3)));
            assert!(s.insert(i));
        }
        assert!(!s.insert(5 << 64 | 2));
        assert!(!s.insert(7));
        assert_ne!(
            IdHash(3, 5).hash_one(1u128 << 64),
            IdHash(3, 5).hash_one(1u128)
        );
    }

    #[test]
    fn fingerprints_differ_on_length_and_content() {
        assert_ne!(fingerprint(b"ab"), fingerprint(b"ab\0"));
        assert_ne!(fingerprint(b""), fingerprint(b"\0"));
        assert_ne!(fingerprint(b"abcdefgh1"), fingerprint(b"abcdefgh2"));
        let mut c = Checker::default();
        c.start_unique(3);
        c.add_member(b"x");
        c.add_member(b"y");
        assert!(!c.maybe_duplicates());
        c.add_member(b"x");
        assert!(c.maybe_duplicates());
    }
}
