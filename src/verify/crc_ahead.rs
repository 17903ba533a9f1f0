//! The file's CRC-64, summed a little ahead of the scan rather than behind it.
//!
//! The scanner jumps from record header to record header; each first touch of a
//! header is a cache miss it waits for, one at a time (3.3 million of them in a 1 GB
//! file). Summing the checksum over the next stretch before the scanner gets there
//! streams those bytes in sequentially, at full memory bandwidth, so the scanner finds
//! them cached: the same CRC work, done where it also serves as a prefetch.
//!
//! Where the checksummed part ends (the EOF opcode) is only known when the scan gets
//! there, so the sum runs ahead speculatively and keeps a snapshot at a point the
//! scan has already passed; the final sum starts from that snapshot when the
//! speculative one overshot.

use crate::rdb::crc64::Crc64;

/// How far ahead of the scan the sum runs.
const LEAD: usize = 1 << 20;
/// The sum advances, and may take a snapshot, in steps of this many bytes.
const STEP: usize = 64 << 10;

pub(super) struct CrcAhead<'a> {
    data: &'a [u8],
    /// CRC of `data[..confirmed_to]`, a point the scan has passed.
    confirmed: Crc64,
    confirmed_to: usize,
    /// CRC of `data[..ahead_to]`.
    ahead: Crc64,
    ahead_to: usize,
}

impl<'a> CrcAhead<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        CrcAhead {
            data,
            confirmed: Crc64::new(),
            confirmed_to: 0,
            ahead: Crc64::new(),
            ahead_to: 0,
        }
    }

    /// The scan has read everything before `scanned`, and the checksummed part does
    /// not end before it.
    pub(super) fn advance(&mut self, scanned: usize) {
        let target = scanned.saturating_add(LEAD).min(self.data.len());
        while self.ahead_to < target {
            if self.ahead_to <= scanned {
                self.confirmed = self.ahead.clone();
                self.confirmed_to = self.ahead_to;
            }
            let to = (self.ahead_to + STEP).min(target);
            self.ahead.update(&self.data[self.ahead_to..to]);
            self.ahead_to = to;
        }
    }

    /// CRC-64 of `data[..end]`, where `end` is at least every `scanned` passed to
    /// [`CrcAhead::advance`].
    pub(super) fn finish(&self, end: usize) -> u64 {
        if end == self.ahead_to {
            return self.ahead.finish();
        }
        let mut c = self.confirmed.clone();
        c.update(&self.data[self.confirmed_to.min(end)..end]);
        c.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::crc64::checksum;

    #[test]
    fn any_scan_pattern_gives_the_plain_checksum() {
        let data: Vec<u8> = (0..5 * LEAD as u32)
            .map(|i| (i * 7 + i / 91) as u8)
            .collect();
        let mut seed = 0x853c_49e6_748f_ea9bu64;
        for _ in 0..40 {
            let mut c = CrcAhead::new(&data);
            let mut scanned = 0usize;
            loop {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                // Steps from a few bytes to past the lead (a huge record).
                let step = (seed % (3 * LEAD as u64 / (1 + seed % 64))) as usize;
                if scanned + step >= data.len() || seed % 11 == 0 {
                    break;
                }
                scanned += step;
                c.advance(scanned);
            }
            let end = scanned + (seed as usize % (data.len() - scanned)) + 1;
            assert_eq!(
                c.finish(end),
                checksum(&data[..end]),
                "scanned {scanned}, end {end}"
            );
            assert_eq!(c.finish(scanned), checksum(&data[..scanned]));
        }
    }
}
