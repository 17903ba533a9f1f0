//! The RDB format layer: header, records, values and inner encodings, read zero-copy
//! from a byte slice (usually a memory-mapped file) or streamed from any `Read`.
//!
//! Which entry point to use:
//! * [`RdbReader`] over `&[u8]` — records borrow the input; the fast path.
//! * [`RdbStream`] over `impl Read` (stdin, pipes) — same records, passed to a callback,
//!   with a buffer that holds one record at a time.
//! * [`crate::rdb::items`] — iterate a collection value's elements from its bytes.

pub mod check;
pub mod crc64;
pub mod cursor;
pub mod digest;
pub mod dump;
pub mod encoding;
mod fingerprint_runs;
pub mod header;
pub mod items;
pub mod lzf;
pub mod module;
pub mod owned;
pub mod record;
pub mod stream;
mod stream_groups;
pub mod stream_reader;
pub mod string;
pub mod types;
pub mod value;
pub mod writer;

pub use check::{Checker, Depth};
pub use header::{Dialect, Header};
pub use record::{KeyRecord, Record};
pub use stream_reader::RdbStream;
pub use string::RdbStr;
pub use value::Value;

use crate::error::{Error, Result};
use cursor::Cursor;
use record::State;

/// What follows the EOF opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trailer {
    /// Offset of the EOF opcode byte.
    pub eof_offset: u64,
    /// The stored CRC-64 (RDB >= 5); 0 means the writer had `rdbchecksum no`.
    pub stored_checksum: Option<u64>,
    /// Bytes after the checksum (a standalone RDB normally has none).
    pub trailing_bytes: u64,
}

/// Reads the records of an RDB held in memory.
pub struct RdbReader<'a> {
    data: &'a [u8],
    cur: Cursor<'a>,
    state: State,
    checker: Checker,
    eof_offset: Option<u64>,
}

impl<'a> RdbReader<'a> {
    /// Checks the header (magic and a supported version) and positions at the first record.
    pub fn new(data: &'a [u8], checker: Checker) -> Result<Self> {
        let header = Header::parse(data)?;
        header.check_supported()?;
        let mut cur = Cursor::new(data, 0);
        cur.take(header::HEADER_LEN)?;
        Ok(RdbReader {
            data,
            cur,
            state: State::new(header),
            checker,
            eof_offset: None,
        })
    }

    pub fn header(&self) -> Header {
        self.state.header
    }
    /// Offset of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.cur.offset()
    }
    /// Key records read so far.
    pub fn keys_read(&self) -> u64 {
        self.state.keys
    }
    pub fn current_db(&self) -> Option<u64> {
        self.state.db
    }

    /// The next record, `Ok(None)` after EOF.
    #[inline]
    pub fn next_record(&mut self) -> Result<Option<Record<'a>>> {
        if self.eof_offset.is_some() {
            return Ok(None);
        }
        let at = self.cur.offset();
        self.checker.warnings.clear();
        let mut cur = self.cur;
        let rec = record::parse(&mut cur, &self.state, &mut self.checker).map_err(|e| {
            e.with_key(self.state.db, None, self.state.keys)
                .at_record(at)
        })?;
        self.cur = cur;
        self.state.apply(&rec);
        if matches!(rec, Record::Eof) {
            self.eof_offset = Some(at);
        }
        Ok(Some(rec))
    }

    /// Switches deep checks on or off for the following records. After an error the
    /// reader stays on the failed record, so switching to deep and reading again
    /// gives the error a single deep pass would have reported first.
    pub fn set_depth(&mut self, depth: check::Depth) {
        self.checker.depth = depth;
    }

    /// Warnings about the record just returned (empty keys, odd metadata).
    pub fn warnings(&self) -> &[String] {
        &self.checker.warnings
    }

    /// Reads the checksum after EOF. Call once `next_record` has returned `Eof`.
    pub fn trailer(&mut self) -> Result<Trailer> {
        let Some(eof_offset) = self.eof_offset else {
            return Err(Error::corrupt(
                self.cur.offset(),
                "trailer requested before the EOF opcode",
            ));
        };
        let stored_checksum = if self.state.header.has_checksum() {
            let v = self
                .cur
                .array::<8>()
                .map_err(|e| e.reading("the CRC-64 checksum after EOF"))?;
            Some(u64::from_le_bytes(v))
        } else {
            None
        };
        Ok(Trailer {
            eof_offset,
            stored_checksum,
            trailing_bytes: self.cur.remaining() as u64,
        })
    }

    /// CRC-64 of everything from the magic through the EOF opcode.
    pub fn computed_checksum(&self) -> Option<u64> {
        let end = self.eof_offset? as usize + 1;
        Some(crc64::checksum(self.data.get(..end)?))
    }
}
