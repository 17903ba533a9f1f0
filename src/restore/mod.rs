//! `rdbkit restore`: writes a backup into a live Redis, Valkey or Redis Cluster.
//!
//! The file is memory-mapped and walked once per phase (plan, conflict check,
//! write); each key goes out as `RESTORE` with a DUMP payload built from the bytes
//! the file already holds (no decoding), or as native commands when the target
//! cannot take the payload. Commands are pipelined per connection (see
//! [`pipeline`]); replies are matched to keys so every failure is reported.
//!
//! * [`conn`] — RESP client, TLS, URLs; [`target`] — what the server accepts;
//!   [`cluster`] — slots and the slot map; [`sink`] — connections, routing, outcomes;
//!   [`encode`] — RESTORE commands; [`policy`] — the user's choices;
//!   [`checkpoint`] — resuming; [`report`] — the summary and count verification;
//!   [`command_keys`] — where replayed AOF commands go in a cluster.

pub mod checkpoint;
pub mod cluster;
pub mod command_keys;
pub mod conn;
pub mod encode;
pub mod pipeline;
pub mod policy;
mod replay;
pub mod report;
pub mod sink;
pub mod target;
pub mod verify;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use crate::aof::input::Input;
use crate::export::resp::{self, RespOptions};
use crate::filter::{DbMap, KeyFilter};
use crate::rdb::{Checker, Header, KeyRecord, RdbReader, Record};
use checkpoint::Checkpoint;
use conn::{Conn, Endpoint, TlsFiles};
use encode::Method;
use pipeline::{Failure, Purpose, Shared};
use policy::{Conflict, Mode, Ttl};
use report::{DbReport, Report};
use sink::{Limiter, Sink, SinkConfig};
use target::ServerInfo;

/// Everything `rdbkit restore` was asked to do.
pub struct Options {
    pub path: PathBuf,
    /// Seed endpoints: the server, or some nodes of a cluster.
    pub seeds: Vec<Endpoint>,
    /// Route by slot (also switched on when the server reports cluster mode).
    pub cluster: bool,
    pub tls: TlsFiles,
    pub mode: Mode,
    pub conflict: Conflict,
    pub ttl: Ttl,
    /// Key selection (its `expired` setting is not used: see `skip_expired`).
    pub filter: KeyFilter,
    /// Leave out keys whose (policy-adjusted) expiry has passed by the start.
    pub skip_expired: bool,
    pub db_map: DbMap,
    pub rate_ops: Option<f64>,
    pub rate_bytes: Option<f64>,
    pub dry_run: bool,
    pub fail_fast: bool,
    pub checkpoint: Option<PathBuf>,
    /// Connections to a single server.
    pub connections: usize,
    /// Batches in flight per connection, and the size of a batch.
    pub window: usize,
    pub batch_bytes: usize,
    /// AOF inputs: stop replaying before the first `#TS:` annotation later than this
    /// (Unix seconds).
    pub until: Option<i64>,
    /// Read every selected key back and compare it with the file (see [`verify`]).
    pub verify: bool,
    /// Write nothing: only the `--verify` comparison.
    pub verify_only: bool,
}

/// Why a restore did not run to the end.
#[derive(Debug)]
pub enum Stop {
    /// Bad arguments or a source/target that cannot be used; nothing was written.
    Usage(String),
    /// `--conflict fail` found keys on the target; nothing was written.
    Conflicts(Vec<(u64, Vec<u8>)>),
    /// Connection or I/O failure during the restore (the checkpoint says how far it got).
    Io(std::io::Error),
}

impl From<std::io::Error> for Stop {
    fn from(e: std::io::Error) -> Stop {
        Stop::Io(e)
    }
}

/// Callbacks to the front end.
pub struct Hooks<'a> {
    /// Each failing key, as soon as it is known.
    pub on_failure: &'a mut dyn FnMut(&Failure),
    /// Bytes of the source done, keys written.
    pub progress: &'a dyn Fn(u64, u64),
}

/// Whether the stored CRC-64 at the end of `data` matches (the common case of a
/// file the server wrote, with nothing after it). Values of such a file are only
/// skimmed; any other file gets deep checks before a payload is sent, because a
/// server takes RESTORE payloads without deep sanitization by default.
fn checksum_ok(data: &[u8], header: &Header) -> bool {
    if !header.has_checksum() || data.len() < 18 {
        return false;
    }
    let (body, stored) = data.split_at(data.len() - 8);
    let stored = u64::from_le_bytes(stored.try_into().expect("8 bytes"));
    body.last() == Some(&0xff) && stored != 0 && crate::rdb::crc64::checksum(body) == stored
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Connects to the first seed that answers.
fn connect_seed(
    opts: &Options,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> std::io::Result<(Conn, Endpoint)> {
    let mut last = None;
    for s in &opts.seeds {
        match Conn::connect(s, tls) {
            Ok(c) => return Ok((c, s.clone())),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no target given")))
}

/// Walks the key records (and functions) of an RDB held in memory.
fn walk<'a>(
    data: &'a [u8],
    deep: bool,
    mut f: impl FnMut(&RdbReader<'a>, Record<'a>) -> Result<bool, Stop>,
) -> Result<(), Stop> {
    let mut r = RdbReader::new(data, Checker::new(deep)).map_err(|e| Stop::Usage(e.to_string()))?;
    while let Some(rec) = r
        .next_record()
        .map_err(|e| Stop::Usage(format!("{e} (nothing after this point was restored)")))?
    {
        if matches!(rec, Record::Eof) {
            break;
        }
        if !f(&r, rec)? {
            break;
        }
    }
    Ok(())
}

/// The decoded key name, the target db and the policy-adjusted expiry of a record
/// that passes the filter; `None` for keys left out.
struct Selected<'b> {
    key: &'b [u8],
    db: u64,
    expire: Option<i64>,
    expired: bool,
}

struct Selector<'o> {
    opts: &'o Options,
    url_db: Option<u64>,
    now: i64,
    buf: Vec<u8>,
}

impl Selector<'_> {
    /// Where a key of source db `db` goes: `--db-map`, else the URL's db, else the same.
    fn target_db(&self, db: u64) -> u64 {
        match (self.opts.db_map.0.get(&db), self.url_db) {
            (Some(&d), _) => d,
            (None, Some(d)) => d,
            (None, None) => db,
        }
    }

    fn select<'b, 'r: 'b>(&'b mut self, k: &KeyRecord<'r>) -> Result<Option<Selected<'b>>, Stop> {
        let db = self.target_db(k.db.unwrap_or(0));
        let key = k
            .key
            .decode(&mut self.buf)
            .map_err(|e| Stop::Usage(e.to_string()))?;
        if !self.opts.filter.matches(k, key) {
            return Ok(None);
        }
        let expire = self.opts.ttl.apply(k.expire_ms);
        let expired = expire.is_some_and(|e| e <= self.now);
        Ok(Some(Selected {
            key,
            db,
            expire,
            expired,
        }))
    }
}

/// Runs the restore; the report says what happened to every key.
pub fn run(opts: &Options, hooks: Hooks<'_>) -> Result<Report, Stop> {
    let started = Instant::now();
    let input = Input::open(&opts.path).map_err(Stop::Usage)?;
    if opts.checkpoint.is_some() && !input.is_plain_rdb() {
        return Err(Stop::Usage(
            "--checkpoint needs an RDB file (AOF command offsets are not record offsets)".into(),
        ));
    }
    let data = input.rdb();
    let header =
        Header::parse(data).map_err(|e| Stop::Usage(format!("{}: {e}", opts.path.display())))?;
    let deep = !checksum_ok(data, &header);
    let tls = if opts.seeds.iter().any(|s| s.tls) {
        Some(opts.tls.client_config()?)
    } else {
        None
    };
    let (mut control, seed) = connect_seed(opts, tls.as_ref())?;
    let server = ServerInfo::probe(&mut control)?;
    let cluster = opts.cluster || server.cluster_enabled;
    let replayed = !input.segments.is_empty();
    if (opts.verify || opts.verify_only) && replayed {
        verify::check_replayable(opts)?;
    }
    if cluster {
        replay::check_cluster_dbs(opts, &input)?;
    }
    let mut sel = Selector {
        opts,
        url_db: seed.db,
        now: now_ms(),
        buf: Vec::new(),
    };
    let mut report = Report::new(&opts.path, &seed, &server, cluster, opts);

    // Resume point.
    let mut resume: Option<Checkpoint> = None;
    if let Some(cp_path) = &opts.checkpoint {
        if let Some(cp) = Checkpoint::load(cp_path)? {
            if cp.source_size != data.len() as u64 {
                return Err(Stop::Usage(format!(
                    "{}: the checkpoint is for a {}-byte source, this one has {} bytes",
                    cp_path.display(),
                    cp.source_size,
                    data.len()
                )));
            }
            if cp.complete {
                report.already_complete = true;
                return Ok(report);
            }
            report.resumed_from = Some(cp.offset);
            resume = Some(cp);
        }
    }
    let resume_at = resume.as_ref().map_or(0, |c| c.offset);

    // Plan: what goes where, and how. A single-node restore skips this pass (the
    // write pass counts the same things) unless asked for a dry run or resuming.
    let mut plan: BTreeMap<u64, DbReport> = BTreeMap::new();
    let mut checked_start = resume.is_none();
    let plan_needed = cluster || opts.dry_run || resume.is_some();
    walk(data, deep, |_, rec| {
        if !plan_needed {
            return Ok(false);
        }
        match rec {
            Record::Key(k) => {
                if !checked_start {
                    if k.offset < resume_at {
                        return Ok(true);
                    }
                    let cp = resume.as_ref().expect("resuming");
                    let key = k.key.to_vec().map_err(|e| Stop::Usage(e.to_string()))?;
                    if cp.key_hex.is_some() && (k.offset != resume_at || !cp.matches(&key, k.db)) {
                        return Err(Stop::Usage(format!(
                            "the checkpoint names offset {resume_at}, which is not the key it recorded in this file"
                        )));
                    }
                    checked_start = true;
                }
                let method = encode::choose(&k, opts.mode, &server, &header);
                let Some(s) = sel.select(&k)? else {
                    return Ok(true);
                };
                let d = plan.entry(s.db).or_default();
                d.selected += 1;
                if s.expired && opts.skip_expired {
                    d.expired_skipped += 1;
                    return Ok(true);
                }
                match method {
                    Method::Restore { .. } => d.by_restore += 1,
                    Method::Commands => d.by_commands += 1,
                    Method::Refuse(_) => d.refused += 1,
                }
            }
            Record::Function { .. } => plan.entry(0).or_default().functions += 1,
            _ => {}
        }
        Ok(true)
    })?;
    if !checked_start {
        return Err(Stop::Usage(format!(
            "the checkpoint names offset {resume_at}, past the last key of this file"
        )));
    }
    if cluster {
        let bad: Vec<String> = plan
            .keys()
            .filter(|&&d| d != 0)
            .map(|d| d.to_string())
            .collect();
        if !bad.is_empty() {
            return Err(Stop::Usage(format!(
                "a cluster has only db 0, but keys would go to db {}: map them with --db-map (e.g. --db-map 1=0) or select dbs with --db",
                bad.join(",")
            )));
        }
    }
    if opts.dry_run {
        report.dbs = plan;
    }

    let shared = Shared {
        tls: tls.clone(),
        busy_is_skip: opts.conflict == Conflict::Skip,
        stale_topology: Arc::new(AtomicBool::new(false)),
        stop: Arc::new(AtomicBool::new(false)),
        window: opts.window.max(1),
        verify_field_ttls: verify::holds_field_ttls(&server),
    };
    let open_sink = |limiter: Limiter, connections: usize| {
        Sink::open(SinkConfig {
            seed: seed.clone(),
            cluster,
            connections,
            batch_bytes: opts.batch_bytes,
            shared: shared.clone(),
            limiter,
        })
    };
    let nodes = if cluster {
        cluster::Topology::fetch(&mut control)?
            .masters
            .iter()
            .map(|(h, p)| seed.with_addr(h, *p))
            .collect()
    } else {
        vec![seed.clone()]
    };
    report::count_before(&mut report, &nodes, tls.as_ref())?;

    // Conflict check (pipelined EXISTS), when the target holds any key: with `fail`
    // nothing is written if a selected key exists; with `skip`, keys written with
    // native commands need to know beforehand (RESTORE says BUSYKEY by itself).
    let target_empty = report.before.values().all(|&n| n == 0);
    let check_conflicts = !target_empty
        && !opts.verify_only
        && match opts.conflict {
            Conflict::Fail => resume.is_none(),
            Conflict::Skip => opts.mode != Mode::Restore,
            Conflict::Replace => false,
        };
    let mut existing: HashSet<(u64, Vec<u8>)> = HashSet::new();
    if check_conflicts {
        let mut sink = open_sink(Limiter::new(None, None), opts.connections)?;
        walk(data, deep, |_, rec| {
            if let Record::Key(k) = rec {
                if k.offset < resume_at {
                    return Ok(true);
                }
                if let Some(s) = sel.select(&k)? {
                    if s.expired && opts.skip_expired {
                        return Ok(true);
                    }
                    let lane = sink.lane_for(s.key, s.db)?;
                    let b = sink.batch(lane);
                    let kr = b.add_key(s.key);
                    b.push(k.offset, kr, Purpose::Exists, &[b"EXISTS", s.key]);
                    let key = s.key.to_vec();
                    sink.added(lane, k.offset, &key, k.db)?;
                }
            }
            Ok(true)
        })?;
        sink.finish()?;
        report.conflict_checked = true;
        if opts.conflict == Conflict::Fail && !sink.existing.is_empty() {
            return Err(Stop::Conflicts(std::mem::take(&mut sink.existing)));
        }
        existing = sink.existing.drain(..).collect();
    }
    if opts.dry_run {
        report.elapsed_s = started.elapsed().as_secs_f64();
        return Ok(report);
    }

    // `--verify` / `--verify-only`: every selected key read back, on fresh connections.
    let verify_keys = |sel: &mut Selector, on_failure: &mut dyn FnMut(&Failure)| {
        let sink = open_sink(Limiter::new(None, None), opts.connections)?;
        if replayed {
            verify::run_replayed(&input, opts.until, sel, &server, sink, on_failure)
        } else {
            verify::run(data, deep, &header, sel, opts, &server, sink, on_failure)
        }
    };
    if opts.verify_only {
        report.verify = Some(verify_keys(&mut sel, &mut *hooks.on_failure)?);
        report.elapsed_s = started.elapsed().as_secs_f64();
        return Ok(report);
    }

    // The write pass.
    let replace =
        opts.conflict == Conflict::Replace || (resume.is_some() && opts.conflict == Conflict::Fail);
    let mut sink = open_sink(
        Limiter::new(opts.rate_ops, opts.rate_bytes),
        opts.connections,
    )?;
    let mut last_save = Instant::now();
    let total = data.len() as u64;
    let mut keys_seen: u64 = 0;
    let mut refused: u64 = 0;
    let keys_done_before = resume.as_ref().map_or(0, |c| c.keys_done);
    let now = sel.now;
    let mut functions = Vec::new();
    let resp_opts = RespOptions {
        target: Some(resp::Target {
            valkey: server.valkey,
            major: server.version.0,
            minor: server.version.1,
        }),
        del_first: replace,
        rdb_version: header.version as u16,
        ..RespOptions::default()
    };
    let mut live: BTreeMap<u64, DbReport> = BTreeMap::new();
    let result = walk(data, deep, |r, rec| {
        let k = match rec {
            Record::Key(k) => k,
            Record::Function { code } if resume_at == 0 => {
                functions.push(code.to_vec().map_err(|e| Stop::Usage(e.to_string()))?);
                return Ok(true);
            }
            _ => return Ok(true),
        };
        if k.offset < resume_at {
            return Ok(true);
        }
        let method = encode::choose(&k, opts.mode, &server, &header);
        let Some(s) = sel.select(&k)? else {
            return Ok(true);
        };
        let d = live.entry(s.db).or_default();
        d.selected += 1;
        if s.expired && opts.skip_expired {
            d.expired_skipped += 1;
            return Ok(true);
        }
        if s.expired {
            *report.expired_on_arrival.entry(s.db).or_default() += 1;
        } else if s
            .expire
            .is_some_and(|e| e < now + report::MAY_EXPIRE_WINDOW_MS)
        {
            *report.may_expire.entry(s.db).or_default() += 1;
        }
        match method {
            Method::Restore { version } => {
                d.by_restore += 1;
                let lane = sink.lane_for(s.key, s.db)?;
                encode::push_restore(sink.batch(lane), &k, s.key, version, s.expire, replace);
                let key = s.key.to_vec();
                sink.added(lane, k.offset, &key, k.db)?;
            }
            Method::Commands
                if !existing.is_empty() && existing.contains(&(s.db, s.key.to_vec())) =>
            {
                d.skipped += 1
            }
            Method::Commands => {
                d.by_commands += 1;
                let lane = sink.lane_for(s.key, s.db)?;
                let key = s.key.to_vec();
                let mut emit =
                    |c: resp::Command<'_>| sink.push_command(lane, k.offset, &key, k.db, c);
                let outcome = resp::key_commands(&k, &key, s.expire, &resp_opts, &mut emit)
                    .map_err(|e| match e {
                        crate::export::ExportError::Read(e) => Stop::Usage(e.to_string()),
                        crate::export::ExportError::Io(e) => Stop::Io(e),
                    })?;
                for l in outcome.lost {
                    *report.losses.entry(l.describe().to_string()).or_default() += 1;
                }
                if outcome.commands > 0 {
                    sink.end_key(lane)?;
                } else {
                    d.refused += 1;
                    refused += 1;
                    (hooks.on_failure)(&Failure {
                        db: s.db,
                        key,
                        offset: k.offset,
                        error: "no command can rebuild this key on the target".into(),
                    });
                }
            }
            Method::Refuse(why) => {
                d.refused += 1;
                refused += 1;
                (hooks.on_failure)(&Failure {
                    db: s.db,
                    key: s.key.to_vec(),
                    offset: k.offset,
                    error: why,
                });
            }
        }
        keys_seen += 1;
        if keys_seen % 256 == 0 {
            for f in sink.take_failures() {
                (hooks.on_failure)(&f);
            }
            (hooks.progress)(r.offset(), sink.written());
            if opts.fail_fast && (refused > 0 || sink.failed() > 0) || sink.stop_requested() {
                return Ok(false);
            }
            if last_save.elapsed().as_secs() >= 1 {
                if let Some(p) = &opts.checkpoint {
                    save_checkpoint(p, opts, total, &sink, keys_done_before, false)?;
                }
                last_save = Instant::now();
            }
        }
        Ok(true)
    });
    if opts.fail_fast && (refused > 0 || sink.failed() > 0) {
        // Nothing more goes out; batches already sent are still settled.
        sink.request_stop();
    }
    let finished = sink.finish();
    for f in sink.take_failures() {
        (hooks.on_failure)(&f);
    }
    (hooks.progress)(total, sink.written());
    let stopped_early = opts.fail_fast && (refused > 0 || sink.failed() > 0);
    if let Some(p) = &opts.checkpoint {
        let complete = result.is_ok() && finished.is_ok() && !stopped_early;
        save_checkpoint(p, opts, total, &sink, keys_done_before, complete)?;
    }
    result?;
    finished?;
    report.dbs = live;

    // Functions go to every master.
    for node in &nodes {
        let mut c = Conn::connect(node, tls.as_ref())?;
        for code in &functions {
            let mut args: Vec<&[u8]> = vec![b"FUNCTION", b"LOAD"];
            if opts.conflict == Conflict::Replace {
                args.push(b"REPLACE");
            }
            args.push(code);
            match c.call(&args)? {
                conn::Reply::Error(e)
                    if opts.conflict == Conflict::Skip && e.contains("already exists") =>
                {
                    report.functions_skipped += 1
                }
                conn::Reply::Error(e) => {
                    report.functions_failed += 1;
                    (hooks.on_failure)(&Failure {
                        db: 0,
                        key: Vec::new(),
                        offset: 0,
                        error: format!("FUNCTION LOAD on {node}: {e}"),
                    });
                }
                _ => report.functions_loaded += 1,
            }
        }
    }

    if !input.segments.is_empty() {
        let router = if cluster {
            let mut control = Conn::connect(&seed, tls.as_ref())?;
            let table = command_keys::KeyTable::fetch(&mut control)?;
            Some(replay::Router { table, control })
        } else {
            None
        };
        replay::replay(
            opts,
            &input,
            &open_sink,
            router,
            &mut report,
            &mut *hooks.on_failure,
        )?;
    }
    report.refused = refused;
    report.stopped_early = stopped_early;
    report.absorb(&sink);
    report::count_after(&mut report, &nodes, tls.as_ref(), replace)?;
    if opts.verify && !stopped_early {
        report.verify = Some(verify_keys(&mut sel, &mut *hooks.on_failure)?);
    }
    report.elapsed_s = started.elapsed().as_secs_f64();
    Ok(report)
}

fn save_checkpoint(
    path: &std::path::Path,
    opts: &Options,
    total: u64,
    sink: &Sink,
    keys_done_before: u64,
    complete: bool,
) -> std::io::Result<()> {
    let (offset, key_hex, db) = match (sink.frontier(), complete) {
        (_, true) => (total, None, None),
        (Some((o, k, db)), false) => (*o, Some(checkpoint::hex(k)), *db),
        // Everything sent was acknowledged: restart after the last key sent.
        (None, false) => (sink.last_added.map_or(0, |o| o + 1), None, None),
    };
    Checkpoint {
        source: opts.path.display().to_string(),
        source_size: total,
        offset,
        key_hex,
        db,
        keys_done: keys_done_before + sink.written(),
        complete,
    }
    .save(path)
}
