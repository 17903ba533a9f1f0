//! `rdbkit verify`: its flags and the per-file report printing.

use std::io::Write;
use std::path::PathBuf;

use super::exit;
use crate::verify::{self, Status};

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// Files to verify; `-` reads standard input (streamed, no temp file).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// One JSON object per file per line (schema in the README).
    #[arg(long)]
    pub json: bool,
    /// Read files into memory instead of memory-mapping them.
    #[arg(long)]
    pub no_mmap: bool,
    /// Also print every warning (empty keys, trailing bytes...) under the verdict line.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

fn verify_one(path: &std::path::Path, opts: &verify::Options) -> verify::Report {
    match super::progress_bar(path) {
        Some(bar) => {
            let r =
                verify::verify_path_with_progress(path, opts, &|done, _| bar.set_position(done));
            bar.finish_and_clear();
            r
        }
        None => verify::verify_path(path, opts),
    }
}

pub fn run_verify(args: &VerifyArgs) -> std::io::Result<u8> {
    use rayon::prelude::*;
    let opts = verify::Options {
        mmap: !args.no_mmap,
    };
    // Several files (all shards of a cluster) are verified in parallel, reported in
    // the order given.
    let reports: Vec<verify::Report> =
        if args.paths.len() > 1 && !args.paths.iter().any(|p| p.as_os_str() == "-") {
            args.paths
                .par_iter()
                .map(|p| verify::verify_path(p, &opts))
                .collect()
        } else {
            args.paths.iter().map(|p| verify_one(p, &opts)).collect()
        };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut worst = exit::OK;
    for report in &reports {
        if args.json {
            serde_json::to_writer(&mut out, report).map_err(std::io::Error::other)?;
            writeln!(out)?;
        } else {
            writeln!(out, "{}", report.human_line())?;
            if let Some(line) = report.error_line() {
                eprintln!("{line}");
            }
            if args.verbose {
                for w in &report.warnings {
                    writeln!(out, "  warning: {w}")?;
                }
            }
        }
        out.flush()?;
        let code = match report.status {
            Status::Ok => exit::OK,
            Status::Unreadable => exit::ERROR,
            _ => exit::NOT_OK,
        };
        worst = worst.max(code);
    }
    Ok(worst)
}
