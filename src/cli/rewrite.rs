//! `rdbkit rewrite`: a new RDB with keys selected, for another server version or
//! dialect, or split per cluster node.

use std::path::PathBuf;

use super::exit;
use super::filter_args::FilterArgs;
use crate::export::rewrite::{self, Options, Report, RewriteError};
use crate::export::slots::SlotMap;
use crate::filter::DbMap;
use crate::rdb::header::Dialect;
use crate::rdb::writer::Target;
use crate::source::Source;

#[derive(clap::Args, Debug)]
pub struct RewriteArgs {
    /// The RDB file to read (never modified).
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// The RDB to write; with --split-by-slot, OUT-0.rdb, OUT-1.rdb, ... (one per node,
    /// in the map's order).
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: PathBuf,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
    /// Write for this RDB version: 9 (Redis 5.0-6.2), 10 (7.0), 11 (7.2, Valkey 7.2-8.1),
    /// 12 (7.4-8.4), 13 (8.6). Values the version cannot hold are re-encoded or left
    /// out, and reported. Default: the input's version.
    #[arg(long, value_name = "N")]
    pub rdb_version: Option<u32>,
    /// File magic: redis, or valkey (Valkey 9's VALKEY080). Default: the input's; redis
    /// from a Valkey file means version 11 unless --rdb-version says otherwise.
    #[arg(long, value_name = "MAGIC", value_parser = parse_magic)]
    pub magic: Option<Dialect>,
    /// Write one file per cluster node: MAP is slot ranges (0-5460,5461-10922,10923-16383)
    /// or a file with them or with redis-cli's CLUSTER SHARDS, CLUSTER SLOTS or CLUSTER
    /// NODES output. Every key must end up in db 0 (see --db, --db-map).
    #[arg(long, value_name = "MAP")]
    pub split_by_slot: Option<String>,
    /// Move keys of db FROM to db TO: `--db-map 0=3,1=4`.
    #[arg(long, value_name = "FROM=TO", value_parser = DbMap::parse)]
    pub db_map: Option<DbMap>,
    /// Print the report as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
}

fn parse_magic(s: &str) -> Result<Dialect, String> {
    match s.to_ascii_lowercase().as_str() {
        "redis" => Ok(Dialect::Redis),
        "valkey" => Ok(Dialect::Valkey),
        _ => Err(format!("{s:?}: expected redis or valkey")),
    }
}

/// The target from the flags and the input's header.
fn target(a: &RewriteArgs, version: u32, dialect: Dialect) -> Result<Target, String> {
    let t = match (a.magic, a.rdb_version) {
        (None, None) => rewrite::default_target(version, dialect),
        (Some(Dialect::Valkey), v) | (None, v @ Some(80)) => {
            if v.is_some_and(|v| v != 80) {
                return Err("valkey magic is written with version 80 only".into());
            }
            Target::valkey()
        }
        (Some(Dialect::Redis), None) if dialect == Dialect::Valkey => Target::redis(11),
        (Some(Dialect::Redis), None) => rewrite::default_target(version, dialect),
        (_, Some(v)) => Target::redis(v),
    };
    t.check().map_err(|e| e.to_string())?;
    Ok(t)
}

pub fn run_rewrite(a: &RewriteArgs) -> std::io::Result<u8> {
    let shown = a.path.display().to_string();
    let usage = |m: String| {
        eprintln!("rdbkit: {m}");
        Ok(exit::ERROR)
    };
    let split = match &a.split_by_slot {
        None => None,
        Some(m) => {
            let text = match std::fs::read_to_string(m) {
                Ok(t) => t,
                Err(_) if !std::path::Path::new(m).exists() => m.clone(),
                Err(e) => return usage(format!("{m}: {e}")),
            };
            match SlotMap::parse(&text) {
                Ok(map) => Some(map),
                Err(e) => return usage(format!("--split-by-slot {m}: {e}")),
            }
        }
    };
    let source = match Source::open(&a.path, true) {
        Ok(s) => s,
        Err(e) => return usage(format!("{shown}: {e}")),
    };
    let header = match crate::rdb::Header::parse(source.bytes()) {
        Ok(h) => h,
        Err(e) => return usage(format!("{shown}: {e}")),
    };
    let target = match target(a, header.version, header.dialect) {
        Ok(t) => t,
        Err(e) => return usage(e),
    };
    let outputs = rewrite::output_paths(&a.output, split.as_ref().map(|m| m.nodes.len()));
    let input = a.path.canonicalize().ok();
    for o in &outputs {
        if o.canonicalize()
            .ok()
            .is_some_and(|c| Some(&c) == input.as_ref())
        {
            return usage(format!("{}: is the input", o.display()));
        }
        if o.exists() && !a.force {
            return usage(format!(
                "{}: exists (use --force to replace it)",
                o.display()
            ));
        }
    }
    let ctime = crate::export::run::file_info(source.bytes())
        .ok()
        .and_then(|i| i.ctime_ms);
    let opts = Options {
        filter: a.filter.to_filter(ctime),
        db_map: a.db_map.clone().unwrap_or_default(),
        target: Some(target),
        split,
    };
    match rewrite::rewrite(source.bytes(), &outputs, &opts) {
        Ok(report) => {
            print_report(&report, a.json)?;
            Ok(exit::OK)
        }
        Err(RewriteError::Io(e)) => Err(e),
        Err(RewriteError::Usage(m)) => usage(format!("{shown}: {m}")),
        Err(RewriteError::Read(e)) => {
            eprintln!("rdbkit: {shown}: {e}");
            Ok(exit::NOT_OK)
        }
    }
}

fn print_report(r: &Report, json: bool) -> std::io::Result<()> {
    if json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, r).map_err(std::io::Error::other)?;
        std::io::Write::write_all(&mut out, b"\n")?;
    }
    for o in &r.outputs {
        let node = o
            .node
            .as_deref()
            .map(|n| format!(" (node {n})"))
            .unwrap_or_default();
        eprintln!(
            "rdbkit: wrote {}{node}: {} keys, {} bytes, {}",
            o.path.display(),
            o.keys,
            o.bytes,
            r.target
        );
    }
    if r.keys_filtered > 0 {
        eprintln!("rdbkit: {} keys left out by the filter", r.keys_filtered);
    }
    for (change, n) in &r.changes {
        eprintln!("rdbkit: {n} keys: {change}");
    }
    for k in &r.skipped {
        eprintln!(
            "rdbkit: skipped \"{}\" (db {}, {}): {}",
            k.key,
            k.db,
            k.type_name,
            k.notes.join("; ")
        );
    }
    for (what, n) in &r.dropped {
        eprintln!("rdbkit: {n} dropped: {what}");
    }
    Ok(())
}
