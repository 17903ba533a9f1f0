//! The fast scan behind `stats` and `keys`: records are skimmed (no per-element
//! checks, see [`Depth::Skim`]) by one thread over the memory-mapped file and handed
//! in batches to worker threads (the reader takes a batch itself when they are all
//! busy), which decode key names, apply the key filter, count elements from blob
//! headers and estimate memory. Each worker feeds its own
//! sink (a [`Stats`](crate::analyze::stats::Stats) or a row writer); the caller merges them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};

use crate::analyze::elements;
use crate::analyze::memory::MemoryModel;
use crate::analyze::stats::KeyFacts;
use crate::error::{Error, ErrorKind};
use crate::filter::KeyFilter;
use crate::rdb::stream_reader::StreamError;
use crate::rdb::{Checker, Depth, Header, KeyRecord, RdbReader, RdbStr, RdbStream, Record};

/// What the file says about itself (its AUX fields before the first key).
#[derive(Clone, Debug, Default)]
pub struct FileInfo {
    pub header: Option<Header>,
    /// AUX `ctime`, Unix seconds.
    pub ctime: Option<i64>,
    /// `redis 7.0.15`, `valkey 9.1.2`...
    pub producer: Option<String>,
    /// The version as the memory model takes it: `7.0.15`, or `valkey-8.1.1` (Valkey
    /// files also carry a `redis-ver` of the Redis release they are compatible with).
    pub server_version: Option<String>,
}

impl FileInfo {
    /// Takes what the memory model and the report need from an AUX field.
    fn aux(&mut self, key: &RdbStr<'_>, value: &RdbStr<'_>) {
        let v = value.to_string_lossy();
        match key.to_string_lossy().as_str() {
            "ctime" => self.ctime = value.to_i64(),
            "redis-ver" if self.producer.is_none() => {
                self.producer = Some(format!("redis {v}"));
                self.server_version = Some(v);
            }
            "valkey-ver" => {
                self.producer = Some(format!("valkey {v}"));
                self.server_version = Some(format!("valkey-{v}"));
            }
            _ => {}
        }
    }
}

/// How a scan ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Truncated,
    Corrupt,
    Unsupported,
    Unreadable,
}

impl Status {
    pub fn of(e: &Error) -> Status {
        match e.kind() {
            ErrorKind::Truncated { .. } => Status::Truncated,
            ErrorKind::Corrupt(_) => Status::Corrupt,
            ErrorKind::Unsupported(_) => Status::Unsupported,
        }
    }
}

pub struct Outcome<S> {
    pub info: FileInfo,
    /// One per worker (one when the scan ran inline).
    pub sinks: Vec<S>,
    /// The first failure in file order; keys before it were all handed to sinks.
    pub error: Option<Error>,
}

/// What a worker needs for every key.
pub struct Scope<'f> {
    pub filter: KeyFilter,
    pub model: MemoryModel,
    pub info: &'f FileInfo,
}

/// Makes a worker's sink.
pub type NewSink<'a, S> = dyn Fn(&FileInfo) -> S + Sync + 'a;
/// Hands one key (name and facts) to a sink; an error (a closed output) stops the scan.
pub type AddKey<'a, S> = dyn Fn(&mut S, &[u8], &KeyFacts) -> std::io::Result<()> + Sync + 'a;

/// Records handed from the reader to a worker at a time.
const BATCH: usize = 1024;

/// Scans `data` with `workers` threads besides the reader (0: everything inline, in
/// file order). `filter_for` builds the key filter from the file's ctime (ms).
pub fn scan<S: Send>(
    data: &[u8],
    workers: usize,
    filter_for: &(dyn Fn(Option<i64>) -> KeyFilter + Sync),
    new_sink: &NewSink<'_, S>,
    add: &AddKey<'_, S>,
) -> Outcome<S> {
    let mut info = FileInfo::default();
    let mut reader = match RdbReader::new(data, Checker::with_depth(Depth::Skim)) {
        Ok(r) => r,
        Err(e) => {
            info.header = Header::parse(data).ok();
            return Outcome {
                info,
                sinks: vec![],
                error: Some(e),
            };
        }
    };
    info.header = Some(reader.header());
    // AUX fields come first: read them before building the model and the filter.
    let first = loop {
        match reader.next_record() {
            Ok(Some(Record::Aux { key, value })) => info.aux(&key, &value),
            Ok(Some(Record::Key(k))) => break Ok(Some(k)),
            Ok(Some(Record::Eof)) | Ok(None) => break Ok(None),
            Ok(Some(_)) => {}
            Err(e) => break Err(e),
        }
    };
    let scope = Scope {
        filter: filter_for(info.ctime.map(|s| s.saturating_mul(1000))),
        model: MemoryModel::new(reader.header(), info.server_version.as_deref()),
        info: &info,
    };
    let first = match first {
        Ok(k) => k,
        Err(e) => {
            let sinks = vec![new_sink(&info)];
            return Outcome {
                sinks,
                error: Some(e),
                info,
            };
        }
    };
    let (sinks, error) = if workers == 0 {
        inline(&mut reader, first, &scope, new_sink, add)
    } else {
        threaded(&mut reader, first, workers, &scope, new_sink, add)
    };
    Outcome { sinks, error, info }
}

/// [`scan`] over a byte stream (standard input) instead of a mapped file: records are
/// parsed one at a time, memory bounded by the largest record, and handed inline to one
/// sink in file order. Returns the outcome and the bytes consumed; `Err` when reading
/// the input itself failed.
pub fn scan_stream<S>(
    src: impl std::io::Read,
    filter_for: &(dyn Fn(Option<i64>) -> KeyFilter + Sync),
    new_sink: &NewSink<'_, S>,
    add: &AddKey<'_, S>,
) -> std::io::Result<(Outcome<S>, u64)> {
    let mut stream = RdbStream::new(src, Checker::with_depth(Depth::Skim));
    let mut info = FileInfo::default();
    // Built at the first key, once the AUX fields are known.
    let mut keyed: Option<(KeyFilter, MemoryModel, S)> = None;
    let mut scratch = Scratch::default();
    let mut keys = 0u64;
    let mut stopped = false;
    let result = stream.header().and_then(|h| {
        info.header = Some(h);
        stream.for_each(|rec, _| match rec {
            Record::Aux { key, value } => {
                if keyed.is_none() {
                    info.aux(key, value);
                }
                Ok(())
            }
            Record::Key(k) => {
                let (filter, model, sink) = keyed.get_or_insert_with(|| {
                    (
                        filter_for(info.ctime.map(|s| s.saturating_mul(1000))),
                        MemoryModel::new(h, info.server_version.as_deref()),
                        new_sink(&info),
                    )
                });
                keys += 1;
                if visit(k, keys - 1, filter, model, &mut scratch, sink, add)? {
                    Ok(())
                } else {
                    // the sink's output closed: end the run (not an error in the file)
                    stopped = true;
                    Err(Error::corrupt(k.offset, "output closed"))
                }
            }
            _ => Ok(()),
        })
    });
    let bytes = stream.offset();
    let error = match result {
        Ok(_) => None,
        Err(StreamError::Io(e)) => return Err(e),
        Err(StreamError::Rdb(_)) if stopped => None,
        Err(StreamError::Rdb(e)) => Some(e),
    };
    let sinks = match keyed {
        Some((_, _, sink)) => vec![sink],
        None => vec![new_sink(&info)],
    };
    Ok((Outcome { info, sinks, error }, bytes))
}

/// Computes a key's facts; errors carry the key's context.
pub fn facts(
    k: &KeyRecord<'_>,
    key: &[u8],
    keys_before: u64,
    model: &MemoryModel,
    buf: &mut Vec<u8>,
) -> Result<KeyFacts, Error> {
    let ctx = |e: Error| {
        e.with_type(k.info.check_name)
            .with_key(k.db, Some(key.to_vec()), keys_before)
            .at_record(k.offset)
    };
    Ok(KeyFacts {
        db: k.db.unwrap_or(0),
        kind: k.info.kind,
        encoding: encoding(k, key.len(), model),
        elements: elements::count(k, buf).map_err(ctx)?,
        serialized_bytes: k.value_info.stored_bytes,
        memory: model.estimate(k, key).map_err(ctx)?,
        expire_at_ms: k.expire_ms,
        idle_seconds: k.idle_seconds,
        lfu_freq: k.lfu_freq,
    })
}

/// The encoding: for strings the one the server gives them on load (`int` when the
/// text is a canonical 64-bit integer, else `embstr` or `raw` by the size rule of the
/// server that wrote the file); for other types the encoding stored in the file.
pub fn encoding(k: &KeyRecord<'_>, key_len: usize, model: &MemoryModel) -> &'static str {
    use crate::rdb::{RdbStr, Value};
    let Value::String(s) = k.value else {
        return k.info.encoding;
    };
    let embeds = match model.valkey {
        Some(layout) => layout.embeds(key_len, s.len(), k.expire_ms.is_some()),
        None => s.len() <= 44,
    };
    match s {
        RdbStr::Int(_) => "int",
        RdbStr::Raw(b) if crate::analyze::memory::is_canonical_long(b) => "int",
        _ if embeds => "embstr",
        _ => "raw",
    }
}

/// Per-worker scratch buffers.
#[derive(Default)]
struct Scratch {
    key: Vec<u8>,
    blob: Vec<u8>,
}

/// Hands one key to `sink` if it passes the filter. `Ok(false)` stops the scan
/// (the sink's output closed).
fn visit<S>(
    k: &KeyRecord<'_>,
    keys_before: u64,
    filter: &KeyFilter,
    model: &MemoryModel,
    scratch: &mut Scratch,
    sink: &mut S,
    add: &AddKey<'_, S>,
) -> Result<bool, Error> {
    let key = k
        .key
        .decode(&mut scratch.key)
        .map_err(|e| e.reading("the key name").at_record(k.offset))?;
    if !filter.is_pass_all() && !filter.matches(k, key) {
        return Ok(true);
    }
    let f = facts(k, key, keys_before, model, &mut scratch.blob)?;
    Ok(add(sink, key, &f).is_ok())
}

fn inline<S>(
    reader: &mut RdbReader<'_>,
    first: Option<KeyRecord<'_>>,
    scope: &Scope<'_>,
    new_sink: &NewSink<'_, S>,
    add: &AddKey<'_, S>,
) -> (Vec<S>, Option<Error>) {
    let mut sink = new_sink(scope.info);
    let mut scratch = Scratch::default();
    let mut next = first;
    let error = loop {
        if let Some(k) = next.take() {
            match visit(
                &k,
                reader.keys_read() - 1,
                &scope.filter,
                &scope.model,
                &mut scratch,
                &mut sink,
                add,
            ) {
                Ok(true) => {}
                Ok(false) => break None,
                Err(e) => break Some(e),
            }
        }
        match reader.next_record() {
            Ok(Some(Record::Key(k))) => next = Some(k),
            Ok(Some(Record::Eof)) | Ok(None) => break None,
            Ok(Some(_)) => {}
            Err(e) => break Some(e),
        }
    };
    (vec![sink], error)
}

/// Shared by the reader and the workers of a threaded scan.
struct Shared<'s, 'f, S> {
    scope: &'s Scope<'f>,
    add: &'s AddKey<'s, S>,
    stop: AtomicBool,
    /// The earliest failure in a key, by file offset.
    failed: Mutex<Option<(u64, Error)>>,
}

impl<S> Shared<'_, '_, S> {
    /// Hands a batch's keys to `sink`; false once the scan must stop.
    fn run_batch(
        &self,
        keys_before: u64,
        batch: &[KeyRecord<'_>],
        scratch: &mut Scratch,
        sink: &mut S,
    ) -> bool {
        for (i, k) in batch.iter().enumerate() {
            match visit(
                k,
                keys_before + i as u64,
                &self.scope.filter,
                &self.scope.model,
                scratch,
                sink,
                self.add,
            ) {
                Ok(true) => {}
                Ok(false) => {
                    self.stop.store(true, Ordering::Relaxed);
                    return false;
                }
                Err(e) => {
                    let mut f = self.failed.lock().unwrap_or_else(|p| p.into_inner());
                    if f.as_ref().is_none_or(|(at, _)| k.offset < *at) {
                        *f = Some((k.offset, e));
                    }
                    self.stop.store(true, Ordering::Relaxed);
                    return false;
                }
            }
        }
        !self.stop.load(Ordering::Relaxed)
    }
}

/// The reader thread parses records and queues batches for `workers` threads; when
/// the queue is full it works through the batch itself instead of waiting, so on N
/// cores N-1 workers plus the reader keep every core busy without oversubscribing.
fn threaded<'a, S: Send>(
    reader: &mut RdbReader<'a>,
    first: Option<KeyRecord<'a>>,
    workers: usize,
    scope: &Scope<'_>,
    new_sink: &NewSink<'_, S>,
    add: &AddKey<'_, S>,
) -> (Vec<S>, Option<Error>) {
    let shared = Shared {
        scope,
        add,
        stop: AtomicBool::new(false),
        failed: Mutex::new(None),
    };
    let (tx, rx) = mpsc::sync_channel::<(u64, Vec<KeyRecord<'a>>)>(2 * workers + 2);
    let rx = Mutex::new(rx);
    let (sinks, scan_error) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let (rx, shared) = (&rx, &shared);
                s.spawn(move || {
                    let mut sink = new_sink(scope.info);
                    let mut scratch = Scratch::default();
                    while let Ok((keys_before, batch)) = rx
                        .lock()
                        .map_err(|_| ())
                        .and_then(|r| r.recv().map_err(|_| ()))
                    {
                        if !shared.run_batch(keys_before, &batch, &mut scratch, &mut sink) {
                            break;
                        }
                    }
                    sink
                })
            })
            .collect();
        let mut own_sink = new_sink(scope.info);
        let mut own_scratch = Scratch::default();
        let mut batch: Vec<KeyRecord<'a>> = Vec::with_capacity(16);
        batch.extend(first);
        let mut keys_before = 0u64;
        let scan_error = loop {
            if batch.len() >= BATCH {
                let full = std::mem::take(&mut batch);
                let n = full.len() as u64;
                if shared.stop.load(Ordering::Relaxed) {
                    break None;
                }
                match tx.try_send((keys_before, full)) {
                    Ok(()) => batch = Vec::with_capacity(BATCH),
                    Err(mpsc::TrySendError::Full((_, mut full))) => {
                        let more =
                            shared.run_batch(keys_before, &full, &mut own_scratch, &mut own_sink);
                        full.clear();
                        batch = full;
                        if !more {
                            break None;
                        }
                    }
                    Err(mpsc::TrySendError::Disconnected(_)) => break None,
                }
                keys_before += n;
            }
            match reader.next_record() {
                Ok(Some(Record::Key(k))) => batch.push(k),
                Ok(Some(Record::Eof)) | Ok(None) => break None,
                Ok(Some(_)) => {}
                Err(e) => break Some(e),
            }
        };
        if !batch.is_empty() && !shared.stop.load(Ordering::Relaxed) {
            shared.run_batch(keys_before, &batch, &mut own_scratch, &mut own_sink);
        }
        drop(tx);
        let mut sinks: Vec<S> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect();
        sinks.push(own_sink);
        (sinks, scan_error)
    });
    let worker_error = shared
        .failed
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    // A key's failure lies in a record the reader passed, so it comes first in the file.
    let error = match (worker_error, scan_error) {
        (Some((_, e)), _) => Some(e),
        (None, e) => e,
    };
    (sinks, error)
}
