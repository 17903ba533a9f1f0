//! An input as the server loads it: an RDB, a single-file AOF (RESP, or RDB preamble +
//! RESP), or a multi-part `appendonlydir` (BASE then the INCR parts, in manifest order).
//! Its RDB part is read key by key; the RESP commands after it are applied in order, as
//! the server itself replays them when loading (`restore` sends them to a server,
//! `diff` replays them offline with [`crate::aof::replay`]).

use std::path::Path;

use crate::aof::manifest::Manifest;
use crate::aof::verify::{has_rdb_magic, layout, looks_like_manifest};
use crate::rdb::{Checker, RdbReader, Record};
use crate::source::Source;

/// An RDB with no keys: the RDB part of an AOF that has no preamble.
const EMPTY_RDB: &[u8] = b"REDIS0009\xff\0\0\0\0\0\0\0\0";

pub struct Input {
    /// File contents in load order.
    pub parts: Vec<(String, Source)>,
    /// The RDB part: (part index, end offset); `None` when there is none.
    rdb: Option<(usize, usize)>,
    /// RESP command segments to replay after the keys: (part index, start offset).
    pub segments: Vec<(usize, usize)>,
}

/// End of an RDB (after its checksum) at the start of `data`.
fn rdb_end(data: &[u8]) -> crate::Result<usize> {
    let mut r = RdbReader::new(data, Checker::new(false))?;
    while let Some(rec) = r.next_record()? {
        if matches!(rec, Record::Eof) {
            break;
        }
    }
    let t = r.trailer()?;
    Ok(data.len() - t.trailing_bytes as usize)
}

/// Whether the bytes after an RDB part are an AOF's commands: they start like a command
/// or an annotation, or the file is named `*.aof` (then anything else there is an
/// error to report). Other bytes after an RDB's checksum are ignored, as the server's
/// RDB loader ignores them.
fn is_command_tail(path: &Path, tail: &[u8]) -> bool {
    matches!(tail.first(), Some(b'*' | b'#')) || path.extension().is_some_and(|x| x == "aof")
}

/// The first 64 KiB of a file: enough to tell a manifest, never the whole of a big RDB.
fn head(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut b = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(64 << 10)
        .read_to_end(&mut b)
        .ok()?;
    Some(b)
}

impl Input {
    pub fn open(path: &Path) -> Result<Input, String> {
        let shown = |p: &Path, e: &dyn std::fmt::Display| format!("{}: {e}", p.display());
        let open = |p: &Path| Source::open(p, true).map_err(|e| shown(p, &e));
        let mut files: Vec<std::path::PathBuf> = Vec::new();
        let is_manifest = path.is_dir()
            || head(path).is_some_and(|b| !has_rdb_magic(&b) && looks_like_manifest(&b));
        if is_manifest {
            let l = layout(path).map_err(|e| e.to_string())?;
            let text = std::fs::read(&l.manifest).map_err(|e| shown(&l.manifest, &e))?;
            let m = Manifest::parse(&text).map_err(|e| shown(&l.manifest, &e))?;
            files.extend(m.loaded().map(|e| l.dir.join(&e.file)));
            if files.is_empty() {
                return Err(format!(
                    "{}: the manifest lists no parts",
                    l.manifest.display()
                ));
            }
        } else {
            files.push(path.to_path_buf());
        }
        let mut input = Input {
            parts: Vec::new(),
            rdb: None,
            segments: Vec::new(),
        };
        for (i, f) in files.iter().enumerate() {
            let src = open(f)?;
            let data = src.bytes();
            let start = if i == 0 && has_rdb_magic(data) {
                let end = rdb_end(data).map_err(|e| shown(f, &e))?;
                input.rdb = Some((0, end));
                end
            } else {
                0
            };
            if start < data.len() && (start == 0 || is_command_tail(f, &data[start..])) {
                input.segments.push((i, start));
            }
            input.parts.push((f.display().to_string(), src));
        }
        Ok(input)
    }

    /// The RDB part's bytes (an empty RDB when the input has none).
    pub fn rdb(&self) -> &[u8] {
        match self.rdb {
            Some((p, end)) => &self.parts[p].1.bytes()[..end],
            None => EMPTY_RDB,
        }
    }

    /// Whether the input is a plain RDB (checkpoints need stable record offsets).
    pub fn is_plain_rdb(&self) -> bool {
        self.parts.len() == 1 && self.segments.is_empty() && self.rdb.is_some()
    }
}
