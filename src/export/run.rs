//! The file-level export: walks an RDB (or an AOF: its RDB preamble, then its commands)
//! and writes every selected key in one format, through one buffer.

use std::collections::BTreeMap;
use std::io::Write;

use super::bytes::BytesMode;
use super::json::{self, JsonOptions};
use super::output::Sink;
use super::resp::{self, Loss, RespOptions, Target};
use super::ExportError;
use crate::aof::{Item as AofItem, RespReader};
use crate::filter::{DbMap, KeyFilter};
use crate::rdb::{Checker, KeyRecord, RdbReader, Record};

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

/// What every formatter needs: the options and the per-file command settings.
#[derive(Clone)]
struct Ctx<'o> {
    opts: &'o Options,
    resp: RespOptions,
    json: JsonOptions,
}

/// Formats keys into a sink, keeping the state that spans keys: the selected db (RESP)
/// and the object count (the JSON array's commas).
struct Formatter<'c, 'w> {
    ctx: &'c Ctx<'c>,
    sink: Sink<'w>,
    selected: Option<u64>,
    objects: u64,
    summary: Summary,
}

impl<'c, 'w> Formatter<'c, 'w> {
    fn new(ctx: &'c Ctx<'c>, sink: Sink<'w>, selected: Option<u64>, objects: u64) -> Self {
        Formatter {
            ctx,
            sink,
            selected,
            objects,
            summary: Summary::default(),
        }
    }

    fn format(&self) -> Format {
        self.ctx.opts.format
    }

    /// Opens the next JSON object (a comma before it in an array).
    fn before_object(&mut self) {
        if self.format() == Format::Json && self.objects > 0 {
            self.sink.buf.extend_from_slice(b",\n");
        }
    }

    fn after_object(&mut self) -> std::io::Result<()> {
        self.objects += 1;
        if self.format() == Format::Jsonl {
            self.sink.buf.push(b'\n');
        }
        self.sink.spill()
    }

    fn select(&mut self, db: u64) {
        if self.selected != Some(db) {
            let n = itoa::Buffer::new().format(db).to_string();
            resp::encode_command(&[b"SELECT", n.as_bytes()], &mut self.sink.buf);
            self.summary.commands += 1;
            self.selected = Some(db);
        }
    }

    /// One key, named `name` in db `db` (both after mapping).
    fn key(
        &mut self,
        k: &KeyRecord<'_>,
        db: u64,
        name: &[u8],
        keys_before: u64,
    ) -> Result<(), ExportError> {
        let ctx = |e: ExportError| match e {
            ExportError::Read(e) => ExportError::Read(
                e.with_type(k.info.check_name)
                    .with_key(k.db, k.key.to_vec().ok(), keys_before)
                    .at_record(k.offset),
            ),
            io => io,
        };
        match self.format() {
            Format::Resp => {
                self.select(db);
                let sink = &mut self.sink;
                let mut emit = |args: &[&[u8]]| {
                    resp::encode_command(args, &mut sink.buf);
                    sink.spill()
                };
                let out = resp::key_commands(k, name, k.expire_ms, &self.ctx.resp, &mut emit)
                    .map_err(ctx)?;
                self.summary.commands += out.commands;
                for l in out.lost {
                    *self.summary.lost.entry(l).or_default() += 1;
                }
                self.sink.spill()?;
            }
            Format::Jsonl | Format::Json => {
                self.before_object();
                json::key_object(k, db, name, &self.ctx.json, &mut self.sink).map_err(ctx)?;
                self.after_object()?;
            }
        }
        self.summary.keys += 1;
        Ok(())
    }

    fn function(&mut self, code: &[u8]) -> Result<(), ExportError> {
        self.summary.functions += 1;
        match self.format() {
            Format::Resp => {
                let sink = &mut self.sink;
                let mut emit = |args: &[&[u8]]| {
                    resp::encode_command(args, &mut sink.buf);
                    Ok(())
                };
                let out = resp::function_commands(code, &self.ctx.resp, &mut emit)?;
                self.summary.commands += out.commands;
                for l in out.lost {
                    *self.summary.lost.entry(l).or_default() += 1;
                }
            }
            _ => {
                self.before_object();
                json::function_object(code, &self.ctx.json, &mut self.sink.buf);
                self.after_object()?;
            }
        }
        Ok(())
    }
}

impl Summary {
    fn add(&mut self, o: &Summary) {
        self.keys += o.keys;
        self.skipped += o.skipped;
        self.functions += o.functions;
        self.commands += o.commands;
        self.aof_commands += o.aof_commands;
        for (l, n) in &o.lost {
            *self.lost.entry(*l).or_default() += n;
        }
    }
}

/// Keys and libraries waiting to be formatted together (on another thread).
#[derive(Default)]
struct Batch<'a> {
    items: Vec<Item<'a>>,
    /// Key names after renaming, end offsets in `items`.
    names: Vec<u8>,
    value_bytes: usize,
    /// The db of the last key (the RESP selection after this batch).
    last_db: Option<u64>,
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

/// A batch is formatted on another thread once it holds this many value bytes or keys.
const BATCH_BYTES: usize = 2 << 20;
const BATCH_ITEMS: usize = 4096;
/// Values at least this big are formatted in place, streaming, never held as output.
const BIG_VALUE: usize = 4 << 20;

impl<'a> Batch<'a> {
    fn is_full(&self) -> bool {
        self.value_bytes >= BATCH_BYTES || self.items.len() >= BATCH_ITEMS
    }

    /// Formats the batch in memory: the output up to the first error, and the error.
    fn format(
        &self,
        ctx: &Ctx<'_>,
        selected: Option<u64>,
        objects: u64,
    ) -> (Vec<u8>, Summary, Option<ExportError>) {
        // Output is about twice the value bytes (JSON quoting, RESP headers).
        let capacity = 2 * self.value_bytes + 64 * self.items.len();
        let mut f = Formatter::new(ctx, Sink::memory(capacity), selected, objects);
        let mut name_start = 0;
        let mut err = None;
        for item in &self.items {
            let r = match item {
                Item::Key {
                    k,
                    db,
                    name_end,
                    keys_before,
                } => {
                    let name = &self.names[name_start..*name_end];
                    name_start = *name_end;
                    f.key(k, *db, name, *keys_before)
                }
                Item::Function(code) => f.function(code),
            };
            if let Err(e) = r {
                err = Some(e);
                break;
            }
        }
        (f.sink.buf, f.summary, err)
    }
}

/// The export of one input: the output formatter and state across records and files.
struct Exporter<'o, 'w> {
    ctx: Ctx<'o>,
    sink: Option<Sink<'w>>,
    selected: Option<u64>,
    objects: u64,
    key: Vec<u8>,
    writer_is_valkey: bool,
    summary: Summary,
}

impl<'o, 'w> Exporter<'o, 'w> {
    fn new(opts: &'o Options, w: &'w mut dyn Write) -> Self {
        Exporter {
            ctx: Ctx {
                opts,
                resp: opts.resp.clone(),
                json: JsonOptions {
                    bytes: opts.bytes,
                    rdb_version: opts.resp.rdb_version,
                },
            },
            sink: Some(Sink::new(w)),
            selected: None,
            objects: 0,
            key: Vec::new(),
            writer_is_valkey: false,
            summary: Summary::default(),
        }
    }

    fn sink(&mut self) -> &mut Sink<'w> {
        self.sink
            .as_mut()
            .expect("the sink is only lent out during a call")
    }

    fn start(&mut self) {
        if self.ctx.opts.format == Format::Json {
            self.sink().buf.push(b'[');
        }
    }

    fn end(mut self) -> Result<Summary, ExportError> {
        if self.ctx.opts.format == Format::Json {
            self.sink().buf.extend_from_slice(b"]\n");
        }
        self.summary.bytes_written = self.sink().finish()?;
        self.summary.target = self.ctx.resp.target;
        Ok(self.summary)
    }

    /// Runs `f` with a formatter over the real output.
    fn direct<T>(
        &mut self,
        f: impl FnOnce(&mut Formatter<'_, 'w>) -> Result<T, ExportError>,
    ) -> Result<T, ExportError> {
        let sink = self.sink.take().expect("sink");
        let mut fm = Formatter::new(&self.ctx, sink, self.selected, self.objects);
        let r = f(&mut fm);
        self.selected = fm.selected;
        self.objects = fm.objects;
        self.summary.add(&fm.summary);
        self.sink = Some(fm.sink);
        r
    }

    /// Formats the pending batches in parallel and writes their output in order.
    fn dispatch(&mut self, pending: &mut Vec<Batch<'_>>) -> Result<(), ExportError> {
        use rayon::prelude::*;
        pending.retain(|b| !b.items.is_empty());
        if pending.is_empty() {
            return Ok(());
        }
        let mut starts = Vec::with_capacity(pending.len());
        let (mut sel, mut objects) = (self.selected, self.objects);
        for b in pending.iter() {
            starts.push((sel, objects));
            sel = b.last_db.or(sel);
            objects += b.items.len() as u64;
        }
        let ctx = &self.ctx;
        let outs: Vec<_> = pending
            .par_iter()
            .zip(starts)
            .map(|(b, (sel, objects))| b.format(ctx, sel, objects))
            .collect();
        pending.clear();
        for (buf, summary, err) in outs {
            self.sink().write_through(&buf)?;
            self.summary.add(&summary);
            if let Some(e) = err {
                return Err(e);
            }
        }
        self.selected = sel;
        self.objects = objects;
        Ok(())
    }

    /// Exports the RDB in `data`; returns where it ended (after its checksum).
    fn rdb(&mut self, data: &[u8], progress: &mut dyn FnMut(u64)) -> Result<usize, ExportError> {
        let mut r = RdbReader::new(data, Checker::new(false))?;
        self.ctx.resp.rdb_version = r.header().version as u16;
        self.ctx.json.rdb_version = r.header().version as u16;
        let opts = self.ctx.opts;
        let pass_all = opts.filter.is_pass_all();
        let parallel = rayon::current_num_threads() > 1;
        let mut next_progress = 0u64;
        let mut batch = Batch::default();
        let mut pending: Vec<Batch<'_>> = Vec::new();
        let in_flight = 2 * rayon::current_num_threads();
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
                    if !pass_all && !opts.filter.matches(&k, &self.key) {
                        self.summary.skipped += 1;
                        continue;
                    }
                    let db = opts.db_map.target(k.db.unwrap_or(0));
                    let keys_before = r.keys_read() - 1;
                    let names_before = batch.names.len();
                    match opts
                        .rename_prefixes
                        .iter()
                        .find(|(old, _)| self.key.starts_with(old))
                    {
                        Some((old, new)) => {
                            batch.names.extend_from_slice(new);
                            batch.names.extend_from_slice(&self.key[old.len()..]);
                        }
                        None => batch.names.extend_from_slice(&self.key),
                    }
                    if !parallel || k.value_bytes.len() >= BIG_VALUE {
                        // In place: everything before it first, in order.
                        pending.push(std::mem::take(&mut batch));
                        let last = pending.last_mut().expect("just pushed");
                        let name = last.names.split_off(names_before);
                        self.dispatch(&mut pending)?;
                        self.direct(|f| f.key(&k, db, &name, keys_before))?;
                        continue;
                    }
                    batch.value_bytes += k.value_bytes.len();
                    batch.last_db = Some(db);
                    batch.items.push(Item::Key {
                        k,
                        db,
                        name_end: batch.names.len(),
                        keys_before,
                    });
                }
                Record::Function { code } if opts.functions => {
                    batch.items.push(Item::Function(code.to_vec()?));
                }
                Record::Aux { key, value } if opts.resp.target.is_none() => {
                    // Commands for the server that wrote the file, unless told otherwise.
                    let v = value.to_string_lossy();
                    match key.to_vec()?.as_slice() {
                        b"valkey-ver" => {
                            self.ctx.resp.target = Target::parse(&format!("valkey-{v}")).ok();
                            self.writer_is_valkey = true;
                        }
                        b"redis-ver" if !self.writer_is_valkey => {
                            self.ctx.resp.target = Target::parse(&v).ok()
                        }
                        _ => {}
                    }
                }
                Record::FunctionPreGa { .. } if opts.functions => {
                    *self.summary.lost.entry(Loss::PreGaFunction).or_default() += 1;
                }
                _ => {}
            }
            if batch.is_full() {
                pending.push(std::mem::take(&mut batch));
                if pending.len() >= in_flight {
                    self.dispatch(&mut pending)?;
                }
            }
        }
        pending.push(batch);
        self.dispatch(&mut pending)?;
        let t = r.trailer()?;
        progress(data.len() as u64);
        Ok(data.len() - t.trailing_bytes as usize)
    }

    /// Copies the commands of a RESP AOF (or an AOF's part after its preamble). The
    /// server loads every AOF file with a client in db 0.
    fn aof_commands(&mut self, data: &[u8], start: usize) -> Result<(), ExportError> {
        let db_map = &self.ctx.opts.db_map;
        self.direct(|f| {
            let mut r = RespReader::new(data, start);
            let mut db = 0u64;
            while let Some(item) = r.next_item()? {
                let AofItem::Command(c) = item else { continue };
                f.summary.aof_commands += 1;
                match f.format() {
                    Format::Resp => {
                        if c.is("SELECT") && c.args.len() == 2 {
                            if let Some(n) = std::str::from_utf8(c.args[1])
                                .ok()
                                .and_then(|s| s.parse::<u64>().ok())
                            {
                                db = n;
                                f.select(db_map.target(n));
                                continue;
                            }
                        }
                        f.select(db_map.target(db));
                        f.sink
                            .buf
                            .extend_from_slice(&data[c.offset as usize..c.end as usize]);
                        f.summary.commands += 1;
                    }
                    _ => {
                        f.before_object();
                        json::command_object(&c.args, &f.ctx.json, &mut f.sink.buf);
                        f.after_object()?;
                    }
                }
                f.sink.spill()?;
            }
            Ok(())
        })
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
