//! `rdbkit verify`: its flags and the per-file report printing.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::exit;
use crate::verify::{self, load, sidecar, Report, Status};

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
    /// Prove each file restores: load it into a throwaway server (unix socket in a temp
    /// dir, persistence off, removed afterwards) and compare its keyspace with the file's.
    #[arg(long)]
    pub load: bool,
    /// The redis-server / valkey-server for --load (default: redis-server, then
    /// valkey-server, on PATH).
    #[arg(long, value_name = "BINARY", requires = "load")]
    pub server: Option<PathBuf>,
    /// Longest wait for the server to load one file, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 600, requires = "load")]
    pub load_timeout: u64,
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

/// `--load`, one file at a time (each starts a server).
fn load_all(reports: &mut [Report], args: &VerifyArgs) {
    if !args.load {
        return;
    }
    load::install_interrupt_cleanup();
    let opts = load::LoadOptions {
        server: args.server.clone(),
        timeout: std::time::Duration::from_secs(args.load_timeout),
    };
    for (r, path) in reports.iter_mut().zip(&args.paths) {
        r.load = Some(load::load(path, r, &opts));
    }
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
    if let Some(l) = &r.load {
        code = code.max(if l.verdict == "error" {
            exit::ERROR
        } else if l.ok {
            exit::OK
        } else {
            exit::NOT_OK
        });
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
    if let Some(l) = &r.load {
        let server = l.server_version.as_deref().unwrap_or(&l.server);
        match l.verdict {
            "loads" => {
                let dbs: Vec<String> = l.dbs.iter().map(|(d, k)| format!("db{d}={k}")).collect();
                writeln!(
                    out,
                    "  loads into {server} in {} ms: [{}]{}",
                    l.millis,
                    dbs.join(" "),
                    l.digest
                        .as_deref()
                        .map(|d| format!(", DEBUG DIGEST {d}"))
                        .unwrap_or_default()
                )?;
            }
            v => {
                let what = match v {
                    "version_mismatch" => "VERSION MISMATCH",
                    "keyspace_differs" => "LOADS, KEYSPACE DIFFERS",
                    "does_not_load" => "DOES NOT LOAD",
                    _ => "LOAD CHECK FAILED",
                };
                let msg = l.message.as_deref().unwrap_or("");
                writeln!(out, "  {what} into {server}: {msg}")?;
                eprintln!("rdbkit: {}: {what} into {server}: {msg}", r.path);
                for d in &l.differences {
                    writeln!(out, "    {d}")?;
                    eprintln!("rdbkit: {}: {d}", r.path);
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
    let mut reports: Vec<Report> =
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
    load_all(&mut reports, args);
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
