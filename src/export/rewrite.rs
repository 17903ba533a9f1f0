//! `rdbkit rewrite`: a new RDB from an old one, with keys selected, moved between dbs,
//! written for another server version or dialect, or split by cluster slot into one
//! file per node. The input is only read; each output is written to a temporary file
//! next to it and renamed into place once complete, so a failed run leaves no
//! half-written RDB behind.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::slots::{key_slot, SlotMap};
use crate::filter::{DbMap, KeyFilter};
use crate::rdb::header::Dialect;
use crate::rdb::writer::encode::{self, Outcome};
use crate::rdb::writer::{RdbWriter, Target, WriteError};
use crate::rdb::{Checker, RdbReader, Record};

/// What to write.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub filter: KeyFilter,
    pub db_map: DbMap,
    /// `None`: the source's own version and magic.
    pub target: Option<Target>,
    /// One output per node of this map.
    pub split: Option<SlotMap>,
}

/// Keys listed by name in a report, at most (the counts stay exact).
pub const MAX_LISTED: usize = 1000;

/// A key the report names.
#[derive(Clone, Debug, Serialize)]
pub struct KeyNote {
    pub db: u64,
    /// The name, lossy UTF-8.
    pub key: String,
    #[serde(rename = "type")]
    pub type_name: &'static str,
    pub notes: Vec<String>,
}

/// One written file.
#[derive(Clone, Debug, Serialize)]
pub struct OutputFile {
    pub path: PathBuf,
    /// The node it is for, when splitting.
    pub node: Option<String>,
    pub keys: u64,
    pub bytes: u64,
}

/// What a rewrite did; also its `--json` form.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub source: String,
    pub target: String,
    pub outputs: Vec<OutputFile>,
    pub keys_read: u64,
    pub keys_written: u64,
    /// Left out by the key filter.
    pub keys_filtered: u64,
    /// Written, re-encoded or with something left out.
    pub keys_converted: u64,
    /// Not written because the target cannot hold them.
    pub keys_skipped: u64,
    /// How often each change was made.
    pub changes: BTreeMap<String, u64>,
    /// Converted keys (first [`MAX_LISTED`]).
    pub converted: Vec<KeyNote>,
    /// Skipped keys (first [`MAX_LISTED`]).
    pub skipped: Vec<KeyNote>,
    /// Non-key records left out, by kind.
    pub dropped: BTreeMap<String, u64>,
}

/// Why a rewrite stopped.
#[derive(Debug)]
pub enum RewriteError {
    /// The input is damaged (offset and key in the error).
    Read(crate::Error),
    Io(std::io::Error),
    /// The request cannot be met (e.g. a key outside db 0 when splitting).
    Usage(String),
}

impl std::fmt::Display for RewriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RewriteError::Read(e) => write!(f, "{e}"),
            RewriteError::Io(e) => write!(f, "{e}"),
            RewriteError::Usage(m) => f.write_str(m),
        }
    }
}

impl From<WriteError> for RewriteError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Io(e) => RewriteError::Io(e),
            WriteError::Read(e) => RewriteError::Read(e),
            WriteError::Unsupported(m) => RewriteError::Usage(m),
        }
    }
}

impl From<crate::Error> for RewriteError {
    fn from(e: crate::Error) -> Self {
        RewriteError::Read(e)
    }
}

impl From<std::io::Error> for RewriteError {
    fn from(e: std::io::Error) -> Self {
        RewriteError::Io(e)
    }
}

/// AUX fields that describe the producing server's replication or cluster state, or
/// the AOF the file belonged to: not true of a rewritten file, so not copied.
const STATE_AUX: &[&[u8]] = &[
    b"repl-id",
    b"repl-offset",
    b"repl-stream-db",
    b"aof-base",
    b"aof-preamble",
    b"slot-info",
    b"cluster-asm-task",
];

/// The target a file of `source` version/dialect is written for by default: itself,
/// raised to the oldest version the writer produces.
pub fn default_target(version: u32, dialect: Dialect) -> Target {
    match dialect {
        Dialect::Valkey => Target::valkey(),
        Dialect::Redis => Target::redis(version.clamp(9, 13)),
    }
}

/// The file names for `out`: itself, or `STEM-<n>.rdb` per node when splitting.
pub fn output_paths(out: &Path, nodes: Option<usize>) -> Vec<PathBuf> {
    match nodes {
        None => vec![out.to_path_buf()],
        Some(n) => {
            let stem = out.file_stem().unwrap_or_default().to_string_lossy();
            let stem = stem.strip_suffix(".rdb").unwrap_or(&stem).to_string();
            (0..n)
                .map(|i| out.with_file_name(format!("{stem}-{i}.rdb")))
                .collect()
        }
    }
}

struct Out {
    writer: RdbWriter<BufWriter<File>>,
    db: Option<u64>,
    keys: u64,
}

/// Rewrites `data` (a whole RDB) into `outputs` (see [`output_paths`]).
pub fn rewrite(data: &[u8], outputs: &[PathBuf], opts: &Options) -> Result<Report, RewriteError> {
    let mut temps: Vec<PathBuf> = Vec::new();
    let result = rewrite_into_temps(data, outputs, opts, &mut temps);
    match result {
        Ok(report) => {
            for (t, o) in temps.iter().zip(outputs) {
                std::fs::rename(t, o)?;
            }
            Ok(report)
        }
        Err(e) => {
            for t in &temps {
                let _ = std::fs::remove_file(t);
            }
            Err(e)
        }
    }
}

fn rewrite_into_temps(
    data: &[u8],
    outputs: &[PathBuf],
    opts: &Options,
    temps: &mut Vec<PathBuf>,
) -> Result<Report, RewriteError> {
    let mut r = RdbReader::new(data, Checker::new(true))?;
    let header = r.header();
    let source = header.dialect;
    let target = opts
        .target
        .unwrap_or_else(|| default_target(header.version, source));
    target.check()?;
    let mut report = Report {
        source: format!("{}{:04}", header.magic_name(), header.version),
        target: String::from_utf8_lossy(&target.header_bytes()).into_owned(),
        ..Report::default()
    };
    let mut outs = Vec::new();
    for o in outputs {
        let name = o.file_name().unwrap_or_default().to_string_lossy();
        let temp = o.with_file_name(format!(".{name}.rdbkit-tmp"));
        let f = File::create(&temp)?;
        temps.push(temp);
        outs.push(Out {
            writer: RdbWriter::new(BufWriter::new(f), target)?,
            db: None,
            keys: 0,
        });
    }
    // Sizing hints are only true when every key of every db lands in one file as is.
    let keeps_all = opts.filter.is_pass_all() && opts.split.is_none() && opts.db_map.is_empty();
    let drop = |report: &mut Report, what: &str| {
        *report.dropped.entry(what.to_string()).or_default() += 1;
    };
    let mut pending_resize = None;
    let mut key = Vec::new();
    while let Some(rec) = r.next_record()? {
        match rec {
            Record::Aux { key: k, value } => {
                let name = k.to_vec()?;
                if STATE_AUX.contains(&name.as_slice()) {
                    continue;
                }
                let value = value.to_vec()?;
                for o in &mut outs {
                    o.writer.aux(&name, &value)?;
                }
            }
            Record::SelectDb { .. } => pending_resize = None,
            Record::ResizeDb { keys, expires } => {
                if keeps_all {
                    pending_resize = Some((keys, expires));
                }
            }
            Record::SlotInfo { .. } => {}
            Record::ModuleAux {
                module_id,
                when,
                body,
            } => {
                for o in &mut outs {
                    o.writer.module_aux(module_id, when, body.bytes)?;
                }
            }
            Record::Function { code } => {
                if target.has_functions() {
                    let code = code.to_vec()?;
                    for o in &mut outs {
                        o.writer.function(&code)?;
                    }
                } else {
                    drop(&mut report, "function library (needs RDB 10)");
                }
            }
            Record::FunctionPreGa { .. } => {
                drop(&mut report, "pre-release (7.0 RC) function");
            }
            Record::SlotImport { .. } => drop(&mut report, "slot import job"),
            Record::Key(k) => {
                report.keys_read += 1;
                key.clear();
                key.extend_from_slice(&k.key.to_vec()?);
                if !opts.filter.matches(&k, &key) {
                    report.keys_filtered += 1;
                    continue;
                }
                let db = opts.db_map.target(k.db.unwrap_or(0));
                let index = match &opts.split {
                    None => 0,
                    Some(map) => {
                        if db != 0 {
                            return Err(RewriteError::Usage(format!(
                                "key \"{}\" is in db {db}, but cluster nodes only have db 0: select dbs with --db or move them with --db-map {db}=0",
                                crate::error::display_key(&key)
                            )));
                        }
                        map.owner(key_slot(&key)).unwrap_or(0)
                    }
                };
                let o = &mut outs[index];
                if o.db != Some(db) {
                    o.writer.select_db(db)?;
                    o.db = Some(db);
                    if let Some((keys, expires)) = pending_resize.take() {
                        o.writer.resize_db(keys, expires)?;
                    }
                }
                let outcome = encode::write_key(&mut o.writer, &k, source)?;
                let note = |notes: Vec<String>| KeyNote {
                    db,
                    key: String::from_utf8_lossy(&key).into_owned(),
                    type_name: k.info.check_name,
                    notes,
                };
                match outcome {
                    Outcome::Copied => {}
                    Outcome::Converted(notes) => {
                        report.keys_converted += 1;
                        for n in &notes {
                            *report.changes.entry(n.clone()).or_default() += 1;
                        }
                        if report.converted.len() < MAX_LISTED {
                            report.converted.push(note(notes));
                        }
                    }
                    Outcome::Skipped(why) => {
                        report.keys_skipped += 1;
                        *report.changes.entry(format!("skipped: {why}")).or_default() += 1;
                        if report.skipped.len() < MAX_LISTED {
                            report.skipped.push(note(vec![why]));
                        }
                        continue;
                    }
                }
                o.keys += 1;
                report.keys_written += 1;
            }
            Record::Eof => break,
        }
    }
    let trailer = r.trailer()?;
    if let (Some(stored), Some(computed)) = (trailer.stored_checksum, r.computed_checksum()) {
        if stored != 0 && stored != computed {
            return Err(RewriteError::Read(crate::Error::corrupt(
                trailer.eof_offset + 1,
                format!("RDB checksum is {stored:016x}, computed {computed:016x}"),
            )));
        }
    }
    for (i, (o, path)) in outs.into_iter().zip(outputs).enumerate() {
        let (mut f, bytes) = o.writer.finish()?;
        std::io::Write::flush(&mut f)?;
        f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        report.outputs.push(OutputFile {
            path: path.clone(),
            node: opts.split.as_ref().map(|m| m.nodes[i].clone()),
            keys: o.keys,
            bytes,
        });
    }
    Ok(report)
}
