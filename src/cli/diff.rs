//! `rdbkit diff`: compares the datasets of two inputs, each an RDB or an AOF (replayed
//! offline).

use std::io::Write;
use std::path::PathBuf;

use super::exit;
use crate::aof::input::Input;
use crate::error::display_key;
use crate::forensics::diff::{self, Difference, Entry};

#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// An RDB, an AOF file, or an appendonlydir / its manifest.
    #[arg(value_name = "A")]
    pub a: PathBuf,
    /// Same as A.
    #[arg(value_name = "B")]
    pub b: PathBuf,
    /// text: differences and a per-db summary; jsonl: one JSON object per difference,
    /// then one summary object.
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "jsonl"])]
    pub format: String,
    /// Inputs bigger than this together (bytes) are compared through partition files
    /// on disk, so memory stays bounded by one partition.
    #[arg(long, value_name = "BYTES", default_value_t = 512 << 20)]
    pub partition_bytes: u64,
    /// Where partition files go (default: the system temp directory).
    #[arg(long, value_name = "DIR")]
    pub tmp_dir: Option<PathBuf>,
}

fn entry_json(e: &Option<Entry>) -> serde_json::Value {
    match e {
        None => serde_json::Value::Null,
        Some(Entry { unknown: true, .. }) => serde_json::json!({ "unknown": true }),
        Some(e) => {
            let mut v = serde_json::json!({
                "type": e.kind.name(),
                "elements": e.elements,
                "digest": format!("{:016x}", e.digest),
                "expire_ms": e.expire_ms,
            });
            if e.stream_version > 0 {
                v["stream_version"] = e.stream_version.into();
            }
            v
        }
    }
}

fn text_line(d: &Difference) -> String {
    let key = display_key(&d.key);
    let what = match d.change {
        diff::Change::OnlyInA => "only in A".to_string(),
        diff::Change::OnlyInB => "only in B".to_string(),
        diff::Change::Type => format!(
            "type {} -> {}",
            d.a.as_ref().map_or("?", |e| e.kind.name()),
            d.b.as_ref().map_or("?", |e| e.kind.name())
        ),
        diff::Change::Value => format!(
            "value changed ({} -> {} elements)",
            d.a.as_ref().map_or(0, |e| e.elements),
            d.b.as_ref().map_or(0, |e| e.elements)
        ),
        diff::Change::StreamMetadata => {
            format!("stream metadata changed: {}", d.detail.join("; "))
        }
        diff::Change::Ttl => format!(
            "expiry {} -> {}",
            d.a.as_ref()
                .and_then(|e| e.expire_ms)
                .map_or("none".into(), |t| t.to_string()),
            d.b.as_ref()
                .and_then(|e| e.expire_ms)
                .map_or("none".into(), |t| t.to_string())
        ),
        diff::Change::Unknown => d.detail.join(", "),
    };
    format!("db {} \"{key}\": {what}", d.db)
}

pub fn run_diff(a: &DiffArgs) -> std::io::Result<u8> {
    let open = |p: &PathBuf| match Input::open(p) {
        Ok(s) => Ok(s),
        Err(e) => {
            eprintln!("rdbkit: {e}");
            Err(())
        }
    };
    let (Ok(sa), Ok(sb)) = (open(&a.a), open(&a.b)) else {
        return Ok(exit::ERROR);
    };
    let tmp = a.tmp_dir.clone().unwrap_or_else(std::env::temp_dir);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let jsonl = a.format == "jsonl";
    let result = diff::diff(&sa, &sb, a.partition_bytes, &tmp, &mut |d| {
        if jsonl {
            let mut v = serde_json::json!({
                "db": d.db,
                "key": String::from_utf8_lossy(&d.key),
                "change": d.change,
                "a": entry_json(&d.a),
                "b": entry_json(&d.b),
            });
            if !d.detail.is_empty() {
                v["detail"] = d.detail.clone().into();
            }
            writeln!(out, "{v}")
        } else {
            writeln!(out, "{}", text_line(d))
        }
    });
    let summary = match result {
        Ok(s) => s,
        Err((_, diff::DiffError::Read(e))) => {
            eprintln!("rdbkit: {e}");
            return Ok(exit::ERROR);
        }
        Err((_, diff::DiffError::Io(e))) => return Err(e),
    };
    if jsonl {
        let v = serde_json::json!({
            "summary": summary,
            "identical": summary.identical(),
            "unknown_keys": summary.unknown(),
        });
        writeln!(out, "{v}")?;
    } else {
        for (db, s) in &summary.dbs {
            writeln!(
                out,
                "db {db}: A {} keys, B {} keys: {} same, {} only in A, {} only in B, {} type changed, {} value changed, {} stream metadata changed, {} expiry changed, {} unknown",
                s.keys_a, s.keys_b, s.same, s.only_in_a, s.only_in_b, s.type_changed, s.value_changed, s.stream_metadata_changed, s.ttl_changed, s.unknown
            )?;
        }
        writeln!(
            out,
            "{}",
            if summary.differ() {
                "datasets differ".to_string()
            } else if summary.unknown() > 0 {
                format!(
                    "no difference found, but {} keys are unknown after the replay: not proven identical",
                    summary.unknown()
                )
            } else {
                "identical datasets".to_string()
            }
        )?;
    }
    Ok(if summary.differ() {
        exit::NOT_OK
    } else if summary.unknown() > 0 {
        exit::ERROR
    } else {
        exit::OK
    })
}
