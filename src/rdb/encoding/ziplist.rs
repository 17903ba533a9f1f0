//! Ziplist (FORMAT.md §5.3): types 10, 12, 13 and quicklist-v1 nodes.
//!
//! ```text
//! zlbytes u32le | zltail u32le | zllen u16le | entries... | 0xFF
//! entry := prevlen (1 byte < 254, or 0xFE + u32le) | encoding | data
//! ```
//! Checks as `ziplistValidateIntegrity(deep)`: zlbytes equals the blob length, the
//! end byte, every entry in bounds, each prevlen equal to the previous entry's size,
//! zltail pointing at the last entry, and the count matching zllen (unless 65535).

use super::{le_u16, le_u32, BlobError, BlobResult, Elem};

const HEADER: usize = 10;

#[derive(Clone, Copy, Debug)]
pub struct Ziplist<'a> {
    blob: &'a [u8],
    declared: u16,
    tail: usize,
}

impl<'a> Ziplist<'a> {
    pub fn parse(blob: &'a [u8]) -> BlobResult<Self> {
        if blob.len() < HEADER + 1 {
            return Err(BlobError::new(
                0,
                format!("ziplist of {} bytes is shorter than its header", blob.len()),
            ));
        }
        let zlbytes = le_u32(blob, 0).unwrap_or(0) as usize;
        if zlbytes != blob.len() {
            return Err(BlobError::new(
                0,
                format!(
                    "ziplist header says {zlbytes} bytes, blob has {}",
                    blob.len()
                ),
            ));
        }
        if blob[blob.len() - 1] != 0xff {
            return Err(BlobError::new(
                blob.len() - 1,
                "ziplist does not end with 0xFF",
            ));
        }
        let tail = le_u32(blob, 4).unwrap_or(0) as usize;
        if tail > blob.len() - 1 {
            return Err(BlobError::new(4, "ziplist tail offset points past the end"));
        }
        Ok(Ziplist {
            blob,
            declared: le_u16(blob, 8).unwrap_or(0),
            tail,
        })
    }

    /// The count from the header, `None` when it says "too many, count them".
    pub fn declared_len(&self) -> Option<usize> {
        (self.declared != u16::MAX).then_some(self.declared as usize)
    }

    pub fn iter(&self) -> ZiplistIter<'a> {
        ZiplistIter {
            zl: *self,
            pos: HEADER,
            prev_size: 0,
            last_start: None,
            count: 0,
            done: false,
        }
    }

    /// Walks every entry; returns the element count.
    pub fn validate(&self) -> BlobResult<usize> {
        let mut it = self.iter();
        for e in &mut it {
            e?;
        }
        Ok(it.count)
    }
}

pub struct ZiplistIter<'a> {
    zl: Ziplist<'a>,
    pos: usize,
    prev_size: usize,
    last_start: Option<usize>,
    count: usize,
    done: bool,
}

impl<'a> ZiplistIter<'a> {
    fn entry(&mut self) -> BlobResult<Option<Elem<'a>>> {
        let b = self.zl.blob;
        let start = self.pos;
        let first = *b
            .get(start)
            .ok_or_else(|| BlobError::new(start, "ziplist entry past the end"))?;
        if first == 0xff {
            // End marker: it must be the last byte, and the header must agree.
            if start != b.len() - 1 {
                return Err(BlobError::new(
                    start,
                    "ziplist end marker before the end of the blob",
                ));
            }
            let expect_tail = self.last_start.unwrap_or(HEADER);
            if self.zl.tail != expect_tail {
                return Err(BlobError::new(
                    4,
                    format!(
                        "ziplist tail offset {} but last entry at {expect_tail}",
                        self.zl.tail
                    ),
                ));
            }
            if let Some(n) = self.zl.declared_len() {
                if n != self.count {
                    return Err(BlobError::new(
                        8,
                        format!("ziplist header counts {n} entries, found {}", self.count),
                    ));
                }
            }
            return Ok(None);
        }
        let (prevlen, mut p) = if first < 0xfe {
            (first as usize, start + 1)
        } else {
            let v = le_u32(b, start + 1)
                .ok_or_else(|| BlobError::new(start, "ziplist prevlen cut short"))?;
            (v as usize, start + 5)
        };
        if prevlen != self.prev_size {
            return Err(BlobError::new(
                start,
                format!(
                    "ziplist prevlen {prevlen} but previous entry is {} bytes",
                    self.prev_size
                ),
            ));
        }
        let enc = *b
            .get(p)
            .ok_or_else(|| BlobError::new(p, "ziplist entry encoding cut short"))?;
        let need = |p: usize, n: usize| -> BlobResult<&'a [u8]> {
            // The data may not run into the end byte.
            b.get(p..p + n)
                .filter(|_| p + n < b.len())
                .ok_or_else(|| BlobError::new(p, "ziplist entry data past the end"))
        };
        let elem = match enc >> 6 {
            0 => {
                let n = (enc & 0x3f) as usize;
                p += 1;
                let s = need(p, n)?;
                p += n;
                Elem::Str(s)
            }
            1 => {
                let lo = *b
                    .get(p + 1)
                    .ok_or_else(|| BlobError::new(p, "ziplist length cut short"))?
                    as usize;
                let n = (((enc & 0x3f) as usize) << 8) | lo;
                p += 2;
                let s = need(p, n)?;
                p += n;
                Elem::Str(s)
            }
            2 => {
                if enc != 0x80 {
                    return Err(BlobError::new(
                        p,
                        format!("ziplist string encoding 0x{enc:02x}"),
                    ));
                }
                let l = need(p + 1, 4)?;
                let n = u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize;
                p += 5;
                let s = need(p, n)?;
                p += n;
                Elem::Str(s)
            }
            _ => {
                p += 1;
                let (v, n) = match enc {
                    0xc0 => (
                        need(p, 2).map(|d| i16::from_le_bytes([d[0], d[1]]) as i64)?,
                        2,
                    ),
                    0xd0 => (
                        need(p, 4).map(|d| i32::from_le_bytes([d[0], d[1], d[2], d[3]]) as i64)?,
                        4,
                    ),
                    0xe0 => (
                        need(p, 8).map(|d| i64::from_le_bytes(d.try_into().unwrap_or([0; 8])))?,
                        8,
                    ),
                    0xf0 => (
                        need(p, 3)
                            .map(|d| (i32::from_le_bytes([0, d[0], d[1], d[2]]) >> 8) as i64)?,
                        3,
                    ),
                    0xfe => (need(p, 1).map(|d| d[0] as i8 as i64)?, 1),
                    0xf1..=0xfd => (((enc & 0x0f) as i64) - 1, 0),
                    _ => {
                        return Err(BlobError::new(
                            p - 1,
                            format!("ziplist integer encoding 0x{enc:02x}"),
                        ))
                    }
                };
                if n > 0 && p + n >= b.len() {
                    return Err(BlobError::new(p, "ziplist integer past the end"));
                }
                p += n;
                Elem::Int(v)
            }
        };
        self.prev_size = p - start;
        self.last_start = Some(start);
        self.pos = p;
        self.count += 1;
        Ok(Some(elem))
    }
}

impl<'a> Iterator for ZiplistIter<'a> {
    type Item = BlobResult<Elem<'a>>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.entry() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A ziplist with "a", 5 (immediate), 300 (int16).
    fn sample() -> Vec<u8> {
        let mut b = vec![0; 10];
        b.extend_from_slice(&[0x00, 0x01, b'a']); // prevlen 0, str len 1
        b.extend_from_slice(&[0x03, 0xf6]); // prevlen 3, imm 5
        b.extend_from_slice(&[0x02, 0xc0, 0x2c, 0x01]); // prevlen 2, int16 300
        b.push(0xff);
        let len = b.len() as u32;
        b[0..4].copy_from_slice(&len.to_le_bytes());
        b[4..8].copy_from_slice(&15u32.to_le_bytes());
        b[8..10].copy_from_slice(&3u16.to_le_bytes());
        b
    }

    #[test]
    fn reads_entries() {
        let b = sample();
        let zl = Ziplist::parse(&b).unwrap();
        let v: Vec<_> = zl.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(v, vec![Elem::Str(b"a"), Elem::Int(5), Elem::Int(300)]);
        assert_eq!(zl.validate().unwrap(), 3);
    }

    #[test]
    fn detects_bad_prevlen_tail_and_count() {
        let mut b = sample();
        b[13] = 4;
        assert!(Ziplist::parse(&b)
            .unwrap()
            .validate()
            .unwrap_err()
            .reason
            .contains("prevlen"));
        let mut b = sample();
        b[4] = 13;
        assert!(Ziplist::parse(&b)
            .unwrap()
            .validate()
            .unwrap_err()
            .reason
            .contains("tail"));
        let mut b = sample();
        b[8] = 4;
        assert!(Ziplist::parse(&b)
            .unwrap()
            .validate()
            .unwrap_err()
            .reason
            .contains("counts"));
    }

    #[test]
    fn every_prefix_and_flip_is_safe() {
        let b = sample();
        for i in 0..b.len() {
            if let Ok(z) = Ziplist::parse(&b[..i]) {
                let _ = z.validate();
            }
            for bit in 0..8 {
                let mut m = b.clone();
                m[i] ^= 1 << bit;
                if let Ok(z) = Ziplist::parse(&m) {
                    let _ = z.validate();
                }
            }
        }
    }
}
