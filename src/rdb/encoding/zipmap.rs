//! Zipmap (FORMAT.md §5.2): type 9, Redis 2.4 small hashes.
//!
//! ```text
//! zmlen u8 (254 = count unknown) | { len key | len free value pad } ... | 0xFF
//! len := u8 0..253 | 0xFE u32le
//! ```
//! Checks as `zipmapValidateIntegrity(deep)`: every length and payload in bounds, the
//! end byte last, not empty, the count equal to zmlen unless zmlen is 254.

use super::{le_u32, BlobError, BlobResult};

#[derive(Clone, Copy, Debug)]
pub struct Zipmap<'a> {
    blob: &'a [u8],
}

impl<'a> Zipmap<'a> {
    pub fn parse(blob: &'a [u8]) -> BlobResult<Self> {
        if blob.len() < 2 {
            return Err(BlobError::new(0, "zipmap shorter than 2 bytes"));
        }
        if blob[blob.len() - 1] != 0xff {
            return Err(BlobError::new(
                blob.len() - 1,
                "zipmap does not end with 0xFF",
            ));
        }
        Ok(Zipmap { blob })
    }

    pub fn iter(&self) -> ZipmapIter<'a> {
        ZipmapIter {
            blob: self.blob,
            pos: 1,
            count: 0,
            done: false,
        }
    }

    /// Walks every pair; returns the number of pairs.
    pub fn validate(&self) -> BlobResult<usize> {
        let mut it = self.iter();
        for e in &mut it {
            e?;
        }
        Ok(it.count)
    }
}

pub struct ZipmapIter<'a> {
    blob: &'a [u8],
    pos: usize,
    count: usize,
    done: bool,
}

impl<'a> ZipmapIter<'a> {
    fn length(&mut self) -> BlobResult<usize> {
        let at = self.pos;
        match self.blob.get(at).copied() {
            Some(b) if b < 254 => {
                self.pos += 1;
                Ok(b as usize)
            }
            Some(254) => {
                let v = le_u32(self.blob, at + 1)
                    .ok_or_else(|| BlobError::new(at, "zipmap length cut short"))?;
                self.pos += 5;
                Ok(v as usize)
            }
            _ => Err(BlobError::new(
                at,
                "zipmap length byte invalid or past the end",
            )),
        }
    }

    fn take(&mut self, n: usize) -> BlobResult<&'a [u8]> {
        let at = self.pos;
        // Nothing may run into the end byte.
        let s = self
            .blob
            .get(at..at + n)
            .filter(|_| at + n < self.blob.len());
        let s = s.ok_or_else(|| BlobError::new(at, "zipmap entry past the end"))?;
        self.pos += n;
        Ok(s)
    }

    fn pair(&mut self) -> BlobResult<Option<(&'a [u8], &'a [u8])>> {
        if self.blob.get(self.pos) == Some(&0xff) {
            if self.pos != self.blob.len() - 1 {
                return Err(BlobError::new(
                    self.pos,
                    "zipmap end byte before the end of the blob",
                ));
            }
            if self.count == 0 {
                return Err(BlobError::new(0, "empty zipmap"));
            }
            let zmlen = self.blob[0] as usize;
            // Only 254 means "count unknown"; 255 is never a valid header.
            if zmlen != 254 && zmlen != self.count {
                return Err(BlobError::new(
                    0,
                    format!("zipmap header counts {zmlen} pairs, found {}", self.count),
                ));
            }
            return Ok(None);
        }
        let klen = self.length()?;
        let key = self.take(klen)?;
        let vlen = self.length()?;
        let free = self.take(1)?[0] as usize;
        let value = self.take(vlen)?;
        self.take(free)?;
        self.count += 1;
        Ok(Some((key, value)))
    }
}

impl<'a> Iterator for ZipmapIter<'a> {
    type Item = BlobResult<(&'a [u8], &'a [u8])>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = self.pair().transpose();
        if !matches!(r, Some(Ok(_))) {
            self.done = true;
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pairs_with_free_space_and_big_lengths() {
        let mut b = vec![2u8, 1, b'a', 2, 1, b'x', b'y', 0];
        b.extend_from_slice(&[254, 3, 0, 0, 0, b'b', b'b', b'b', 0, 0]);
        b.push(0xff);
        let z = Zipmap::parse(&b).unwrap();
        let v: Vec<_> = z.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(v, vec![(&b"a"[..], &b"xy"[..]), (&b"bbb"[..], &b""[..])]);
    }

    #[test]
    fn rejects_empty_and_wrong_count() {
        assert!(Zipmap::parse(&[0, 0xff]).unwrap().validate().is_err());
        let b = [3u8, 1, b'a', 1, 0, b'x', 0xff];
        assert!(Zipmap::parse(&b)
            .unwrap()
            .validate()
            .unwrap_err()
            .reason
            .contains("counts"));
    }
}
