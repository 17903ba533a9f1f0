//! Parse errors that say where (absolute byte offset) and what was being read.
//!
//! Every error from the format layer carries the offset of the byte at which reading
//! failed. The record reader adds the key context (db, key, type) before the error
//! leaves the crate, so a caller can print an actionable message without a debugger.
//! The error is boxed: `Result<T, Error>` stays one word on the hot path.

use std::fmt;

/// What went wrong, independent of where.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ended while `needed` more bytes were required at `offset`.
    Truncated { needed: u64 },
    /// The bytes are not what any real server writes (or they contradict each other).
    Corrupt(String),
    /// A well-formed construct this reader does not implement (vendor type, future version).
    Unsupported(String),
}

/// The key record being read when an error happened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    pub db: Option<u64>,
    /// The key name, decoded; long keys are kept whole, display shortens them.
    pub key: Option<Vec<u8>>,
    /// Type name as `redis-check-rdb` would print it (`hash-listpack`, `stream-v3`...).
    pub type_name: Option<&'static str>,
    /// The structure being read (`"listpack entry"`, `"stream consumer group"`...).
    pub reading: Option<&'static str>,
    /// Number of key records completely read before this one.
    pub keys_before: Option<u64>,
    /// Offset of the first byte of the record being read (where salvage would resume).
    pub record_offset: Option<u64>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Error(Box<Inner>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    offset: u64,
    kind: ErrorKind,
    context: Context,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(offset: u64, kind: ErrorKind) -> Error {
        Error(Box::new(Inner {
            offset,
            kind,
            context: Context::default(),
        }))
    }
    pub fn truncated(offset: u64, needed: u64) -> Error {
        Error::new(offset, ErrorKind::Truncated { needed })
    }
    pub fn corrupt(offset: u64, msg: impl Into<String>) -> Error {
        Error::new(offset, ErrorKind::Corrupt(msg.into()))
    }
    pub fn unsupported(offset: u64, msg: impl Into<String>) -> Error {
        Error::new(offset, ErrorKind::Unsupported(msg.into()))
    }
    pub fn offset(&self) -> u64 {
        self.0.offset
    }
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }
    pub fn context(&self) -> &Context {
        &self.0.context
    }
    pub fn is_truncated(&self) -> bool {
        matches!(self.0.kind, ErrorKind::Truncated { .. })
    }
    /// The message without offset or context (`"expected 4096 more bytes"`).
    pub fn message(&self) -> String {
        match &self.0.kind {
            ErrorKind::Truncated { needed } => {
                format!(
                    "expected {needed} more byte{}",
                    if *needed == 1 { "" } else { "s" }
                )
            }
            ErrorKind::Corrupt(m) | ErrorKind::Unsupported(m) => m.clone(),
        }
    }
    /// Sets `reading` unless an inner parser already said something more precise.
    pub fn reading(mut self, what: &'static str) -> Error {
        self.0.context.reading.get_or_insert(what);
        self
    }
    pub fn at_record(mut self, offset: u64) -> Error {
        self.0.context.record_offset.get_or_insert(offset);
        self
    }
    pub fn with_type(mut self, type_name: &'static str) -> Error {
        self.0.context.type_name.get_or_insert(type_name);
        self
    }
    pub fn with_key(mut self, db: Option<u64>, key: Option<Vec<u8>>, keys_before: u64) -> Error {
        let c = &mut self.0.context;
        if c.db.is_none() {
            c.db = db;
        }
        if c.key.is_none() {
            c.key = key;
        }
        c.keys_before.get_or_insert(keys_before);
        self
    }
}

/// Shows a key the way redis-cli does: printable ASCII as is, the rest as `\xNN`;
/// very long keys are cut in the middle so the message stays one line.
pub fn display_key(key: &[u8]) -> String {
    const MAX: usize = 120;
    let mut out = String::with_capacity(key.len().min(MAX) + 2);
    let shown: Box<dyn Iterator<Item = &u8>> = if key.len() > MAX {
        Box::new(
            key[..MAX / 2]
                .iter()
                .chain(b"...".iter())
                .chain(key[key.len() - MAX / 2..].iter()),
        )
    } else {
        Box::new(key.iter())
    };
    for &b in shown {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

impl fmt::Display for Error {
    /// `truncated at byte 1048576 while reading list key "queue:7" (db 0): expected 4096 more bytes`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.0.context;
        let what = match self.0.kind {
            ErrorKind::Truncated { .. } => "truncated",
            ErrorKind::Corrupt(_) => "corrupt",
            ErrorKind::Unsupported(_) => "unsupported",
        };
        write!(f, "{what} at byte {}", self.0.offset)?;
        match (&c.key, c.type_name) {
            (Some(k), t) => {
                write!(f, " while reading ")?;
                if let Some(t) = t {
                    write!(f, "{t} ")?;
                }
                write!(f, "key \"{}\"", display_key(k))?;
                if let Some(db) = c.db {
                    write!(f, " (db {db})")?;
                }
                if let Some(r) = c.reading {
                    write!(f, ", {r}")?;
                }
            }
            (None, Some(t)) => {
                write!(f, " while reading the key name of a {t} record")?;
                if let Some(db) = c.db {
                    write!(f, " (db {db})")?;
                }
            }
            (None, None) => {
                if let Some(r) = c.reading {
                    write!(f, " while reading {r}")?;
                }
            }
        }
        write!(f, ": {}", self.message())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self} [{:?}]", self.0)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_offset_key_type_and_db() {
        let e = Error::truncated(1048576, 4096)
            .with_type("list-quicklist")
            .with_key(Some(0), Some(b"queue:7".to_vec()), 3);
        assert_eq!(
            e.to_string(),
            "truncated at byte 1048576 while reading list-quicklist key \"queue:7\" (db 0): expected 4096 more bytes"
        );
        assert_eq!(e.context().keys_before, Some(3));
    }

    #[test]
    fn keys_are_shown_escaped_and_shortened() {
        assert_eq!(display_key(b"a\x00\"\xff"), "a\\x00\\\"\\xff");
        let long = vec![b'x'; 1000];
        assert_eq!(display_key(&long).len(), 123);
    }
}
