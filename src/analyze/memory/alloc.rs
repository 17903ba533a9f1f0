//! What the allocator really hands out for a request (`zmalloc_size`): the server counts
//! usable sizes, so every estimate goes through the same rounding.

/// The allocator the server was built with. It is a property of the build, not of the
/// version: Redis's own `make` links its bundled jemalloc with an 8-byte quantum
/// (`--with-lg-quantum=3`, since 6.2), distribution packages often link the system
/// jemalloc (16-byte quantum), and `make MALLOC=libc` builds use glibc malloc.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allocator {
    /// jemalloc with 8-byte size classes (Redis's bundled jemalloc).
    Jemalloc,
    /// jemalloc with 16-byte size classes (the system jemalloc of Debian/Ubuntu packages).
    JemallocQuantum16,
    /// glibc malloc (`malloc_usable_size`).
    Libc,
}

impl Allocator {
    /// Parses `jemalloc`, `jemalloc-q16` or `libc`.
    pub fn parse(s: &str) -> Option<Allocator> {
        match s {
            "jemalloc" => Some(Allocator::Jemalloc),
            "jemalloc-q16" => Some(Allocator::JemallocQuantum16),
            "libc" => Some(Allocator::Libc),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Allocator::Jemalloc => "jemalloc",
            Allocator::JemallocQuantum16 => "jemalloc-q16",
            Allocator::Libc => "libc",
        }
    }

    /// Usable size of an allocation of `n` bytes.
    #[inline]
    pub fn usable(self, n: u64) -> u64 {
        match self {
            Allocator::Jemalloc => jemalloc_class(n, 8),
            Allocator::JemallocQuantum16 => jemalloc_class(n, 16),
            Allocator::Libc => glibc_usable(n),
        }
    }
}

/// jemalloc 5 size classes: multiples of the quantum up to 4 quanta... up to 64/128
/// bytes, then four classes per power of two (160, 192, 224, 256, 320, ...), which also
/// holds for large (page-multiple) classes.
#[inline]
fn jemalloc_class(n: u64, quantum: u64) -> u64 {
    if n <= 8 {
        return 8;
    }
    if n <= quantum * 8 {
        return round_up(n, quantum);
    }
    let lg = 63 - (n - 1).leading_zeros(); // 2^lg < n <= 2^(lg+1)
    round_up(n, 1 << (lg - 2))
}

/// `n` rounded up to a multiple of `step`, a power of two.
#[inline]
fn round_up(n: u64, step: u64) -> u64 {
    (n + step - 1) & !(step - 1)
}

/// glibc: chunks are the request plus an 8-byte header rounded up to 16 (at least 32);
/// the usable part is the chunk minus the header. Requests at or above the mmap
/// threshold (128 KiB by default) get whole pages, minus a 16-byte header.
#[inline]
fn glibc_usable(n: u64) -> u64 {
    const MMAP_THRESHOLD: u64 = 128 * 1024;
    if n >= MMAP_THRESHOLD {
        return (n + 8).div_ceil(4096) * 4096 - 16;
    }
    ((n + 8 + 15) & !15).max(32) - 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jemalloc_classes() {
        let q8: Vec<u64> = [
            1, 8, 9, 17, 24, 25, 40, 41, 57, 64, 65, 129, 161, 257, 4096, 4097,
        ]
        .iter()
        .map(|&n| Allocator::Jemalloc.usable(n))
        .collect();
        assert_eq!(
            q8,
            [8, 8, 16, 24, 24, 32, 40, 48, 64, 64, 80, 160, 192, 320, 4096, 5120]
        );
        let q16: Vec<u64> = [1, 9, 17, 24, 40, 65, 128, 129, 16385]
            .iter()
            .map(|&n| Allocator::JemallocQuantum16.usable(n))
            .collect();
        assert_eq!(q16, [8, 16, 32, 32, 48, 80, 128, 160, 20480]);
    }

    #[test]
    fn glibc_usable_sizes() {
        // measured with MEMORY USAGE on a libc build of Redis 6.2 (keys of 1 and 36 bytes,
        // 45- and 1000-byte values)
        assert_eq!(Allocator::Libc.usable(3), 24);
        assert_eq!(Allocator::Libc.usable(40), 40);
        assert_eq!(Allocator::Libc.usable(49), 56);
        assert_eq!(Allocator::Libc.usable(1006), 1016);
    }
}
