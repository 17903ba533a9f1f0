//! The AOF layer: the RESP command log Redis appends to (single file, RDB-preamble file,
//! or the parts of a Redis 7+ multi-part directory), read zero-copy from a byte slice.
//!
//! * [`RespReader`] — commands and `#` annotations with absolute offsets; arguments
//!   borrow the input, and a claimed length is never allocated (a `$9999999999` header
//!   on a small file is a truncation, found by comparing with the bytes left).
//! * [`manifest`] — the multi-part manifest grammar.
//! * [`check`] — one file's verdict with `redis-check-aof`'s `ok_up_to` rule.
//! * [`verify`] — reports for `rdbkit verify`; [`repair`] — truncated copies.
//!
//! Offsets and line numbers follow `redis-check-aof` so its output can be compared
//! directly: the line number counts the CRLF-terminated RESP lines read so far plus one
//! (annotation lines are not counted, as in that tool).

pub mod check;
pub mod input;
pub mod manifest;
pub mod repair;
pub mod replay;
pub mod verify;

use crate::error::{Error, Result};

/// The loader reads `*`/`$` headers and annotations into a 1024-byte buffer; longer
/// header lines cannot come from a server.
pub const MAX_LINE: usize = 1024;

/// One element of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// A `#...` line (without its line ending). `#TS:<unix-seconds>` is the timestamp.
    Annotation {
        offset: u64,
        text: &'a [u8],
    },
    Command(Command<'a>),
}

/// One complete RESP multibulk command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command<'a> {
    /// Offset of its `*`.
    pub offset: u64,
    /// Offset just after its last CRLF.
    pub end: u64,
    /// Arguments, the command name first; borrowed from the input.
    pub args: Vec<&'a [u8]>,
}

impl Command<'_> {
    /// True when the command name equals `name` (ASCII case-insensitive).
    pub fn is(&self, name: &str) -> bool {
        self.args
            .first()
            .is_some_and(|a| a.eq_ignore_ascii_case(name.as_bytes()))
    }
}

/// The timestamp of a `#TS:<digits>` annotation, if it is one.
pub fn timestamp(text: &[u8]) -> Option<i64> {
    let digits = text.strip_prefix(b"#TS:")?;
    let digits = digits.strip_suffix(b"\r").unwrap_or(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Reads RESP commands and annotations from `data`, starting at a given offset (after an
/// RDB preamble). Offsets are absolute positions in `data`.
pub struct RespReader<'a> {
    data: &'a [u8],
    pos: usize,
    line: u64,
}

impl<'a> RespReader<'a> {
    pub fn new(data: &'a [u8], start: usize) -> Self {
        RespReader {
            data,
            pos: start.min(data.len()),
            line: 1,
        }
    }

    /// Offset of the next unread byte (a command boundary after `next` returned `Ok`).
    pub fn offset(&self) -> u64 {
        self.pos as u64
    }

    /// 1 + the RESP lines read so far, counted as `redis-check-aof` counts them.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The next command or annotation; `Ok(None)` at the end of the input. After an
    /// error the reader stays where it was (at the start of the failed item).
    pub fn next_item(&mut self) -> Result<Option<Item<'a>>> {
        let start = self.pos;
        let Some(&first) = self.data.get(start) else {
            return Ok(None);
        };
        match first {
            b'#' => self.annotation(start).map(Some),
            b'*' => {
                let mut pos = start;
                let mut line = self.line;
                let cmd = parse_command(self.data, &mut pos, &mut line)?;
                self.pos = pos;
                self.line = line;
                Ok(Some(Item::Command(cmd)))
            }
            other => Err(Error::corrupt(
                start as u64,
                format!(
                    "expected '*' or '#' at a command boundary, got {}",
                    show_byte(other)
                ),
            )),
        }
    }

    /// A `#` line. One cut short by the end of the input is accepted, as the server
    /// and `redis-check-aof` do (both read it with `fgets` and skip it).
    fn annotation(&mut self, start: usize) -> Result<Item<'a>> {
        let rest = &self.data[start..];
        let window = &rest[..rest.len().min(MAX_LINE)];
        let (text, len) = match window.iter().position(|&b| b == b'\n') {
            Some(nl) => (&window[..nl], nl + 1),
            None if rest.len() < MAX_LINE => (rest, rest.len()),
            None => {
                return Err(Error::corrupt(
                    start as u64,
                    format!("annotation line longer than {MAX_LINE} bytes"),
                ))
            }
        };
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        self.pos = start + len;
        Ok(Item::Annotation {
            offset: start as u64,
            text,
        })
    }
}

impl<'a> Iterator for RespReader<'a> {
    type Item = Result<Item<'a>>;
    /// Stops after the first error (the reader does not move past it).
    fn next(&mut self) -> Option<Self::Item> {
        match self.next_item() {
            Ok(Some(i)) => Some(Ok(i)),
            Ok(None) => None,
            Err(e) => {
                self.pos = self.data.len();
                Some(Err(e))
            }
        }
    }
}

fn show_byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("0x{b:02x}")
    }
}

/// Parses one `*N` command at `*pos`, advancing `pos` and `line` only on success.
fn parse_command<'a>(data: &'a [u8], pos: &mut usize, line: &mut u64) -> Result<Command<'a>> {
    let start = *pos;
    let mut p = start;
    let mut l = *line;
    let argc = header(data, &mut p, b'*', "the argument count")?;
    l += 1;
    if argc < 1 {
        return Err(Error::corrupt(
            start as u64,
            format!("argument count {argc} (must be at least 1)"),
        ));
    }
    // No capacity from the claim: every argument takes at least 6 input bytes.
    let mut args = Vec::with_capacity((argc as usize).min(16));
    for _ in 0..argc {
        if p >= data.len() {
            return Err(Error::truncated(p as u64, 1).reading("an argument header"));
        }
        let header_at = p;
        let len = header(data, &mut p, b'$', "an argument length")?;
        l += 1;
        if len < 0 {
            return Err(Error::corrupt(
                header_at as u64,
                format!("negative argument length {len}"),
            ));
        }
        let len = len as u64;
        let left = (data.len() - p) as u64;
        if len.saturating_add(2) > left {
            return Err(
                Error::truncated(data.len() as u64, len.saturating_add(2) - left)
                    .reading("an argument"),
            );
        }
        let end = p + len as usize;
        if &data[end..end + 2] != b"\r\n" {
            return Err(Error::corrupt(
                end as u64,
                format!(
                    "expected \\r\\n after a {len}-byte argument, got {:02x}{:02x}",
                    data[end],
                    data[end + 1]
                ),
            ));
        }
        args.push(&data[p..end]);
        p = end + 2;
        l += 1;
    }
    *pos = p;
    *line = l;
    Ok(Command {
        offset: start as u64,
        end: p as u64,
        args,
    })
}

/// A `<prefix><decimal>\r\n` line at `*pos`. A line the input cuts short (digits up to
/// the end, or a final `\r`) is a truncation; anything else off-grammar is corrupt.
fn header(data: &[u8], pos: &mut usize, prefix: u8, what: &'static str) -> Result<i64> {
    let start = *pos;
    let at = start as u64;
    match data.get(start) {
        Some(&b) if b == prefix => {}
        Some(&b) => {
            return Err(Error::corrupt(
                at,
                format!("expected prefix '{}', got {}", prefix as char, show_byte(b)),
            )
            .reading(what))
        }
        None => return Err(Error::truncated(at, 1).reading(what)),
    }
    let mut p = start + 1;
    let neg = data.get(p) == Some(&b'-');
    if neg {
        p += 1;
    }
    let digits_start = p;
    let mut value: i64 = 0;
    while let Some(&b) = data.get(p) {
        if !b.is_ascii_digit() {
            break;
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(b - b'0')))
            .ok_or_else(|| Error::corrupt(at, "number out of range").reading(what))?;
        p += 1;
        if p - start > MAX_LINE {
            return Err(Error::corrupt(at, "header line too long").reading(what));
        }
    }
    let rest = &data[p..];
    if rest.is_empty() || rest == b"\r" {
        return Err(Error::truncated(data.len() as u64, (2 - rest.len()) as u64).reading(what));
    }
    if p == digits_start {
        return Err(Error::corrupt(
            p as u64,
            format!("expected a digit, got {}", show_byte(rest[0])),
        )
        .reading(what));
    }
    if !rest.starts_with(b"\r\n") {
        return Err(Error::corrupt(
            p as u64,
            format!("expected \\r\\n, got {}", show_byte(rest[0])),
        )
        .reading(what));
    }
    *pos = p + 2;
    Ok(if neg { -value } else { value })
}
