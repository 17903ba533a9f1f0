//! The multi-part AOF manifest (Redis 7+): one `file <name> seq <n> type <b|h|i>` record
//! per line, parsed with the server's own rules (`aofLoadManifestFromFile`) so that a
//! manifest this accepts is one the server accepts, and each refusal carries the
//! server's message and the byte offset of the offending line.

use crate::error::{Error, Result};

/// Lines are read into a 1024-byte buffer by the server; a longer one is refused.
pub const MAX_LINE: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartType {
    Base,
    Incr,
    History,
}

impl PartType {
    pub fn as_str(self) -> &'static str {
        match self {
            PartType::Base => "base",
            PartType::Incr => "incr",
            PartType::History => "history",
        }
    }
    /// The one-letter code the manifest stores.
    pub fn code(self) -> char {
        match self {
            PartType::Base => 'b',
            PartType::Incr => 'i',
            PartType::History => 'h',
        }
    }
}

/// One record of the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub file: String,
    pub seq: i64,
    pub kind: PartType,
    /// Offset of the record's line in the manifest.
    pub offset: u64,
    /// The newer (Redis 8.2+) replication offsets, kept for reporting.
    pub start_offset: Option<i64>,
    pub end_offset: Option<i64>,
}

/// A parsed manifest, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub entries: Vec<Entry>,
}

impl Manifest {
    pub fn base(&self) -> Option<&Entry> {
        self.entries.iter().find(|e| e.kind == PartType::Base)
    }
    /// What the server loads, in order: the BASE, then every INCR.
    pub fn loaded(&self) -> impl Iterator<Item = &Entry> {
        self.base()
            .into_iter()
            .chain(self.entries.iter().filter(|e| e.kind == PartType::Incr))
    }

    /// Parses manifest text. Comment lines (`#`) are skipped, unknown keys ignored.
    pub fn parse(text: &[u8]) -> Result<Manifest> {
        let mut m = Manifest::default();
        let mut lines = 0;
        let mut max_incr_seq = 0;
        let mut pos = 0;
        while pos < text.len() {
            let at = pos as u64;
            // The server reads with fgets(buf, 1025): at most 1024 bytes per line.
            let window = &text[pos..text.len().min(pos + MAX_LINE)];
            let nl = window.iter().position(|&b| b == b'\n');
            let line = nl.map_or(window, |n| &window[..=n]);
            pos += line.len();
            lines += 1;
            if line.first() == Some(&b'#') {
                continue;
            }
            if nl.is_none() {
                return Err(Error::corrupt(
                    at,
                    "The AOF manifest file contains too long line (or its last line has no newline)",
                ));
            }
            let trimmed = trim(line);
            if trimmed.is_empty() {
                return Err(Error::corrupt(
                    at,
                    "Invalid AOF manifest file format (blank line)",
                ));
            }
            let args = split_args(trimmed).ok_or_else(|| {
                Error::corrupt(at, "Invalid AOF manifest file format (unbalanced quotes)")
            })?;
            if args.len() < 6 || args.len() % 2 != 0 {
                return Err(Error::corrupt(
                    at,
                    format!(
                        "Invalid AOF manifest file format ({} tokens, need an even number >= 6)",
                        args.len()
                    ),
                ));
            }
            let entry = entry(&args, at)?;
            match entry.kind {
                PartType::Base if m.base().is_some() => {
                    return Err(Error::corrupt(at, "Found duplicate base file information"))
                }
                PartType::Incr if entry.seq <= max_incr_seq => {
                    return Err(Error::corrupt(
                        at,
                        format!(
                            "Found a non-monotonic sequence number ({} after {max_incr_seq})",
                            entry.seq
                        ),
                    ))
                }
                PartType::Incr => max_incr_seq = entry.seq,
                _ => {}
            }
            m.entries.push(entry);
        }
        if lines == 0 {
            return Err(Error::corrupt(0, "Found an empty AOF manifest"));
        }
        Ok(m)
    }

    /// The manifest text the server would write for these entries (BASE, HISTORY, INCR).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let order = [PartType::Base, PartType::History, PartType::Incr];
        for kind in order {
            for e in self.entries.iter().filter(|e| e.kind == kind) {
                out += &format!(
                    "file {} seq {} type {}\n",
                    quote(&e.file),
                    e.seq,
                    e.kind.code()
                );
            }
        }
        out
    }
}

fn entry(args: &[Vec<u8>], at: u64) -> Result<Entry> {
    let mut file = None;
    let mut seq = 0;
    let mut kind = None;
    let mut start_offset = None;
    let mut end_offset = None;
    for kv in args.chunks(2) {
        let (k, v) = (&kv[0], &kv[1]);
        let num = || atoll(v);
        if k.eq_ignore_ascii_case(b"file") {
            if v.contains(&b'/') || v.is_empty() {
                return Err(Error::corrupt(at, "File can't be a path, just a filename"));
            }
            file = Some(String::from_utf8_lossy(v).into_owned());
        } else if k.eq_ignore_ascii_case(b"seq") {
            seq = num();
        } else if k.eq_ignore_ascii_case(b"type") {
            kind = Some(match v.first() {
                Some(b'b') => PartType::Base,
                Some(b'i') => PartType::Incr,
                Some(b'h') => PartType::History,
                _ => {
                    return Err(Error::corrupt(
                        at,
                        format!("Unknown AOF file type {:?}", String::from_utf8_lossy(v)),
                    ))
                }
            });
        } else if k.eq_ignore_ascii_case(b"startoffset") {
            start_offset = Some(num());
        } else if k.eq_ignore_ascii_case(b"endoffset") {
            end_offset = Some(num());
        }
    }
    match (file, kind) {
        (Some(file), Some(kind)) if seq != 0 => Ok(Entry {
            file,
            seq,
            kind,
            offset: at,
            start_offset,
            end_offset,
        }),
        _ => Err(Error::corrupt(
            at,
            "Invalid AOF manifest file format (file, seq and type are required, seq not 0)",
        )),
    }
}

/// C `atoll`: leading blanks, a sign, digits; stops at the first other byte.
fn atoll(v: &[u8]) -> i64 {
    let s = trim(v);
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for &b in digits.iter().take_while(|b| b.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg {
        -n
    } else {
        n
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = s.iter().position(|b| !blank(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !blank(b)).map_or(start, |e| e + 1);
    &s[start..end]
}

/// Splits like Redis' `sdssplitargs`: blanks separate tokens; `"..."` with C escapes
/// (`\n \r \t \b \a \xHH`, other `\c` = `c`) and `'...'` (only `\'`) quote them; a closing
/// quote must be followed by a blank or the end. `None` for unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    // The server splits a C string: a NUL byte ends the line.
    let line = &line[..line.iter().position(|&b| b == 0).unwrap_or(line.len())];
    let mut out = Vec::new();
    let mut p = 0;
    let is_space = |b: u8| matches!(b, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c);
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Some(out);
        }
        let mut cur = Vec::new();
        let mut inq = false;
        let mut insq = false;
        loop {
            let c = line.get(p).copied();
            if inq {
                let c = c?;
                let hex = |b: u8| (b as char).to_digit(16);
                if c == b'\\' && line.get(p + 1) == Some(&b'x') {
                    if let (Some(h), Some(l)) = (
                        line.get(p + 2).and_then(|&b| hex(b)),
                        line.get(p + 3).and_then(|&b| hex(b)),
                    ) {
                        cur.push((h * 16 + l) as u8);
                        p += 4;
                        continue;
                    }
                }
                if c == b'\\' && p + 1 < line.len() {
                    p += 1;
                    cur.push(match line[p] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        o => o,
                    });
                } else if c == b'"' {
                    if line.get(p + 1).is_some_and(|&b| !is_space(b)) {
                        return None;
                    }
                    p += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else if insq {
                let c = c?;
                if c == b'\\' && line.get(p + 1) == Some(&b'\'') {
                    p += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if line.get(p + 1).is_some_and(|&b| !is_space(b)) {
                        return None;
                    }
                    p += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else {
                match c {
                    None | Some(b' ' | b'\n' | b'\r' | b'\t') => break,
                    Some(b'"') => inq = true,
                    Some(b'\'') => insq = true,
                    Some(o) => cur.push(o),
                }
            }
            p += 1;
        }
        out.push(cur);
    }
}

/// Quotes a file name the way the server's `sdscatrepr` does when it needs it.
fn quote(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\' && b != b'\'');
    if plain {
        return name.to_string();
    }
    let mut s = String::from("\"");
    for b in name.bytes() {
        match b {
            b'\\' => s += "\\\\",
            b'"' => s += "\\\"",
            b'\n' => s += "\\n",
            b'\r' => s += "\\r",
            b'\t' => s += "\\t",
            0x07 => s += "\\a",
            0x08 => s += "\\b",
            0x20..=0x7e => s.push(b as char),
            _ => s += &format!("\\x{b:02x}"),
        }
    }
    s + "\""
}
