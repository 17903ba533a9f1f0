//! `rdbkit verify`: proves a file is whole, or says exactly where and why it is not.
//!
//! Reads every record with deep checks, recomputes the CRC-64, and condenses the
//! outcome into a [`Report`] whose JSON shape is documented in the README.

pub mod load;
mod report;
pub mod sidecar;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

pub use report::{Checksum, DbCounts, ErrorReport, Report, Status};

use crate::error::{display_key, Error, ErrorKind};
use crate::rdb::record::{check_value, Record};
use crate::rdb::stream_reader::StreamError;
use crate::rdb::value::is_plain;
use crate::rdb::{Checker, Depth, Header, RdbReader, RdbStream, Trailer};
use std::sync::atomic::{AtomicBool, Ordering};

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
}

impl Tally {
    fn new(path: &str) -> Self {
        Tally {
            report: Report::new(path),
            ctime_ms: None,
            dbs: BTreeMap::new(),
        }
    }

    fn finish(mut self) -> Report {
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
            Record::Key(k) => {
                r.keys += 1;
                match r.types.get_mut(k.info.kind.name()) {
                    Some(n) => *n += 1,
                    None => {
                        r.types.insert(k.info.kind.name().to_string(), 1);
                    }
                }
                let db = self.dbs.entry(k.db.unwrap_or(0)).or_default();
                db.keys += 1;
                if let Some(e) = k.expire_ms {
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
            _ => {}
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

/// Verifies an RDB held in memory.
///
/// Two threads share the work: one scans the file (finds where each record ends,
/// and deep-checks the plain collections it walks anyway), the other re-reads every
/// other value with the deep checks and tallies records in file order. The first failure in file order wins, exactly as
/// in a single pass.
pub fn verify_bytes(path: &str, data: &[u8]) -> Report {
    verify_bytes_with_progress(path, data, &no_progress)
}

/// [`verify_bytes`], reporting progress once per batch of records.
pub fn verify_bytes_with_progress(path: &str, data: &[u8], progress: Progress<'_>) -> Report {
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
    let (scan, mut t, failed) = std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(Record<'_>, Vec<String>)>>(8);
        let stop = &stop;
        let checker = s.spawn(move || {
            let mut chk = Checker::new(true);
            let mut failed = false;
            'batches: for batch in rx {
                for (rec, warnings) in &batch {
                    match rec {
                        Record::Key(k) if !is_plain(k.info.id) => {
                            chk.warnings.clear();
                            if let Err(e) =
                                check_value(k, data, header.dialect, t.report.keys, &mut chk)
                            {
                                t.report.parsed_bytes = k.offset;
                                t.error(&e);
                                failed = true;
                                stop.store(true, Ordering::Relaxed);
                                break 'batches;
                            }
                            t.record(rec, &chk.warnings);
                        }
                        _ => t.record(rec, warnings),
                    }
                }
            }
            (t, failed)
        });
        // Start small (tiny files are common in tests and scripts), then full batches.
        let mut batch = Vec::with_capacity(16);
        let scan = loop {
            match reader.next_record() {
                Ok(Some(rec)) => {
                    let eof = matches!(rec, Record::Eof);
                    let warnings = reader.warnings().to_vec();
                    batch.push((rec, warnings));
                    if eof {
                        break Ok(());
                    }
                    if batch.len() == BATCH {
                        progress(reader.offset(), data.len() as u64);
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        if tx.send(full).is_err() || stop.load(Ordering::Relaxed) {
                            break Ok(());
                        }
                    }
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        if !batch.is_empty() {
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
            let computed = reader.computed_checksum().unwrap_or(0);
            t.trailer(&tr, computed);
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
                _ => {
                    let r = verify_bytes_with_progress(&shown, data, progress);
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
