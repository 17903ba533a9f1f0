//! `rdbkit stats`: key, type, memory and prefix statistics of one or more RDB files.

use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::exit;
use super::filter_args::FilterArgs;
use crate::analyze::report::{self, FileReport};
use crate::analyze::scan::{self, FileInfo, Status};
use crate::analyze::stats::{KeyFacts, Settings, Stats};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    /// RDB files (e.g. every shard of a cluster: scanned in parallel, reported per file
    /// and aggregated); `-` reads one from standard input.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output: an aligned text report, one JSON document (schema in the README), or
    /// CSV rows per (file, db, type, encoding).
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Also write a self-contained HTML report (charts, top keys) to this file.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Keys listed in the top-by-memory and top-by-elements tables.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub top: usize,
    /// Separator between the segments of key names, for prefix statistics.
    #[arg(long, value_name = "SEP", default_value = ":")]
    pub separator: String,
    /// Prefix levels counted (user:42:name counts under `user` and `user:42` at 2).
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub prefix_depth: usize,
    /// Distinct prefixes tracked exactly; beyond that the counts become bounded
    /// approximations (Space-Saving), and the report says so.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub prefix_capacity: usize,
    /// Warn about collections with more elements than this.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub big_elements: u64,
    /// Warn about strings longer than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    pub big_string_bytes: u64,
    /// Read files into memory instead of memory-mapping them.
    #[arg(long)]
    pub no_mmap: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// One file's statistics and report.
struct Scanned {
    stats: Stats,
    report: FileReport,
    code: u8,
}

fn wall_clock_ms() -> Option<i64> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_millis() as i64)
}

fn scan_file(path: &Path, a: &StatsArgs, settings: &Settings, workers: usize) -> Scanned {
    let shown = path.display().to_string();
    let reference = |info: &FileInfo| {
        a.filter
            .now
            .map(|s| s * 1000)
            .or(info.ctime.map(|s| s.saturating_mul(1000)))
            .or_else(wall_clock_ms)
    };
    let unreadable = |e: std::io::Error| {
        let stats = Stats::new(settings, None);
        let text = format!("rdbkit: {shown}: {e}");
        let report = FileReport::new(
            &shown,
            0,
            &FileInfo::default(),
            Some((text, 0, Status::Unreadable)),
            &stats,
        );
        Scanned {
            stats,
            report,
            code: exit::ERROR,
        }
    };
    let filter_for = |ctime| a.filter.to_filter(ctime);
    let new_sink = |info: &FileInfo| Stats::new(settings, reference(info));
    let add = |s: &mut Stats, key: &[u8], f: &KeyFacts| {
        s.add(key, f);
        Ok(())
    };
    let (out, bytes) = if path.as_os_str() == "-" {
        match scan::scan_stream(std::io::stdin().lock(), &filter_for, &new_sink, &add) {
            Ok(r) => r,
            Err(e) => return unreadable(e),
        }
    } else {
        let src = match crate::source::Source::open(path, !a.no_mmap) {
            Ok(s) => s,
            Err(e) => return unreadable(e),
        };
        let data = src.bytes();
        let out = scan::scan(data, workers, &filter_for, &new_sink, &add);
        (out, data.len() as u64)
    };
    let mut sinks = out.sinks.into_iter();
    let mut stats = sinks
        .next()
        .unwrap_or_else(|| Stats::new(settings, reference(&out.info)));
    for s in sinks {
        stats.merge(s);
    }
    let error = out
        .error
        .as_ref()
        .map(|e| (format!("rdbkit: {shown}: {e}"), e.offset(), Status::of(e)));
    let code = if error.is_some() {
        exit::NOT_OK
    } else {
        exit::OK
    };
    let report = FileReport::new(&shown, bytes, &out.info, error, &stats);
    Scanned {
        stats,
        report,
        code,
    }
}

pub fn run(a: &StatsArgs) -> std::io::Result<u8> {
    let settings = Settings {
        top: a.top,
        separator: a.separator.as_bytes().to_vec(),
        prefix_depth: a.prefix_depth,
        prefix_capacity: a.prefix_capacity,
        big_elements: a.big_elements,
        big_string_bytes: a.big_string_bytes,
        ..Settings::default()
    };
    // One file: the reader thread (which also takes batches when the workers are
    // busy) and a worker per other core. Several files: files in parallel, one
    // worker each.
    let scanned: Vec<Scanned> = if a.paths.len() == 1 {
        let workers = rayon::current_num_threads().saturating_sub(1);
        vec![scan_file(&a.paths[0], a, &settings, workers)]
    } else {
        a.paths
            .par_iter()
            .map(|p| scan_file(p, a, &settings, 1))
            .collect()
    };
    let code = scanned.iter().map(|s| s.code).max().unwrap_or(exit::OK);
    let aggregate = (scanned.len() > 1).then(|| {
        let mut all = Stats::new(&settings, None);
        let mut info = FileInfo::default();
        let mut bytes = 0;
        for s in &scanned {
            all.merge(s.stats.clone());
            bytes += s.report.bytes;
            info.header = info.header.or(None);
        }
        FileReport::new("all files", bytes, &info, None, &all)
    });
    let files: Vec<&FileReport> = scanned.iter().map(|s| &s.report).collect();
    for f in &files {
        if let Some(e) = &f.error {
            eprintln!("{e}");
        }
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match a.format {
        Format::Json => {
            #[derive(serde::Serialize)]
            struct Doc<'r> {
                files: &'r [&'r FileReport],
                aggregate: Option<&'r FileReport>,
            }
            let doc = Doc {
                files: &files,
                aggregate: aggregate.as_ref(),
            };
            serde_json::to_writer_pretty(&mut out, &doc).map_err(std::io::Error::other)?;
            writeln!(out)?;
        }
        Format::Csv => {
            writeln!(out, "{}", report::CSV_HEADER)?;
            for f in &files {
                report::write_csv(&mut out, f)?;
            }
        }
        Format::Table => {
            for (i, f) in files.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                report::write_table(&mut out, f)?;
            }
            if let Some(agg) = &aggregate {
                writeln!(out, "\n==== aggregate of {} files ====", files.len())?;
                report::write_table(&mut out, agg)?;
            }
        }
    }
    out.flush()?;
    if let Some(html_path) = &a.html {
        let main = aggregate.as_ref().unwrap_or(files[0]);
        let page = crate::analyze::html::render(main, &files);
        std::fs::write(html_path, page)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", html_path.display())))?;
    }
    Ok(code)
}
