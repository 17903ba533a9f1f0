//! Streaming RDB reading from any `Read` (stdin, a pipe): no temp file, no mmap.
//!
//! Each record is parsed from a buffer; when it runs past the buffered bytes the
//! buffer is refilled (at least doubling what it asks for, so a big record costs at
//! most a few re-parses) and the record is parsed again from its start. Memory is
//! bounded by the largest single record, not the file. The CRC-64 is updated with
//! each record's bytes as it is consumed.

use std::io::Read;

use crate::error::{Error, Result};
use crate::rdb::check::Checker;
use crate::rdb::crc64::Crc64;
use crate::rdb::cursor::Cursor;
use crate::rdb::header::{Header, HEADER_LEN};
use crate::rdb::record::{self, Record, State};
use crate::rdb::Trailer;

/// A parse error or an I/O error from the underlying reader.
#[derive(Debug)]
pub enum StreamError {
    Io(std::io::Error),
    Rdb(Error),
}

impl From<Error> for StreamError {
    fn from(e: Error) -> Self {
        StreamError::Rdb(e)
    }
}

impl From<std::io::Error> for StreamError {
    fn from(e: std::io::Error) -> Self {
        StreamError::Io(e)
    }
}

/// How a streamed file ended.
#[derive(Clone, Copy, Debug)]
pub struct StreamEnd {
    pub trailer: Trailer,
    pub computed_checksum: u64,
}

pub struct RdbStream<R> {
    src: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Absolute offset of `buf[0]`.
    base: u64,
    exhausted: bool,
    checker: Checker,
    crc: Crc64,
    header: Option<Header>,
}

const MIN_READ: usize = 256 * 1024;

impl<R: Read> RdbStream<R> {
    pub fn new(src: R, checker: Checker) -> Self {
        RdbStream {
            src,
            buf: Vec::new(),
            start: 0,
            end: 0,
            base: 0,
            exhausted: false,
            checker,
            crc: Crc64::new(),
            header: None,
        }
    }

    /// Absolute offset of the next unconsumed byte.
    pub fn offset(&self) -> u64 {
        self.base + self.start as u64
    }

    /// Reads more input: `more` bytes if the source has them, but never more than the
    /// bytes already buffered (or 256 KiB) in one step. `more` comes from lengths in
    /// the file, so the buffer grows geometrically with what actually arrives, never
    /// with what a (possibly hostile) length claims.
    fn fill(&mut self, more: usize) -> std::io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.base += self.start as u64;
            self.start = 0;
        }
        let step = more.min(self.end.max(MIN_READ)).max(1);
        let target = self.end + step;
        if self.buf.len() < target.max(MIN_READ) {
            // Grow geometrically, so a record bigger than the buffer is re-parsed
            // O(log n) times, not once per missing primitive.
            self.buf
                .resize(target.max(MIN_READ).max(2 * self.buf.len()), 0);
        }
        // Read as much as fits (not just `step`): most refills then serve many records.
        while self.end < target {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.exhausted = true;
                    break;
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads and checks the header.
    pub fn header(&mut self) -> Result<Header, StreamError> {
        if let Some(h) = self.header {
            return Ok(h);
        }
        if self.end - self.start < HEADER_LEN {
            self.fill(HEADER_LEN)?;
        }
        let h = Header::parse(&self.buf[self.start..self.end])?;
        h.check_supported()?;
        self.crc
            .update(&self.buf[self.start..self.start + HEADER_LEN]);
        self.start += HEADER_LEN;
        self.header = Some(h);
        Ok(h)
    }

    /// Reads every record through EOF and the trailer, handing each record and its
    /// warnings to `f`. `f` may stop the run by returning an error.
    pub fn for_each(
        &mut self,
        mut f: impl FnMut(&Record<'_>, &[String]) -> Result<()>,
    ) -> Result<StreamEnd, StreamError> {
        let mut state = State::new(self.header()?);
        let eof_offset;
        loop {
            let rec_at = self.offset();
            let avail = &self.buf[self.start..self.end];
            let mut cur = Cursor::new(avail, rec_at);
            self.checker.warnings.clear();
            match record::parse(&mut cur, &state, &mut self.checker) {
                Ok(rec) => {
                    let n = cur.pos();
                    self.crc.update(&avail[..n]);
                    f(&rec, &self.checker.warnings)?;
                    state.apply(&rec);
                    let is_eof = matches!(rec, Record::Eof);
                    self.start += n;
                    if is_eof {
                        eof_offset = rec_at;
                        break;
                    }
                }
                Err(e) if !self.exhausted && e.is_truncated() => {
                    // Truncation is reported at the end of the buffered bytes, so the
                    // bytes still needed are exactly what is missing (possibly absurd:
                    // `fill` bounds each step by what has actually arrived).
                    let needed = match *e.kind() {
                        crate::error::ErrorKind::Truncated { needed } => needed,
                        _ => 1,
                    };
                    self.fill(usize::try_from(needed).unwrap_or(usize::MAX / 2).max(1))?;
                }
                Err(e) => {
                    return Err(e
                        .with_key(state.db, None, state.keys)
                        .at_record(rec_at)
                        .into())
                }
            }
        }
        let header = state.header;
        let stored_checksum = if header.has_checksum() {
            if self.end - self.start < 8 {
                self.fill(8)?;
            }
            let avail = &self.buf[self.start..self.end];
            let Some(b) = avail.get(..8) else {
                return Err(Error::truncated(
                    self.offset() + avail.len() as u64,
                    (8 - avail.len()) as u64,
                )
                .reading("the CRC-64 checksum after EOF")
                .into());
            };
            let v = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
            self.start += 8;
            Some(v)
        } else {
            None
        };
        let mut trailing = (self.end - self.start) as u64;
        self.start = self.end;
        let mut sink = [0u8; 64 * 1024];
        loop {
            match self.src.read(&mut sink) {
                Ok(0) => break,
                Ok(n) => trailing += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(StreamEnd {
            trailer: Trailer {
                eof_offset,
                stored_checksum,
                trailing_bytes: trailing,
            },
            computed_checksum: self.crc.finish(),
        })
    }
}
