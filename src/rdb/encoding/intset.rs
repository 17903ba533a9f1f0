//! Intset (FORMAT.md §5.4): type 11.
//!
//! ```text
//! encoding u32le (2, 4 or 8) | length u32le | length x intN little endian, ascending
//! ```
//! Checks as `intsetValidateIntegrity(deep)`: a valid width, the exact blob size, not
//! empty, strictly ascending (which also rules out duplicates).

use super::{le_u32, BlobError, BlobResult};

#[derive(Clone, Copy, Debug)]
pub struct Intset<'a> {
    width: usize,
    body: &'a [u8],
}

impl<'a> Intset<'a> {
    pub fn parse(blob: &'a [u8]) -> BlobResult<Self> {
        let (Some(width), Some(len)) = (le_u32(blob, 0), le_u32(blob, 4)) else {
            return Err(BlobError::new(
                0,
                format!("intset of {} bytes is shorter than its header", blob.len()),
            ));
        };
        let width = width as usize;
        if !matches!(width, 2 | 4 | 8) {
            return Err(BlobError::new(0, format!("intset element width {width}")));
        }
        let expect = 8 + len as u64 * width as u64;
        if expect != blob.len() as u64 {
            return Err(BlobError::new(
                4,
                format!(
                    "intset of {len} x {width} bytes needs {expect} bytes, blob has {}",
                    blob.len()
                ),
            ));
        }
        if len == 0 {
            return Err(BlobError::new(4, "empty intset"));
        }
        Ok(Intset {
            width,
            body: &blob[8..],
        })
    }

    pub fn len(&self) -> usize {
        self.body.len() / self.width
    }
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }
    /// Element width in bytes (2, 4 or 8).
    pub fn width(&self) -> usize {
        self.width
    }

    pub fn iter(&self) -> impl Iterator<Item = i64> + 'a {
        let w = self.width;
        self.body.chunks_exact(w).map(move |c| match w {
            2 => i16::from_le_bytes([c[0], c[1]]) as i64,
            4 => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64,
            _ => i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
        })
    }

    /// Checks the strict ascending order; returns the element count.
    pub fn validate(&self) -> BlobResult<usize> {
        // One loop per width, so each compiles to a plain load-compare loop.
        let descent = match self.width {
            2 => first_descent::<2>(self.body, |c| i16::from_le_bytes([c[0], c[1]]) as i64),
            4 => first_descent::<4>(self.body, |c| {
                i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64
            }),
            _ => first_descent::<8>(self.body, |c| {
                i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
            }),
        };
        match descent {
            None => Ok(self.len()),
            Some(i) => {
                let v: Vec<i64> = self.iter().skip(i - 1).take(2).collect();
                Err(BlobError::new(
                    8 + i * self.width,
                    format!("intset not strictly ascending ({} then {})", v[0], v[1]),
                ))
            }
        }
    }
}

/// Index of the first element not greater than the one before it.
#[inline(always)]
fn first_descent<const W: usize>(body: &[u8], read: impl Fn(&[u8; W]) -> i64) -> Option<usize> {
    let mut items = body
        .chunks_exact(W)
        .map(|c| read(c.try_into().unwrap_or(&[0; W])));
    let mut prev = items.next()?;
    for (i, v) in items.enumerate() {
        if v <= prev {
            return Some(i + 1);
        }
        prev = v;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(width: u32, vals: &[i64]) -> Vec<u8> {
        let mut b = width.to_le_bytes().to_vec();
        b.extend_from_slice(&(vals.len() as u32).to_le_bytes());
        for v in vals {
            b.extend_from_slice(&v.to_le_bytes()[..width as usize]);
        }
        b
    }

    #[test]
    fn reads_all_widths() {
        for w in [2, 4, 8] {
            let b = blob(w, &[-3, 1, 32000]);
            let s = Intset::parse(&b).unwrap();
            assert_eq!(s.iter().collect::<Vec<_>>(), vec![-3, 1, 32000]);
            assert_eq!(s.validate().unwrap(), 3);
        }
    }

    /// The per-width loops find the same first descent as a plain walk over `iter`.
    #[test]
    fn validate_agrees_with_a_plain_walk() {
        let mut x: u32 = 7;
        for n in 1..40usize {
            for w in [2u32, 4, 8] {
                let vals: Vec<i64> = (0..n)
                    .map(|i| {
                        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                        // Mostly ascending, sometimes a repeat or a step back.
                        i as i64 * 3 - ((x >> 16) % 4) as i64 - if w == 2 { 0 } else { 1 << 20 }
                    })
                    .collect();
                let b = blob(w, &vals);
                let s = Intset::parse(&b).unwrap();
                let expect = (1..n)
                    .find(|&i| vals[i] <= vals[i - 1])
                    .map(|i| 8 + i * w as usize);
                assert_eq!(s.validate().err().map(|e| e.at), expect, "{vals:?}");
            }
        }
    }

    #[test]
    fn rejects_bad_width_size_empty_and_order() {
        assert!(Intset::parse(&blob(3, &[1])).is_err());
        assert!(Intset::parse(&blob(2, &[])).is_err());
        let mut b = blob(2, &[1, 2]);
        b.push(0);
        assert!(Intset::parse(&b).is_err());
        assert!(Intset::parse(&blob(4, &[5, 5]))
            .unwrap()
            .validate()
            .is_err());
        assert!(Intset::parse(&blob(4, &[6, 5]))
            .unwrap()
            .validate()
            .is_err());
    }
}
