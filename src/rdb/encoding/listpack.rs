//! Listpack (FORMAT.md §5.5): types 16, 17, 20, 23, 25, quicklist-v2 nodes, streams.
//!
//! ```text
//! total_bytes u32le | num_elements u16le | entries... | 0xFF
//! entry := encoding+data | backlen (1-5 bytes, 7 bits each, written big-end first,
//!          every byte but the first has bit 7 set; equals the size of encoding+data)
//! ```
//! Checks as `lpValidateIntegrity(deep)`: total_bytes equals the blob length, the
//! terminator is the last byte, each entry's encoding, data and backlen are in bounds
//! and agree, and the count matches num_elements (unless 65535).

use super::{le_u16, le_u32, BlobError, BlobResult, Elem};

const HEADER: usize = 6;

#[derive(Clone, Copy, Debug)]
pub struct Listpack<'a> {
    blob: &'a [u8],
    declared: u16,
}

impl<'a> Listpack<'a> {
    pub fn parse(blob: &'a [u8]) -> BlobResult<Self> {
        if blob.len() < HEADER + 1 {
            return Err(BlobError::new(
                0,
                format!(
                    "listpack of {} bytes is shorter than its header",
                    blob.len()
                ),
            ));
        }
        let total = le_u32(blob, 0).unwrap_or(0) as usize;
        if total != blob.len() {
            return Err(BlobError::new(
                0,
                format!(
                    "listpack header says {total} bytes, blob has {}",
                    blob.len()
                ),
            ));
        }
        if blob[blob.len() - 1] != 0xff {
            return Err(BlobError::new(
                blob.len() - 1,
                "listpack does not end with 0xFF",
            ));
        }
        Ok(Listpack {
            blob,
            declared: le_u16(blob, 4).unwrap_or(0),
        })
    }

    /// The count from the header, `None` when it says "unknown, count them".
    pub fn declared_len(&self) -> Option<usize> {
        (self.declared != u16::MAX).then_some(self.declared as usize)
    }

    pub fn iter(&self) -> ListpackIter<'a> {
        ListpackIter {
            blob: self.blob,
            declared: self.declared_len(),
            pos: HEADER,
            count: 0,
            done: false,
        }
    }

    /// Walks every entry; returns the element count.
    pub fn validate(&self) -> BlobResult<usize> {
        self.for_each(|_| Ok(()))
    }

    /// Hands every entry to `f` (stopping at its first error) with the checks of
    /// [`Listpack::iter`], in one tight loop; returns the element count.
    #[inline]
    pub fn for_each(&self, mut f: impl FnMut(Elem<'a>) -> BlobResult<()>) -> BlobResult<usize> {
        let mut it = self.iter();
        while let Some(e) = it.entry()? {
            f(e)?;
        }
        Ok(it.count)
    }
}

/// Size in bytes of the backlen field for an entry of `len` bytes.
fn backlen_size(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Decodes a backlen that ends at `end` (exclusive), reading backwards as Redis does.
fn decode_backlen(b: &[u8], end: usize, size: usize) -> Option<usize> {
    let mut v = 0usize;
    let mut shift = 0;
    for i in 0..size {
        let byte = *b.get(end.checked_sub(i + 1)?)?;
        v |= ((byte & 0x7f) as usize) << shift;
        shift += 7;
        let more = byte & 0x80 != 0;
        if more != (i + 1 < size) {
            return None;
        }
    }
    Some(v)
}

pub struct ListpackIter<'a> {
    blob: &'a [u8],
    declared: Option<usize>,
    pos: usize,
    count: usize,
    done: bool,
}

impl<'a> ListpackIter<'a> {
    /// Entries read so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Decodes and checks the entry at `pos`; `None` at the terminator (and again on
    /// every later call). Inlined into every walker: this is the innermost loop of
    /// most deep checks.
    #[inline(always)]
    pub(crate) fn entry(&mut self) -> BlobResult<Option<Elem<'a>>> {
        let b = self.blob;
        let start = self.pos;
        let Some(&first) = b.get(start) else {
            return Err(fail(start, "listpack entry past the end"));
        };
        if first == 0xff {
            return self.terminator(start).map(|()| None);
        }
        // (header bytes, data bytes)
        let data = |hdr: usize, n: usize| -> BlobResult<&'a [u8]> {
            match b.get(start + hdr..start + hdr + n) {
                Some(d) => Ok(d),
                None => Err(fail(start, "listpack entry data past the end")),
            }
        };
        let (elem, size) = if first < 0x80 {
            // 7-bit unsigned integer: the most common entry in real listpacks.
            (Elem::Int(first as i64), 1)
        } else if first & 0xc0 == 0x80 {
            let n = (first & 0x3f) as usize;
            (Elem::Str(data(1, n)?), 1 + n)
        } else if first & 0xe0 == 0xc0 {
            let lo = data(1, 1)?[0] as i64;
            let u = (((first & 0x1f) as i64) << 8) | lo;
            (Elem::Int(if u >= 4096 { u - 8192 } else { u }), 2)
        } else if first & 0xf0 == 0xe0 {
            let lo = data(1, 1)?[0] as usize;
            let n = (((first & 0x0f) as usize) << 8) | lo;
            (Elem::Str(data(2, n)?), 2 + n)
        } else {
            match first {
                0xf0 => {
                    let Some(n) = le_u32(b, start + 1) else {
                        return Err(fail(start, "listpack string length cut short"));
                    };
                    let n = n as usize;
                    (Elem::Str(data(5, n)?), 5 + n)
                }
                0xf1 => {
                    let d = data(1, 2)?;
                    (Elem::Int(i16::from_le_bytes([d[0], d[1]]) as i64), 3)
                }
                0xf2 => {
                    let d = data(1, 3)?;
                    (
                        Elem::Int((i32::from_le_bytes([0, d[0], d[1], d[2]]) >> 8) as i64),
                        4,
                    )
                }
                0xf3 => {
                    let d = data(1, 4)?;
                    (
                        Elem::Int(i32::from_le_bytes([d[0], d[1], d[2], d[3]]) as i64),
                        5,
                    )
                }
                0xf4 => {
                    let d = data(1, 8)?;
                    (
                        Elem::Int(i64::from_le_bytes(d.try_into().unwrap_or([0; 8]))),
                        9,
                    )
                }
                _ => return Err(bad_encoding(start, first)),
            }
        };
        // Most entries are under 128 bytes: a one-byte backlen equal to the size.
        let end = if size < 128 {
            let end = start + size + 1;
            // The entry and its backlen must leave room for the terminator.
            if end >= b.len() {
                return Err(fail(start, "listpack entry runs into the terminator"));
            }
            if b[end - 1] as usize != size {
                return Err(bad_backlen(start, size));
            }
            end
        } else {
            let bl = backlen_size(size);
            let end = start + size + bl;
            if end >= b.len() {
                return Err(fail(start, "listpack entry runs into the terminator"));
            }
            if decode_backlen(b, end, bl) != Some(size) {
                return Err(bad_backlen(start, size));
            }
            end
        };
        self.pos = end;
        self.count += 1;
        Ok(Some(elem))
    }

    /// The 0xFF at `start` must be the last byte, after the declared number of entries.
    #[inline]
    fn terminator(&self, start: usize) -> BlobResult<()> {
        if start != self.blob.len() - 1 {
            return Err(fail(
                start,
                "listpack terminator before the end of the blob",
            ));
        }
        if let Some(n) = self.declared {
            if n != self.count {
                return Err(BlobError::new(
                    4,
                    format!("listpack header counts {n} entries, found {}", self.count),
                ));
            }
        }
        Ok(())
    }
}

#[cold]
#[inline(never)]
fn fail(at: usize, reason: &'static str) -> BlobError {
    BlobError::new(at, reason)
}

#[cold]
#[inline(never)]
fn bad_encoding(at: usize, first: u8) -> BlobError {
    BlobError::new(at, format!("listpack entry encoding 0x{first:02x}"))
}

#[cold]
#[inline(never)]
fn bad_backlen(start: usize, size: usize) -> BlobError {
    BlobError::new(
        start + size,
        format!("listpack backlen does not match the {size}-byte entry"),
    )
}

impl ListpackIter<'_> {
    /// Offset in the blob of the next entry (for annotated dumps).
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for ListpackIter<'a> {
    type Item = BlobResult<Elem<'a>>;
    #[inline]
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

/// Test-only encoder: builds a listpack the way Redis writes one.
#[cfg(test)]
pub(crate) fn encode(items: &[Elem<'_>]) -> Vec<u8> {
    let mut out = vec![0u8; HEADER];
    for it in items {
        let start = out.len();
        match *it {
            Elem::Int(v) if (0..=127).contains(&v) => out.push(v as u8),
            Elem::Int(v) if (-4096..4096).contains(&v) => {
                let u = (v as i16 as u16) & 0x1fff;
                out.push(0xc0 | (u >> 8) as u8);
                out.push(u as u8);
            }
            Elem::Int(v) => {
                out.push(0xf4);
                out.extend_from_slice(&v.to_le_bytes());
            }
            Elem::Str(s) if s.len() < 64 => {
                out.push(0x80 | s.len() as u8);
                out.extend_from_slice(s);
            }
            Elem::Str(s) if s.len() < 4096 => {
                out.push(0xe0 | (s.len() >> 8) as u8);
                out.push(s.len() as u8);
                out.extend_from_slice(s);
            }
            Elem::Str(s) => {
                out.push(0xf0);
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s);
            }
        }
        let l = out.len() - start;
        let n = backlen_size(l);
        for i in (0..n).rev() {
            let group = ((l >> (7 * i)) & 0x7f) as u8;
            out.push(if i == n - 1 { group } else { group | 0x80 });
        }
    }
    out.push(0xff);
    let total = out.len() as u32;
    out[0..4].copy_from_slice(&total.to_le_bytes());
    let n = items.len().min(65535) as u16;
    out[4..6].copy_from_slice(&n.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_example_hash() {
        // FORMAT.md §12.2: {a: "1", b: "xyz"}
        let b = [
            0x14, 0, 0, 0, 4, 0, 0x81, 0x61, 2, 1, 1, 0x81, 0x62, 2, 0x83, 0x78, 0x79, 0x7a, 4,
            0xff,
        ];
        let lp = Listpack::parse(&b).unwrap();
        let v: Vec<_> = lp.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(
            v,
            vec![
                Elem::Str(b"a"),
                Elem::Int(1),
                Elem::Str(b"b"),
                Elem::Str(b"xyz")
            ]
        );
    }

    #[test]
    fn roundtrip_all_encodings() {
        let big = vec![b'q'; 5000];
        let mid = vec![b'm'; 300];
        let items = [
            Elem::Int(0),
            Elem::Int(127),
            Elem::Int(-1),
            Elem::Int(-4096),
            Elem::Int(4095),
            Elem::Int(i64::MIN),
            Elem::Str(b""),
            Elem::Str(&mid),
            Elem::Str(&big),
        ];
        let b = encode(&items);
        let lp = Listpack::parse(&b).unwrap();
        let v: Vec<_> = lp.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(v, items);
        assert_eq!(lp.validate().unwrap(), items.len());
    }

    #[test]
    fn detects_bad_backlen_and_count() {
        let mut b = encode(&[Elem::Str(b"abc"), Elem::Int(7)]);
        b[10] = 9; // backlen of "abc"
        assert!(Listpack::parse(&b)
            .unwrap()
            .validate()
            .unwrap_err()
            .reason
            .contains("backlen"));
        let mut b = encode(&[Elem::Str(b"abc")]);
        b[4] = 2;
        assert!(Listpack::parse(&b)
            .unwrap()
            .validate()
            .unwrap_err()
            .reason
            .contains("counts"));
    }

    #[test]
    fn every_prefix_and_flip_is_safe() {
        let b = encode(&[
            Elem::Str(b"hello"),
            Elem::Int(-300),
            Elem::Int(70000),
            Elem::Str(&[7u8; 100]),
        ]);
        for i in 0..b.len() {
            if let Ok(l) = Listpack::parse(&b[..i]) {
                assert!(l.validate().is_err());
            }
            for bit in 0..8 {
                let mut m = b.clone();
                m[i] ^= 1 << bit;
                if let Ok(l) = Listpack::parse(&m) {
                    let _ = l.validate();
                }
            }
        }
    }
}
