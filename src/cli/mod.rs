//! Command-line front end: argument definitions (each flag once, with its help),
//! one function per subcommand, and the exit-status policy. The only place that
//! prints or decides exit codes.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::verify::{self, Status};

/// Exit statuses, documented in `--help` and the README.
pub mod exit {
    /// Every file is ok.
    pub const OK: u8 = 0;
    /// At least one file is truncated, corrupt, unsupported or has a bad checksum.
    pub const NOT_OK: u8 = 1;
    /// Usage error, or a file could not be read at all.
    pub const ERROR: u8 = 2;
}

#[derive(Parser, Debug)]
#[command(
    name = "rdbkit",
    version,
    about = "Reads Redis and Valkey persistence files (RDB) offline."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Prove that RDB files are whole: header, every record and inner encoding, CRC-64.
    ///
    /// Prints one line per file (or one JSON object per line with --json).
    /// Exit status: 0 when every file is ok, 1 when any file is truncated, corrupt,
    /// unsupported or fails its checksum, 2 for usage errors and unreadable files.
    Verify(VerifyArgs),
}

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

/// A progress bar on stderr for big files, only when stderr is a terminal.
fn progress_bar(path: &std::path::Path) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    let size = std::fs::metadata(path).ok()?.len();
    if !std::io::stderr().is_terminal() || size < 64 << 20 {
        return None;
    }
    let bar = indicatif::ProgressBar::new(size);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .ok()?
        .progress_chars("=> "),
    );
    bar.set_message(path.display().to_string());
    Some(bar)
}

fn verify_one(path: &std::path::Path, opts: &verify::Options) -> verify::Report {
    match progress_bar(path) {
        Some(bar) => {
            let r =
                verify::verify_path_with_progress(path, opts, &|done, _| bar.set_position(done));
            bar.finish_and_clear();
            r
        }
        None => verify::verify_path(path, opts),
    }
}

fn run_verify(args: &VerifyArgs) -> std::io::Result<u8> {
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

/// Runs the command line and returns the process exit status.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::ERROR
            } else {
                exit::OK
            });
        }
    };
    let result = match &cli.command {
        Command::Verify(a) => run_verify(a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        // `rdbkit verify --json ... | head` closing the pipe is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(exit::OK),
        Err(e) => {
            eprintln!("rdbkit: {e}");
            ExitCode::from(exit::ERROR)
        }
    }
}
