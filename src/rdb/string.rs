//! `RdbStr`: an RDB string as stored (FORMAT.md §2.2), decoded only when asked.

use crate::error::{Error, Result};
use crate::rdb::lzf;

/// A string borrowed from the file: raw bytes, an int-encoded integer (its decimal
/// text is the value), or LZF-compressed bytes with their decompressed length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RdbStr<'a> {
    Raw(&'a [u8]),
    Int(i64),
    Lzf { data: &'a [u8], len: usize, at: u64 },
}

impl<'a> RdbStr<'a> {
    /// Builds the LZF variant after checking the declared length is plausible
    /// (no allocation is ever sized from an implausible claim).
    pub(crate) fn lzf(data: &'a [u8], len: u64, at: u64) -> Result<Self> {
        if len > lzf::max_output(data.len()) || len == 0 {
            return Err(Error::corrupt(
                at,
                format!(
                    "LZF string claims {len} bytes from {} compressed bytes",
                    data.len()
                ),
            ));
        }
        let len = usize::try_from(len)
            .map_err(|_| Error::corrupt(at, "LZF length exceeds the address space"))?;
        Ok(RdbStr::Lzf { data, len, at })
    }

    /// Decoded length in bytes.
    pub fn len(&self) -> usize {
        match self {
            RdbStr::Raw(b) => b.len(),
            RdbStr::Int(i) => itoa::Buffer::new().format(*i).len(),
            RdbStr::Lzf { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes this string occupies in the file after its header (for size statistics).
    pub fn stored_len(&self) -> usize {
        match self {
            RdbStr::Raw(b) => b.len(),
            RdbStr::Int(_) => 4,
            RdbStr::Lzf { data, .. } => data.len(),
        }
    }

    /// The value as a borrowed slice when no decoding is needed.
    pub fn as_raw(&self) -> Option<&'a [u8]> {
        match self {
            RdbStr::Raw(b) => Some(b),
            _ => None,
        }
    }

    /// Checks the LZF framing without allocating (a no-op for other forms).
    pub fn check(&self) -> Result<()> {
        if let RdbStr::Lzf { data, len, at } = *self {
            lzf::check(data, len).map_err(|e| Error::corrupt(at, e.to_string()))?;
        }
        Ok(())
    }

    /// Decodes into `buf` (reused) unless the bytes can be borrowed directly.
    pub fn decode<'b>(&self, buf: &'b mut Vec<u8>) -> Result<&'b [u8]>
    where
        'a: 'b,
    {
        match *self {
            RdbStr::Raw(b) => Ok(b),
            RdbStr::Int(i) => {
                buf.clear();
                buf.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
                Ok(buf.as_slice())
            }
            RdbStr::Lzf { data, len, at } => {
                lzf::decompress_into(data, len, buf)
                    .map_err(|e| Error::corrupt(at, e.to_string()))?;
                Ok(buf.as_slice())
            }
        }
    }

    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        let s = self.decode(&mut buf)?;
        Ok(s.to_vec())
    }

    /// The value as an integer if it is int-encoded or its bytes are a decimal integer.
    pub fn to_i64(&self) -> Option<i64> {
        match self {
            RdbStr::Int(i) => Some(*i),
            RdbStr::Raw(b) => std::str::from_utf8(b).ok()?.parse().ok(),
            RdbStr::Lzf { .. } => None,
        }
    }

    /// A short lossy text form for reports (AUX values, names).
    pub fn to_string_lossy(&self) -> String {
        match self.to_vec() {
            Ok(v) => String::from_utf8_lossy(&v).into_owned(),
            Err(_) => String::from("<invalid LZF>"),
        }
    }

    /// Name of the stored form, for encoding statistics.
    pub fn form(&self) -> &'static str {
        match self {
            RdbStr::Raw(_) => "raw",
            RdbStr::Int(_) => "int",
            RdbStr::Lzf { .. } => "lzf",
        }
    }
}
