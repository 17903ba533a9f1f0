//! `rdbkit verify`: its flags and the per-file report printing.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::exit;
use crate::verify::{self, dir, load, sidecar, Report, Status};

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// Files to verify; `-` reads standard input (streamed, no temp file). A directory
    /// that is not an appendonlydir is searched for backups (recognised by content) and
    /// summarised in one table.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Search subdirectories of a backup directory too.
    #[arg(long, short = 'r')]
    pub recursive: bool,
    /// Fail (exit 1) unless the newest backup that verifies ok was taken within this long
    /// (`90m`, `26h`, `7d`): an RDB's `ctime` AUX field, else the file's mtime.
    #[arg(long, value_name = "DURATION", value_parser = parse_newest_within)]
    pub newest_within: Option<NewestWithin>,
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

/// `--newest-within` as given (for messages) and in seconds.
#[derive(Clone, Debug)]
pub struct NewestWithin {
    text: String,
    seconds: u64,
}

fn parse_newest_within(s: &str) -> Result<NewestWithin, String> {
    Ok(NewestWithin {
        text: s.to_string(),
        seconds: dir::parse_duration(s)?.as_secs(),
    })
}

/// What to verify: a path, with its report already decided when a directory walk found
/// it unrecognised or unreadable.
struct Target {
    path: PathBuf,
    listed: Option<Report>,
}

/// Expands directories that are not appendonlydirs into the backups they hold; returns
/// the targets, whether any directory was walked, and how many subdirectories were left
/// out for want of `--recursive`.
fn targets(args: &VerifyArgs) -> Result<(Vec<Target>, bool, u64), String> {
    let mut out = Vec::new();
    let mut walked = false;
    let mut skipped = 0;
    for path in &args.paths {
        if path.as_os_str() == "-" || !path.is_dir() || dir::is_appendonlydir(path) {
            out.push(Target {
                path: path.clone(),
                listed: None,
            });
            continue;
        }
        walked = true;
        let (found, s) =
            dir::walk(path, args.recursive).map_err(|e| format!("{}: {e}", path.display()))?;
        if found.is_empty() {
            eprintln!("rdbkit: {}: no files found", path.display());
        }
        skipped += s;
        for f in found {
            out.push(match f {
                dir::Found::Backup(path) => Target { path, listed: None },
                dir::Found::Unrecognised(path) => Target {
                    listed: Some(dir::unrecognised_report(&path)),
                    path,
                },
                dir::Found::Unreadable(path, e) => Target {
                    listed: Some(dir::unreadable_report(&path, &e)),
                    path,
                },
            });
        }
    }
    Ok((out, walked, skipped))
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
fn load_all(reports: &mut [Report], targets: &[Target], args: &VerifyArgs) {
    if !args.load {
        return;
    }
    load::install_interrupt_cleanup();
    let opts = load::LoadOptions {
        server: args.server.clone(),
        timeout: std::time::Duration::from_secs(args.load_timeout),
    };
    for (r, t) in reports.iter_mut().zip(targets) {
        if t.listed.is_none() {
            r.load = Some(load::load(&t.path, r, &opts));
        }
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

/// The one word for a row of the summary table: the file's status, or the extra check
/// that failed.
fn verdict(r: &Report) -> &'static str {
    if r.status != Status::Ok {
        return r.status.as_str();
    }
    if r.sidecar.as_ref().is_some_and(|s| !s.ok) {
        return "sidecar_mismatch";
    }
    match &r.load {
        Some(l) if !l.ok => l.verdict,
        _ => "ok",
    }
}

/// One row per backup, columns aligned.
fn print_table(
    out: &mut impl Write,
    reports: &[Report],
    taken: &[Option<dir::Taken>],
) -> std::io::Result<()> {
    let mut rows = vec![[
        "PATH", "FORMAT", "VERDICT", "RDB", "PRODUCER", "CREATED", "KEYS", "SIZE",
    ]
    .map(String::from)];
    for (r, t) in reports.iter().zip(taken) {
        let listed = matches!(r.status, Status::Unrecognised | Status::Unreadable);
        let created = match t {
            Some(t) if t.source == "ctime" => crate::time::format_unix(t.created),
            Some(t) => format!("{} (mtime)", crate::time::format_unix(t.created)),
            None => "-".into(),
        };
        rows.push([
            r.path.clone(),
            r.format.to_string(),
            verdict(r).to_string(),
            r.rdb_version.map_or("-".into(), |v| v.to_string()),
            r.producer.clone().unwrap_or_else(|| "-".into()),
            created,
            if listed {
                "-".into()
            } else {
                r.keys.to_string()
            },
            r.bytes.to_string(),
        ]);
    }
    let mut widths = [0; 8];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in &rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            // Numbers right-aligned, the rest left-aligned; no padding after the last.
            match i {
                6 | 7 => line += &format!("{cell:>w$}"),
                _ => line += &format!("{cell:<w$}"),
            }
            if i < 7 {
                line += "  ";
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn print_summary_line(out: &mut impl Write, s: &dir::Summary) -> std::io::Result<()> {
    let mut line = format!(
        "{} file{}: {} ok, {} not ok, {} unrecognised, {} unreadable",
        s.files,
        if s.files == 1 { "" } else { "s" },
        s.ok,
        s.not_ok,
        s.unrecognised,
        s.unreadable
    );
    if let (Some(t), Some(age)) = (&s.newest_ok, s.newest_ok_age) {
        line += &format!(
            "; newest ok: {} ({} old, by {})",
            t.path,
            dir::format_age(age),
            t.source
        );
    }
    writeln!(out, "{line}")
}

pub fn run_verify(args: &VerifyArgs) -> std::io::Result<u8> {
    use rayon::prelude::*;
    let opts = verify::Options {
        mmap: !args.no_mmap,
    };
    let (targets, walked, skipped_dirs) = match targets(args) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("rdbkit: {e}");
            return Ok(exit::ERROR);
        }
    };
    let report = |t: &Target, bar: bool| match &t.listed {
        Some(r) => r.clone(),
        None => check_one(&t.path, args, &opts, bar),
    };
    // Several files (all shards of a cluster, a backup directory) are verified in
    // parallel, reported in the order given.
    let mut reports: Vec<Report> =
        if targets.len() > 1 && !targets.iter().any(|t| t.path.as_os_str() == "-") {
            targets.par_iter().map(|t| report(t, false)).collect()
        } else {
            targets.iter().map(|t| report(t, true)).collect()
        };
    load_all(&mut reports, &targets, args);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut worst = exit::OK;
    for report in &reports {
        if args.json {
            serde_json::to_writer(&mut out, report).map_err(std::io::Error::other)?;
            writeln!(out)?;
        } else if !walked {
            // A searched directory gets its table below instead.
            print_human(&mut out, report, args.verbose)?;
        }
        out.flush()?;
        worst = worst.max(exit_code(report));
    }
    if !(walked || args.newest_within.is_some()) {
        return Ok(worst);
    }
    let taken: Vec<Option<dir::Taken>> = targets
        .iter()
        .zip(&reports)
        .map(|(t, r)| dir::taken(&t.path, r))
        .collect();
    let ok: Vec<bool> = reports.iter().map(|r| exit_code(r) == exit::OK).collect();
    let mut summary = dir::Summary::new(&reports, &ok, &taken, dir::now_secs());
    summary.skipped_dirs = skipped_dirs;
    if walked && reports.is_empty() {
        worst = worst.max(exit::NOT_OK);
    }
    let stale = args
        .newest_within
        .as_ref()
        .and_then(|n| summary.check_newest_within(&n.text, n.seconds).err());
    if args.json {
        serde_json::to_writer(&mut out, &serde_json::json!({ "summary": &summary }))
            .map_err(std::io::Error::other)?;
        writeln!(out)?;
    } else {
        if walked {
            print_table(&mut out, &reports, &taken)?;
        }
        print_summary_line(&mut out, &summary)?;
    }
    out.flush()?;
    if walked && !args.json {
        for line in reports.iter().filter_map(Report::error_line) {
            eprintln!("{line}");
        }
    }
    if skipped_dirs > 0 {
        eprintln!(
            "rdbkit: {skipped_dirs} subdirector{} not searched (use --recursive)",
            if skipped_dirs == 1 { "y" } else { "ies" }
        );
    }
    if let Some(msg) = stale {
        eprintln!("rdbkit: {msg}");
        worst = worst.max(exit::NOT_OK);
    }
    Ok(worst)
}
