//! `rdbkit restore PATH --to URL`: flags and the front end of [`crate::restore`].

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use super::exit;
use super::filter_args::FilterArgs;
use crate::error::display_key;
use crate::filter::{DbMap, Expired};
use crate::restore::conn::{Endpoint, TlsFiles};
use crate::restore::pipeline::Failure;
use crate::restore::policy::{parse_conflict, parse_mode, parse_ttl, Conflict, Mode, Ttl};
use crate::restore::{self, Hooks, Options, Stop};

#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// The backup: an RDB file, an AOF file, or a multi-part appendonlydir (or its
    /// manifest).
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Target: redis://[user:pass@]host:port[/db] or rediss:// for TLS; repeat (or
    /// comma-separate) to give several seed nodes of a cluster.
    #[arg(
        long = "to",
        value_name = "URL",
        required = true,
        value_delimiter = ','
    )]
    pub to: Vec<String>,
    /// Route keys by hash slot to the masters of a Redis Cluster (also switched on
    /// when the target reports cluster mode).
    #[arg(long)]
    pub cluster: bool,
    /// ACL user (overrides the URL's).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Read the password from this file's first line (else the URL, else the
    /// REDISCLI_AUTH environment variable). Never printed.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// PEM CA bundle for rediss:// (default: the system's trusted roots).
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate for servers that authenticate clients.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// How values are written: auto (RESTORE when the target takes the payload, else
    /// commands), restore, commands.
    #[arg(long, value_name = "MODE", value_parser = parse_mode, default_value = "auto")]
    pub mode: Mode,
    /// Keys that already exist on the target: fail (checked before anything is
    /// written), skip, replace.
    #[arg(long, value_name = "POLICY", value_parser = parse_conflict, default_value = "fail")]
    pub conflict: Conflict,
    /// Expiry of restored keys: keep (absolute time from the file), ignore (no
    /// expiry), shift=DURATION (moved by e.g. 7d, -2h, 1h30m).
    #[arg(long, value_name = "POLICY", value_parser = parse_ttl, default_value = "keep")]
    pub ttl: Ttl,
    /// Map source dbs to target dbs: --db-map 0=3,1=4 (unmapped dbs keep their
    /// number, or go to the URL's /db).
    #[arg(long, value_name = "MAP", value_parser = DbMap::parse)]
    pub db_map: Option<DbMap>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// At most this many commands per second (all connections together).
    #[arg(long, value_name = "OPS")]
    pub rate: Option<f64>,
    /// At most this many MB (10^6 bytes) per second sent.
    #[arg(long, value_name = "MB")]
    pub rate_bytes: Option<f64>,
    /// Parse, plan, count and check conflicts; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Append one JSON object per failed key to this file.
    #[arg(long, value_name = "FILE")]
    pub errors_to: Option<PathBuf>,
    /// Stop at the first failed key (default: report it and go on).
    #[arg(long)]
    pub fail_fast: bool,
    /// Record progress here; a later run with the same file continues where this
    /// one stopped.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Connections to a single server.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub connections: usize,
    /// AOF inputs: replay up to this time, stopping before the first #TS annotation
    /// later than it (Unix seconds or RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = super::parse_time)]
    pub until: Option<i64>,
    /// After writing, read every selected key back (DUMP + PEXPIRETIME, or PTTL
    /// before 7.0) and compare value, type and expiry with the file whatever the
    /// target's encodings; mismatches go to --errors-to and make the exit status 1.
    /// An AOF input is compared with its dataset replayed offline (as diff does).
    #[arg(long, conflicts_with = "dry_run")]
    pub verify: bool,
    /// Write nothing: only compare the target with the file, as --verify does
    /// (e.g. again later, or after a restore by other means).
    #[arg(long, conflicts_with_all = ["dry_run", "verify", "checkpoint"])]
    pub verify_only: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

fn endpoints(a: &RestoreArgs) -> Result<Vec<Endpoint>, String> {
    let file_password = match &a.password_file {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .map_err(|e| format!("{}: {e}", p.display()))?
                .lines()
                .next()
                .unwrap_or("")
                .to_string(),
        ),
        None => None,
    };
    let env_password = std::env::var("REDISCLI_AUTH")
        .ok()
        .filter(|p| !p.is_empty());
    a.to.iter()
        .map(|u| {
            let mut ep = Endpoint::parse(u).map_err(|e| format!("--to: {e}"))?;
            if let Some(user) = &a.user {
                ep.user = Some(user.clone());
            }
            if let Some(p) = file_password.clone() {
                ep.password = Some(p);
            } else if ep.password.is_none() {
                ep.password = env_password.clone();
            }
            Ok(ep)
        })
        .collect()
}

fn failure_json(f: &Failure) -> serde_json::Value {
    serde_json::json!({
        "db": f.db,
        "key": String::from_utf8_lossy(&f.key),
        "key_escaped": display_key(&f.key),
        "offset": f.offset,
        "error": f.error,
        // missing / type differs / value differs / ttl differs / error
        "verify": f.error.strip_prefix("verify: ")
            .map(|r| r.split(':').next().unwrap_or(r).trim()),
    })
}

pub fn run(a: &RestoreArgs) -> std::io::Result<u8> {
    let seeds = match endpoints(a) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rdbkit: {e}");
            return Ok(exit::ERROR);
        }
    };
    let mut filter = a.filter.to_filter(None);
    // Expiry is judged against now (what the target applies), after --ttl.
    filter.expired = Expired::Include;
    let opts = Options {
        path: a.path.clone(),
        seeds,
        cluster: a.cluster,
        tls: TlsFiles {
            ca: a.tls_ca.clone(),
            cert: a.tls_cert.clone(),
            key: a.tls_key.clone(),
        },
        mode: a.mode,
        conflict: a.conflict,
        ttl: a.ttl,
        filter,
        skip_expired: a.filter.expired == Expired::Exclude,
        db_map: a.db_map.clone().unwrap_or_default(),
        rate_ops: a.rate,
        rate_bytes: a.rate_bytes.map(|mb| mb * 1e6),
        dry_run: a.dry_run,
        fail_fast: a.fail_fast,
        checkpoint: a.checkpoint.clone(),
        connections: a.connections,
        window: 4,
        batch_bytes: 512 << 10,
        until: a.until,
        verify: a.verify,
        verify_only: a.verify_only,
    };
    let mut errors_file = match &a.errors_to {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)?,
        )),
        None => None,
    };
    let mut shown = 0u32;
    let mut on_failure = |f: &Failure| {
        if let Some(w) = errors_file.as_mut() {
            let _ = serde_json::to_writer(&mut *w, &failure_json(f));
            let _ = writeln!(w);
        }
        if shown < 10 {
            eprintln!(
                "rdbkit: key \"{}\" (db {}, record at byte {}): {}",
                display_key(&f.key),
                f.db,
                f.offset,
                f.error
            );
        } else if shown == 10 {
            eprintln!("rdbkit: more failures not shown (see --errors-to)");
        }
        shown += 1;
    };
    let size = std::fs::metadata(&a.path).map(|m| m.len()).unwrap_or(0);
    let bar = (std::io::stderr().is_terminal() && !a.dry_run).then(|| {
        let b = indicatif::ProgressBar::new(size);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {msg}",
        ) {
            b.set_style(style.progress_chars("=> "));
        }
        b
    });
    let started = std::time::Instant::now();
    let progress = |done: u64, keys: u64| {
        if let Some(b) = &bar {
            b.set_position(done);
            let secs = started.elapsed().as_secs_f64().max(1e-3);
            b.set_message(format!("{keys} keys, {:.0} keys/s", keys as f64 / secs));
        }
    };
    let result = restore::run(
        &opts,
        Hooks {
            on_failure: &mut on_failure,
            progress: &progress,
        },
    );
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if let Some(w) = errors_file.as_mut() {
        w.flush()?;
    }
    match result {
        Ok(report) => {
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string(&report).map_err(std::io::Error::other)?
                );
            } else if report.already_complete {
                println!(
                    "{}: the checkpoint says this restore already finished",
                    report.source
                );
            } else {
                println!("{}", report.human());
            }
            let clean = report.failed() == 0
                && report.counts_ok()
                && report.verify_ok()
                && !report.stopped_early;
            Ok(if clean { exit::OK } else { exit::NOT_OK })
        }
        Err(Stop::Conflicts(keys)) => {
            eprintln!(
                "rdbkit: {} selected key{} already exist on the target; nothing was written (--conflict skip or replace to go ahead):",
                keys.len(),
                if keys.len() == 1 { "" } else { "s" }
            );
            for (db, k) in keys.iter().take(10) {
                eprintln!("  db{db}: \"{}\"", display_key(k));
            }
            Ok(exit::NOT_OK)
        }
        Err(Stop::Usage(m)) => {
            eprintln!("rdbkit: {m}");
            Ok(exit::ERROR)
        }
        Err(Stop::Io(e)) => {
            eprintln!("rdbkit: restore stopped: {e}");
            Ok(exit::ERROR)
        }
    }
}
