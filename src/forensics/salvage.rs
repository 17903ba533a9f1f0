//! `salvage`: everything readable from a damaged RDB, written to a new file, and a
//! precise account of what was lost.
//!
//! The walk ([`super::resync::Walker`]) hands over valid records and lost spans in
//! file order; a [`Recovered`] output writes the records; the [`Report`] counts both.
//! Keys inside an unreadable span whose name cannot be read are estimated from the
//! average size of the key records that were read (`estimate_method` says so).

use std::collections::BTreeMap;
use std::io::Write;

use super::resync::{Event, LostRange, Walker};
use crate::error::display_key;
use crate::export::json::{self, JsonOptions};
use crate::export::output::Sink;
use crate::export::resp::{self, RespOptions, Target};
use crate::export::ExportError;
use crate::rdb::writer::{self, RdbWriter, WriteError};
use crate::rdb::{crc64, Dialect, Header, Record};

/// Where recovered records go.
pub trait Recovered {
    /// A record read intact; `raw` is its bytes in the input.
    fn record(&mut self, rec: &Record<'_>, raw: &[u8], db: u64) -> Result<(), ExportError>;
    /// Completes the output; returns bytes written.
    fn finish(&mut self) -> Result<u64, ExportError>;
    /// Records read intact that the output cannot hold (why, for each).
    fn not_written(&self) -> &[String] {
        &[]
    }
}

/// A new RDB with the input's magic and version (so the server that wrote the input
/// loads it): AUX fields, functions, module AUX data and key records copied as stored,
/// SELECTDB before each db's keys, RESIZEDB and SLOT_INFO hints left out (their
/// counts no longer hold), EOF and a fresh CRC-64.
pub struct RdbOut<W: Write> {
    w: Option<RdbWriter<W>>,
    source: Dialect,
    selected: Option<u64>,
    /// Records the output version cannot hold (a function library in a REDIS 9 file,
    /// a type from another era): left out and reported, not fatal.
    not_written: Vec<String>,
}

impl<W: Write> RdbOut<W> {
    /// Fails when the writer does not produce this version (it writes REDIS 9-13 and
    /// VALKEY 80).
    pub fn new(inner: W, header: Header) -> Result<Self, ExportError> {
        Ok(RdbOut {
            w: Some(RdbWriter::new(inner, rdb_target(header)).map_err(write_error)?),
            source: header.dialect,
            selected: None,
            not_written: Vec::new(),
        })
    }
}

/// The writer target that reproduces `header` (check it with `Target::check`).
pub fn rdb_target(header: Header) -> writer::Target {
    writer::Target {
        version: header.version,
        dialect: header.dialect,
    }
}

fn write_error(e: WriteError) -> ExportError {
    match e {
        WriteError::Io(e) => ExportError::Io(e),
        WriteError::Read(e) => ExportError::Read(e),
        WriteError::Unsupported(m) => ExportError::Io(std::io::Error::other(m)),
    }
}

impl<W: Write> Recovered for RdbOut<W> {
    fn record(&mut self, rec: &Record<'_>, _raw: &[u8], db: u64) -> Result<(), ExportError> {
        let Some(w) = self.w.as_mut() else {
            return Ok(());
        };
        let r = match rec {
            Record::Aux { key, value } => w.aux(&key.to_vec()?, &value.to_vec()?),
            Record::Function { code } => w.function(&code.to_vec()?),
            Record::ModuleAux {
                module_id,
                when,
                body,
            } => w.module_aux(*module_id, *when, body.bytes),
            Record::Key(k) => {
                if self.selected != Some(db) {
                    w.select_db(db).map_err(write_error)?;
                    self.selected = Some(db);
                }
                w.key_raw(k, self.source)
            }
            _ => Ok(()),
        };
        match r {
            Err(WriteError::Unsupported(why)) => {
                let what = match rec {
                    Record::Key(k) => format!(
                        "key \"{}\" (db {db})",
                        display_key(&k.key.to_vec().unwrap_or_default())
                    ),
                    Record::Function { .. } => "a function library".into(),
                    Record::ModuleAux { .. } => "module AUX data".into(),
                    _ => "a record".into(),
                };
                self.not_written.push(format!("{what}: {why}"));
                Ok(())
            }
            r => r.map_err(write_error),
        }
    }
    fn not_written(&self) -> &[String] {
        &self.not_written
    }
    fn finish(&mut self) -> Result<u64, ExportError> {
        match self.w.take() {
            Some(w) => {
                let (mut inner, size) = w.finish().map_err(write_error)?;
                inner.flush()?;
                Ok(size)
            }
            None => Ok(0),
        }
    }
}

/// One recovered key per JSON line (the `export --format jsonl` objects).
pub struct JsonlOut<'w> {
    sink: Sink<'w>,
    opts: JsonOptions,
}

impl<'w> JsonlOut<'w> {
    pub fn new(w: &'w mut dyn Write, rdb_version: u32) -> Self {
        JsonlOut {
            sink: Sink::new(w),
            opts: JsonOptions {
                bytes: crate::export::bytes::BytesMode::Auto,
                rdb_version: rdb_version as u16,
            },
        }
    }
}

impl Recovered for JsonlOut<'_> {
    fn record(&mut self, rec: &Record<'_>, _raw: &[u8], db: u64) -> Result<(), ExportError> {
        match rec {
            Record::Key(k) => {
                let key = k.key.to_vec()?;
                json::key_object(k, db, &key, &self.opts, &mut self.sink)?;
            }
            Record::Function { code } => {
                json::function_object(&code.to_vec()?, &self.opts, &mut self.sink.buf)
            }
            _ => return Ok(()),
        }
        self.sink.buf.push(b'\n');
        self.sink.spill()?;
        Ok(())
    }
    fn finish(&mut self) -> Result<u64, ExportError> {
        Ok(self.sink.finish()?)
    }
}

/// Commands that rebuild the recovered keys (`redis-cli --pipe`).
pub struct RespOut<'w> {
    sink: Sink<'w>,
    opts: RespOptions,
    selected: Option<u64>,
}

impl<'w> RespOut<'w> {
    pub fn new(w: &'w mut dyn Write, rdb_version: u32, target: Option<Target>) -> Self {
        RespOut {
            sink: Sink::new(w),
            opts: RespOptions {
                target,
                rdb_version: rdb_version as u16,
                ..RespOptions::default()
            },
            selected: None,
        }
    }
}

impl Recovered for RespOut<'_> {
    fn record(&mut self, rec: &Record<'_>, _raw: &[u8], db: u64) -> Result<(), ExportError> {
        let sink = &mut self.sink;
        let mut emit = |c: resp::Command<'_>| {
            c.encode(&mut sink.buf);
            sink.spill()
        };
        match rec {
            Record::Key(k) => {
                if self.selected != Some(db) {
                    emit(resp::Command::Args(&[b"SELECT", db.to_string().as_bytes()]))?;
                    self.selected = Some(db);
                }
                let key = k.key.to_vec()?;
                resp::key_commands(k, &key, k.expire_ms, &self.opts, &mut emit)?;
            }
            Record::Function { code } => {
                resp::function_commands(&code.to_vec()?, &self.opts, &mut emit)?;
            }
            _ => {}
        }
        Ok(())
    }
    fn finish(&mut self) -> Result<u64, ExportError> {
        Ok(self.sink.finish()?)
    }
}

/// A lost span as reported.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LostReport {
    #[serde(flatten)]
    pub range: LostRange,
    pub bytes: u64,
    /// The key whose name was readable but value not (display form).
    pub key: Option<String>,
    /// The key just before the span, recovered but possibly altered: it ends exactly
    /// where the damage starts.
    pub suspect_key: Option<String>,
    /// Estimated key records inside the span (see `estimate_method`).
    pub estimated_records: u64,
}

/// Per db: what was recovered and what is known lost.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct DbReport {
    pub keys_recovered: u64,
    pub keys_known_lost: u64,
    pub lost_ranges: u64,
}

/// What `salvage` found.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Report {
    pub path: String,
    pub magic: &'static str,
    pub rdb_version: u32,
    pub file_bytes: u64,
    pub records_recovered: u64,
    pub keys_recovered: u64,
    pub functions_recovered: u64,
    pub aux_recovered: u64,
    pub lost: Vec<LostReport>,
    pub bytes_lost: u64,
    /// Keys whose name was read but whose value was not.
    pub keys_known_lost: Vec<String>,
    /// Keys estimated lost in spans where no name was readable, plus the known ones.
    pub estimated_keys_lost: u64,
    pub estimate_method: &'static str,
    pub dbs: BTreeMap<u64, DbReport>,
    /// A span was followed by keys without a SELECTDB: they were kept in the last known
    /// db, which is right unless the span held a SELECTDB.
    pub db_assumed_after_damage: bool,
    pub eof_found: bool,
    /// `ok`, `mismatch`, `absent` (rdbchecksum no / old version), `truncated` (the
    /// file ends inside the checksum), `not-verified` (damage: the stored checksum
    /// cannot match).
    pub checksum: &'static str,
    pub trailing_bytes: u64,
    pub output: Option<String>,
    pub output_format: Option<&'static str>,
    pub output_bytes: u64,
    /// Records read intact that the output cannot hold, each with why.
    pub not_written: Vec<String>,
}

impl Report {
    /// Whether anything at all was lost (exit status 1).
    pub fn anything_lost(&self) -> bool {
        !self.lost.is_empty()
            || !self.not_written.is_empty()
            || matches!(self.checksum, "mismatch" | "truncated")
    }
}

/// Salvages `data` (a whole RDB) into `out` (`None`: only report).
pub fn salvage(
    path: &str,
    data: &[u8],
    mut out: Option<&mut dyn Recovered>,
) -> Result<Report, SalvageError> {
    let mut w = Walker::new(data).map_err(SalvageError::Header)?;
    let h = w.header();
    let mut r = Report {
        path: path.to_string(),
        magic: h.magic_name(),
        rdb_version: h.version,
        file_bytes: data.len() as u64,
        estimate_method: "bytes of each unreadable span / average size of the key records read (at least 1 when a span starts inside a key record); a key whose name was readable counts as known lost",
        ..Report::default()
    };
    let mut key_bytes = 0u64;
    let mut db = 0u64;
    let mut after_damage = false;
    let mut lost = Vec::new();
    while let Some(ev) = w.next_event() {
        match ev {
            Event::Record { start, end, record } => {
                let raw = &data[start as usize..end as usize];
                r.records_recovered += 1;
                match &record {
                    Record::SelectDb { db: d } => {
                        db = *d;
                        after_damage = false;
                    }
                    Record::Key(k) => {
                        if after_damage {
                            r.db_assumed_after_damage = true;
                            after_damage = false;
                        }
                        db = k.db.unwrap_or(db);
                        r.keys_recovered += 1;
                        key_bytes += end - start;
                        r.dbs.entry(db).or_default().keys_recovered += 1;
                    }
                    Record::Function { .. } => r.functions_recovered += 1,
                    Record::Aux { .. } => r.aux_recovered += 1,
                    Record::Eof => r.eof_found = true,
                    _ => {}
                }
                if let Some(o) = out.as_deref_mut() {
                    o.record(&record, raw, db).map_err(SalvageError::Output)?;
                }
            }
            Event::Lost(l) => {
                after_damage = !l.resumed_with_selectdb;
                let d = r.dbs.entry(l.db.unwrap_or(db)).or_default();
                d.lost_ranges += 1;
                if l.key.is_some() {
                    d.keys_known_lost += 1;
                }
                lost.push(l);
            }
        }
    }
    let avg = key_bytes.checked_div(r.keys_recovered).unwrap_or(0).max(1);
    for l in lost {
        let bytes = l.end - l.start;
        let mut est = bytes.div_ceil(avg).max(1);
        if l.reaches_end && !r.eof_found {
            // The EOF opcode and checksum were in the span too.
            est = (bytes.saturating_sub(9)).div_ceil(avg).max(1);
        }
        let key = l.key.as_deref().map(display_key);
        let suspect_key = l.suspect_key.as_deref().map(display_key);
        if let Some(k) = &key {
            r.keys_known_lost.push(k.clone());
        }
        r.bytes_lost += bytes;
        r.estimated_keys_lost += est;
        r.lost.push(LostReport {
            range: l,
            bytes,
            key,
            suspect_key,
            estimated_records: est,
        });
    }
    r.checksum = checksum_verdict(data, &w, &r);
    if let Some(eof) = w.eof_offset {
        let after = eof + 1 + if h.has_checksum() { 8 } else { 0 };
        r.trailing_bytes = (data.len() as u64).saturating_sub(after);
    }
    if let Some(o) = out {
        r.output_bytes = o.finish().map_err(SalvageError::Output)?;
        r.not_written = o.not_written().to_vec();
    }
    Ok(r)
}

fn checksum_verdict(data: &[u8], w: &Walker<'_>, r: &Report) -> &'static str {
    let Some(eof) = w.eof_offset else {
        return "not-verified";
    };
    if !w.header().has_checksum() {
        return "absent";
    }
    let end = eof as usize + 1;
    let Some(stored) = data.get(end..end + 8) else {
        return "truncated";
    };
    let stored = u64::from_le_bytes(stored.try_into().unwrap_or_default());
    if stored == 0 {
        "absent"
    } else if !r.lost.is_empty() {
        "not-verified"
    } else if crc64::checksum(&data[..end]) == stored {
        "ok"
    } else {
        "mismatch"
    }
}

/// Why salvage could not run or finish.
#[derive(Debug)]
pub enum SalvageError {
    /// The header is unreadable: without magic and version, no type id is meaningful.
    Header(crate::Error),
    Output(ExportError),
}

impl std::fmt::Display for SalvageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SalvageError::Header(e) => write!(f, "{e}"),
            SalvageError::Output(e) => write!(f, "{e}"),
        }
    }
}
