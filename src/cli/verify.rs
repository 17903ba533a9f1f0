//! `rdbkit verify`: its flags and the per-file report printing.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::exit;
use crate::verify::{self, sidecar, Report, Status};

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
    /// Write `PATH.rdbkit.json` next to each file that verifies ok: SHA-256, size, counts,
    /// producer (schema in the README). Never replaces an existing one without --force.
    #[arg(long, conflicts_with = "check_sidecar")]
    pub sidecar: bool,
    /// Re-check each file against its `PATH.rdbkit.json`: a changed hash, size or count,
    /// or a missing sidecar, fails even when the file on its own still looks valid.
    #[arg(long)]
    pub check_sidecar: bool,
    /// Replace existing sidecars (with --sidecar).
    #[arg(long, requires = "sidecar")]
    pub force: bool,
}

fn verify_one(path: &Path, opts: &verify::Options) -> Report {
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

/// Verifies one path and does what the flags ask on top (sidecar write or check).
fn check_one(path: &Path, args: &VerifyArgs, opts: &verify::Options, bar: bool) -> Report {
    let verify = || {
        if bar {
            verify_one(path, opts)
        } else {
            verify::verify_path(path, opts)
        }
    };
    if !(args.sidecar || args.check_sidecar) || path.as_os_str() == "-" {
        let mut r = verify();
        if args.sidecar || args.check_sidecar {
            r.sidecar = Some(sidecar::SidecarOutcome {
                action: "not_written",
                path: String::new(),
                ok: false,
                problems: vec!["standard input has no sidecar".into()],
                io_error: true,
            });
        }
        return r;
    }
    let (mut r, files) = sidecar::verify_and_hash(path, opts, verify);
    r.sidecar = Some(if args.sidecar {
        sidecar::write_for(path, &r, files, args.force)
    } else {
        sidecar::check_for(path, &r, files)
    });
    r
}

/// The exit status one report calls for.
pub(crate) fn exit_code(r: &Report) -> u8 {
    let mut code = match r.status {
        Status::Ok => exit::OK,
        Status::Unreadable => exit::ERROR,
        _ => exit::NOT_OK,
    };
    if let Some(s) = &r.sidecar {
        if s.io_error {
            code = code.max(exit::ERROR);
        } else if !s.ok {
            code = code.max(exit::NOT_OK);
        }
    }
    code
}

/// The report as text: the verdict line, then what the extra checks found.
fn print_human(out: &mut impl Write, r: &Report, verbose: bool) -> std::io::Result<()> {
    writeln!(out, "{}", r.human_line())?;
    if let Some(line) = r.error_line() {
        eprintln!("{line}");
    }
    if verbose {
        for w in &r.warnings {
            writeln!(out, "  warning: {w}")?;
        }
    }
    if let Some(s) = &r.sidecar {
        match (s.action, s.ok) {
            ("written", _) => writeln!(out, "  sidecar written: {}", s.path)?,
            ("checked", true) => writeln!(out, "  sidecar ok: matches {}", s.path)?,
            _ => {
                let what = if s.action == "checked" {
                    "SIDECAR MISMATCH"
                } else {
                    "sidecar"
                };
                writeln!(out, "  {what}: {}", s.path)?;
                for p in &s.problems {
                    writeln!(out, "    {p}")?;
                    eprintln!("rdbkit: {}: sidecar: {p}", r.path);
                }
            }
        }
    }
    Ok(())
}

pub fn run_verify(args: &VerifyArgs) -> std::io::Result<u8> {
    use rayon::prelude::*;
    let opts = verify::Options {
        mmap: !args.no_mmap,
    };
    // Several files (all shards of a cluster) are verified in parallel, reported in
    // the order given.
    let reports: Vec<Report> =
        if args.paths.len() > 1 && !args.paths.iter().any(|p| p.as_os_str() == "-") {
            args.paths
                .par_iter()
                .map(|p| check_one(p, args, &opts, false))
                .collect()
        } else {
            args.paths
                .iter()
                .map(|p| check_one(p, args, &opts, true))
                .collect()
        };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut worst = exit::OK;
    for report in &reports {
        if args.json {
            serde_json::to_writer(&mut out, report).map_err(std::io::Error::other)?;
            writeln!(out)?;
        } else {
            print_human(&mut out, report, args.verbose)?;
        }
        out.flush()?;
        worst = worst.max(exit_code(report));
    }
    Ok(worst)
}
