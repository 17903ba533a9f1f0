//! Inner encodings stored as `STR` blobs (FORMAT.md §5): one file per encoding, each a
//! header check plus a lazy entry iterator. Iterating to the end *is* the deep
//! integrity check: every entry is bounds-checked, cross-checked (prevlen, backlen)
//! and counted, so validation and reading can never disagree.

pub mod intset;
pub mod listpack;
pub mod ziplist;
pub mod zipmap;

use std::fmt;

/// One element of a ziplist, listpack or intset: bytes, or an integer whose decimal
/// text is the element's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl<'a> Elem<'a> {
    /// The element's bytes; integers are written into `buf`.
    pub fn bytes<'b>(&self, buf: &'b mut itoa::Buffer) -> &'b [u8]
    where
        'a: 'b,
    {
        match *self {
            Elem::Str(s) => s,
            Elem::Int(i) => buf.format(i).as_bytes(),
        }
    }
    pub fn to_vec(&self) -> Vec<u8> {
        self.bytes(&mut itoa::Buffer::new()).to_vec()
    }
    /// Integer value: the integer itself, or a string that is a decimal integer.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Elem::Int(i) => Some(i),
            Elem::Str(s) => std::str::from_utf8(s).ok()?.parse().ok(),
        }
    }
    /// Numeric value as a sorted-set score.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Elem::Int(i) => Some(i as f64),
            Elem::Str(s) => crate::rdb::cursor::parse_double(s),
        }
    }
}

/// A defect inside a blob, at a byte position relative to the blob's first byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobError {
    pub at: usize,
    pub reason: String,
}

impl BlobError {
    pub fn new(at: usize, reason: impl Into<String>) -> Self {
        BlobError {
            at,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (blob byte {})", self.reason, self.at)
    }
}

pub type BlobResult<T> = Result<T, BlobError>;

#[inline]
pub(crate) fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
#[inline]
pub(crate) fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
