//! Where an export goes: stdout or a file, gzip / zstd compressed when the file name
//! ends in `.gz` / `.zst`, always through one reusable buffer.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// Bytes gathered before they are handed to the writer.
const SPILL_AT: usize = 256 << 10;

/// A byte buffer in front of a writer: formatters append to `buf`, then call
/// [`Sink::spill`], which writes once the buffer is big enough. Memory stays at one
/// buffer plus the largest single element.
pub struct Sink<'w> {
    pub buf: Vec<u8>,
    /// `None`: the output stays in `buf` (a batch formatted on another thread).
    w: Option<&'w mut dyn Write>,
    written: u64,
}

impl<'w> Sink<'w> {
    pub fn new(w: &'w mut dyn Write) -> Self {
        Sink {
            buf: Vec::with_capacity(SPILL_AT * 2),
            w: Some(w),
            written: 0,
        }
    }

    /// A sink that keeps everything in `buf` (a reused buffer, appended to).
    pub fn memory(buf: Vec<u8>) -> Sink<'static> {
        Sink {
            buf,
            w: None,
            written: 0,
        }
    }

    /// Writes the buffer out if it is big enough.
    #[inline]
    pub fn spill(&mut self) -> io::Result<()> {
        if self.buf.len() >= SPILL_AT && self.w.is_some() {
            self.drain()?;
        }
        Ok(())
    }

    fn drain(&mut self) -> io::Result<()> {
        if let Some(w) = self.w.as_mut() {
            w.write_all(&self.buf)?;
            self.written += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }

    /// Writes what is buffered, then `bytes` (output formatted elsewhere).
    pub fn write_through(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.drain()?;
        if let Some(w) = self.w.as_mut() {
            w.write_all(bytes)?;
            self.written += bytes.len() as u64;
        }
        Ok(())
    }

    /// Writes everything and flushes the writer.
    pub fn finish(&mut self) -> io::Result<u64> {
        self.drain()?;
        if let Some(w) = self.w.as_mut() {
            w.flush()?;
        }
        Ok(self.written)
    }
}

/// An open output; `finish` must be called to complete compressed streams.
pub enum Output {
    Stdout(io::Stdout),
    File(File),
    Gzip(flate2::write::GzEncoder<File>),
    Zstd(zstd::stream::write::Encoder<'static, File>),
}

impl Output {
    /// `None` or `-`: stdout. A new file otherwise (`.gz` / `.zst` compressed).
    pub fn open(path: Option<&Path>) -> io::Result<Output> {
        let Some(p) = path.filter(|p| p.as_os_str() != "-") else {
            return Ok(Output::Stdout(io::stdout()));
        };
        let f = File::create(p)?;
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        Ok(match ext {
            "gz" => Output::Gzip(flate2::write::GzEncoder::new(
                f,
                flate2::Compression::default(),
            )),
            "zst" => Output::Zstd(zstd::stream::write::Encoder::new(f, 3)?),
            _ => Output::File(f),
        })
    }

    /// Completes the stream (compression trailers) and flushes.
    pub fn finish(self) -> io::Result<()> {
        match self {
            Output::Stdout(mut s) => s.flush(),
            Output::File(mut f) => f.flush(),
            Output::Gzip(g) => g.finish()?.flush(),
            Output::Zstd(z) => z.finish()?.flush(),
        }
    }
}

impl Write for Output {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(s) => s.write(b),
            Output::File(f) => f.write(b),
            Output::Gzip(g) => g.write(b),
            Output::Zstd(z) => z.write(b),
        }
    }
    fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            Output::Stdout(s) => s.write_all(b),
            Output::File(f) => f.write_all(b),
            Output::Gzip(g) => g.write_all(b),
            Output::Zstd(z) => z.write_all(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(s) => s.flush(),
            Output::File(f) => f.flush(),
            Output::Gzip(g) => g.flush(),
            Output::Zstd(z) => z.flush(),
        }
    }
}
