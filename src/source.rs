//! Opening inputs: memory-mapped files (the fast, zero-copy path), or a plain read
//! into memory when mapping is not possible or not wanted. Inputs are opened
//! read-only; nothing here ever writes to a user's file.
#![allow(unsafe_code)]

use std::fs::File;
use std::path::Path;

/// The bytes of an input file.
pub enum Source {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Source {
    /// Maps `path` read-only (or reads it when `mmap` is false or mapping fails, e.g.
    /// for a FIFO or an empty file).
    pub fn open(path: &Path, mmap: bool) -> std::io::Result<Source> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        if mmap && meta.is_file() && meta.len() > 0 {
            // SAFETY: the map is read-only and lives as long as `Source`. If another
            // process truncates the file while it is mapped, reads may fault (SIGBUS);
            // backups being verified are not being written, and `--no-mmap` avoids it.
            if let Ok(m) = unsafe { memmap2::MmapOptions::new().map(&file) } {
                #[cfg(unix)]
                let _ = m.advise(memmap2::Advice::Sequential);
                return Ok(Source::Mapped(m));
            }
        }
        let mut v = Vec::with_capacity(meta.len() as usize);
        std::io::Read::read_to_end(&mut &file, &mut v)?;
        Ok(Source::Owned(v))
    }

    /// Maps the pages of `offset..offset + len` ahead of reading them: one system call
    /// instead of a page fault every few pages (a no-op for bytes read into memory, or
    /// where the kernel cannot; reading still faults pages in as usual).
    pub fn prefetch(&self, offset: usize, len: usize) {
        #[cfg(target_os = "linux")]
        if let Source::Mapped(m) = self {
            let len = len.min(m.len().saturating_sub(offset));
            if len > 0 {
                let _ = m.advise_range(memmap2::Advice::PopulateRead, offset, len);
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (offset, len);
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            Source::Mapped(m) => m,
            Source::Owned(v) => v,
        }
    }
}
