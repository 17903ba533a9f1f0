//! `rdbkit export`: an RDB or AOF as JSON lines, a JSON array, RESP commands or CSV.

use std::path::PathBuf;

use super::exit;
use super::filter_args::FilterArgs;
use crate::export::bytes::BytesMode;
use crate::export::output::Output;
use crate::export::resp::{RespOptions, Target};
use crate::export::run::{self, Format, Options, Summary};
use crate::export::ExportError;
use crate::filter::DbMap;
use crate::source::Source;

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// An RDB file, an AOF file, an appendonlydir or its manifest.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// jsonl: one JSON object per key; json: one array; resp: commands that rebuild the
    /// dataset (for `redis-cli --pipe`, or as an AOF); csv: one row per element
    /// (db,key,type,expire_at_ms,index,field,value,field_expire_at_ms).
    #[arg(long, value_name = "FORMAT", value_parser = parse_format, default_value = "jsonl")]
    pub format: Format,
    /// Write here instead of stdout; `.gz` / `.zst` names are compressed.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Byte strings: auto (JSON: UTF-8 as text, else {"base64": ...}; CSV: raw bytes,
    /// quoted when needed), or every one as a base64 / hex string.
    #[arg(long, value_name = "MODE", value_parser = BytesMode::parse, default_value = "auto")]
    pub bytes: BytesMode,
    /// resp: commands for this server (7.4, redis-6.2, valkey-9.1); default: the version
    /// that wrote the file. What the target cannot express is counted on stderr.
    #[arg(long, value_name = "X.Y", value_parser = Target::parse)]
    pub target_version: Option<Target>,
    /// resp: `FUNCTION LOAD REPLACE` (replace libraries of the same name).
    #[arg(long)]
    pub function_replace: bool,
    /// resp: `DEL` each key before rebuilding it.
    #[arg(long)]
    pub del_first: bool,
    /// resp: at most this many elements per variadic command (RPUSH, SADD, ZADD, HSET).
    #[arg(long, value_name = "N", default_value_t = 512)]
    pub max_args: usize,
    /// Leave function libraries out.
    #[arg(long)]
    pub no_functions: bool,
    /// Move keys of db FROM to db TO: `--db-map 0=3,1=4`.
    #[arg(long, value_name = "FROM=TO", value_parser = DbMap::parse)]
    pub db_map: Option<DbMap>,
    /// Rename keys starting with OLD to start with NEW (repeatable; first match wins).
    #[arg(long, value_name = "OLD=NEW", value_parser = parse_rename)]
    pub rename_prefix: Vec<(Vec<u8>, Vec<u8>)>,
    #[command(flatten)]
    pub filter: FilterArgs,
}

fn parse_format(s: &str) -> Result<Format, String> {
    match s {
        "jsonl" => Ok(Format::Jsonl),
        "json" => Ok(Format::Json),
        "resp" => Ok(Format::Resp),
        "csv" => Ok(Format::Csv),
        _ => Err(format!("{s:?}: expected jsonl, json, resp or csv")),
    }
}

fn parse_rename(s: &str) -> Result<(Vec<u8>, Vec<u8>), String> {
    let (old, new) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not OLD=NEW"))?;
    Ok((old.as_bytes().to_vec(), new.as_bytes().to_vec()))
}

/// Runs the export; prints what the target could not express on stderr.
pub fn run_export(a: &ExportArgs) -> std::io::Result<u8> {
    let shown = a.path.display().to_string();
    let multipart = a.path.is_dir() || is_manifest(&a.path);
    let single = if multipart {
        None
    } else {
        match Source::open(&a.path, true) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("rdbkit: {shown}: {e}");
                return Ok(exit::ERROR);
            }
        }
    };
    let ctime = single
        .as_ref()
        .and_then(|s| run::file_info(s.bytes()).ok())
        .and_then(|i| i.ctime_ms);
    let opts = Options {
        format: a.format,
        filter: a.filter.to_filter(ctime),
        db_map: a.db_map.clone().unwrap_or_default(),
        rename_prefixes: a.rename_prefix.clone(),
        bytes: a.bytes,
        resp: RespOptions {
            target: a.target_version,
            max_args: a.max_args,
            function_replace: a.function_replace,
            del_first: a.del_first,
            ..RespOptions::default()
        },
        functions: !a.no_functions,
        threads: 0,
    };
    let mut out = Output::open(a.output.as_deref())?;
    let bar = match (&single, &a.output) {
        (Some(_), Some(_)) => super::progress_bar(&a.path),
        _ => None,
    };
    let result = match &single {
        Some(s) => run::export_bytes(s.bytes(), &opts, &mut out, &mut |done| {
            if let Some(b) = &bar {
                b.set_position(done)
            }
        }),
        None => export_multipart(&a.path, &opts, &mut out),
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    match result {
        Ok(summary) => {
            out.finish()?;
            report_losses(&summary);
            Ok(exit::OK)
        }
        Err(ExportError::Io(e)) => Err(e),
        Err(ExportError::Read(e)) => {
            let _ = out.finish();
            eprintln!("rdbkit: {shown}: {e}");
            Ok(exit::NOT_OK)
        }
    }
}

/// A multi-part AOF's manifest: a small text file whose first lines say `file ...`.
fn is_manifest(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(4096).read_to_end(&mut head))
        .is_ok()
        && crate::aof::verify::looks_like_manifest(&head)
}

fn export_multipart(
    path: &std::path::Path,
    opts: &Options,
    out: &mut Output,
) -> Result<Summary, ExportError> {
    let layout = crate::aof::verify::layout(path)?;
    let text = std::fs::read(&layout.manifest)?;
    let manifest = crate::aof::manifest::Manifest::parse(&text)?;
    let mut parts = manifest
        .loaded()
        .map(|e| Source::open(&layout.dir.join(&e.file), true))
        .collect::<Vec<_>>()
        .into_iter();
    run::export_parts(&mut parts, opts, out)
}

fn report_losses(s: &Summary) {
    if s.functions_left_out > 0 {
        eprintln!(
            "rdbkit: {} function librar{} left out (CSV has no row for them; use jsonl or resp)",
            s.functions_left_out,
            if s.functions_left_out == 1 {
                "y"
            } else {
                "ies"
            }
        );
    }
    let target = s
        .target
        .map(|t| t.to_string())
        .unwrap_or_else(|| "the target".into());
    for (loss, n) in &s.lost {
        eprintln!(
            "rdbkit: {n} key{} or librar{} lost {} on {target}",
            if *n == 1 { "" } else { "s" },
            if *n == 1 { "y" } else { "ies" },
            loss.describe()
        );
    }
}
