//! The RDB part of an export, in file order but formatted on every core: one thread
//! walks the records and cuts the selected keys into batches, workers format batches
//! into buffers, and the calling thread writes the buffers in order. A value too big to
//! hold as output is formatted by the writing thread straight into the output,
//! streaming. At most [`BUFFERS`] batches are in flight, and buffers are reused, so
//! memory does not grow with the file.

use std::collections::BTreeMap;
use std::sync::mpsc::{channel, sync_channel, Receiver};
use std::sync::{Arc, Mutex};

use super::output::Sink;
use super::resp::{Loss, Target};
use super::run::{Ctx, Formatter, Summary};
use super::ExportError;
use crate::rdb::{Checker, KeyRecord, RdbReader, Record};

/// A batch is closed once it holds this many value bytes or items.
const BATCH_BYTES: usize = if cfg!(test) { 64 } else { 1 << 20 };
const BATCH_ITEMS: usize = if cfg!(test) { 3 } else { 4096 };
/// Values at least this big are formatted in place, streaming, never held as output.
const BIG_VALUE: usize = if cfg!(test) { 48 } else { 4 << 20 };
/// Output buffers per worker: one being filled, one waiting to be written.
const BUFFERS_PER_WORKER: usize = 2;
/// Key-name buffers bigger than this are not reused.
const SPARE_NAMES_MAX: usize = 4 << 20;

/// The vectors of a written batch, reused by a later one: a batch's item list is big
/// (thousands of records), and growing a new one for every batch costs copies.
#[derive(Default)]
pub(super) struct Spare<'a> {
    items: Vec<Item<'a>>,
    names: Vec<u8>,
}

/// Keys and libraries formatted together, with the formatter state they start from.
pub(super) struct Batch<'a, 'o> {
    pub ctx: Ctx<'o>,
    /// The RESP db selected and the JSON objects written before this batch.
    pub selected: Option<u64>,
    pub objects: u64,
    items: Vec<Item<'a>>,
    /// Key names after renaming (`Item::Key::name_end` are offsets in here).
    names: Vec<u8>,
    value_bytes: usize,
    /// The db of the last key (the RESP selection after this batch).
    last_db: Option<u64>,
    /// Input offset of the last key (for the progress bar).
    pub offset: u64,
    /// Formatted straight into the output: one value too big to hold as output.
    in_place: bool,
}

// Keys are nearly every item; boxing them would cost an allocation per key.
#[allow(clippy::large_enum_variant)]
enum Item<'a> {
    Key {
        k: KeyRecord<'a>,
        db: u64,
        name_end: usize,
        keys_before: u64,
    },
    Function(Vec<u8>),
}

impl<'a, 'o> Batch<'a, 'o> {
    fn new(ctx: Ctx<'o>, selected: Option<u64>, objects: u64) -> Self {
        Batch {
            ctx,
            selected,
            objects,
            items: Vec::new(),
            names: Vec::new(),
            value_bytes: 0,
            last_db: None,
            offset: 0,
            in_place: false,
        }
    }

    /// The batch's emptied vectors, for a later batch to fill without growing new ones.
    pub(super) fn into_spare(self) -> Spare<'a> {
        let (mut items, mut names) = (self.items, self.names);
        items.clear();
        names.clear();
        if names.capacity() > SPARE_NAMES_MAX {
            // (a batch of huge key names: not kept)
            names = Vec::new();
        }
        Spare { items, names }
    }

    fn is_full(&self) -> bool {
        self.value_bytes >= BATCH_BYTES || self.items.len() >= BATCH_ITEMS
    }

    /// Formats every item through `f`, which starts from this batch's state.
    pub(super) fn format(&self, f: &mut Formatter<'_, '_>) -> Result<(), ExportError> {
        let mut name_start = 0;
        for item in &self.items {
            match item {
                Item::Key {
                    k,
                    db,
                    name_end,
                    keys_before,
                } => {
                    let name = &self.names[name_start..*name_end];
                    name_start = *name_end;
                    f.key(k, *db, name, *keys_before)?;
                }
                Item::Function(code) => f.function(code)?,
            }
        }
        Ok(())
    }

    /// Formats the batch into `buf` (emptied first): the output up to the first error,
    /// what was written, and the error.
    fn format_to_memory(&self, buf: Vec<u8>) -> (Vec<u8>, Summary, Option<ExportError>) {
        let mut buf = buf;
        buf.clear();
        // Output is about twice the value bytes (JSON quoting, RESP headers).
        buf.reserve(2 * self.value_bytes + 64 * self.items.len());
        let mut f = Formatter::new(&self.ctx, Sink::memory(buf), self.selected, self.objects);
        let err = self.format(&mut f).err();
        (f.sink.buf, f.summary, err)
    }
}

/// Where the walk over an RDB's records ended, and the state after it.
pub(super) struct WalkEnd<'o> {
    /// Where the RDB ends (after its checksum).
    pub end: usize,
    /// The options with the file's RDB version and (unless given) the server it names.
    pub ctx: Ctx<'o>,
    pub selected: Option<u64>,
    pub objects: u64,
    /// Keys the filter left out, libraries no command can load.
    pub summary: Summary,
}

/// The record walk: cuts the selected keys and libraries into batches, in file order.
struct Walker<'a, 'o> {
    batch: Batch<'a, 'o>,
    summary: Summary,
    writer_is_valkey: bool,
}

impl<'a, 'o> Walker<'a, 'o> {
    /// Hands the open batch (if it holds anything) to `out` and opens the next one.
    fn close(&mut self, out: &mut Out<'_, 'a, 'o>) -> Result<(), ExportError> {
        if self.batch.items.is_empty() {
            return Ok(());
        }
        let b = &self.batch;
        let next = Batch::new(
            b.ctx.clone(),
            b.last_db.or(b.selected),
            b.objects + b.items.len() as u64,
        );
        let spare = out(std::mem::replace(&mut self.batch, next))?;
        self.batch.items = spare.items;
        self.batch.names = spare.names;
        Ok(())
    }

    fn walk(&mut self, data: &'a [u8], out: &mut Out<'_, 'a, 'o>) -> Result<usize, ExportError> {
        let mut r = RdbReader::new(data, Checker::new(false))?;
        let version = r.header().version as u16;
        self.batch.ctx.resp.rdb_version = version;
        self.batch.ctx.json.rdb_version = version;
        let opts = self.batch.ctx.opts;
        let pass_all = opts.filter.is_pass_all();
        let mut key = Vec::new();
        loop {
            let rec = match r.next_record() {
                Ok(Some(rec)) => rec,
                Ok(None) => break,
                Err(e) => {
                    // Everything before the damage is written first.
                    self.close(out)?;
                    return Err(e.into());
                }
            };
            match rec {
                Record::Key(k) => {
                    key.clear();
                    match k.key.as_raw() {
                        Some(name) => key.extend_from_slice(name),
                        None => key.extend_from_slice(&k.key.to_vec()?),
                    }
                    if !pass_all && !opts.filter.matches(&k, &key) {
                        self.summary.skipped += 1;
                        continue;
                    }
                    let big = k.value_bytes.len() >= BIG_VALUE;
                    if big {
                        self.close(out)?;
                    }
                    let b = &mut self.batch;
                    match opts
                        .rename_prefixes
                        .iter()
                        .find(|(old, _)| key.starts_with(old))
                    {
                        Some((old, new)) => {
                            b.names.extend_from_slice(new);
                            b.names.extend_from_slice(&key[old.len()..]);
                        }
                        None => b.names.extend_from_slice(&key),
                    }
                    let db = opts.db_map.target(k.db.unwrap_or(0));
                    b.value_bytes += k.value_bytes.len();
                    b.last_db = Some(db);
                    b.offset = k.offset;
                    b.in_place = big;
                    b.items.push(Item::Key {
                        k,
                        db,
                        name_end: b.names.len(),
                        keys_before: r.keys_read() - 1,
                    });
                    if big {
                        self.close(out)?;
                    }
                }
                Record::Function { code } if opts.functions => {
                    self.batch.items.push(Item::Function(code.to_vec()?));
                }
                Record::Aux { key, value } if opts.resp.target.is_none() => {
                    // Commands for the server that wrote the file, unless told otherwise.
                    let v = value.to_string_lossy();
                    let target = match key.to_vec()?.as_slice() {
                        b"valkey-ver" => {
                            self.writer_is_valkey = true;
                            Target::parse(&format!("valkey-{v}")).ok()
                        }
                        b"redis-ver" if !self.writer_is_valkey => Target::parse(&v).ok(),
                        _ => continue,
                    };
                    // Keys before this record were read for the previous target.
                    self.close(out)?;
                    self.batch.ctx.resp.target = target;
                }
                Record::FunctionPreGa { .. } if opts.functions => {
                    *self.summary.lost.entry(Loss::PreGaFunction).or_default() += 1;
                }
                _ => {}
            }
            if self.batch.is_full() {
                self.close(out)?;
            }
        }
        self.close(out)?;
        let t = r.trailer()?;
        Ok(data.len() - t.trailing_bytes as usize)
    }
}

/// Receives each batch, in file order; returns the vectors of a written one to reuse.
type Out<'f, 'a, 'o> = dyn FnMut(Batch<'a, 'o>) -> Result<Spare<'a>, ExportError> + 'f;

/// Walks the RDB in `data` on this thread, handing each batch to `out` in file order.
pub(super) fn walk<'a, 'o>(
    data: &'a [u8],
    ctx: Ctx<'o>,
    selected: Option<u64>,
    objects: u64,
    out: &mut Out<'_, 'a, 'o>,
) -> Result<WalkEnd<'o>, ExportError> {
    let mut w = Walker {
        batch: Batch::new(ctx, selected, objects),
        summary: Summary::default(),
        writer_is_valkey: false,
    };
    let end = w.walk(data, out)?;
    Ok(WalkEnd {
        end,
        selected: w.batch.selected,
        objects: w.batch.objects,
        ctx: w.batch.ctx,
        summary: w.summary,
    })
}

/// A batch ready to be written, in file order.
pub(super) enum Ready<'r, 'a, 'o> {
    /// Formatted output, and what it holds.
    Formatted(&'r [u8], &'r Summary),
    /// To be formatted straight into the output.
    InPlace(&'r Batch<'a, 'o>),
}

/// What travels from the walker and the workers to the writing thread.
enum Message<'a, 'o> {
    Formatted {
        buf: Vec<u8>,
        spare: Spare<'a>,
        summary: Summary,
        err: Option<ExportError>,
        offset: u64,
    },
    InPlace(Batch<'a, 'o>, Vec<u8>),
    End(Result<WalkEnd<'o>, ExportError>),
}

/// [`walk`] on another thread, batches formatted by `workers` threads; `write` gets
/// them in file order on this thread, `progress` the input offset reached.
pub(super) fn parallel<'a, 'o>(
    data: &'a [u8],
    ctx: Ctx<'o>,
    selected: Option<u64>,
    objects: u64,
    workers: usize,
    write: &mut dyn FnMut(Ready<'_, 'a, 'o>) -> Result<(), ExportError>,
    progress: &mut dyn FnMut(u64),
) -> Result<WalkEnd<'o>, ExportError> {
    let buffers = BUFFERS_PER_WORKER * workers + 1;
    std::thread::scope(|s| {
        let (job_tx, job_rx) = sync_channel::<(u64, Batch<'a, 'o>, Vec<u8>)>(workers);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (done_tx, done_rx) = channel::<(u64, Message<'a, 'o>)>();
        let (free_tx, free_rx) = channel::<(Vec<u8>, Spare<'a>)>();
        for _ in 0..buffers {
            let _ = free_tx.send(Default::default());
        }
        for _ in 0..workers {
            let (jobs, done) = (Arc::clone(&job_rx), done_tx.clone());
            s.spawn(move || loop {
                let job = jobs
                    .lock()
                    .map_err(|_| ())
                    .and_then(|j| j.recv().map_err(|_| ()));
                let Ok((seq, batch, buf)) = job else { break };
                let (buf, summary, err) = batch.format_to_memory(buf);
                let offset = batch.offset;
                let m = Message::Formatted {
                    buf,
                    spare: batch.into_spare(),
                    summary,
                    err,
                    offset,
                };
                if done.send((seq, m)).is_err() {
                    break;
                }
            });
        }
        drop(job_rx);
        let walker_done = done_tx.clone();
        drop(done_tx);
        s.spawn(move || {
            let mut seq = 0u64;
            let stopped = || ExportError::Io(std::io::Error::other("export stopped"));
            let end = walk(data, ctx, selected, objects, &mut |batch| {
                // Waiting for a free buffer bounds the batches in flight.
                let (buf, spare) = free_rx.recv().map_err(|_| stopped())?;
                let sent = if batch.in_place {
                    walker_done
                        .send((seq, Message::InPlace(batch, buf)))
                        .is_ok()
                } else {
                    job_tx.send((seq, batch, buf)).is_ok()
                };
                seq += 1;
                sent.then_some(spare).ok_or_else(stopped)
            });
            drop(job_tx);
            let _ = walker_done.send((seq, Message::End(end)));
        });
        let r = write_in_order(done_rx, free_tx, write, progress);
        // Returning drops the channels' ends here: the walker and workers stop.
        r
    })
}

/// The writing thread's side of [`parallel`]: messages are numbered, and written in
/// that order.
fn write_in_order<'a, 'o>(
    done: Receiver<(u64, Message<'a, 'o>)>,
    free: std::sync::mpsc::Sender<(Vec<u8>, Spare<'a>)>,
    write: &mut dyn FnMut(Ready<'_, 'a, 'o>) -> Result<(), ExportError>,
    progress: &mut dyn FnMut(u64),
) -> Result<WalkEnd<'o>, ExportError> {
    let mut early: BTreeMap<u64, Message<'a, 'o>> = BTreeMap::new();
    let mut next = 0u64;
    loop {
        let m = match early.remove(&next) {
            Some(m) => m,
            None => {
                let (seq, m) = done.recv().map_err(|_| {
                    ExportError::Io(std::io::Error::other("an export thread stopped"))
                })?;
                if seq != next {
                    early.insert(seq, m);
                    continue;
                }
                m
            }
        };
        next += 1;
        match m {
            Message::Formatted {
                buf,
                spare,
                summary,
                err,
                offset,
            } => {
                write(Ready::Formatted(&buf, &summary))?;
                if let Some(e) = err {
                    return Err(e);
                }
                progress(offset);
                let _ = free.send((buf, spare));
            }
            Message::InPlace(batch, buf) => {
                write(Ready::InPlace(&batch))?;
                progress(batch.offset);
                let _ = free.send((buf, batch.into_spare()));
            }
            Message::End(end) => return end,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::run::{export_bytes, Format, Options};
    use crate::filter::{DbMap, KeyFilter};

    fn export(data: &[u8], format: Format, threads: usize) -> (Vec<u8>, String) {
        let opts = Options {
            format,
            filter: KeyFilter::default(),
            db_map: DbMap::default(),
            rename_prefixes: Vec::new(),
            bytes: Default::default(),
            resp: Default::default(),
            functions: true,
            threads,
        };
        let mut out = Vec::new();
        let r = export_bytes(data, &opts, &mut out, &mut |_| {});
        let outcome = match r {
            Ok(s) => format!("ok: {} keys, {} commands", s.keys, s.commands),
            Err(e) => format!("error: {e}"),
        };
        (out, outcome)
    }

    /// Tests use tiny batches and a tiny in-place threshold, so these files go through
    /// many batches, in-place values between them, and damage in the middle.
    #[test]
    fn threads_write_what_one_thread_writes() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
        let mut files = vec![dir.join("sample-redis-7.2.rdb")];
        for e in std::fs::read_dir(dir.join("regress")).unwrap() {
            files.push(e.unwrap().path());
        }
        for f in files {
            let data = std::fs::read(&f).unwrap();
            // A copy cut short: the damage is at the end.
            let cut = &data[..data.len() * 2 / 3];
            for input in [&data[..], cut] {
                for format in [Format::Jsonl, Format::Json, Format::Resp, Format::Csv] {
                    let one = export(input, format, 1);
                    assert!(!one.0.is_empty() || one.1.starts_with("error"), "{f:?}");
                    for threads in [2, 3] {
                        let many = export(input, format, threads);
                        assert_eq!(one.1, many.1, "{f:?} {format:?} {threads}");
                        assert!(
                            one.0 == many.0,
                            "{f:?} {format:?} {threads}: output differs"
                        );
                    }
                }
            }
        }
    }
}
