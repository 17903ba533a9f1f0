//! A bounds-checked reader over `&'a [u8]` that knows its absolute file offset.
//!
//! Every read checks the bytes left first and fails with `Truncated { needed }` at the
//! exact offset, so a hostile length never reaches an allocation or a slice index.
//! Also the RDB primitives of FORMAT.md §2: `LEN` (§2.1), `STR` (§2.2), doubles (§2.3).

use crate::error::{Error, Result};
use crate::rdb::string::RdbStr;

#[derive(Clone, Copy, Debug)]
pub struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    base: u64,
}

/// A decoded `LEN`: a plain length, or the `11xxxxxx` special-string selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Len {
    Plain(u64),
    Special(u8),
}

impl<'a> Cursor<'a> {
    /// `base` is the absolute offset of `data[0]` in the file.
    pub fn new(data: &'a [u8], base: u64) -> Self {
        Cursor { data, pos: 0, base }
    }
    #[inline]
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }
    #[inline]
    pub fn pos(&self) -> usize {
        self.pos
    }
    #[inline]
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }
    /// The bytes from `start` (a previous `pos()`) to the current position.
    pub fn since(&self, start: usize) -> &'a [u8] {
        self.data.get(start..self.pos).unwrap_or_default()
    }
    pub fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or_default()
    }

    /// Absolute offset just past the last available byte.
    pub fn end_offset(&self) -> u64 {
        self.base + self.data.len() as u64
    }

    /// Truncation is reported where the input ends, with how much more was needed.
    #[inline]
    fn short(&self, n: usize) -> Error {
        Error::truncated(self.end_offset(), (n - self.remaining()) as u64)
    }

    #[inline]
    pub fn u8(&mut self) -> Result<u8> {
        match self.data.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(self.short(1)),
        }
    }

    #[inline]
    pub fn peek_u8(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.short(n));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Like `take` for a length read from the file as u64.
    #[inline]
    pub fn take_u64(&mut self, n: u64) -> Result<&'a [u8]> {
        match usize::try_from(n) {
            Ok(n) => self.take(n),
            Err(_) => Err(Error::truncated(
                self.end_offset(),
                n - self.remaining() as u64,
            )),
        }
    }

    #[inline]
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub fn u32le(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub fn i32le(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array()?))
    }
    pub fn i64le(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    pub fn u64be(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// `LEN` (§2.1): `00` 6-bit, `01` 14-bit big endian, `0x80` u32 BE, `0x81` u64 BE,
    /// `11` special string encoding.
    ///
    /// ```
    /// # use rdbkit::rdb::cursor::{Cursor, Len};
    /// let read = |b: &[u8]| Cursor::new(b, 0).len_or_special().unwrap();
    /// assert_eq!(read(&[0x0a]), Len::Plain(10));
    /// assert_eq!(read(&[0x41, 0x02]), Len::Plain(258));
    /// assert_eq!(read(&[0x80, 0, 1, 0, 0]), Len::Plain(65536));
    /// assert_eq!(read(&[0x81, 0, 0, 0, 1, 0, 0, 0, 0]), Len::Plain(1 << 32));
    /// assert_eq!(read(&[0xc3]), Len::Special(3));
    /// ```
    #[inline]
    pub fn len_or_special(&mut self) -> Result<Len> {
        let at = self.offset();
        let b = self.u8()?;
        match b >> 6 {
            0 => Ok(Len::Plain((b & 0x3f) as u64)),
            1 => Ok(Len::Plain((((b & 0x3f) as u64) << 8) | self.u8()? as u64)),
            2 => match b {
                0x80 => Ok(Len::Plain(u32::from_be_bytes(self.array()?) as u64)),
                0x81 => Ok(Len::Plain(self.u64be()?)),
                _ => Err(Error::corrupt(
                    at,
                    format!("unknown length encoding 0x{b:02x}"),
                )),
            },
            _ => Ok(Len::Special(b & 0x3f)),
        }
    }

    /// A `LEN` that must be a plain length.
    #[inline(always)]
    pub fn length(&mut self) -> Result<u64> {
        match self.short_len(self.pos) {
            Some((n, hdr)) => {
                self.pos += hdr;
                Ok(n as u64)
            }
            None => self.length_slow(),
        }
    }

    /// The common `LEN` forms (6-bit, 14-bit, 32-bit) at `at`, with their size in
    /// bytes; `None` for anything else, including too few bytes (the full decoder
    /// then gives the exact error).
    #[inline(always)]
    fn short_len(&self, at: usize) -> Option<(usize, usize)> {
        let b = *self.data.get(at)?;
        match b >> 6 {
            0 => Some(((b & 0x3f) as usize, 1)),
            1 => Some((
                (((b & 0x3f) as usize) << 8) | *self.data.get(at + 1)? as usize,
                2,
            )),
            _ if b == 0x80 => {
                let w: [u8; 4] = self.data.get(at + 1..at + 5)?.try_into().ok()?;
                Some((u32::from_be_bytes(w) as usize, 5))
            }
            _ => None,
        }
    }

    #[inline(never)]
    fn length_slow(&mut self) -> Result<u64> {
        let at = self.offset();
        match self.len_or_special()? {
            Len::Plain(n) => Ok(n),
            Len::Special(e) => Err(Error::corrupt(
                at,
                format!("expected a length, found string encoding {e}"),
            )),
        }
    }

    /// A count of items each at least `min_item` bytes long: a count the bytes left
    /// cannot hold is reported as truncation right away, not after a long loop.
    pub fn count(&mut self, min_item: u64) -> Result<u64> {
        let at = self.offset();
        let n = self.length()?;
        let need = n.saturating_mul(min_item);
        if need > self.remaining() as u64 {
            let _ = at;
            return Err(
                Error::truncated(self.end_offset(), need - self.remaining() as u64)
                    .reading("a collection whose element count exceeds the bytes left"),
            );
        }
        Ok(n)
    }

    /// `STR` (§2.2): raw bytes, an int8/16/32 encoded integer, or LZF.
    #[inline(always)]
    pub fn string(&mut self) -> Result<RdbStr<'a>> {
        // Fast paths: raw bytes (nearly every key, member and field) and LZF with
        // common length forms, with a few bounds checks; everything else takes the
        // full decoder, which also produces every error.
        if let Some((n, hdr)) = self.short_len(self.pos) {
            let start = self.pos + hdr;
            if let Some(s) = self.data.get(start..start.saturating_add(n)) {
                self.pos = start + n;
                return Ok(RdbStr::Raw(s));
            }
        } else if self.data.get(self.pos) == Some(&0xc3) {
            if let Some(s) = self.lzf_string() {
                return Ok(s);
            }
        }
        self.string_slow()
    }

    /// An LZF `STR` whose lengths have common forms and whose framing is plausible;
    /// `None` (nothing consumed) for anything else.
    #[inline(always)]
    fn lzf_string(&mut self) -> Option<RdbStr<'a>> {
        let (clen, a) = self.short_len(self.pos + 1)?;
        let (len, b) = self.short_len(self.pos + 1 + a)?;
        let start = self.pos + 1 + a + b;
        let data = self.data.get(start..start.saturating_add(clen))?;
        let s = RdbStr::lzf(data, len as u64, self.base + start as u64).ok()?;
        self.pos = start + clen;
        Some(s)
    }

    #[inline(never)]
    fn string_slow(&mut self) -> Result<RdbStr<'a>> {
        let at = self.offset();
        match self.len_or_special()? {
            Len::Plain(n) => Ok(RdbStr::Raw(self.take_u64(n)?)),
            Len::Special(0) => Ok(RdbStr::Int(self.u8()? as i8 as i64)),
            Len::Special(1) => Ok(RdbStr::Int(i16::from_le_bytes(self.array()?) as i64)),
            Len::Special(2) => Ok(RdbStr::Int(self.i32le()? as i64)),
            Len::Special(3) => {
                let clen = self.length()?;
                let len = self.length()?;
                let data_at = self.offset();
                let data = self.take_u64(clen)?;
                RdbStr::lzf(data, len, data_at)
            }
            Len::Special(e) => Err(Error::corrupt(at, format!("unknown string encoding {e}"))),
        }
    }

    /// Skips a `STR` without decoding it, but still checking LZF framing.
    #[inline]
    pub fn skip_string(&mut self) -> Result<()> {
        self.string().map(|_| ())
    }

    /// `DBL_ASCII` (§2.3): `u8 n`, 253 NaN, 254 +inf, 255 -inf, else n ASCII bytes.
    pub fn ascii_double(&mut self) -> Result<f64> {
        let at = self.offset();
        let n = self.u8()?;
        match n {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                let text = self.take(n as usize)?;
                parse_double(text).ok_or_else(|| Error::corrupt(at, "invalid ASCII double"))
            }
        }
    }

    /// `DBL_BIN`: 8-byte IEEE-754, little endian.
    pub fn binary_double(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(self.array()?))
    }
}

/// Parses a double the way Redis's `strtod`-based readers accept it
/// (`inf`, `-inf`, `+inf`, decimal and exponent forms).
pub fn parse_double(text: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(text).ok()?;
    // Numbers (nearly every score) end in a digit; only words need comparing.
    if text.last().is_some_and(u8::is_ascii_digit) {
        return s.parse::<f64>().ok();
    }
    let is = |words: &[&str]| words.iter().any(|w| s.eq_ignore_ascii_case(w));
    if is(&["inf", "+inf", "infinity", "+infinity"]) {
        Some(f64::INFINITY)
    } else if is(&["-inf", "-infinity"]) {
        Some(f64::NEG_INFINITY)
    } else if is(&["nan", "-nan", "+nan"]) {
        Some(f64::NAN)
    } else {
        s.parse::<f64>().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_reports_offset_and_missing_bytes() {
        let mut c = Cursor::new(&[0x80, 0, 0], 100);
        let e = c.len_or_special().unwrap_err();
        assert_eq!(e.offset(), 103, "reported where the input ends");
        assert_eq!(e.kind(), &crate::error::ErrorKind::Truncated { needed: 2 });
    }

    #[test]
    fn huge_length_claim_allocates_nothing() {
        // 0x81 + 2^63: a string claiming 8 EiB in a tiny input.
        let mut c = Cursor::new(&[0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, b'x'], 0);
        let e = c.string().unwrap_err();
        assert!(e.is_truncated());
        assert_eq!(e.offset(), 10);
    }

    #[test]
    fn bad_length_prefix_is_corrupt() {
        let e = Cursor::new(&[0x82, 0, 0, 0, 0], 7).length().unwrap_err();
        assert_eq!(e.offset(), 7);
        assert!(e.to_string().contains("unknown length encoding 0x82"));
    }

    #[test]
    fn int_encoded_strings() {
        let s = Cursor::new(&[0xc0, 0xfe], 0).string().unwrap();
        assert_eq!(s, RdbStr::Int(-2));
        let s = Cursor::new(&[0xc1, 0xab, 0xab], 0).string().unwrap();
        assert_eq!(s, RdbStr::Int(0xabab_u16 as i16 as i64));
        let s = Cursor::new(&[0xc2, 0x25, 0xd3, 0xed, 0x0a], 0)
            .string()
            .unwrap();
        assert_eq!(s, RdbStr::Int(183358245));
        assert!(Cursor::new(&[0xc4], 0).string().is_err());
    }

    /// The fast paths of `string` and `length` give exactly what the full decoders
    /// give (value, error and position) on random bytes biased towards short lengths.
    #[test]
    fn fast_paths_agree_with_full_decoders() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..200_000 {
            let len = (next() % 24) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if let Some(first) = b.first_mut() {
                // Mostly 6- and 14-bit lengths, small enough to fit sometimes.
                *first = match next() % 6 {
                    0 => (next() % 20) as u8,
                    1 => 0x40 | (next() % 2) as u8,
                    2 => 0x80,
                    3 => 0xc3,
                    _ => *first,
                };
            }
            // Lengths that fit now and then: small 14- and 32-bit ones, LZF ones.
            match b.first() {
                Some(0x40) if b.len() > 1 => b[1] %= 24,
                Some(0x80) if b.len() > 4 => b[1..4].fill(0),
                Some(0xc3) if b.len() > 2 => {
                    b[1] %= 12;
                    b[2] %= 40;
                }
                _ => {}
            }
            let base = next() % 1000;
            let (mut fast, mut full) = (Cursor::new(&b, base), Cursor::new(&b, base));
            assert_eq!(fast.string(), full.string_slow(), "{b:?}");
            assert_eq!(fast.pos(), full.pos(), "{b:?}");
            let (mut fast, mut full) = (Cursor::new(&b, base), Cursor::new(&b, base));
            assert_eq!(fast.length(), full.length_slow(), "{b:?}");
            assert_eq!(fast.pos(), full.pos(), "{b:?}");
        }
    }

    #[test]
    fn count_rejects_impossible_collections_early() {
        let e = Cursor::new(&[0x80, 0xff, 0xff, 0xff, 0xff, 1, 2], 0)
            .count(1)
            .unwrap_err();
        assert!(e.is_truncated());
    }
}
