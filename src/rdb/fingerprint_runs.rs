//! Member fingerprints of a huge collection, kept on disk as sorted runs so that
//! duplicate detection does not need 8 bytes of heap per member (800 MB for a set of
//! 100 million members). Each run is sorted before it is written; one k-way merge
//! over all runs then finds the fingerprints that occur more than once.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};

/// Sorted runs of fingerprints in anonymous temp files (removed when dropped).
#[derive(Default)]
pub(crate) struct FingerprintRuns {
    files: Vec<File>,
}

impl FingerprintRuns {
    pub(crate) fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.files.clear();
    }

    /// Sorts `prints` and writes them out as one run; `prints` is left empty.
    pub(crate) fn spill(&mut self, prints: &mut Vec<u64>) -> std::io::Result<()> {
        prints.sort_unstable();
        let mut file = tempfile::tempfile()?;
        let mut w = BufWriter::with_capacity(1 << 16, &mut file);
        for p in prints.iter() {
            w.write_all(&p.to_le_bytes())?;
        }
        w.flush()?;
        drop(w);
        file.rewind()?;
        self.files.push(file);
        prints.clear();
        Ok(())
    }

    /// Merges the runs with `last` (the fingerprints still in memory) and pushes onto
    /// `repeated` every fingerprint seen more than once (as `.max(1)`, like the
    /// in-memory table does). The runs are gone afterwards.
    pub(crate) fn merge_repeats(
        &mut self,
        last: &mut [u64],
        repeated: &mut Vec<u64>,
    ) -> std::io::Result<()> {
        last.sort_unstable();
        let mut readers: Vec<BufReader<File>> = self
            .files
            .drain(..)
            .map(|f| BufReader::with_capacity(1 << 16, f))
            .collect();
        let mut heap = BinaryHeap::with_capacity(readers.len() + 1);
        for (i, r) in readers.iter_mut().enumerate() {
            if let Some(p) = next_print(r)? {
                heap.push(Reverse((p, i)));
            }
        }
        let mut in_memory = last.iter().copied();
        let memory_run = readers.len();
        if let Some(p) = in_memory.next() {
            heap.push(Reverse((p, memory_run)));
        }
        let mut prev = None;
        while let Some(Reverse((p, i))) = heap.pop() {
            if prev == Some(p) && repeated.last() != Some(&p.max(1)) {
                repeated.push(p.max(1));
            }
            prev = Some(p);
            let next = if i == memory_run {
                in_memory.next()
            } else {
                next_print(&mut readers[i])?
            };
            if let Some(n) = next {
                heap.push(Reverse((n, i)));
            }
        }
        Ok(())
    }
}

fn next_print(r: &mut impl Read) -> std::io::Result<Option<u64>> {
    let mut b = [0u8; 8];
    match r.read_exact(&mut b) {
        Ok(()) => Ok(Some(u64::from_le_bytes(b))),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}
