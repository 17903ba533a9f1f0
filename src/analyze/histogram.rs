//! Log-bucket histogram for element counts: fixed size (496 buckets), any u64, so a
//! file with a billion keys costs the same few kilobytes as one with ten.
//!
//! Values below 8 are exact; above, each power of two is split into 8 buckets, so a
//! reported percentile is the upper bound of its bucket: at most 12.5 % above the true
//! value (and never above the exact maximum, which is kept separately).

const SUB_BITS: u32 = 3;
const SUB: usize = 1 << SUB_BITS;
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

#[derive(Clone, Debug)]
pub struct LogHistogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
    max: u64,
}

impl Default for LogHistogram {
    fn default() -> Self {
        LogHistogram {
            counts: Box::new([0; BUCKETS]),
            total: 0,
            max: 0,
        }
    }
}

fn index(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let e = 63 - v.leading_zeros();
    let sub = ((v >> (e - SUB_BITS)) as usize) & (SUB - 1);
    (e - SUB_BITS + 1) as usize * SUB + sub
}

/// The largest value that falls into bucket `i`.
fn upper(i: usize) -> u64 {
    if i < SUB {
        return i as u64;
    }
    let e = (i / SUB) as u32 + SUB_BITS - 1;
    let lower = ((SUB + i % SUB) as u64) << (e - SUB_BITS);
    lower + ((1u64 << (e - SUB_BITS)) - 1)
}

impl LogHistogram {
    pub fn add(&mut self, v: u64) {
        self.counts[index(v)] += 1;
        self.total += 1;
        self.max = self.max.max(v);
    }

    pub fn merge(&mut self, o: &LogHistogram) {
        for (a, b) in self.counts.iter_mut().zip(o.counts.iter()) {
            *a += b;
        }
        self.total += o.total;
        self.max = self.max.max(o.max);
    }

    pub fn total(&self) -> u64 {
        self.total
    }
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The `q` quantile (0..=1), as its bucket's upper bound capped at the maximum.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return upper(i).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_once() {
        for v in (0..5000u64).chain([u64::MAX, u64::MAX - 1, 1 << 40, (1 << 40) - 1]) {
            let i = index(v);
            assert!(i < BUCKETS);
            assert!(upper(i) >= v, "v={v} i={i}");
            assert!(i == 0 || upper(i - 1) < v, "v={v} i={i}");
        }
    }

    #[test]
    fn quantiles_within_an_eighth() {
        let mut h = LogHistogram::default();
        for v in 1..=10_000u64 {
            h.add(v);
        }
        for (q, exact) in [(0.5, 5000.0), (0.9, 9000.0), (0.99, 9900.0)] {
            let got = h.quantile(q) as f64;
            assert!(got >= exact && got <= exact * 1.125, "q={q} got {got}");
        }
        assert_eq!(h.quantile(1.0), 10_000);
        assert_eq!(LogHistogram::default().quantile(0.5), 0);
    }
}
