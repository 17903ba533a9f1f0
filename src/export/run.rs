//! The file-level export: walks an RDB (or an AOF: its RDB preamble, then its commands)
//! and writes every selected key in one format, through one buffer.

use std::collections::BTreeMap;
use std::io::Write;

use super::bytes::BytesMode;
use super::json::{self, JsonOptions};
use super::output::Sink;
use super::resp::{self, Loss, RespOptions, Target};
use super::ExportError;
use crate::aof::{Item, RespReader};
use crate::filter::{DbMap, KeyFilter};
use crate::rdb::{Checker, RdbReader, Record};

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// The same objects in one JSON array.
    Json,
    /// Commands that rebuild the dataset (`redis-cli --pipe`, or an AOF).
    Resp,
}

/// What to export and how.
#[derive(Clone, Debug)]
pub struct Options {
    pub format: Format,
    pub filter: KeyFilter,
    pub db_map: DbMap,
    /// `(old, new)` key-name prefixes; the first that matches renames the key.
    pub rename_prefixes: Vec<(Vec<u8>, Vec<u8>)>,
    pub bytes: BytesMode,
    /// For `resp`; `target: None` here means "the version that wrote the file".
    pub resp: RespOptions,
    /// Function libraries are exported (they belong to no db and match no key filter).
    pub functions: bool,
}

/// What an export wrote.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub keys: u64,
    /// Keys the filter left out.
    pub skipped: u64,
    pub functions: u64,
    /// RESP commands written (for `resp`), AOF commands passed through otherwise.
    pub commands: u64,
    /// AOF commands copied after an RDB preamble or from RESP parts.
    pub aof_commands: u64,
    /// Keys (or libraries) per thing the target could not express.
    pub lost: BTreeMap<Loss, u64>,
    /// The target commands were chosen for.
    pub target: Option<Target>,
    pub bytes_written: u64,
}

/// What the first records of an RDB say about it.
#[derive(Clone, Debug, Default)]
pub struct FileInfo {
    pub rdb_version: u32,
    /// AUX `ctime`, ms.
    pub ctime_ms: Option<i64>,
    /// The server that wrote it (`valkey-ver`, else `redis-ver`).
    pub writer: Option<Target>,
}

/// Reads the header and the AUX fields before the first key.
pub fn file_info(data: &[u8]) -> crate::Result<FileInfo> {
    let mut r = RdbReader::new(data, Checker::new(false))?;
    let mut info = FileInfo {
        rdb_version: r.header().version,
        ..FileInfo::default()
    };
    let (mut redis, mut valkey) = (None, None);
    while let Some(Record::Aux { key, value }) = r.next_record()? {
        let v = value.to_string_lossy();
        match key.to_vec()?.as_slice() {
            b"ctime" => info.ctime_ms = v.parse::<i64>().ok().map(|s| s * 1000),
            b"redis-ver" => redis = Target::parse(&v).ok(),
            b"valkey-ver" => valkey = Target::parse(&format!("valkey-{v}")).ok(),
            _ => {}
        }
    }
    info.writer = valkey.or(redis);
    Ok(info)
}

/// The export of one input: state that spans records and files (selected db, the JSON
/// separator, counters).
struct Exporter<'o, 'w> {
    opts: &'o Options,
    resp: RespOptions,
    json: JsonOptions,
    sink: Sink<'w>,
    /// The db the RESP stream has selected last.
    selected: Option<u64>,
    /// Objects written (for the JSON array's commas).
    objects: u64,
    key: Vec<u8>,
    renamed: Vec<u8>,
    writer_is_valkey: bool,
    summary: Summary,
}

impl<'o, 'w> Exporter<'o, 'w> {
    fn new(opts: &'o Options, w: &'w mut dyn Write) -> Self {
        Exporter {
            opts,
            resp: opts.resp.clone(),
            json: JsonOptions {
                bytes: opts.bytes,
                rdb_version: opts.resp.rdb_version,
            },
            sink: Sink::new(w),
            selected: None,
            objects: 0,
            key: Vec::new(),
            renamed: Vec::new(),
            writer_is_valkey: false,
            summary: Summary::default(),
        }
    }

    fn start(&mut self) {
        if self.opts.format == Format::Json {
            self.sink.buf.push(b'[');
        }
    }

    /// Opens the next JSON object (newline or comma before it).
    fn before_object(&mut self) {
        if self.opts.format == Format::Json && self.objects > 0 {
            self.sink.buf.extend_from_slice(b",\n");
        }
    }

    fn after_object(&mut self) -> std::io::Result<()> {
        self.objects += 1;
        if self.opts.format == Format::Jsonl {
            self.sink.buf.push(b'\n');
        }
        self.sink.spill()
    }

    fn end(mut self) -> Result<Summary, ExportError> {
        if self.opts.format == Format::Json {
            self.sink.buf.extend_from_slice(b"]\n");
        }
        self.summary.bytes_written = self.sink.finish()?;
        self.summary.target = self.resp.target;
        Ok(self.summary)
    }

    fn select(&mut self, db: u64) {
        if self.selected != Some(db) {
            let n = itoa::Buffer::new().format(db).to_string();
            resp::encode_command(&[b"SELECT", n.as_bytes()], &mut self.sink.buf);
            self.summary.commands += 1;
            self.selected = Some(db);
        }
    }

    fn rename(&mut self) {
        self.renamed.clear();
        match self
            .opts
            .rename_prefixes
            .iter()
            .find(|(old, _)| self.key.starts_with(old))
        {
            Some((old, new)) => {
                self.renamed.extend_from_slice(new);
                self.renamed.extend_from_slice(&self.key[old.len()..]);
            }
            None => self.renamed.extend_from_slice(&self.key),
        }
    }

    /// Exports the RDB in `data`; returns where it ended (after its checksum).
    fn rdb(&mut self, data: &[u8], progress: &mut dyn FnMut(u64)) -> Result<usize, ExportError> {
        let mut r = RdbReader::new(data, Checker::new(false))?;
        self.resp.rdb_version = r.header().version as u16;
        self.json.rdb_version = r.header().version as u16;
        let pass_all = self.opts.filter.is_pass_all();
        let mut next_progress = 0u64;
        while let Some(rec) = r.next_record()? {
            match rec {
                Record::Key(k) => {
                    if k.offset >= next_progress {
                        progress(k.offset);
                        next_progress = k.offset + (4 << 20);
                    }
                    self.key.clear();
                    match k.key.as_raw() {
                        Some(name) => self.key.extend_from_slice(name),
                        None => self.key.extend_from_slice(&k.key.to_vec()?),
                    }
                    if !pass_all && !self.opts.filter.matches(&k, &self.key) {
                        self.summary.skipped += 1;
                        continue;
                    }
                    self.rename();
                    let db = self.opts.db_map.target(k.db.unwrap_or(0));
                    let ctx = |e: ExportError| match e {
                        ExportError::Read(e) => ExportError::Read(
                            e.with_type(k.info.check_name)
                                .with_key(k.db, k.key.to_vec().ok(), r.keys_read())
                                .at_record(k.offset),
                        ),
                        io => io,
                    };
                    match self.opts.format {
                        Format::Resp => {
                            self.select(db);
                            let sink = &mut self.sink;
                            let mut emit = |args: &[&[u8]]| {
                                resp::encode_command(args, &mut sink.buf);
                                sink.spill()
                            };
                            let out = resp::key_commands(
                                &k,
                                &self.renamed,
                                k.expire_ms,
                                &self.resp,
                                &mut emit,
                            )
                            .map_err(ctx)?;
                            self.summary.commands += out.commands;
                            for l in out.lost {
                                *self.summary.lost.entry(l).or_default() += 1;
                            }
                            self.sink.spill()?;
                        }
                        Format::Jsonl | Format::Json => {
                            self.before_object();
                            json::key_object(&k, db, &self.renamed, &self.json, &mut self.sink)
                                .map_err(ctx)?;
                            self.after_object()?;
                        }
                    }
                    self.summary.keys += 1;
                }
                Record::Function { code } if self.opts.functions => {
                    let code = code.to_vec()?;
                    self.summary.functions += 1;
                    match self.opts.format {
                        Format::Resp => {
                            let sink = &mut self.sink;
                            let mut emit = |args: &[&[u8]]| {
                                resp::encode_command(args, &mut sink.buf);
                                Ok(())
                            };
                            let out = resp::function_commands(&code, &self.resp, &mut emit)?;
                            self.summary.commands += out.commands;
                            for l in out.lost {
                                *self.summary.lost.entry(l).or_default() += 1;
                            }
                        }
                        _ => {
                            self.before_object();
                            json::function_object(&code, &self.json, &mut self.sink.buf);
                            self.after_object()?;
                        }
                    }
                }
                Record::Aux { key, value } if self.opts.resp.target.is_none() => {
                    // Commands for the server that wrote the file, unless told otherwise.
                    let v = value.to_string_lossy();
                    match key.to_vec()?.as_slice() {
                        b"valkey-ver" => {
                            self.resp.target = Target::parse(&format!("valkey-{v}")).ok();
                            self.writer_is_valkey = true;
                        }
                        b"redis-ver" if !self.writer_is_valkey => {
                            self.resp.target = Target::parse(&v).ok()
                        }
                        _ => {}
                    }
                }
                Record::FunctionPreGa { .. } if self.opts.functions => {
                    *self.summary.lost.entry(Loss::PreGaFunction).or_default() += 1;
                }
                _ => {}
            }
        }
        let t = r.trailer()?;
        progress(data.len() as u64);
        Ok(data.len() - t.trailing_bytes as usize)
    }

    /// Copies the commands of a RESP AOF (or an AOF's part after its preamble). The
    /// server loads every AOF file with a client in db 0.
    fn aof_commands(&mut self, data: &[u8], start: usize) -> Result<(), ExportError> {
        let mut r = RespReader::new(data, start);
        let mut db = 0u64;
        while let Some(item) = r.next_item()? {
            let Item::Command(c) = item else { continue };
            self.summary.aof_commands += 1;
            match self.opts.format {
                Format::Resp => {
                    if c.is("SELECT") && c.args.len() == 2 {
                        if let Some(n) = std::str::from_utf8(c.args[1])
                            .ok()
                            .and_then(|s| s.parse::<u64>().ok())
                        {
                            db = n;
                            self.select(self.opts.db_map.target(n));
                            continue;
                        }
                    }
                    self.select(self.opts.db_map.target(db));
                    self.sink
                        .buf
                        .extend_from_slice(&data[c.offset as usize..c.end as usize]);
                    self.summary.commands += 1;
                }
                _ => {
                    self.before_object();
                    json::command_object(&c.args, &self.json, &mut self.sink.buf);
                    self.after_object()?;
                }
            }
            self.sink.spill()?;
        }
        Ok(())
    }

    /// One file: an RDB, an RDB-preamble AOF, or a RESP AOF.
    fn file(&mut self, data: &[u8], progress: &mut dyn FnMut(u64)) -> Result<(), ExportError> {
        let rest = if crate::aof::verify::has_rdb_magic(data) {
            self.rdb(data, progress)?
        } else {
            0
        };
        if rest < data.len() {
            self.selected = None;
            self.aof_commands(data, rest)?;
        }
        Ok(())
    }
}

/// Exports one file held in memory (RDB, or single-file AOF) to `w`.
/// `progress` is called with the byte offset reached, now and then.
pub fn export_bytes(
    data: &[u8],
    opts: &Options,
    w: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<Summary, ExportError> {
    let mut e = Exporter::new(opts, w);
    e.start();
    e.file(data, progress)?;
    e.end()
}

/// Exports the parts of a multi-part AOF (`parts`: file contents in load order).
pub fn export_parts(
    parts: &mut dyn Iterator<Item = std::io::Result<crate::source::Source>>,
    opts: &Options,
    w: &mut dyn Write,
) -> Result<Summary, ExportError> {
    let mut e = Exporter::new(opts, w);
    e.start();
    for p in parts {
        let p = p?;
        e.selected = None;
        e.file(p.bytes(), &mut |_| {})?;
    }
    e.end()
}
