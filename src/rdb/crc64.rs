//! CRC-64/REDIS (FORMAT.md §6.1): Jones polynomial, reflected, init 0, no final xor.
//!
//! The fast path is `crc-fast` (SIMD carry-less multiply; it has this exact variant
//! built in). The `crc64` crate on the design card does the same sum with a table at
//! about 2.3 GB/s against crc-fast's ~33 GB/s on this machine class (issue #2's
//! measurement; `benches/primitives.rs` re-measures both). A bit-wise reference
//! implementation below checks both in tests.

use crc_fast::{CrcAlgorithm, Digest};

/// Incremental CRC-64/REDIS.
#[derive(Clone)]
pub struct Crc64(Digest);

impl Default for Crc64 {
    fn default() -> Self {
        Crc64(Digest::new(CrcAlgorithm::Crc64Redis))
    }
}

impl Crc64 {
    pub fn new() -> Self {
        Self::default()
    }
    #[inline]
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    pub fn finish(&self) -> u64 {
        self.0.finalize()
    }
}

/// CRC-64/REDIS of `data` in one call.
pub fn checksum(data: &[u8]) -> u64 {
    crc_fast::checksum(CrcAlgorithm::Crc64Redis, data)
}

/// Bit-at-a-time reference implementation (FORMAT.md §6.1), for tests.
pub fn checksum_reference(data: &[u8]) -> u64 {
    let mut crc = 0u64;
    for &b in data {
        crc ^= b as u64;
        for _ in 0..8 {
            crc = (crc >> 1)
                ^ if crc & 1 == 1 {
                    0x95AC_9329_AC4B_C9B5
                } else {
                    0
                };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values() {
        assert_eq!(checksum(b"123456789"), 0xE9C6_D914_C4B8_D9CA);
        assert_eq!(checksum_reference(b"123456789"), 0xE9C6_D914_C4B8_D9CA);
        let mut lorem = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur. Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id est laborum.".to_vec();
        lorem.push(0);
        assert_eq!(lorem.len(), 446);
        assert_eq!(checksum(&lorem), 0xC779_4709_E696_83B3);
    }

    #[test]
    fn incremental_matches_reference_and_crc64_crate() {
        let data: Vec<u8> = (0..10_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let mut c = Crc64::new();
        for chunk in data.chunks(777) {
            c.update(chunk);
        }
        assert_eq!(c.finish(), checksum_reference(&data));
        assert_eq!(crc64::crc64(0, &data), checksum_reference(&data));
    }
}
