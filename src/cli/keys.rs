//! `rdbkit keys`: one row per key with its size facts (successor of rdb-tools' memory
//! CSV), filtered with the shared key filters.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use super::exit;
use super::filter_args::FilterArgs;
use crate::analyze::keyfmt::JsonKey;
use crate::analyze::scan;
use crate::analyze::stats::KeyFacts;
use crate::csv;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

#[derive(clap::Args, Debug)]
pub struct KeysArgs {
    /// The RDB file (`-`: standard input).
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// CSV with a header row (keys as raw bytes, quoted as needed) or one JSON object
    /// per line (keys as UTF-8 strings, else {"base64": ...}).
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
    /// Only keys whose estimated memory is at least this many bytes.
    #[arg(long, value_name = "BYTES")]
    pub min_memory: Option<u64>,
    /// Read the file into memory instead of memory-mapping it.
    #[arg(long)]
    pub no_mmap: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
}

pub const CSV_HEADER: &str =
    "db,key,type,encoding,expire_at_ms,elements,serialized_bytes,memory,idle_seconds,lfu_freq";

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn write_row(
    out: &mut impl Write,
    format: Format,
    key: &[u8],
    f: &KeyFacts,
) -> std::io::Result<()> {
    match format {
        Format::Csv => {
            write!(out, "{},", f.db)?;
            csv::write_field(out, key)?;
            writeln!(
                out,
                ",{},{},{},{},{},{},{},{}",
                f.kind.name(),
                f.encoding,
                opt(f.expire_at_ms),
                f.elements,
                f.serialized_bytes,
                f.memory,
                opt(f.idle_seconds),
                opt(f.lfu_freq)
            )
        }
        Format::Jsonl => {
            #[derive(serde::Serialize)]
            struct Row<'k> {
                db: u64,
                key: JsonKey<'k>,
                #[serde(rename = "type")]
                kind: &'static str,
                encoding: &'static str,
                expire_at_ms: Option<i64>,
                elements: u64,
                serialized_bytes: u64,
                memory: u64,
                idle_seconds: Option<u64>,
                lfu_freq: Option<u8>,
            }
            let row = Row {
                db: f.db,
                key: JsonKey(key),
                kind: f.kind.name(),
                encoding: f.encoding,
                expire_at_ms: f.expire_at_ms,
                elements: f.elements,
                serialized_bytes: f.serialized_bytes,
                memory: f.memory,
                idle_seconds: f.idle_seconds,
                lfu_freq: f.lfu_freq,
            };
            serde_json::to_writer(&mut *out, &row).map_err(std::io::Error::other)?;
            out.write_all(b"\n")
        }
    }
}

pub fn run(a: &KeysArgs) -> std::io::Result<u8> {
    let shown = a.path.display().to_string();
    let stdin = a.path.as_os_str() == "-";
    let src = match stdin {
        true => None,
        false => match crate::source::Source::open(&a.path, !a.no_mmap) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("rdbkit: {shown}: {e}");
                return Ok(exit::ERROR);
            }
        },
    };
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout());
    if a.format == Format::Csv {
        writeln!(out, "{CSV_HEADER}")?;
    }
    let failed = std::sync::Mutex::new(None::<std::io::Error>);
    let outcome = {
        let out = std::sync::Mutex::new(&mut out);
        let filter_for = |ctime| a.filter.to_filter(ctime);
        let add = |_: &mut (), key: &[u8], f: &KeyFacts| {
            if a.min_memory.is_some_and(|m| f.memory < m) {
                return Ok(());
            }
            let mut o = out.lock().unwrap_or_else(|p| p.into_inner());
            write_row(&mut **o, a.format, key, f).inspect_err(|e| {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    *failed.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(std::io::Error::new(e.kind(), e.to_string()));
                }
            })
        };
        // Inline (no worker threads): rows come out in file order.
        match &src {
            Some(src) => scan::scan(src.bytes(), 0, &filter_for, &|_| (), &add),
            None => match scan::scan_stream(std::io::stdin().lock(), &filter_for, &|_| (), &add) {
                Ok((outcome, _)) => outcome,
                Err(e) => {
                    eprintln!("rdbkit: {shown}: {e}");
                    return Ok(exit::ERROR);
                }
            },
        }
    };
    out.flush()?;
    if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    if let Some(e) = outcome.error {
        eprintln!("rdbkit: {shown}: {e}");
        return Ok(exit::NOT_OK);
    }
    Ok(exit::OK)
}
