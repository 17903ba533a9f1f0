//! `rdbkit inspect`: a forensic view of an RDB's bytes (works on damaged files).

use std::io::Write;
use std::path::PathBuf;

use super::exit;
use crate::forensics::inspect;
use crate::source::Source;

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// The RDB file.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Hex dump around this byte offset, annotated with the structure covering it.
    #[arg(long, value_name = "N", conflicts_with_all = ["key", "records"])]
    pub offset: Option<u64>,
    /// Find this key and show its record the same way.
    #[arg(long, value_name = "NAME", conflicts_with = "records")]
    pub key: Option<String>,
    /// List every record with its byte range (db, key, type, encoding, offset, length).
    #[arg(long)]
    pub records: bool,
    /// With --records: one JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Bytes shown before and after the offset (or the whole record with --key, up to
    /// this much).
    #[arg(long, value_name = "BYTES", default_value_t = 128)]
    pub context: u64,
}

pub fn run_inspect(a: &InspectArgs) -> std::io::Result<u8> {
    let shown = a.path.display().to_string();
    let src = match Source::open(&a.path, true) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rdbkit: {shown}: {e}");
            return Ok(exit::ERROR);
        }
    };
    let data = src.bytes();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut damaged = false;
    if a.records || (a.offset.is_none() && a.key.is_none()) {
        let r = inspect::records(data, |l| {
            damaged |= l.record == "lost";
            if a.json {
                serde_json::to_writer(&mut out, &l).map_err(std::io::Error::other)?;
                writeln!(out)
            } else {
                writeln!(
                    out,
                    "{:>10} {:>8} {:<9} db={} {} {}{}{}",
                    l.offset,
                    l.length,
                    l.record,
                    l.db.map_or("-".into(), |d| d.to_string()),
                    l.kind.unwrap_or(""),
                    l.encoding.unwrap_or(""),
                    l.key
                        .as_deref()
                        .map(|k| format!(" \"{k}\""))
                        .unwrap_or_default(),
                    l.error
                        .as_deref()
                        .map(|e| format!(" {e}"))
                        .unwrap_or_default(),
                )
            }
        });
        return match r {
            Ok(io) => io.map(|_| if damaged { exit::NOT_OK } else { exit::OK }),
            Err(e) => {
                eprintln!("rdbkit: {shown}: {e}");
                Ok(exit::ERROR)
            }
        };
    }
    let offset = match a.offset {
        Some(o) => o,
        None => {
            let name = a.key.as_deref().unwrap_or_default();
            let mut found = None;
            let r = inspect::records(data, |l| {
                if found.is_none() && l.record == "key" && l.key.as_deref() == Some(name) {
                    found = Some(l.offset);
                }
                Ok(())
            });
            if let Err(e) = r {
                eprintln!("rdbkit: {shown}: {e}");
                return Ok(exit::ERROR);
            }
            match found {
                Some(o) => o,
                None => {
                    eprintln!("rdbkit: {shown}: key \"{name}\" not found");
                    return Ok(exit::NOT_OK);
                }
            }
        }
    };
    if offset >= data.len() as u64 {
        eprintln!(
            "rdbkit: {shown}: offset {offset} is past the end ({} bytes)",
            data.len()
        );
        return Ok(exit::ERROR);
    }
    let spans = match inspect::annotate(data, offset) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rdbkit: {shown}: {e}");
            return Ok(exit::ERROR);
        }
    };
    let (from, to) = match (&a.key, spans.first()) {
        (Some(_), Some(s)) => (s.start, s.end.min(s.start + a.context.max(16) * 2)),
        _ => (
            offset.saturating_sub(a.context),
            (offset + a.context).min(data.len() as u64),
        ),
    };
    for s in spans.iter().filter(|s| s.start <= offset && offset < s.end) {
        writeln!(
            out,
            "byte {offset} is in {}..{}: {}",
            s.start, s.end, s.label
        )?;
    }
    inspect::hex_dump(&mut out, data, from, to, offset, &spans)?;
    Ok(
        if spans
            .first()
            .is_some_and(|s| s.label.starts_with("unreadable"))
        {
            exit::NOT_OK
        } else {
            exit::OK
        },
    )
}
