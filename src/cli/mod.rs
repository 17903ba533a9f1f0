//! Command-line front end: argument definitions (each flag once, with its help),
//! one function per subcommand, and the exit-status policy. The only place that
//! prints or decides exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod diff;
pub mod export;
pub mod filter_args;
pub mod inspect;
pub mod keys;
pub mod restore;
pub mod rewrite;
pub mod salvage;
pub mod stats;
pub mod verify;

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
    about = "Reads Redis and Valkey persistence files (RDB, AOF) offline."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Prove that RDB and AOF files are whole: RDB records and CRC-64, AOF RESP commands,
    /// MULTI/EXEC and multi-part manifests (PATH may be an appendonlydir).
    ///
    /// Prints one line per file (or one JSON object per line with --json).
    /// Exit status: 0 when every file is ok, 1 when any file is truncated, corrupt,
    /// unsupported or fails its checksum, 2 for usage errors and unreadable files.
    Verify(verify::VerifyArgs),
    /// Convert an RDB or AOF to JSON lines, a JSON array, or RESP commands that rebuild
    /// the dataset (`redis-cli --pipe`). Streams; constant memory.
    ///
    /// Exit status: 0 written, 1 the input is damaged (output stops at the damage),
    /// 2 usage or I/O error. A closed pipe (`| head`) ends quietly with 0.
    Export(Box<export::ExportArgs>),
    /// Write a new RDB from an RDB: keys selected (--db, --type, --match, ...), for an
    /// older or newer server (--rdb-version, --magic), or one file per cluster node
    /// (--split-by-slot). Reports what was re-encoded or left out. Never modifies PATH.
    ///
    /// Exit status: 0 written, 1 the input is damaged (nothing is written), 2 usage or
    /// I/O error.
    Rewrite(Box<rewrite::RewriteArgs>),
    /// Key, type, encoding, memory, prefix and TTL statistics of RDB files.
    ///
    /// Several files (all shards of a cluster) are scanned in parallel, reported per
    /// file and aggregated. A damaged file is reported up to the damage, with the
    /// error line. Exit status: 0 ok, 1 a file is truncated or corrupt, 2 usage or
    /// I/O error.
    Stats(stats::StatsArgs),
    /// One row per key: db, key, type, encoding, expiry, elements, serialized bytes,
    /// estimated memory, idle time / LFU counter (CSV or JSON lines).
    ///
    /// Exit status: 0 ok, 1 the file is truncated or corrupt (rows up to the damage
    /// are written), 2 usage or I/O error.
    Keys(keys::KeysArgs),
    /// Recover every readable record of a damaged RDB into a new file (RDB, JSON lines or
    /// RESP) and report exactly what was lost: byte ranges, keys, estimates, per db.
    ///
    /// Reads past damage by resynchronising on the next confirmed record boundary.
    /// The input is never modified; OUT is not replaced without --force.
    /// Exit status: 0 nothing lost, 1 something lost (output written), 2 usage or I/O.
    Salvage(Box<salvage::SalvageArgs>),
    /// Forensic view of an RDB's bytes: --records lists records with byte ranges (db,
    /// key, type, encoding); --offset N / --key NAME show an annotated hex dump.
    ///
    /// Works on damaged files (parsing resumes after damage; lost spans are listed).
    /// Exit status: 0 readable, 1 damage shown (or key not found), 2 usage or I/O.
    Inspect(Box<inspect::InspectArgs>),
    /// Compare the datasets of two inputs, each an RDB, an AOF file or an appendonlydir:
    /// keys only in A / only in B, type, value (encoding-independent digest), stream
    /// metadata and expiry changes, per db.
    ///
    /// An AOF's dataset is its RDB part with its commands replayed offline; only the
    /// keys the commands touch are held in memory, so an AOF without an RDB part
    /// (aof-use-rdb-preamble no) is held in memory whole. A key the replay cannot know
    /// exactly (a command it does not model, such as PFADD) is reported as unknown,
    /// never as equal.
    ///
    /// Exit status: 0 identical, 1 different, 2 error (unreadable or damaged input, an
    /// AOF command the replay does not know), or nothing differs but some keys are
    /// unknown.
    Diff(Box<diff::DiffArgs>),
    /// Append-only files: repair.
    #[command(subcommand)]
    Aof(AofCommand),
    /// Write a backup into a live Redis, Valkey or Redis Cluster (RESTORE with DUMP
    /// payloads built from the file; pipelined; conflict, TTL and db policies).
    ///
    /// Exit status: 0 when every selected key was written and the target's key counts
    /// agree, 1 when any key failed, existing keys stopped it (--conflict fail) or the
    /// counts disagree, 2 for usage errors, unreadable files and lost connections.
    Restore(Box<restore::RestoreArgs>),
}

#[derive(Subcommand, Debug)]
pub enum AofCommand {
    /// Write a loadable copy of an AOF cut at its last complete command (or at --until).
    ///
    /// PATH is an AOF file, an appendonlydir or its manifest; a multi-part AOF is written
    /// as a new directory with its own manifest. The input is never modified.
    /// Exit status: 0 repaired (or nothing to cut), 1 damaged in the middle (a cut cannot
    /// make it loadable), 2 usage or I/O error.
    Repair(RepairArgs),
}

#[derive(clap::Args, Debug)]
pub struct RepairArgs {
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Where to write the copy (must not exist, nor be inside the input).
    #[arg(
        short = 'o',
        long = "output",
        value_name = "OUT",
        required_unless_present = "dry_run"
    )]
    pub output: Option<PathBuf>,
    /// Point-in-time recovery: cut before the first #TS annotation later than this
    /// (Unix seconds or RFC 3339, e.g. 2026-11-25T01:00:00Z).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<i64>,
    /// Print what would be cut; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Unix seconds, or RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)`).
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(t) = s.parse::<i64>() {
        return Ok(t);
    }
    crate::time::parse_rfc3339_ms(s)
        .map(|ms| ms.div_euclid(1000))
        .ok_or_else(|| format!("{s:?} is neither Unix seconds nor RFC 3339 (2026-11-25T01:00:00Z)"))
}

fn run_repair(a: &RepairArgs) -> std::io::Result<u8> {
    use crate::aof::repair::{repair, RepairError};
    let out = a.output.clone().unwrap_or_default();
    match repair(&a.path, &out, a.until, a.dry_run) {
        Ok(cuts) => {
            let verb = if a.dry_run { "would cut" } else { "cut" };
            if cuts.is_empty() {
                println!("{}: nothing to cut", a.path.display());
            }
            for c in &cuts {
                println!("{verb} {}", c.describe());
            }
            if !a.dry_run {
                println!("wrote {}", out.display());
            }
            Ok(exit::OK)
        }
        Err(RepairError::NotRepairable(m)) => {
            eprintln!("rdbkit: cannot repair: {m}");
            Ok(exit::NOT_OK)
        }
        Err(RepairError::Usage(m)) => {
            eprintln!("rdbkit: {m}");
            Ok(exit::ERROR)
        }
    }
}

/// A progress bar on stderr for big files, only when stderr is a terminal.
pub(crate) fn progress_bar(path: &std::path::Path) -> Option<indicatif::ProgressBar> {
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
        Command::Verify(a) => verify::run_verify(a),
        Command::Export(a) => export::run_export(a),
        Command::Rewrite(a) => rewrite::run_rewrite(a),
        Command::Salvage(a) => salvage::run_salvage(a),
        Command::Inspect(a) => inspect::run_inspect(a),
        Command::Diff(a) => diff::run_diff(a),
        Command::Aof(AofCommand::Repair(a)) => run_repair(a),
        Command::Restore(a) => restore::run(a),
        Command::Stats(a) => stats::run(a),
        Command::Keys(a) => keys::run(a),
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
