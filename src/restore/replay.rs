//! Replaying the RESP commands of an AOF after its RDB part. On a single server they
//! go in order on one connection. Into a cluster each command goes to the master of
//! its keys' slot ([`super::command_keys`]); per-key order is kept because each
//! master's lane is FIFO. A cluster cannot run a transaction across slots, so
//! `MULTI`/`EXEC` blocks are replayed command by command once their `EXEC` is read
//! (the end state is the same; a block without `EXEC` at the end is dropped, as the
//! server drops it when loading).

use super::command_keys::{KeyTable, Route};
use super::conn::Conn;
use super::pipeline::{Failure, Purpose};
use super::report::Report;
use super::sink::{Limiter, Sink};
use super::{Options, Stop};
use crate::aof::input::Input;
use crate::aof::{Command, Item, RespReader};

/// What a cluster replay routes with: the target's command table and a connection
/// for `COMMAND GETKEYS`.
pub struct Router {
    pub table: KeyTable,
    pub control: Conn,
}

/// The db a `SELECT` names, if it is one.
fn selected_db(c: &Command) -> Option<u64> {
    if c.is("SELECT") && c.args.len() == 2 {
        std::str::from_utf8(c.args[1]).ok()?.parse().ok()
    } else {
        None
    }
}

fn read_error(name: &str, e: impl std::fmt::Display) -> Stop {
    Stop::Usage(format!(
        "{name}: {e} (commands after this point were not replayed)"
    ))
}

/// A cluster has only db 0: every `SELECT` of the AOF must map there (checked before
/// anything is written).
pub fn check_cluster_dbs(opts: &Options, input: &Input) -> Result<(), Stop> {
    for &(part, start) in &input.segments {
        let (name, src) = &input.parts[part];
        let mut r = RespReader::new(src.bytes(), start);
        while let Some(item) = r.next_item().map_err(|e| read_error(name, e))? {
            if let Item::Command(c) = item {
                if let Some(db) = selected_db(&c).filter(|&d| opts.db_map.target(d) != 0) {
                    return Err(Stop::Usage(format!(
                        "a cluster has only db 0, but {name} writes to db {db}: map it with --db-map (e.g. --db-map {db}=0)"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// `CMD first-arg`, how a replayed command is named in failures.
fn shown(c: &Command) -> Vec<u8> {
    let mut shown = c.args[0].to_vec();
    if let Some(a) = c.args.get(1) {
        shown.push(b' ');
        shown.extend_from_slice(a);
    }
    shown
}

/// Replays the AOF's commands after the keys of its RDB part are all acknowledged.
/// Each file starts in db 0 (as the server loads it); `SELECT` follows `--db-map`;
/// `--until` stops before the first `#TS:` annotation later than it.
pub fn replay(
    opts: &Options,
    input: &Input,
    open_sink: &dyn Fn(Limiter, usize) -> std::io::Result<Sink>,
    mut router: Option<Router>,
    report: &mut Report,
    on_failure: &mut dyn FnMut(&Failure),
) -> Result<(), Stop> {
    let mut sink = open_sink(Limiter::new(opts.rate_ops, opts.rate_bytes), 1)?;
    let mut stopped = false;
    let mut not_sent = 0u64;
    for &(part, start) in &input.segments {
        let (name, src) = &input.parts[part];
        let data = src.bytes();
        let mut r = RespReader::new(data, start);
        let mut db = 0u64;
        // Commands of an open MULTI block (cluster only), sent at its EXEC.
        let mut transaction: Option<Vec<Command>> = None;
        while let Some(item) = r.next_item().map_err(|e| read_error(name, e))? {
            let c = match item {
                Item::Annotation { text, .. } => {
                    if let (Some(ts), Some(until)) = (crate::aof::timestamp(text), opts.until) {
                        if ts > until {
                            stopped = true;
                            break;
                        }
                    }
                    continue;
                }
                Item::Command(c) => c,
            };
            if let Some(n) = selected_db(&c) {
                db = n;
                continue;
            }
            let target = opts.db_map.target(db);
            match router.as_mut() {
                None => {
                    send_as_is(&mut sink, &c, data, target, db)?;
                    report.aof_commands += 1;
                }
                Some(rt) => {
                    if c.is("MULTI") {
                        transaction = Some(Vec::new());
                        continue;
                    }
                    let queued = match (&mut transaction, c.is("EXEC")) {
                        (Some(_), true) => transaction.take().expect("open block"),
                        (Some(block), false) => {
                            block.push(c);
                            continue;
                        }
                        (None, _) => vec![c],
                    };
                    for c in &queued {
                        report.aof_commands += 1;
                        if !send_routed(rt, &mut sink, c, data, target, db)? {
                            not_sent += 1;
                            on_failure(&Failure {
                                db: target,
                                key: shown(c),
                                offset: c.offset,
                                error: "CROSSSLOT: its keys are in different hash slots, which a cluster cannot run in one command; not replayed".into(),
                            });
                        }
                    }
                }
            }
            for f in sink.take_failures() {
                on_failure(&f);
            }
            if opts.fail_fast && sink.failed() + not_sent > 0 {
                stopped = true;
                break;
            }
        }
        if stopped {
            break;
        }
    }
    sink.finish()?;
    for f in sink.take_failures() {
        on_failure(&f);
    }
    report.aof_commands_failed = sink.failed() + not_sent;
    report.until_reached = stopped && opts.until.is_some();
    Ok(())
}

/// Copies the command's bytes from the file into the lane of `key`.
fn push_raw(
    sink: &mut Sink,
    lane: usize,
    c: &Command,
    data: &[u8],
    src_db: u64,
) -> std::io::Result<()> {
    let name = shown(c);
    let b = sink.batch(lane);
    let k = b.add_key(&name);
    let at = b.buf.len();
    b.buf
        .extend_from_slice(&data[c.offset as usize..c.end as usize]);
    b.push_encoded(c.offset, k, Purpose::Write { last: true }, at);
    sink.added(lane, c.offset, &name, Some(src_db))
}

fn send_as_is(
    sink: &mut Sink,
    c: &Command,
    data: &[u8],
    target: u64,
    src_db: u64,
) -> std::io::Result<()> {
    let lane = sink.lane_for(b"", target)?;
    push_raw(sink, lane, c, data, src_db)
}

/// Sends `c` where its keys live; false when it spans slots and cannot be split.
fn send_routed(
    rt: &mut Router,
    sink: &mut Sink,
    c: &Command,
    data: &[u8],
    target: u64,
    src_db: u64,
) -> std::io::Result<bool> {
    match rt.table.route(&c.args, &mut rt.control)? {
        Route::Slot(key) => {
            let lane = sink.lane_for(&key, target)?;
            push_raw(sink, lane, c, data, src_db)?;
        }
        Route::Everywhere => {
            for lane in sink.lanes_everywhere(target)? {
                push_raw(sink, lane, c, data, src_db)?;
            }
        }
        Route::Split(calls) => {
            let name = shown(c);
            for call in calls {
                let lane = sink.lane_for(&call[1], target)?;
                let args: Vec<&[u8]> = call.iter().map(Vec::as_slice).collect();
                let b = sink.batch(lane);
                let k = b.add_key(&name);
                b.push(c.offset, k, Purpose::Write { last: true }, &args);
                sink.added(lane, c.offset, &name, Some(src_db))?;
            }
        }
        Route::CrossSlot => return Ok(false),
    }
    Ok(true)
}
