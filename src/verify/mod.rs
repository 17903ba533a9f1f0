//! `rdbkit verify`: proves a file is whole, or says exactly where and why it is not.
//!
//! Reads every record with deep checks, recomputes the CRC-64, and condenses the
//! outcome into a [`Report`] whose JSON shape is documented in the README.

mod crc_ahead;
pub mod dir;
pub mod load;
mod report;
pub mod sidecar;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

pub use report::{Checksum, DbCounts, ErrorReport, Report, Status};

use crate::error::{display_key, Error, ErrorKind};
use crate::rdb::record::{check_value, KeySpan, Record};
use crate::rdb::stream_reader::StreamError;
use crate::rdb::types::Kind;
use crate::rdb::value::is_plain;
use crate::rdb::{Checker, Depth, Header, KeyRecord, RdbReader, RdbStr, RdbStream, Trailer, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Keep at most this many warning texts per file (the count is always exact).
const MAX_WARNINGS: usize = 50;

/// Called now and then with (bytes read, total bytes) during a long verification.
pub type Progress<'p> = &'p (dyn Fn(u64, u64) + Sync);

#[derive(Clone, Debug)]
pub struct Options {
    /// Memory-map files (default) instead of reading them into memory.
    pub mmap: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { mmap: true }
    }
}

fn no_progress(_: u64, _: u64) {}

/// Collects what the records say, shared by the slice and streaming paths.
struct Tally {
    report: Report,
    ctime_ms: Option<i64>,
    /// Per-db counts by number (the report's map is keyed by text for JSON).
    dbs: BTreeMap<u64, DbCounts>,
    /// Counts of the db of the latest keys, added to `dbs` when another db's keys
    /// start and at the end (a db's keys are contiguous: no map lookup per key).
    current: Option<(u64, DbCounts)>,
    /// Keys per type, by `Kind` discriminant (the report's map is built at the end).
    kinds: [(Kind, u64); 7],
}

impl Tally {
    fn new(path: &str) -> Self {
        Tally {
            report: Report::new(path),
            ctime_ms: None,
            dbs: BTreeMap::new(),
            current: None,
            kinds: Kind::ALL.map(|k| (k, 0)),
        }
    }

    fn flush_db(&mut self) {
        if let Some((n, c)) = self.current.take() {
            let db = self.dbs.entry(n).or_default();
            db.keys += c.keys;
            db.expires += c.expires;
        }
    }

    fn finish(mut self) -> Report {
        self.flush_db();
        for (kind, n) in self.kinds {
            if n > 0 {
                self.report.types.insert(kind.name().to_string(), n);
            }
        }
        self.report.dbs = self
            .dbs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        self.report
    }

    fn header(&mut self, h: &Header) {
        self.report.rdb_version = Some(h.version);
        self.report.magic = Some(h.magic_name());
    }

    fn warn(&mut self, w: String) {
        self.report.warnings_total += 1;
        if self.report.warnings.len() < MAX_WARNINGS {
            self.report.warnings.push(w);
        }
    }

    fn record(&mut self, rec: &Record<'_>, warnings: &[String]) {
        if !matches!(rec, Record::Key(_)) {
            for w in warnings {
                self.warn(w.clone());
            }
        }
        let r = &mut self.report;
        match rec {
            Record::Aux { key, value } => {
                let k = key.to_string_lossy();
                let v = value.to_string_lossy();
                match k.as_str() {
                    "redis-ver" if r.producer.is_none() => r.producer = Some(format!("redis {v}")),
                    "valkey-ver" => r.producer = Some(format!("valkey {v}")),
                    "df-ver" => r.producer = Some(format!("dragonfly {v}")),
                    "ctime" => {
                        if let Some(t) = value.to_i64() {
                            r.ctime = Some(t);
                            self.ctime_ms = Some(t.saturating_mul(1000));
                        }
                    }
                    _ => {}
                }
                // Repeated AUX keys (lua scripts, slot-info) are counted, the last kept.
                r.aux.insert(k, v);
            }
            Record::Function { .. } | Record::FunctionPreGa { .. } => r.functions += 1,
            Record::ModuleAux { .. } => r.module_aux += 1,
            Record::Key(k) => self.key(&KeySpan::of(k), k.expire_ms, warnings),
            _ => {}
        }
    }

    #[inline]
    fn key(&mut self, k: &KeySpan<'_>, expire_ms: Option<i64>, warnings: &[String]) {
        let n = k.db.unwrap_or(0);
        if self.current.is_some_and(|(d, _)| d != n) {
            self.flush_db();
        }
        let (_, db) = self.current.get_or_insert((n, DbCounts::default()));
        let r = &mut self.report;
        r.keys += 1;
        self.kinds[k.info.kind as usize].1 += 1;
        db.keys += 1;
        if let Some(e) = expire_ms {
            r.expires += 1;
            db.expires += 1;
            if self.ctime_ms.is_some_and(|now| e < now) {
                r.already_expired += 1;
            }
        }
        for w in warnings {
            let msg = format!(
                "key \"{}\" (db {}): {w}",
                display_key(&k.key.to_vec().unwrap_or_default()),
                k.db.unwrap_or(0)
            );
            self.warn(msg);
        }
    }

    fn error(&mut self, e: &Error) {
        let r = &mut self.report;
        r.status = match e.kind() {
            ErrorKind::Truncated { .. } => Status::Truncated,
            ErrorKind::Corrupt(_) => Status::Corrupt,
            ErrorKind::Unsupported(_) => Status::Unsupported,
        };
        let c = e.context();
        r.error = Some(ErrorReport {
            offset: e.offset(),
            db: c.db,
            key: c.key.as_deref().map(display_key),
            type_name: c.type_name,
            reading: c.reading,
            message: e.message(),
            text: e.to_string(),
            keys_before: c.keys_before.unwrap_or(r.keys),
            record_offset: c.record_offset,
        });
    }

    fn trailer(&mut self, t: &Trailer, computed: u64) {
        let r = &mut self.report;
        r.parsed_bytes = t.eof_offset + 1 + if t.stored_checksum.is_some() { 8 } else { 0 };
        r.trailing_bytes = t.trailing_bytes;
        if t.trailing_bytes > 0 {
            let n = t.trailing_bytes;
            self.warn(format!(
                "{n} trailing byte{} after the end of the RDB (ignored by the server)",
                if n == 1 { "" } else { "s" }
            ));
        }
        let r = &mut self.report;
        if let Some(stored) = t.stored_checksum {
            let c = Checksum::new(stored, computed);
            if !c.ok && !c.disabled {
                r.status = Status::ChecksumMismatch;
            }
            r.checksum = Some(c);
        }
    }
}

/// Records handed from the scanning thread to the checking thread at a time.
const BATCH: usize = 2048;

/// Who deep-checks a batch, by how many batches are queued for (or being checked by)
/// the checking thread when the scanner starts it. With a backlog of `full_at`, the
/// scanner checks the whole batch itself instead of racing ahead and then idling;
/// below `skim_below` (the checker is about to run dry) it leaves even the plain
/// collections to the checker; in between it checks the plain collections, which it
/// walks element by element anyway.
#[derive(Clone, Copy, Debug)]
struct Split {
    full_at: usize,
    skim_below: usize,
    /// A batch also ends once it spans this many bytes of the file: 2048 big values
    /// (streams, large collections) are a lot of checking, and what the checker has
    /// queued when the scan ends is time the scanner only waits.
    batch_bytes: usize,
}

/// A backlog of several batches before the scanner takes on deep checks: a batch the
/// scanner checks itself can take it as long as a few of the checker's, and the
/// checker must not run dry meanwhile. Measured on the 1 GB benchmark file: with
/// (6, 3) the checker waits for work 35 ms in all instead of the 115 ms of (3, 2),
/// and the whole run is 4-5% faster.
const SPLIT: Split = Split {
    full_at: 6,
    skim_below: 3,
    batch_bytes: 1 << 20,
};

impl Split {
    fn depth(&self, queued: usize) -> Depth {
        if queued >= self.full_at {
            Depth::Full
        } else if queued < self.skim_below {
            Depth::Skim
        } else {
            Depth::Plain
        }
    }
}

/// A record as the scanner passes it on. Keys travel as the few fields the checker
/// needs (112 bytes, not the 248 of a `Record`), so filling and draining batches
/// moves little memory per record.
enum Scanned<'a> {
    Key {
        span: KeySpan<'a>,
        expire_ms: Option<i64>,
        /// The scanner read the value with the full deep checks; nothing left to check.
        checked: bool,
    },
    /// Any other record (a few per file).
    Other(Box<Record<'a>>),
}

/// A batch of records and the scanner's warnings about some of them (by index; for
/// a key, complete when it is `checked`).
#[derive(Default)]
struct Batch<'a> {
    records: Vec<Scanned<'a>>,
    warnings: Vec<(usize, Vec<String>)>,
}

impl Batch<'_> {
    fn with_capacity(n: usize) -> Self {
        Batch {
            records: Vec::with_capacity(n),
            warnings: Vec::new(),
        }
    }
}

/// Whether `depth` left nothing of a key to check. A string stored raw or as an
/// integer is settled at any depth: the deep checks only walk LZF framing.
fn settled(k: &KeyRecord<'_>, depth: Depth) -> bool {
    match depth {
        Depth::Full => true,
        Depth::Plain if is_plain(k.info.id) => true,
        _ => matches!(k.value, Value::String(RdbStr::Raw(_) | RdbStr::Int(_))),
    }
}

/// Verifies an RDB held in memory.
///
/// Two threads share the work: one scans the file (finds where each record ends,
/// deep-checks the plain collections it walks anyway, and sums the CRC-64), the
/// other re-reads every other value with the deep checks and tallies records in file
/// order. Whenever the checker has a backlog, the scanner deep-checks its next batch
/// itself, so both threads stay busy to the end. The first failure in file order
/// wins, exactly as in a single pass.
pub fn verify_bytes(path: &str, data: &[u8]) -> Report {
    verify_bytes_with_progress(path, data, &no_progress)
}

/// [`verify_bytes`], reporting progress once per batch of records.
pub fn verify_bytes_with_progress(path: &str, data: &[u8], progress: Progress<'_>) -> Report {
    verify_shared(path, data, progress, &|_, _| {}, SPLIT)
}

/// Bytes whose pages the scanner maps at a time, ahead of reading them.
const PREFETCH: usize = 8 << 20;

/// The two-thread verification; `split` decides who checks what (tests force every
/// extreme), and the scanner calls `prefetch(offset, len)` for the bytes it is about
/// to read.
fn verify_shared(
    path: &str,
    data: &[u8],
    progress: Progress<'_>,
    prefetch: &dyn Fn(usize, usize),
    split: Split,
) -> Report {
    let mut t = Tally::new(path);
    t.report.bytes = data.len() as u64;
    // The scanner checks plain collections itself (it walks them element by element
    // anyway); the checker thread re-reads everything else with the deep checks.
    let mut reader = match RdbReader::new(data, Checker::with_depth(Depth::Plain)) {
        Ok(r) => r,
        Err(e) => {
            if let Ok(h) = Header::parse(data) {
                t.header(&h);
            }
            t.error(&e);
            return t.finish();
        }
    };
    let header = reader.header();
    t.header(&header);
    let stop = AtomicBool::new(false);
    let queued = AtomicUsize::new(0);
    // CRC-64 summed batch by batch a little ahead of the scan (see `crc_ahead`).
    let mut crc = crc_ahead::CrcAhead::new(data);
    crc.advance(0);
    let mut batch_start = 0usize;
    let (scan, mut t, failed) = std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Batch<'_>>(8);
        // Checked batches go back to the scanner to be refilled: no fresh pages to
        // fault in for every batch.
        let (recycle, recycled) = std::sync::mpsc::sync_channel::<Batch<'_>>(4);
        let (stop, queued) = (&stop, &queued);
        let checker = s.spawn(move || {
            let mut chk = Checker::new(true);
            let mut failed = false;
            'batches: for mut batch in rx {
                let mut notes = batch.warnings.iter().peekable();
                for (i, r) in batch.records.iter().enumerate() {
                    let scanned = match notes.peek() {
                        Some((at, w)) if *at == i => {
                            notes.next();
                            w.as_slice()
                        }
                        _ => &[],
                    };
                    match r {
                        Scanned::Key {
                            span,
                            expire_ms,
                            checked: false,
                        } => {
                            chk.warnings.clear();
                            if let Err(e) =
                                check_value(span, data, header.dialect, t.report.keys, &mut chk)
                            {
                                t.report.parsed_bytes = span.offset;
                                t.error(&e);
                                failed = true;
                                stop.store(true, Ordering::Relaxed);
                                break 'batches;
                            }
                            t.key(span, *expire_ms, &chk.warnings);
                        }
                        Scanned::Key {
                            span, expire_ms, ..
                        } => t.key(span, *expire_ms, scanned),
                        Scanned::Other(rec) => t.record(rec, scanned),
                    }
                }
                queued.fetch_sub(1, Ordering::Relaxed);
                batch.records.clear();
                batch.warnings.clear();
                let _ = recycle.try_send(batch);
            }
            (t, failed)
        });
        // Start small (tiny files are common in tests and scripts), then full batches.
        let mut batch = Batch::with_capacity(16);
        prefetch(0, PREFETCH);
        let mut prefetched = PREFETCH;
        let mut depth = split.depth(0);
        reader.set_depth(depth);
        let scan = loop {
            match reader.next_record() {
                Ok(Some(rec)) => {
                    let eof = matches!(rec, Record::Eof);
                    if !reader.warnings().is_empty() {
                        let w = reader.warnings().to_vec();
                        batch.warnings.push((batch.records.len(), w));
                    }
                    batch.records.push(match rec {
                        Record::Key(k) => Scanned::Key {
                            checked: settled(&k, depth),
                            span: KeySpan::of(&k),
                            expire_ms: k.expire_ms,
                        },
                        rec => Scanned::Other(Box::new(rec)),
                    });
                    if eof {
                        break Ok(());
                    }
                    let end = reader.offset() as usize;
                    if batch.records.len() == BATCH || end - batch_start >= split.batch_bytes {
                        progress(reader.offset(), data.len() as u64);
                        if end + PREFETCH / 2 > prefetched && prefetched < data.len() {
                            let from = prefetched.max(end);
                            prefetch(from, PREFETCH);
                            prefetched = from + PREFETCH;
                        }
                        crc.advance(end);
                        batch_start = end;
                        let next = recycled
                            .try_recv()
                            .unwrap_or_else(|_| Batch::with_capacity(BATCH));
                        let full = std::mem::replace(&mut batch, next);
                        queued.fetch_add(1, Ordering::Relaxed);
                        if tx.send(full).is_err() || stop.load(Ordering::Relaxed) {
                            break Ok(());
                        }
                        depth = split.depth(queued.load(Ordering::Relaxed));
                        reader.set_depth(depth);
                    }
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        if !batch.records.is_empty() {
            queued.fetch_add(1, Ordering::Relaxed);
            let _ = tx.send(batch);
        }
        drop(tx);
        let (t, failed) = checker
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (scan, t, failed)
    });
    if failed {
        return t.finish();
    }
    if let Err(e) = scan {
        // The skimming pass failed inside this record; a deep read of the same record
        // may fail earlier in it (e.g. in a stream node listpack), which is the error
        // to report.
        reader.set_depth(Depth::Full);
        let e = reader.next_record().err().unwrap_or(e);
        t.report.parsed_bytes = reader.offset();
        t.error(&e);
        return t.finish();
    }
    match reader.trailer() {
        Ok(tr) => {
            // Everything from the magic through the EOF opcode (the scan stopped
            // right after it).
            t.trailer(&tr, crc.finish(tr.eof_offset as usize + 1));
        }
        Err(e) => t.error(&e),
    }
    t.finish()
}

/// Verifies an RDB read from a stream (stdin), with memory bounded by one record.
pub fn verify_reader(path: &str, src: impl Read) -> Report {
    let mut t = Tally::new(path);
    let mut stream = RdbStream::new(src, Checker::new(true));
    let result = match stream.header() {
        Ok(h) => {
            t.header(&h);
            stream.for_each(|rec, w| {
                t.record(rec, w);
                Ok(())
            })
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(end) => {
            t.trailer(&end.trailer, end.computed_checksum);
            t.report.bytes = t.report.parsed_bytes + end.trailer.trailing_bytes;
        }
        Err(StreamError::Rdb(e)) => {
            t.report.parsed_bytes = e.offset();
            t.report.bytes = stream.offset();
            t.error(&e);
        }
        Err(StreamError::Io(e)) => t.unreadable(&e),
    }
    t.finish()
}

impl Tally {
    fn unreadable(&mut self, e: &std::io::Error) {
        self.report.status = Status::Unreadable;
        self.report.error = Some(ErrorReport::io(e));
    }
}

/// Verifies the file at `path` (`-` for standard input).
pub fn verify_path(path: &Path, opts: &Options) -> Report {
    verify_path_with_progress(path, opts, &no_progress)
}

/// [`verify_path`] with a progress callback (not called for standard input).
pub fn verify_path_with_progress(path: &Path, opts: &Options, progress: Progress<'_>) -> Report {
    let shown = path.display().to_string();
    if shown == "-" {
        use std::io::BufRead;
        let mut stdin = std::io::stdin().lock();
        // A RESP AOF on stdin is read whole (its checks need the bytes after a cut).
        if let Ok([b'*' | b'#', ..]) = stdin.fill_buf() {
            let mut data = Vec::new();
            return match stdin.read_to_end(&mut data) {
                Ok(_) => crate::aof::verify::verify_aof_bytes("-", &data),
                Err(e) => {
                    let mut t = Tally::new("-");
                    t.unreadable(&e);
                    t.finish()
                }
            };
        }
        return verify_reader("-", stdin);
    }
    if path.is_dir() {
        return crate::aof::verify::verify_multipart(path, None).report;
    }
    match crate::source::Source::open(path, opts.mmap) {
        Ok(src) => {
            let data = src.bytes();
            match data.first() {
                Some(b'#' | b'f') if crate::aof::verify::looks_like_manifest(data) => {
                    crate::aof::verify::verify_multipart(path, None).report
                }
                Some(b'*' | b'#') => crate::aof::verify::verify_aof_bytes(&shown, data),
                // The server loads an empty AOF as an empty dataset: whole, but worth a word.
                None if path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("aof")) =>
                {
                    let mut r = crate::aof::verify::verify_aof_bytes(&shown, data);
                    r.warnings
                        .push("empty file: the server loads it as an empty dataset".into());
                    r.warnings_total += 1;
                    r
                }
                _ => {
                    let prefetch = |offset, len| src.prefetch(offset, len);
                    let r = verify_shared(&shown, data, progress, &prefetch, SPLIT);
                    if has_resp_tail(&r, data) {
                        crate::aof::verify::verify_aof_bytes(&shown, data)
                    } else {
                        r
                    }
                }
            }
        }
        Err(e) => {
            let mut t = Tally::new(&shown);
            t.unreadable(&e);
            t.finish()
        }
    }
}

/// True when an RDB is followed by RESP (an RDB-preamble AOF): a few other trailing bytes
/// (a diskless EOF mark, a newline) keep the RDB verdict.
fn has_resp_tail(r: &Report, data: &[u8]) -> bool {
    r.trailing_bytes > 0 && matches!(data.get(r.parsed_bytes as usize), Some(b'*' | b'#'))
}

/// Per-db counts keyed by db number, in numeric order.
pub fn sorted_dbs(dbs: &BTreeMap<String, DbCounts>) -> Vec<(u64, DbCounts)> {
    let mut v: Vec<(u64, DbCounts)> = dbs
        .iter()
        .map(|(k, c)| (k.parse().unwrap_or(0), *c))
        .collect();
    v.sort_by_key(|(k, _)| *k);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::encoding::{listpack, Elem};

    fn put_len(out: &mut Vec<u8>, n: usize) {
        match n {
            0..=63 => out.push(n as u8),
            64..=16383 => out.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]),
            _ => {
                out.push(0x80);
                out.extend_from_slice(&(n as u32).to_be_bytes());
            }
        }
    }

    fn put_str(out: &mut Vec<u8>, s: &[u8]) {
        put_len(out, s.len());
        out.extend_from_slice(s);
    }

    /// An RDB 11 file of `keys` mixed keys (strings, set and hash listpacks, some
    /// empty, some with expiries), with key `bad` (if any) a hash listpack holding a
    /// duplicate field: damage only the deep checks see.
    fn mixed_file(keys: usize, bad: Option<usize>) -> Vec<u8> {
        let mut out = b"REDIS0011".to_vec();
        out.extend_from_slice(&[0xfe, 0]);
        for i in 0..keys {
            if i % 5 == 0 {
                out.push(0xfc);
                out.extend_from_slice(&(1_700_000_000_000i64 + i as i64).to_le_bytes());
            }
            let key = format!("key:{i}");
            let (type_id, value) = match i % 4 {
                0 => (0u8, format!("value {i}").into_bytes()),
                1 => {
                    let m: Vec<String> = (0..i % 7).map(|j| format!("m{j}")).collect();
                    let items: Vec<Elem<'_>> = m.iter().map(|s| Elem::Str(s.as_bytes())).collect();
                    (20, listpack::encode(&items))
                }
                _ => {
                    let dup = Some(i) == bad;
                    let f: Vec<String> = (0..3)
                        .map(|j| format!("f{}", if dup { 0 } else { j }))
                        .collect();
                    let mut items = Vec::new();
                    for (j, f) in f.iter().enumerate() {
                        items.push(Elem::Str(f.as_bytes()));
                        items.push(Elem::Int(j as i64 * 1000));
                    }
                    (16, listpack::encode(&items))
                }
            };
            out.push(type_id);
            put_str(&mut out, key.as_bytes());
            put_str(&mut out, &value);
        }
        out.push(0xff);
        let c = crate::rdb::crc64::checksum(&out);
        out.extend_from_slice(&c.to_le_bytes());
        out
    }

    /// What a single pass decides (a stream counts the bytes after an error differently).
    fn verdict(r: &Report) -> impl PartialEq + std::fmt::Debug + '_ {
        (
            r.status,
            r.keys,
            r.expires,
            &r.dbs,
            &r.error,
            &r.warnings,
            r.warnings_total,
            &r.checksum,
        )
    }

    /// Batches are filled and drained once per record: keep their entries small.
    #[test]
    fn scanned_records_stay_small() {
        assert!(std::mem::size_of::<KeySpan<'static>>() <= 88);
        assert!(std::mem::size_of::<Scanned<'static>>() <= 112);
    }

    #[test]
    fn type_counts_are_indexed_by_kind() {
        for (i, (kind, _)) in Tally::new("").kinds.iter().enumerate() {
            assert_eq!(*kind as usize, i);
        }
    }

    #[test]
    fn scanner_and_checker_give_the_single_pass_verdict() {
        let keys = 5 * BATCH + 17;
        for bad in [None, Some(10), Some(3 * BATCH + 6), Some(keys - 2)] {
            let data = mixed_file(keys, bad);
            for data in [&data[..], &data[..data.len() - 300]] {
                let single = verify_reader("f", data);
                // Every value the checker's; every batch after the first the
                // scanner's; plain collections always the scanner's (in batches of
                // a few records); the default.
                let split = |full_at, skim_below| Split {
                    full_at,
                    skim_below,
                    batch_bytes: SPLIT.batch_bytes,
                };
                let by_checker = verify_shared(
                    "f",
                    data,
                    &no_progress,
                    &|_, _| {},
                    split(usize::MAX, usize::MAX),
                );
                let small = Split {
                    batch_bytes: 200,
                    ..split(usize::MAX, 0)
                };
                for split in [split(0, 0), small, SPLIT] {
                    let r = verify_shared("f", data, &no_progress, &|_, _| {}, split);
                    assert_eq!(r, by_checker, "damage {bad:?}, {split:?}");
                }
                assert_eq!(verdict(&by_checker), verdict(&single), "damage {bad:?}");
                assert!(
                    single.keys < 21 || single.warnings_total > 0,
                    "empty sets warned"
                );
            }
            let whole = verify_bytes("f", &data);
            assert_eq!(whole.is_ok(), bad.is_none(), "{}", whole.human_line());
        }
    }
}
