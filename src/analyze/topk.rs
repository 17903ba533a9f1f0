//! The N largest items of a stream, in O(N) memory (a min-heap of the current best).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

#[derive(Clone, Debug)]
pub struct TopK<T: Ord> {
    limit: usize,
    heap: BinaryHeap<Reverse<T>>,
}

impl<T: Ord> TopK<T> {
    pub fn new(limit: usize) -> Self {
        TopK {
            limit,
            heap: BinaryHeap::with_capacity(limit.min(1024) + 1),
        }
    }

    /// Whether an item scoring `better_than_min` could enter: lets callers skip
    /// building (copying key names) for the vast majority of items.
    pub fn admits(&self, candidate_beats_min: impl FnOnce(&T) -> bool) -> bool {
        if self.limit == 0 {
            return false;
        }
        match self.heap.peek() {
            Some(Reverse(min)) if self.heap.len() >= self.limit => candidate_beats_min(min),
            _ => true,
        }
    }

    pub fn push(&mut self, item: T) {
        if self.limit == 0 {
            return;
        }
        if self.heap.len() < self.limit {
            self.heap.push(Reverse(item));
        } else if self.heap.peek().is_some_and(|Reverse(min)| item > *min) {
            self.heap.pop();
            self.heap.push(Reverse(item));
        }
    }

    pub fn merge(&mut self, other: TopK<T>) {
        for Reverse(item) in other.heap {
            self.push(item);
        }
    }

    /// Largest first.
    pub fn into_sorted(self) -> Vec<T> {
        let mut v: Vec<T> = self.heap.into_iter().map(|Reverse(t)| t).collect();
        v.sort_by(|a, b| b.cmp(a));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_largest() {
        let mut a = TopK::new(3);
        let mut b = TopK::new(3);
        for i in 0..100u64 {
            let t = if i % 2 == 0 { &mut a } else { &mut b };
            if t.admits(|min| (i * 37) % 101 > *min) {
                t.push((i * 37) % 101);
            }
        }
        a.merge(b);
        assert_eq!(a.into_sorted(), vec![100, 99, 98]);
        let mut z = TopK::new(0);
        z.push(1u8);
        assert!(z.into_sorted().is_empty());
    }
}
