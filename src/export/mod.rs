//! Converting a dataset into other forms: RESP commands that rebuild it
//! ([`resp`]), JSON objects per key ([`json`]), and the file-level driver that walks an
//! RDB or AOF and writes one of them ([`run`]).
//!
//! Everything streams: a key's elements go from the encoded bytes to the output one at
//! a time (`rdb::items::for_each`), so memory does not grow with a collection's size.

pub mod bytes;
pub mod csv;
pub mod json;
pub mod number;
pub mod output;
mod pipeline;
pub mod resp;
pub mod rewrite;
pub mod run;
pub mod slots;

use std::fmt;

use crate::rdb::items::{self, Element};
use crate::rdb::Value;

/// Why an export stopped: the input could not be read, or the output not written.
#[derive(Debug)]
pub enum ExportError {
    /// The input is damaged (the error says where, and which key).
    Read(crate::Error),
    /// Writing failed (a closed pipe shows up here as `BrokenPipe`).
    Io(std::io::Error),
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Read(e) => write!(f, "{e}"),
            ExportError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ExportError {}

impl From<crate::Error> for ExportError {
    fn from(e: crate::Error) -> Self {
        ExportError::Read(e)
    }
}

impl From<std::io::Error> for ExportError {
    fn from(e: std::io::Error) -> Self {
        ExportError::Io(e)
    }
}

thread_local! {
    static SCRATCH: std::cell::Cell<items::Scratch> = std::cell::Cell::new(items::Scratch::default());
}

/// `items::for_each` for callbacks that write: an output error stops the walk and is
/// returned as such (not disguised as damage in the input).
pub(crate) fn each_element(
    value: &Value<'_>,
    mut f: impl FnMut(Element<'_>) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    let mut stopped = None;
    // One set of decode buffers per thread, lent out for the walk (a nested walk
    // would get fresh ones).
    let mut scratch = SCRATCH.with(|s| s.take());
    let r = items::for_each_with(value, &mut scratch, |e| {
        f(e).map_err(|err| {
            stopped = Some(err);
            crate::Error::corrupt(0, "export stopped")
        })
    });
    SCRATCH.with(|s| s.replace(scratch));
    match (stopped, r) {
        (Some(e), _) => Err(e),
        (None, Err(e)) => Err(ExportError::Read(e)),
        (None, Ok(())) => Ok(()),
    }
}
